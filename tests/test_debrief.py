"""`pt-quiz debrief N` and the generated part behind it (graders/NN_slug.debrief.json).

The generated part must stay true: it lists exactly the exercise's fixtures, and `validate` reports it stale
when a grader stops saying what it quotes (tested here with a fake grade function: no grading needed).
"""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from conftest import KIT
from ptquiz import debrief
from ptquiz.catalog import Catalog
from ptquiz.runner import CheckResult, ExerciseResult
from ptquiz.validate import alt_fixtures, validate, wrong_fixtures

KIT_EXS = list(Catalog(KIT))
SOL = (KIT / "solutions" / "01_custom_module.py").read_text(encoding="utf-8")


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


@pytest.fixture
def pack1(pack):
    """The small pack, with exercise 01's fixtures and its committed debrief file."""
    for kind in ("wrong", "alt"):
        shutil.copytree(KIT / "tests" / kind / "01_custom_module", pack / "tests" / kind / "01_custom_module")
    shutil.copy(KIT / "graders" / "01_custom_module.debrief.json", pack / "graders")
    return pack


# -- the kit's own debrief files -------------------------------------------------------------------

@pytest.mark.parametrize("ex", KIT_EXS, ids=lambda e: e.name)
def test_every_exercise_has_debrief_text_and_a_generated_file_listing_exactly_its_fixtures(ex):
    assert ex.format_version == 2 and ex.explanation and len(ex.followups) >= 3, ex.name
    doc = debrief.load(ex)
    assert doc is not None, f"run `pt-quiz validate --update-debrief {ex.number}`"
    assert [m["fixture"] for m in doc["mistakes"]] == [p.name for p in wrong_fixtures(ex)], \
        f"{ex.name}: fixtures changed; run `pt-quiz validate --update-debrief {ex.number}`"
    assert [a["fixture"] for a in doc["approaches"]] == [p.name for p in alt_fixtures(ex)]
    for m in doc["mistakes"]:
        assert m["message"]["en"] and m["message"]["zh"] and m["lines"], (ex.name, m["fixture"])
        assert m["score"][0] < m["score"][1]
        assert "/tmp" not in m["message"]["en"] and "ptquiz-" not in m["message"]["en"], m["message"]["en"]
    for m in doc["mistakes"]:  # the quoted message is the one that names the mistake
        want = (KIT / "tests" / "wrong" / ex.name / m["fixture"]).read_text(encoding="utf-8")
        from ptquiz.validate import expected_message
        assert expected_message(want) in m["message"]["en"].lower() or len(m["message"]["en"]) >= debrief.MAX_MESSAGE, \
            (ex.name, m["fixture"])


# -- pieces ----------------------------------------------------------------------------------------

def test_diff_lines_show_what_differs_without_docstrings_or_markers():
    ref = '"""Ref."""\nimport torch\n\ndef f(x):\n    # BEGIN SOLUTION\n    y = x * 2\n    return y.sum(dim=1)\n    # END SOLUTION\n'
    wrong = '"""Wrong: sums the wrong axis.\nexpect-message: dim\n"""\nimport torch\n\ndef f(x):\n    y = x * 2\n    return y.sum()\n'
    assert debrief.diff_lines(ref, wrong) == ["-     return y.sum(dim=1)", "+     return y.sum()"]
    assert debrief.describe_fixture(wrong) == "sums the wrong axis."
    assert debrief.describe_fixture('"""Wrong (like the seed): no mask.\nexpect-message: x"""') == "like the seed: no mask."
    long_wrong = "\n".join(f"z{i} = {i}" for i in range(40))
    out = debrief.diff_lines(ref, long_wrong)
    assert len(out) == debrief.MAX_LINES + 1 and "more line(s) differ" in out[-1]


