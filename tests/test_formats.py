"""Result formats of `pt-quiz grade`: JUnit XML, Exercism v3, Gradescope, GitHub Classroom.

Most tests build GradeResult objects by hand (fast); one grades exercise 01 for real and
checks every format against the `--json` output of the same run.
"""
import json
import shutil
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from conftest import KIT
from ptquiz import formats
from ptquiz.catalog import Catalog
from ptquiz.runner import CheckResult, ExerciseResult, GradeResult


def _c(name, points, passed, kind=None, cat="shape", dur=0.25):
    msg = None if passed else {"en": f"{name} went wrong", "zh": f"{name} 出错", "kind": kind or "check"}
    return CheckResult(name, {"en": f"title {name}", "zh": f"标题 {name}"}, cat, points, passed,
                       points if passed else 0, msg, None if passed else (kind or "check"), dur)


def sample() -> GradeResult:
    e1 = ExerciseResult(1, "custom_module", {"en": "A custom nn.Module", "zh": "自定义"}, 0, 10, "partial", [
        _c("test_a", 2, True), _c("test_b", 3, False), _c("test_c", 2, True, cat="gradient"),
        _c("test_d", 2, False, kind="timeout", cat="training"), _c("test_e", 1, True, cat="device")])
    e1.score = sum(c.score for c in e1.checks)
    e2 = ExerciseResult(2, "broken", {"en": "Broken grader", "zh": "坏"}, 0, 0, "error", [],
                        {"en": "graders/test_02_broken.py:3: grader has a syntax error", "zh": "语法错误"})
    e3 = ExerciseResult(3, "done", {"en": "Done", "zh": "完成"}, 3, 3, "passed", [_c("test_x", 3, True)])
    return GradeResult([e1, e2, e3], seconds=4.5)


# ---------------------------------------------------------------------------
# shapes, on hand-built results

def test_junit_one_testcase_per_check():
    r = sample()
    root = ET.fromstring(formats.junit_xml(r))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["01_custom_module", "02_broken", "03_done"]
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == ["test_a", "test_b", "test_c", "test_d", "test_e"]
    assert {c.get("classname") for c in cases} == {"01_custom_module"}
    assert suites[0].get("tests") == "5" and suites[0].get("failures") == "1" and suites[0].get("errors") == "1"
    assert cases[1].find("failure").get("message") == "test_b went wrong"
    assert cases[3].find("error") is not None  # a timeout is an error, not an assertion failure
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    assert suites[1].find("testcase/error") is not None  # a grader that cannot load is reported, not dropped
    assert root.get("tests") == "7" and root.get("failures") == "1" and root.get("errors") == "2"
    for c in root.iter("testcase"):
        float(c.get("time"))


def test_exercism_v3_shape():
    doc = formats.exercism_results(sample())
    assert doc["version"] == 3 and doc["status"] in ("pass", "fail", "error")
    assert doc["status"] == "fail" and "02_broken" in doc["message"]
    assert len(doc["tests"]) == 6
    for t in doc["tests"]:
        assert set(t) >= {"name", "status", "message", "test_code"}
        assert t["status"] in ("pass", "fail", "error")
        assert isinstance(t["name"], str) and isinstance(t["test_code"], str)
        assert (t["message"] is None) == (t["status"] == "pass")
        assert isinstance(t["task_id"], int)
    ok = formats.exercism_results(GradeResult([sample().exercises[2]]))
    assert ok == {**ok, "version": 3, "status": "pass"} and "message" not in ok
    err = formats.exercism_results(GradeResult([sample().exercises[1]]))
    assert err["status"] == "error" and err["message"] and err["tests"] == []


def test_gradescope_shape_and_sum():
    r = sample()
    doc = formats.gradescope_results(r)
    assert set(doc) == {"score", "execution_time", "output", "tests"}
    assert doc["score"] == r.score == 8
    assert isinstance(doc["execution_time"], (int, float))
    for t in doc["tests"]:
        assert set(t) == {"name", "number", "score", "max_score", "status", "output", "visibility"}
        assert t["status"] in ("passed", "failed") and t["visibility"] == "visible"
        assert isinstance(t["score"], int) and isinstance(t["max_score"], int)
    assert sum(t["score"] for t in doc["tests"]) == r.score
    assert sum(t["max_score"] for t in doc["tests"]) == r.max_score
    assert [t["number"] for t in doc["tests"][:2]] == ["1.1", "1.2"]
    tampered = formats.gradescope_results(r, tamper={"tampered": True, "changed": ["graders/x.py"], "missing": [], "added": []})
    assert tampered["output"].startswith("WARNING") and "graders/x.py" in tampered["output"]


