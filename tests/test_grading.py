"""Every reference scores full marks, every stub zero, every wrong fixture less, every alternative full.

Each group is graded in one run of the real pipeline (pytest under xdist), as `pt-quiz grade` does.
Wrong fixtures live in tests/wrong/NN_slug/*.py with an `expect-message:` line in their docstring;
correct alternatives in tests/alt/NN_slug/*.py.
"""
import re
from pathlib import Path

import pytest

from ptquiz.catalog import Catalog
from ptquiz.runner import grade
from ptquiz.stubs import stub_for
from ptquiz.validate import make_rounds

from conftest import KIT

CAT = Catalog(KIT)
EXS = list(CAT)
BY_NAME = {ex.name: ex for ex in EXS}


def fixtures(kind):
    out = []
    for d in sorted((KIT / "tests" / kind).glob("*")):
        if d.name in BY_NAME:
            out += [(d.name, f) for f in sorted(d.glob("*.py"))]
    return out


WRONG, ALT = fixtures("wrong"), fixtures("alt")


def rounds(items):
    """Split fixtures into rounds holding at most one file per exercise (as `pt-quiz validate` does):
    one grading run per round."""
    return [{name: f for name, (_, f) in r.items()} for r in make_rounds([(n, f.name, f) for n, f in items])]


def grade_files(tmp, files: dict):
    tmp.mkdir(parents=True)
    for name, f in files.items():
        text = f.read_text(encoding="utf-8") if isinstance(f, Path) else f
        (tmp / f"{name}.py").write_text(text, encoding="utf-8")
    res = grade([BY_NAME[n] for n in files], target=tmp, cwd=KIT)
    return {e.name: e for e in res.exercises}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    res = grade(EXS, target=KIT / "solutions", cwd=KIT)
    return {e.name: e for e in res.exercises}


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    return grade_files(tmp_path_factory.mktemp("stubs") / "t", {ex.name: stub_for(ex.solution_path) for ex in EXS})


@pytest.fixture(scope="module")
def wrong(tmp_path_factory):
    out = {}
    for i, r in enumerate(rounds(WRONG)):
        res = grade_files(tmp_path_factory.mktemp(f"wrong{i}") / "t", r)
        out.update({(name, f.name): res[name] for name, f in r.items()})
    return out


@pytest.fixture(scope="module")
def alt(tmp_path_factory):
    out = {}
    for i, r in enumerate(rounds(ALT)):
        res = grade_files(tmp_path_factory.mktemp(f"alt{i}") / "t", r)
        out.update({(name, f.name): res[name] for name, f in r.items()})
    return out


def _failures(e):
    return "\n".join(f"  {c.name}: {(c.message or {}).get('en')}" for c in e.checks if not c.passed)


@pytest.mark.parametrize("name", [ex.name for ex in EXS])
def test_reference_scores_full_marks(reference, name):
    e = reference[name]
    assert e.max_score > 0
    assert e.score == e.max_score, f"{name}: reference scored {e.score}/{e.max_score}\n{_failures(e)}"


@pytest.mark.parametrize("name", [ex.name for ex in EXS])
def test_stub_scores_zero(stubs, name):
    e = stubs[name]
    assert e.score == 0, f"{name}: the untouched stub scored {e.score}: " + \
        ", ".join(c.name for c in e.checks if c.passed)
    assert e.status == "todo", e.status


def test_every_exercise_has_two_wrong_fixtures():
    have = {}
    for name, _ in WRONG:
        have[name] = have.get(name, 0) + 1
    missing = [ex.name for ex in EXS if have.get(ex.name, 0) < 2]
    assert not missing, f"exercises with fewer than two wrong-solution fixtures: {missing}"


@pytest.mark.parametrize("name, path", WRONG, ids=[f"{n}/{p.stem}" for n, p in WRONG])
def test_wrong_fixture_loses_points_with_a_message_naming_the_mistake(wrong, name, path):
    e = wrong[(name, path.name)]
    assert e.score < e.max_score, f"{name}/{path.name}: a wrong solution got full marks"
    m = re.search(r"expect-message:\s*(.+)", path.read_text(encoding="utf-8"))
    assert m, f"{path}: add an 'expect-message: <text>' line to the docstring"
    want = m.group(1).strip().lower()
    msgs = [((c.message or {}).get("en") or "").lower() for c in e.checks if not c.passed]
    assert any(want in msg for msg in msgs), f"{path.name}: no failure message mentions {want!r}:\n{_failures(e)}"


@pytest.mark.parametrize("name, path", ALT, ids=[f"{n}/{p.stem}" for n, p in ALT])
def test_correct_alternative_scores_full_marks(alt, name, path):
    e = alt[(name, path.name)]
    assert e.score == e.max_score, f"{name}/{path.name}: a correct alternative scored {e.score}/{e.max_score}\n{_failures(e)}"