def test_export_copy_keeps_the_wrong_lines_and_messages_but_no_reference_or_alternative_code():
    ex = next(e for e in KIT_EXS if e.number == 1)
    doc = debrief.load(ex)
    out = debrief.for_export(doc)
    assert all(not ln.startswith("- ") for m in out["mistakes"] for ln in m["lines"])
    assert all(m["message"] for m in out["mistakes"])
    assert all("lines" not in a and a["what"] for a in out["approaches"])


def _fake_grade(messages):
    """A grade function for validate: every file scores by its label; wrong fixtures fail with `messages`."""
    def grade(exs, target, workers=None, cwd=None):
        from ptquiz.runner import GradeResult
        out = []
        for ex in exs:
            src = (Path(target) / f"{ex.name}.py").read_text(encoding="utf-8")
            checks = ex.checks()
            wrong = "expect-message" in src
            stub = "NotImplementedError(\"TODO" in src
            res = []
            for i, c in enumerate(checks):
                failed = stub or (wrong and i == 0)
                msg = None
                if failed:
                    msg = messages.get(src.splitlines()[0], {"en": "failed: " + (src.split("expect-message:")[1].split("\n")[0] if wrong else ""), "zh": "未通过"})
                res.append(CheckResult(name=c.name, title=c.title, category=c.category, points=c.points,
                                       passed=not failed, score=0 if failed else c.points, message=msg))
            score = sum(r.score for r in res)
            mx = sum(c.points for c in checks)
            out.append(ExerciseResult(number=ex.number, slug=ex.slug, title=ex.title, score=score, max_score=mx,
                                      status="passed" if score == mx else "failed", checks=res))
        return GradeResult(out)
    return grade


def test_validate_writes_the_debrief_then_reports_it_stale_when_the_grader_says_something_else(pack1):
    ex = Catalog(pack1).get(1)
    debrief.debrief_path(ex).unlink()
    rep = validate([ex], pack1, repeat=False, grade_fn=_fake_grade({}))
    assert any("debrief" in f.problem and "missing" in f.problem for f in rep.findings), rep.findings
    validate([ex], pack1, repeat=False, grade_fn=_fake_grade({}), update_debrief=True)
    doc = debrief.load(ex)
    assert [m["fixture"] for m in doc["mistakes"]] == [p.name for p in wrong_fixtures(ex)]
    rep = validate([ex], pack1, repeat=False, grade_fn=_fake_grade({}))
    assert not [f for f in rep.findings if "debrief" in f.problem], rep.findings
    # numbers in a message are not a change ...
    first = wrong_fixtures(ex)[0]
    head = first.read_text(encoding="utf-8").splitlines()[0]
    want = first.read_text(encoding="utf-8").split("expect-message:")[1].split("\n")[0]
    doc["mistakes"][0]["message"]["en"] = "failed: " + want + " (max diff 0.5)"
    debrief.save(ex, doc)
    rep = validate([ex], pack1, repeat=False, grade_fn=_fake_grade({head: {"en": "failed: " + want + " (max diff 0.7)", "zh": "未通过"}}))
    assert not [f for f in rep.findings if "debrief" in f.problem], rep.findings
    # ... a different message is
    rep = validate([ex], pack1, repeat=False, grade_fn=_fake_grade({head: {"en": "something else entirely", "zh": "别的"}}))
    stale = [f for f in rep.findings if "debrief" in f.problem]
    assert stale and first.name in stale[0].problem and "--update-debrief 1" in stale[0].fix, rep.findings
    # and so is a new fixture
    (pack1 / "tests" / "wrong" / "01_custom_module" / "zz_new.py").write_text(
        '"""Wrong: new.\nexpect-message: nothing\n"""\n' + SOL, encoding="utf-8")
    rep = validate([ex], pack1, repeat=False, grade_fn=_fake_grade({}))
    assert any("zz_new.py" in f.problem for f in rep.findings), rep.findings


# -- the command -----------------------------------------------------------------------------------

