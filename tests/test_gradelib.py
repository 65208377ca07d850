"""The grader helpers: messages carry expected/seen/likely in both languages; the training rule."""
import pytest
import torch

from ptquiz.gradelib import (CheckFailed, assert_close, assert_learns_over_seeds, assert_shape, fail, learns)
from ptquiz.plugin import explain

FALLING = [1.0, 0.9, 0.8, 0.5, 0.4, 0.3]
FLAT = [1.0, 1.0, 0.99, 1.0, 0.98, 0.99]


def test_learns_rule():
    assert learns(FALLING) and not learns(FLAT)
    assert not learns([1.0, float("nan"), 0.1, 0.1, 0.1, 0.1])
    assert not learns([1.0, 0.1])  # too short to judge


def test_over_seeds_falls_back_to_two_of_three():
    assert_learns_over_seeds(lambda s: FALLING)
    assert_learns_over_seeds(lambda s: FLAT if s == 0 else FALLING)
    with pytest.raises(CheckFailed, match="loss should fall"):
        assert_learns_over_seeds(lambda s: FALLING if s == 2 else FLAT)


def test_messages_are_bilingual_and_name_the_likely_mistake():
    with pytest.raises(CheckFailed) as e:
        fail("expected A, got B.", "期望 A，实际 B。", likely=("a typo", "拼写错误"))
    assert e.value.en == "expected A, got B. Likely mistake: a typo"
    assert e.value.zh == "期望 A，实际 B。 可能的错误：拼写错误"
    assert explain(e.value) == {"en": e.value.en, "zh": e.value.zh, "kind": "check"}


def test_assert_close_and_shape_say_what_and_where():
    with pytest.raises(CheckFailed, match=r"expected shape \(2, 3\), got \(3, 2\)"):
        assert_shape(torch.zeros(3, 2), (2, 3), "out")
    a = torch.zeros(2, 3)
    b = a.clone()
    b[1, 2] = 1.0
    with pytest.raises(CheckFailed, match=r"at index \(1, 2\): expected 1, got 0"):
        assert_close(a, b, "out")
    assert_close(a, a + 1e-7, "out")


def test_graders_do_not_pay_for_the_compiler_unless_they_step_an_optimizer():
    """Pins the private-API shortcut in gradelib._skip_compiler_import (torch._dynamo costs 2-4 s)."""
    import subprocess
    import sys
    code = ("import sys, torch, ptquiz.gradelib\n"
            "from ptquiz.shadow import shadow_device\n"
            "with shadow_device() as d:\n    (torch.ones(2, device=d) + 1).cpu()\n"
            "m = torch.nn.Linear(2, 2); opt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
            "m(torch.ones(1, 2)).sum().backward()\n"
            "print('torch._dynamo' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_forbid_catches_every_route_to_a_banned_builtin_and_restores_it():
    import types

    import torch.nn.functional as F

    from ptquiz.gradelib import BuiltinUsed, forbid, without_builtins

    learner = types.ModuleType("learner")
    learner.my_linear = F.linear                      # `from torch.nn.functional import linear as my_linear`
    x, w = torch.randn(2, 3), torch.randn(4, 3)
    patches = [(F, "linear", "F.linear")]
    routes = {"F.linear": lambda: F.linear(x, w), "alias": lambda: learner.my_linear(x, w),
              "aten": lambda: torch.ops.aten.linear(x, w), "nn.Linear": lambda: torch.nn.Linear(3, 4)(x)}
    for name, route in routes.items():
        with pytest.raises(BuiltinUsed):
            with forbid(learner, patches, ops={"linear"}):
                route()
    assert F.linear(x, w).shape == (2, 4) and learner.my_linear is F.linear   # restored
    with forbid(ops={"linear"}, raise_on_use=False) as seen:
        torch.nn.Linear(3, 4)(x)
        x @ w.T                                       # allowed ops are not recorded
    assert seen == ["linear"]
    with forbid(pattern=r"(?i)pool"):
        with pytest.raises(BuiltinUsed):
            F.max_pool2d(torch.randn(1, 1, 4, 4), 2)
    with pytest.raises(CheckFailed, match=r"called the built-in .*linear.*compute x @ W.T"):
        without_builtins(learner, "forward", F.linear, x, w, ops={"linear"}, task=("compute x @ W.T", "计算 x @ W.T"))
    assert without_builtins(learner, "forward", torch.matmul, x, w.T, ops={"linear"}).shape == (2, 4)


def test_run_learner_words_a_crash_in_the_learners_terms():
    from ptquiz.gradelib import DeviceMismatchError, run_learner

    def crash():
        raise RuntimeError("Trying to backward through the graph a second time\nmore text")

    known = [("second time", ("fake not detached", "没有 detach")), ("mat1", ("wrong width", "宽度不对"))]
    with pytest.raises(CheckFailed) as e:
        run_learner("d_step(...)", ("update D only", "只更新 D"), crash, known=known)
    assert e.value.en.startswith("d_step(...) raised RuntimeError: Trying to backward through the graph a second time")
    assert "This check needs it to update D only." in e.value.en and "Likely mistake: fake not detached" in e.value.en
    assert "more text" not in e.value.en and "没有 detach" in e.value.zh
    for exc in (NotImplementedError("todo"), DeviceMismatchError("cpu vs cuda")):   # reported as such by the plugin
        def raiser(exc=exc):
            raise exc
        with pytest.raises(type(exc)):
            run_learner("f", ("x", "x"), raiser)
    assert run_learner("f", ("x", "x"), lambda a, b=0: a + b, 1, b=2) == 3
    from ptquiz.gradelib import first_line
    long = first_line(RuntimeError("a very long error " * 40))
    assert long.endswith(" …") and len(long) <= 302 and long[:-2].split()[-1] in {"a", "very", "long", "error"}


def test_as_int_accepts_every_spelling_of_an_integer_and_refuses_bool_and_float():
    import numpy as np

    from ptquiz.gradelib import as_int, as_number
    for v in (3, np.int64(3), np.intc(3), torch.tensor(3), torch.tensor([3], dtype=torch.int32)):
        assert as_int(v, "count") == 3 and type(as_int(v, "count")) is int
    for v in (True, np.bool_(True), 3.0, torch.tensor(3.0), torch.tensor([1, 2]), None, "3"):
        with pytest.raises(CheckFailed, match="count should be an integer"):
            as_int(v, "count")
    for v in (2.5, np.float32(2.5), torch.tensor(2.5), torch.tensor([2.5])):
        assert as_number(v, "loss") == 2.5
    for v in (True, None, "2.5", torch.ones(2)):
        with pytest.raises(CheckFailed, match="loss should be a number"):
            as_number(v, "loss")