def test_classroom_result_shape_integers_and_sum(tmp_path, monkeypatch):
    r = sample()
    doc = formats.classroom_result(r)
    assert set(doc) == {"version", "status", "max_score", "tests"}
    assert doc["version"] == 1 and doc["status"] == "error"  # exercise 02 could not be graded
    assert doc["max_score"] == r.max_score
    for t in doc["tests"]:
        assert set(t) == {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"}
        assert t["status"] in ("pass", "fail", "error")
        assert type(t["score"]) is int and type(t["line_no"]) is int and type(t["duration"]) is int
    assert sum(t["score"] for t in doc["tests"]) == r.score
    b64 = formats.encode_classroom(doc)
    assert "." not in json.dumps(formats.decode_classroom(b64)["tests"][0]["score"])
    assert formats.decode_classroom(b64) == doc
    only_ok = formats.classroom_result(GradeResult([r.exercises[2]]))
    assert only_ok["status"] == "pass"
    # $GITHUB_OUTPUT gets `result=<base64>`; without it, the line is printed
    out = tmp_path / "gh_output"
    out.write_text("other=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    printed = []
    formats.emit_classroom(doc, echo=printed.append)
    assert not printed
    lines = out.read_text().splitlines()
    assert lines[0] == "other=1" and lines[1].startswith("result=")
    assert formats.decode_classroom(lines[1][len("result="):]) == doc
    monkeypatch.delenv("GITHUB_OUTPUT")
    formats.emit_classroom(doc, echo=printed.append)
    assert printed and printed[0].startswith("result=")


def test_sources_give_file_line_and_code():
    cat = Catalog(KIT)
    ex = cat.get(1)
    r = GradeResult([ExerciseResult(1, ex.slug, ex.title, 2, 2, "passed",
                                    [CheckResult("test_output_shape", {"en": "t"}, "shape", 2, True, 2)])])
    doc = formats.classroom_result(r, exercises={1: ex})
    t = doc["tests"][0]
    assert t["filename"] == "graders/test_01_custom_module.py" and t["line_no"] > 1
    ex3 = formats.exercism_results(r, exercises={1: ex})
    assert ex3["tests"][0]["test_code"].startswith("@check") or "def test_output_shape" in ex3["tests"][0]["test_code"]


# ---------------------------------------------------------------------------
# one real grading run, every format at once

@pytest.fixture
def graded(pack, tmp_path, monkeypatch):
    """Grade a wrong answer to exercise 01 (partial credit) writing every format, with a manifest and a tampered grader."""
    import cli
    from ptquiz.export import write_manifest

    shutil.copy(KIT / "tests" / "wrong" / "01_custom_module" / "flattens_input.py", pack / "exercises" / "01_custom_module.py")
    write_manifest(pack)
    with open(pack / "graders" / "test_02_custom_module_2.py", "a") as f:
        f.write("\n# an edit by a student\n")
    out = tmp_path / "out"
    gh = tmp_path / "gh_output"
    gh.touch()
    monkeypatch.setenv("GITHUB_OUTPUT", str(gh))
    res = CliRunner().invoke(cli.main, ["--lang", "en", "grade", "1", "--json", "--junit", str(out / "junit.xml"),
                                        "--gradescope", str(out / "gs.json"), "--exercism", str(out / "ex.json"),
                                        "--classroom"])
    assert res.exit_code == 1, res.output  # partial credit: not full marks
    return json.loads(res.stdout), out, gh


def test_real_grade_every_format_agrees(graded):
    doc, out, gh = graded
    assert 0 < doc["score"] < doc["max_score"]
    assert doc["tamper"]["tampered"] and doc["tamper"]["changed"] == ["graders/test_02_custom_module_2.py"]
    checks = doc["exercises"][0]["checks"]
    # JUnit
    root = ET.parse(out / "junit.xml").getroot()
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [c["name"] for c in checks]
    assert len(root.findall("testsuite/testcase/failure")) + len(root.findall("testsuite/testcase/error")) == \
        sum(not c["passed"] for c in checks)
    # Gradescope
    gs = json.loads((out / "gs.json").read_text())
    # a tampered repository's score is withheld where it counts (Gradescope, Classroom), saying why
    assert gs["score"] == doc["score"] and "WARNING" in gs["output"]
    assert [t["status"] == "passed" for t in gs["tests"]] == [c["passed"] for c in checks]
    # Exercism
    ex = json.loads((out / "ex.json").read_text())
    assert ex["version"] == 3 and ex["status"] == "fail"
    assert [t["status"] == "pass" for t in ex["tests"]] == [c["passed"] for c in checks]
    # Classroom
    lines = [ln for ln in gh.read_text().splitlines() if ln.startswith("result=")]
    assert len(lines) == 1
    cr = formats.decode_classroom(lines[0][len("result="):])
    assert cr["version"] == 1 and cr["status"] == "error" and cr["max_score"] == doc["max_score"]
    assert all(type(t["score"]) is int for t in cr["tests"])
    assert sum(t["score"] for t in cr["tests"]) == 0
    assert cr["tests"][0]["name"] == "integrity" and "test_02_custom_module_2.py" in cr["tests"][0]["message"]
    assert [t["status"] == "pass" for t in cr["tests"][1:]] == [c["passed"] for c in checks]


def test_a_flagged_result_or_a_tamper_report_withholds_the_score_in_classroom_and_gradescope():
    def result(flags):
        c = CheckResult("test_a", {"en": "a", "zh": "a"}, "shape", 3, True, 3)
        e = ExerciseResult(1, "demo", {"en": "Demo", "zh": "演示"}, 3, 3, "passed", [c])
        if flags:
            e.flags = [{"en": "ptquiz.gradelib.fail was replaced by the learner's code", "zh": "…", "kind": "tamper"}]
        return GradeResult([e], 1.0)
    clean = formats.classroom_result(result(False))
    assert clean["status"] == "pass" and sum(t["score"] for t in clean["tests"]) == 3
    assert formats.gradescope_results(result(False))["score"] == 3
    for r, tamper in ((result(True), None), (result(False), {"tampered": True, "changed": ["graders/x.py"]})):
        cr = formats.classroom_result(r, tamper=tamper)
        assert cr["status"] == "error" and sum(t["score"] for t in cr["tests"]) == 0
        assert "Score withheld" in cr["tests"][0]["message"]