def test_debrief_opens_at_full_marks_and_force_is_recorded(pack1):
    r = run("debrief", "1")
    assert r.exit_code == 1 and "full marks" in r.output and "pt-quiz hint 1" in r.output and "--force" in r.output
    r = run("debrief", "1", "--force")
    assert r.exit_code == 0 and "--force" in r.output and "Q1." in r.output
    ev = [json.loads(ln) for ln in (pack1 / ".pt-quiz" / "events.jsonl").read_text().splitlines()]
    assert ev[-1]["kind"] == "debrief" and ev[-1]["forced"] is True


def test_grade_points_to_the_debrief_once_then_it_shows_every_section(pack1):
    from ptquiz.catalog import text as pick
    (pack1 / "exercises" / "01_custom_module.py").write_text(SOL, encoding="utf-8")
    r = run("grade", "1")
    assert r.exit_code == 0 and "pt-quiz debrief 1" in r.output, r.output
    assert "pt-quiz debrief 1" not in run("grade", "1").output  # only the first time
    ex = Catalog(pack1).get(1)
    out = run("debrief", "1").output
    assert pick(ex.explanation, "en")[:60] in out
    assert pick(ex.seed_analysis, "en")[:60] in out
    for f in ex.followups:
        assert pick(f["question"], "en") in out and pick(f["answer"], "en")[:40] in out
    doc = debrief.load(ex)
    for m in doc["mistakes"]:
        assert m["message"]["en"].splitlines()[0] in out
    assert "Other correct approaches" in out
    zh = run("--lang", "zh", "debrief", "1", "--no-answers").output
    assert pick(ex.followups[0]["question"], "zh") in zh and pick(ex.followups[0]["answer"], "zh") not in zh
    assert "常见错误" in zh


def test_debrief_without_generated_file_or_v1_metadata_says_what_to_do(pack1):
    meta = pack1 / "graders" / "01_custom_module.toml"
    body = meta.read_text(encoding="utf-8")
    meta.write_text(body.replace("format_version = 2", "format_version = 1").split("[explanation]")[0], encoding="utf-8")
    (pack1 / "graders" / "01_custom_module.debrief.json").unlink()
    r = run("debrief", "1", "--force")
    assert r.exit_code == 0, r.output
    assert "no debrief text yet" in r.output and "--update-debrief 1" in r.output
    shutil.rmtree(pack1 / "tests")
    r = run("debrief", "1", "--force")
    assert "None recorded for this exercise yet" in r.output and "--update-debrief" not in r.output


def test_classroom_export_carries_the_debrief_without_reference_or_alternative_code(pack1, tmp_path):
    dest = tmp_path / "assignment"
    r = run("classroom", "export", str(dest), "-e", "1")
    assert r.exit_code == 0, r.output
    doc = json.loads((dest / "graders" / "01_custom_module.debrief.json").read_text(encoding="utf-8"))
    assert doc["mistakes"] and all(m["message"]["en"] for m in doc["mistakes"])
    assert not [ln for m in doc["mistakes"] for ln in m["lines"] if ln.startswith("- ")]
    assert doc["approaches"] and not [a for a in doc["approaches"] if "lines" in a]
    assert "return self.linear(x)" not in json.dumps(doc)  # the reference's one line
    assert not (dest / "tests").exists() and not (dest / "solutions").exists()


def test_a_quote_is_judged_on_the_mistake_it_names_not_on_values_seen():
    from types import SimpleNamespace as NS
    old = {"check": "test_a", "message": {"en": "got -1.5 (expected nan). Likely mistake: dropout in eval mode."}}
    def res(msg, passed=False):
        return NS(checks=[NS(name="test_a", passed=passed, message={"en": msg})])
    names = {"test_a", "test_b"}
    assert debrief._still_said(old, res("got 0.25 (expected 3e-05). Likely mistake: dropout in eval mode."), names)
    assert not debrief._still_said(old, res("got 0.25. Likely mistake: softmax over the queries."), names)
    assert debrief._still_said(old, res("", passed=True), names)  # passed on this run: a random fixture
    assert not debrief._still_said(old, res("x"), {"test_b"})      # the quoted check is gone
