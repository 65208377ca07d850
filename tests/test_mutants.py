"""The mutant tool (`pt-quiz validate --mutants`): what it plants, where, and that grading kills a real bug."""
import ast
import textwrap
from pathlib import Path

import pytest

from ptquiz import mutants as mt

KIT = Path(__file__).resolve().parent.parent

SOURCE = textwrap.dedent('''\
    """Doc: dim=1 here is not code."""
    import torch
    import torch.nn.functional as F


    def outside(x):
        return F.softmax(x, dim=-1)  # not the learner's part: never mutated


    def f(x, model, opt):
        # BEGIN SOLUTION
        # TODO: write it
        opt.zero_grad()
        y = F.relu(x).sum(dim=1, keepdim=True)
        with torch.no_grad():
            z = x.detach() + 1
        model.eval()
        return torch.nn.functional.linear(y, z), x[:, -1], x.transpose(1, 2), f"{x:.2f}", y.lstm(x, batch_first=True)
        # END SOLUTION
''')


def keys():
    return {m.key for m in mt.generate(SOURCE)}


def test_every_operator_plants_its_mistake_inside_the_solution_block_only():
    ks = keys()
    for want in ("drop-call: opt.zero_grad() -> (dropped) in `opt.zero_grad()`",
                 "swap-fn: F.relu -> F.tanh in `y = F.relu(x).sum(dim=1, keepdim=True)`",
                 "drop-kwarg: keepdim=True -> (dropped) in `y = F.relu(x).sum(dim=1, keepdim=True)`",
                 "drop-kwarg: dim=1 -> (dropped) in `y = F.relu(x).sum(dim=1, keepdim=True)`",
                 "drop-no-grad: with torch.no_grad() -> (dropped) in `with torch.no_grad():`",
                 "drop-method: x.detach() -> x in `z = x.detach() + 1`",
                 "swap-op: x.detach() + 1 -> x.detach() - 1 in `z = x.detach() + 1`",
                 "drop-call: model.eval() -> (dropped) in `model.eval()`",
                 "flip-bool: True -> False in `y = F.relu(x).sum(dim=1, keepdim=True)`"):
        assert want in ks, (want, sorted(ks))
    assert any(k.startswith("constant: -1 -> -2 in") for k in ks)
    assert any(k.startswith("swap-args: y, z -> z, y in") for k in ks)
    assert not any(k.startswith("swap-args: 1, 2") for k in ks)  # transpose(2, 1) is transpose(1, 2)
    assert not any("softmax" in k or "Doc" in k for k in ks), ks  # outside the block, or a docstring
    assert not any(".2f" in m.before for m in mt.generate(SOURCE))  # f-strings are left alone
    # a keyword's bool is flipped once (flip-bool), not also as a constant
    assert not any(k.startswith("constant: True") for k in ks)


def test_each_mutant_is_valid_python_with_exactly_one_change():
    for m in mt.generate(SOURCE):
        ast.parse(m.source)
        assert m.source != SOURCE
        changed = [i for i, (a, b) in enumerate(zip(SOURCE.splitlines(), m.source.splitlines())) if a != b]
        assert len(changed) == 1 and changed[0] + 1 == m.line, m.key


def test_module_functions_are_not_mistaken_for_dropped_methods():
    src = "def g(x):\n    # BEGIN SOLUTION\n    return math.sqrt(x) + torch.exp(x) + x.exp()\n    # END SOLUTION\n"
    drops = [m.key for m in mt.generate(src) if m.op == "drop-method"]
    assert drops == ["drop-method: x.exp() -> x in `return math.sqrt(x) + torch.exp(x) + x.exp()`"]


def test_sample_is_repeatable_spread_over_operators_and_capped():
    every = mt.generate(SOURCE)
    a, b = mt.sample(every, 5, "salt"), mt.sample(every, 5, "salt")
    assert [m.key for m in a] == [m.key for m in b] and len(a) == 5
    assert len({m.op for m in a}) == 5
    assert mt.sample(every, None, "salt") == every


def test_equivalents_file_is_read_and_a_malformed_one_says_how_to_fix_it(tmp_path):
    class Ex:
        pack = tmp_path
        name = "01_demo"
    d = tmp_path / "tests" / "mutants"
    d.mkdir(parents=True)
    (d / "01_demo.toml").write_text('[[equivalent]]\nmutant = "k"\nwhy = "no observable change"\n', encoding="utf-8")
    assert mt.load_equivalents(Ex) == {"k": "no observable change"}
    (d / "01_demo.toml").write_text('[[equivalent]]\nmutant = "k"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="needs mutant = .* and why = "):
        mt.load_equivalents(Ex)


def test_every_recorded_equivalent_names_a_mutant_the_reference_still_generates():
    from ptquiz.catalog import Catalog
    for ex in Catalog(KIT):
        eq = mt.load_equivalents(ex)
        if eq:
            have = {m.key for m in mt.generate(ex.solution_path.read_text(encoding="utf-8"))}
            stale = [k for k in eq if k not in have]
            assert not stale, f"tests/mutants/{ex.name}.toml lists mutants no longer generated: {stale}"


def test_grading_kills_a_real_mutant_and_lets_the_reference_through():
    """End to end on exercise 01: nn.Linear(out, in) is caught (the only mutant 01's reference has)."""
    from ptquiz.catalog import Catalog
    ex = Catalog(KIT).get(1)
    (em,) = mt.run([ex], KIT)
    assert em.generated >= 1 and em.killed == len(em.graded) and not em.survivors and not em.errors
    assert em.kill_rate == 1.0
