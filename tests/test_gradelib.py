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


def test_as_loss_takes_any_number_but_refuses_a_tensor_still_on_the_graph():
    import numpy as np

    from ptquiz.gradelib import as_loss
    w = torch.tensor(2.0, requires_grad=True)
    for v in (1.5, np.float32(1.5), torch.tensor(1.5), (w * 0.75).detach(), torch.tensor([1.5])):
        assert as_loss(v, "loss") == 1.5 and type(as_loss(v, "loss")) is float
    with pytest.raises(CheckFailed) as e:
        as_loss(w * 0.75, "train_step's loss")
    assert "train_step's loss is the loss tensor itself, still attached to the autograd graph (grad_fn MulBackward0)" \
        in e.value.en and "loss.item()" in e.value.en and "MulBackward0" in e.value.zh
    with pytest.raises(CheckFailed, match="still attached"):
        as_loss(w, "loss")  # a leaf that requires grad (no grad_fn) is refused too
    with pytest.raises(CheckFailed) as e:  # the grader's own wording, with its placeholders filled
        as_loss(w * 2, "epoch", attached=("{what} kept its graph ({grad_fn}).", "{what} 保留了计算图（{grad_fn}）。"),
                attached_likely=("summing tensors.", "累加了张量。"))
    assert e.value.en == "epoch kept its graph (MulBackward0). Likely mistake: summing tensors."
    assert e.value.zh.startswith("epoch 保留了计算图（MulBackward0）。")
    with pytest.raises(CheckFailed) as e:  # not a number: as_number's message, under number_what, with likely
        as_loss(torch.ones(3), "d_step", number_what="d_step's return value", likely=("per-sample losses.", "逐样本。"))
    assert e.value.en.startswith("d_step's return value should be a number") and "per-sample losses." in e.value.en
    seen = []
    assert as_loss(7, "x", number=lambda v, what, likely=None: seen.append(what) or 7.0) == 7.0 and seen == ["x"]


def test_assert_uniform_passes_a_true_uniform_and_names_each_departure():
    import math
    import re

    from ptquiz.gradelib import assert_uniform
    fix = ("use uniform_(-b, b).", "用 uniform_(-b, b)。")
    g = torch.Generator().manual_seed(0)
    b = 0.1
    for n in (40, 3000):
        assert_uniform(torch.rand(n, generator=g) * 2 * b - b, b, "w", "1/sqrt(in)", fix)
    u = torch.rand(3000, generator=g) * 2 * b - b
    cases = [(u * 2, "exceeds the bound 1/sqrt(in)"), (u * 0.9, "the range is too narrow"),
             (torch.zeros(3000), "all 3000 values are the same"), (torch.zeros(40), "values barely spread"),
             (torch.full((10,), float("nan")), "not every value is finite"),
             ((torch.randn(3000, generator=g) * b / math.sqrt(3)).clamp(-b, b), "not spread uniformly"),
             ((u + 0.01).clamp(-b, b), "is centred on 0")]
    for t, text in cases:
        with pytest.raises(CheckFailed, match=re.escape(text)) as e:
            assert_uniform(t, b, "w", "1/sqrt(in)", fix)
        assert e.value.en.endswith(fix[0]) and e.value.zh.endswith(fix[1])
    with pytest.raises(CheckFailed) as e:  # the module and the wrong fan are the caller's words
        assert_uniform(torch.zeros(3000), b, "w", "B", fix, module="nn.Conv2d", wrong_fan=("the output channels", "输出通道数"))
    assert "not nn.Conv2d's init" in e.value.en and "不是 nn.Conv2d 的初始化" in e.value.zh
    with pytest.raises(CheckFailed) as e:
        assert_uniform(u * 2, b, "w", "B", fix, module="nn.Conv2d", wrong_fan=("the output channels", "输出通道数"))
    assert "a bound from the output channels." in e.value.en and "或按输出通道数计算边界" in e.value.zh
    with pytest.raises(CheckFailed) as e:
        assert_uniform(u * 2, b, "w", "B", fix)
    assert "a bound from out_features." in e.value.en and "或按 out_features 计算边界" in e.value.zh


def test_poison_freed_memory_runs_for_every_shape_and_frees_it():
    from ptquiz.gradelib import poison_freed_memory
    assert poison_freed_memory([(4, 4), (4,)], 7.5) is None
    assert poison_freed_memory([(3, 2)], float("nan"), copies=3) is None


def test_end_some_at_first_step_splits_the_batch_at_the_first_step():
    from torch import nn

    from ptquiz.gradelib import end_some_at_first_step

    class Toy(nn.Module):  # scores depend on the source only: enough for the first step
        def __init__(self):
            super().__init__()
            self.emb, self.out = nn.Embedding(10, 6), nn.Linear(6, 5)

        def forward(self, src, tgt_in):
            return self.out(self.emb(src).mean(1, keepdim=True).expand(-1, tgt_in.shape[1], -1))

    torch.manual_seed(0)
    m = Toy()
    src = torch.arange(3, 10).reshape(7, 1)
    ends = end_some_at_first_step(m, m, src, 5, bos=1, eos=2)
    assert ends is not None and 0 < int(ends.sum()) < 7
    with torch.no_grad():
        first = m(src, torch.ones(7, 1, dtype=torch.long))[:, 0].argmax(-1)
    assert torch.equal(first == 2, ends)
    same = torch.full((4, 1), 3)  # every sample alike: no split exists
    assert end_some_at_first_step(m, m, same, 5, bos=1, eos=2) is None
    assert end_some_at_first_step(nn.Identity(), m, src, 5, bos=1, eos=2) is None  # no output layer
