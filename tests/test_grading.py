"""Every reference scores full marks, every stub zero, every wrong fixture less, every alternative full.

Each group is graded in one run of the real pipeline (pytest under xdist), as `pt-quiz grade` does.
Wrong fixtures live in tests/wrong/NN_slug/*.py with an `expect-message:` line in their docstring;
correct alternatives in tests/alt/NN_slug/*.py.

CI grades everything once: `.ci/run` runs `pt-quiz validate --results FILE` first and points
PT_QUIZ_VALIDATE_RESULTS at that file; a result is reused only when its fingerprint (the graded
text, the grader, its metadata, the engine, the torch version) matches what is on disk now, and
everything else is graded here.
"""
import os
from pathlib import Path

import pytest

from ptquiz.catalog import Catalog
from ptquiz.runner import grade
from ptquiz.stubs import stub_for
from ptquiz.validate import expected_message, fingerprint, load_results, make_rounds, message_found

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


SAVED = load_results(Path(os.environ["PT_QUIZ_VALIDATE_RESULTS"])) if os.environ.get("PT_QUIZ_VALIDATE_RESULTS") else {}
REUSED = []


def grade_files(tmp, files: dict, label=lambda name, f: None):
    """Grade {exercise name: file or source} in one run; results saved by validate are reused when their
    fingerprint matches."""
    out, todo = {}, {}
    for name, f in files.items():
        text = f.read_text(encoding="utf-8") if isinstance(f, Path) else f
        saved = SAVED.get((name, label(name, f)))
        if saved is not None and saved[0] == fingerprint(BY_NAME[name], text):
            out[name] = saved[1]
            REUSED.append(name)
        else:
            todo[name] = text
    if todo:
        tmp.mkdir(parents=True)
        for name, text in todo.items():
            (tmp / f"{name}.py").write_text(text, encoding="utf-8")
        res = grade([BY_NAME[n] for n in todo], target=tmp, cwd=KIT)
        out.update({e.name: e for e in res.exercises})
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return grade_files(tmp_path_factory.mktemp("reference") / "t", {ex.name: ex.solution_path for ex in EXS},
                       lambda name, f: "reference")


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    return grade_files(tmp_path_factory.mktemp("stubs") / "t", {ex.name: stub_for(ex.solution_path) for ex in EXS},
                       lambda name, f: "stub")


def _graded_fixtures(tmp_path_factory, kind, items):
    out = {}
    for i, r in enumerate(rounds(items)):
        res = grade_files(tmp_path_factory.mktemp(f"{kind}{i}") / "t", r, lambda name, f: f"{kind}:{f.name}")
        out.update({(name, f.name): res[name] for name, f in r.items()})
    return out


@pytest.fixture(scope="module")
def wrong(tmp_path_factory):
    return _graded_fixtures(tmp_path_factory, "wrong", WRONG)


@pytest.fixture(scope="module")
def alt(tmp_path_factory):
    return _graded_fixtures(tmp_path_factory, "alt", ALT)


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
    want = expected_message(path.read_text(encoding="utf-8"))
    assert want, f"{path}: add an 'expect-message: <text>' line to the docstring"
    assert message_found(e, want), f"{path.name}: no failure message mentions {want!r}:\n{_failures(e)}"


@pytest.mark.parametrize("name, path", ALT, ids=[f"{n}/{p.stem}" for n, p in ALT])
def test_correct_alternative_scores_full_marks(alt, name, path):
    e = alt[(name, path.name)]
    assert e.score == e.max_score, f"{name}/{path.name}: a correct alternative scored {e.score}/{e.max_score}\n{_failures(e)}"
