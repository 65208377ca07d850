"""The CLI as a learner uses it: answers, bad input and never losing work.

Runs in a throw-away project (tests/conftest.py `pack`): the kit's exercise 01 copied as 01, 02 and 03.
"""
import hashlib
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cli
from conftest import KIT, MAX01

SOL = (KIT / "solutions" / "01_custom_module.py").read_text(encoding="utf-8")


def run(*args, input=None):
    return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)


def names(pack):
    return {1: pack / "exercises" / "01_custom_module.py",
            2: pack / "exercises" / "02_custom_module_2.py",
            3: pack / "exercises" / "03_custom_module_3.py"}


@pytest.fixture
def pack3(tmp_path, monkeypatch):
    from conftest import write_pack
    root = write_pack(tmp_path / "proj", numbers=(1, 2, 3))
    monkeypatch.setenv("PT_QUIZ_ROOT", str(root))
    monkeypatch.delenv("PT_QUIZ_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.chdir(root)
    return root


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_list_start_hint_do_not_import_torch(pack):
    code = ("import sys, cli\n"
            "for argv in (['list'], ['start', '1'], ['hint'], ['hint', '1']):\n"
            "    try:\n        cli.main(argv)\n    except SystemExit as e:\n        assert not e.code, (argv, e.code)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=pack, env={**os.environ, "PYTHONPATH": str(KIT)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_list_shows_exercises_and_progress(pack):
    r = run("list")
    assert r.exit_code == 0
    assert "A custom nn.Module" in r.output and "Progress: 0/2" in r.output


def test_start_shows_the_question_and_records_it(pack):
    r = run("start", "2")
    assert r.exit_code == 0
    assert "MyModule.__init__, MyModule.forward" in r.output
    assert "exercises/02_custom_module_2.py" in r.output
    state = json.loads((pack / ".pt-quiz" / "state.json").read_text())
    assert state["current"] == 2 and state["started"] == [2]
    assert "▶" in run("list").output


def test_start_never_overwrites_and_recreates_a_missing_file(pack):
    f = names(pack)[1]
    f.write_text("my work\n")
    r = run("start", "1")
    assert "left as it is" in r.output and f.read_text() == "my work\n"
    f.unlink()
    r = run("start", "1")
    assert "Created" in r.output and "raise NotImplementedError" in f.read_text()


def test_unknown_exercise_is_a_usage_error_listing_valid_numbers(pack):
    for argv in (["start", "99"], ["hint", "99"], ["grade", "99"], ["reset", "99"], ["solution", "99"]):
        r = run(*argv)
        assert r.exit_code == 2, argv
        assert "no exercise 99" in r.output and "Valid numbers: 1, 2" in r.output, r.output
    assert run("start", "abc").exit_code == 2


def test_hints_step_through_levels_in_both_languages(pack):
    assert "No exercise started" in run("hint").output
    run("start", "1")
    assert "Hint 1/3" in run("hint").output
    assert "Hint 2/3" in run("hint").output
    r = run("--lang", "zh", "hint")
    assert "提示 3/3" in r.output and "最后一条提示" in r.output
    assert "Hint 3/3" in run("hint").output  # stays on the last level


def test_language_from_environment(pack, monkeypatch):
    monkeypatch.setenv("PT_QUIZ_LANG", "zh")
    assert "自定义 nn.Module" in run("list").output
    monkeypatch.delenv("PT_QUIZ_LANG")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert "进度" in run("list").output


def test_corrupt_state_is_set_aside_not_fatal(pack):
    (pack / ".pt-quiz").mkdir()
    (pack / ".pt-quiz" / "state.json").write_text("{not json")
    r = run("list")
    assert r.exit_code == 0 and "A custom nn.Module" in r.output
    assert any(p.name.startswith("state.json.corrupt-") for p in (pack / ".pt-quiz").iterdir())
    assert run("start", "1").exit_code == 0
    assert json.loads((pack / ".pt-quiz" / "state.json").read_text())["current"] == 1


def test_reset_backs_up_the_learners_file(pack):
    f = names(pack)[1]
    f.write_text("precious attempt\n")
    r = run("reset", "1")
    assert r.exit_code == 0 and "saved as" in r.output
    backups = list((pack / ".pt-quiz" / "backups").iterdir())
    assert [b.read_text() for b in backups] == ["precious attempt\n"]
    assert "raise NotImplementedError" in f.read_text()
    run("reset", "1")
    assert len(list((pack / ".pt-quiz" / "backups").iterdir())) == 2  # never overwrites an older backup


def test_solution_asks_first_and_is_absent_from_student_copies(pack):
    r = run("solution", "1", input="n\n")
    assert r.exit_code == 1 and "BEGIN SOLUTION" not in r.output
    r = run("solution", "1", input="y\n")
    assert r.exit_code == 0 and "BEGIN SOLUTION" in r.output
    (pack / "solutions" / "01_custom_module.py").unlink()
    r = run("solution", "1", "--yes")
    assert r.exit_code == 1 and "no reference solutions" in r.output


def test_build_check_names_stale_stubs_and_build_backs_up(pack):
    f = names(pack)[2]
    f.write_text("edited\n")
    r = run("build", "--check")
    assert r.exit_code == 1 and "02_custom_module_2.py" in r.output and f.read_text() == "edited\n"
    r = run("build")
    assert r.exit_code == 0 and "raise NotImplementedError" in f.read_text()
    assert [b.read_text() for b in (pack / ".pt-quiz" / "backups").iterdir()] == ["edited\n"]
    assert run("build", "--check").exit_code == 0


def test_grade_isolates_a_crash_and_a_syntax_error_and_changes_no_file(pack3):
    f = names(pack3)
    f[1].write_text(SOL)
    f[2].write_text(SOL.replace("return self.linear(x)", "import os; os._exit(0)"))
    f[3].write_text(SOL.replace("return self.linear(x)", "return self.linear(x"))
    before = digest(pack3 / "exercises")
    r = run("grade", "1", "2", "3", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.output)
    assert set(doc) >= {"score", "max_score", "exercises"}
    ex = {e["number"]: e for e in doc["exercises"]}
    for e in doc["exercises"]:
        assert set(e) >= {"number", "slug", "score", "max_score", "status", "checks"}
        for c in e["checks"]:
            assert set(c) >= {"name", "category", "points", "passed", "message"}
    assert ex[1]["score"] == ex[1]["max_score"] == MAX01 and ex[1]["status"] == "passed"
    assert 0 < ex[2]["score"] < 10  # the checks that never call forward still pass
    assert any("died" in (c["message"] or "") for c in ex[2]["checks"])
    assert ex[3]["score"] == 0 and ex[3]["status"] == "error"
    # named relative to the project, although the graded code ran in a scratch folder (ptquiz/workdir.py)
    assert ex[3]["message"].startswith("exercises/03_custom_module_3.py:24: SyntaxError"), ex[3]["message"]
    assert doc["score"] == sum(e["score"] for e in doc["exercises"])
    assert digest(pack3 / "exercises") == before  # grading never touches the learner's files


def test_grade_reports_a_hang_and_a_missing_file(pack, monkeypatch):
    monkeypatch.setenv("PT_QUIZ_CHECK_TIMEOUT", "3")
    f = names(pack)
    f[1].write_text(SOL.replace("return self.linear(x)", "while True:\n            pass"))
    f[2].unlink()
    r = run("grade", "1", "2")
    assert r.exit_code == 1
    assert "longer than 3" in r.output and "infinite loop" in r.output
    assert "pt-quiz reset 2" in r.output and "missing" in r.output


def test_grade_full_marks_exits_zero_and_records_progress(pack):
    names(pack)[1].write_text(SOL)
    run("start", "1")
    r = run("grade")  # no argument: the started exercises
    assert r.exit_code == 0, r.output
    assert f"Total: {MAX01}/{MAX01}" in r.output
    assert "Progress: 1/2" in run("list").output


def test_grade_without_anything_started_says_what_to_do(pack):
    r = run("grade")
    assert r.exit_code == 2 and "pt-quiz start 1" in r.output


def test_watch_grades_through_the_warm_path(pack):
    names(pack)[1].write_text(SOL)
    run("start", "1")
    r = run("watch", "--once")
    assert r.exit_code == 0 and f"{MAX01}/{MAX01}" in r.output
    from ptquiz import events
    assert [(e["kind"], e["score"], e["via"]) for e in events.read(pack)] == [("grade", MAX01, "watch")]


def test_a_bare_except_cannot_swallow_the_time_limit(pack, monkeypatch):
    monkeypatch.setenv("PT_QUIZ_CHECK_TIMEOUT", "2")
    names(pack)[1].write_text(SOL.replace(
        "return self.linear(x)",
        "import time\n        while True:\n            try:\n                time.sleep(0.05)\n            except:\n                pass"))
    r = run("grade", "1", "--json")
    ex = json.loads(r.output)["exercises"][0]
    assert ex["score"] == 2  # only the check that never calls forward
    assert any("ignored the time limit" in (c["message"] or "") for c in ex["checks"])


def test_bad_entries_in_the_state_file_are_set_aside(pack):
    (pack / ".pt-quiz").mkdir()
    (pack / ".pt-quiz" / "state.json").write_text(json.dumps(
        {"version": 1, "current": 1, "started": [1], "hints": {"1": "x"}, "scores": {"1": [1, "a"]}}))
    assert run("hint").exit_code == 2  # fresh state: nothing started, says what to do
    assert run("list").exit_code == 0
    assert any(p.name.startswith("state.json.corrupt-") for p in (pack / ".pt-quiz").iterdir())
