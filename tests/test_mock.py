"""`pt-quiz mock`: a timed session on fresh stubs, driven by an injected clock (no sleeps).

Runs in a throw-away project (tests/conftest.py `pack`): the kit's exercise 01 copied as 01, 02 (and 03).
Only two tests grade (each grading costs seconds); the rest drive session.json directly.
"""
import hashlib
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cli
from conftest import KIT, MAX01, write_pack
from ptquiz import mock

SOL = (KIT / "solutions" / "01_custom_module.py").read_text(encoding="utf-8")
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(mock, "now", c)
    return c


@pytest.fixture
def pack3(tmp_path, monkeypatch):
    root = write_pack(tmp_path / "proj", numbers=(1, 2, 3))
    monkeypatch.setenv("PT_QUIZ_ROOT", str(root))
    monkeypatch.delenv("PT_QUIZ_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.chdir(root)
    return root


def run(*args, input=None):
    return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def session(root):
    """The active session's data and folder."""
    sid = (root / ".pt-quiz" / "mock" / "active").read_text().strip()
    folder = root / ".pt-quiz" / "mock" / sid
    return json.loads((folder / "session.json").read_text()), folder


def card_of(root):
    (folder,) = [d for d in (root / ".pt-quiz" / "mock").iterdir() if (d / "scorecard.json").exists()]
    return json.loads((folder / "scorecard.json").read_text())


def test_mock_list_hint_status_do_not_import_torch(pack):
    code = ("import sys, cli\n"
            "for argv in (['mock', '--seed', '1'], ['list'], ['hint', '1'], ['mock', 'status'], ['mock']):\n"
            "    try:\n        cli.main(argv)\n    except SystemExit as e:\n        assert not e.code, (argv, e.code)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=pack, env={**os.environ, "PYTHONPATH": str(KIT)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_start_shows_rules_prompts_and_files_and_picks_reproducibly(pack3, clock):
    r = run("mock", "--count", "2", "--seed", "7")
    assert r.exit_code == 0, r.output
    data, folder = session(pack3)
    picked = [e["number"] for e in data["exercises"]]
    assert len(picked) == 2 and data["seed"] == "7" and data["deadline"] == T0 + 45 * 60
    assert "Rules:" in r.output and "10 % of that exercise's points" in r.output and "45:00 left" in r.output
    assert "Define `MyModule" in r.output
    for e in data["exercises"]:
        f = folder / f"{e['name']}.py"
        assert f"Edit: .pt-quiz/mock/{data['id']}/{e['name']}.py" in r.output
        assert "raise NotImplementedError" in f.read_text()
    assert run("mock", "finish").exit_code == 0
    clock.t += 3600
    assert run("mock", "--count", "2", "--seed", "7").exit_code == 0
    assert [e["number"] for e in session(pack3)[0]["exercises"]] == picked


def test_pick_prefers_unpassed_and_mixes_difficulty(pack3):
    from ptquiz.catalog import Catalog
    from ptquiz.state import State
    meta = pack3 / "graders" / "03_custom_module_3.toml"
    meta.write_text(meta.read_text().replace("difficulty = 1", "difficulty = 2"))
    cat, st = Catalog(pack3), State(pack3)
    for seed in range(8):  # round-robin over the difficulties: 03 (the only ★★) always comes
        assert 3 in [ex.number for ex in mock.pick(cat, st, 2, seed=seed)]
    st.record(3, 5, 5)
    st.record(1, 5, 5)
    for seed in range(8):  # passed exercises only fill up: the one unpassed comes first
        assert 2 in [ex.number for ex in mock.pick(cat, st, 1, seed=seed)]
    assert [ex.number for ex in mock.pick(cat, st, 3, difficulties=(2,), seed=1)] == [3]
    assert [ex.number for ex in mock.pick(cat, st, 3, topics=("PARAMETER reg",), seed=1)] == [1, 2, 3]


def test_a_full_mock_grades_the_session_files_and_the_deadline_counts_only_earlier_runs(pack, clock):
    """One grading run: grade before the deadline; an edit after it is never counted."""
    before = digest(pack / "exercises")
    assert run("mock", "--count", "1", "--minutes", "10", "--seed", "1").exit_code == 0
    data, folder = session(pack)
    (e,) = data["exercises"]
    n, f = e["number"], folder / f"{e['name']}.py"
    clock.t += 30
    r = run("hint", str(n))
    assert r.exit_code == 0 and "Hint 1/3" in r.output and "−10 %" in r.output
    f.write_text(SOL)
    clock.t += 90
    r = run("grade")
    assert r.exit_code == 0, r.output
    assert f"Total: {MAX01}/{MAX01}" in r.output and "08:00 left" in r.output
    data, _ = session(pack)
    (run_,) = data["exercises"][0]["grades"]
    assert run_["score"] == MAX01 and run_["t"] == T0 + 120
    assert run_["sha256"] == hashlib.sha256(SOL.encode()).hexdigest()
    state = json.loads((pack / ".pt-quiz" / "state.json").read_text()) if (pack / ".pt-quiz" / "state.json").exists() else {}
    assert not state.get("scores") and not state.get("hints")  # the learner's own progress is untouched
    f.write_text("broken after the deadline\n")  # too late: must not count
    clock.t = T0 + 10 * 60 + 5
    r = run("grade")  # the first command after the deadline finalises; it grades nothing
    assert r.exit_code == 0 and "reached its time limit" in r.output and "scorecard" in r.output
    assert not (pack / ".pt-quiz" / "mock" / "active").exists()
    card = card_of(pack)
    row = card["exercises"][0]
    assert row["best"] == MAX01 and row["grade_runs"] == 1 and row["hints"] == 1
    assert row["score"] == pytest.approx(MAX01 * 0.9) and row["first_full_marks_s"] == 120
    assert row["ungraded_edits"] and "not scored" in r.output  # the late edit is seen, and not counted
    assert row["graded_sha256"] == hashlib.sha256(SOL.encode()).hexdigest()
    assert card["ended"] == "deadline" and card["passed"] and card["percent"] == pytest.approx(90.0)
    assert (folder / "scorecard.txt").read_text().startswith(f"Mock interview {data['id']}: scorecard")
    assert digest(pack / "exercises") == before  # the learner's own files: byte-identical
    assert "Mock" not in run("list").output  # over: list shows no banner


def test_best_run_before_the_deadline_counts_and_extra_runs_cost():
    runs = [{"t": T0 + 10 * k, "score": s, "max": 10, "sha256": "x"} for k, s in enumerate([2, 4, 6, 6, 10])]
    e = {"number": 1, "name": "01_x", "max": 10, "hints": 2, "grades": runs}
    r = mock.score_entry(e, T0, deadline=T0 + 35)  # the last run (10/10, t=T0+40) is late
    assert r["best"] == 6 and r["grade_runs"] == 4 and r["late_grade_runs"] == 1
    assert r["hint_cost"] == 2 and r["grade_cost"] == pytest.approx(0.2) and r["score"] == pytest.approx(3.8)
    assert r["first_full_marks_s"] is None
    r = mock.score_entry(e, T0, deadline=T0 + 100)
    assert r["best"] == 10 and r["first_full_marks_s"] == 40 and r["grade_cost"] == pytest.approx(0.4)


def test_grade_runs_are_limited_without_grading(pack, clock):
    run("mock", "--count", "1", "--seed", "1")
    data, folder = session(pack)
    data["exercises"][0]["grades"] = [{"t": T0, "score": 0, "max": MAX01, "sha256": None}] * mock.MAX_GRADES
    (folder / "session.json").write_text(json.dumps(data))
    r = run("grade")
    assert r.exit_code == 2 and f"all {mock.MAX_GRADES} grade runs" in r.output
    n = data["exercises"][0]["number"]
    other = 2 if n == 1 else 1
    r = run("grade", str(other))
    assert r.exit_code == 2 and "not part of the running mock" in r.output


def test_resume_after_a_crash_and_hints_use_the_mocks_counter(pack, clock):
    r = run("mock", "--count", "2", "--seed", "3")
    data, _ = session(pack)
    clock.t += 60
    r = run("mock", "--minutes", "5")  # a new terminal after a crash: shows the same session again
    assert r.exit_code == 0 and f"Mock interview {data['id']} is still running" in r.output
    assert "options given are ignored" in r.output and "44:00 left" in r.output
    assert len([d for d in (pack / ".pt-quiz" / "mock").iterdir() if d.is_dir()]) == 1
    r = run("hint")  # two exercises, none current: say which
    assert r.exit_code == 2 and "pt-quiz hint N" in r.output
    assert "Hint 1/3" in run("hint", "1").output
    assert "Hint 2/3" in run("--lang", "zh", "hint", "1").output.replace("第 1 题提示 2/3", "Hint 2/3")
    data, _ = session(pack)
    assert {e["number"]: e["hints"] for e in data["exercises"]} == {1: 2, 2: 0}
    st = pack / ".pt-quiz" / "state.json"
    assert not st.exists() or not json.loads(st.read_text())["hints"]
    assert "grade runs 0/10" in run("mock", "status").output
    assert f"Mock {data['id']}: 44:00 left · exercises 1, 2" in run("list").output
    f = next(p for p in session(pack)[1].iterdir() if p.name.startswith("01_"))
    f.unlink()  # one session file deleted by hand: shown again with a fresh stub
    r = run("mock")
    assert r.exit_code == 0 and "was missing" in r.output and "raise NotImplementedError" in f.read_text()
    r = run("mock", "finish")
    assert r.exit_code == 0 and "finished early" in r.output
    row = {x["number"]: x for x in card_of(pack)["exercises"]}[1]
    assert row["hint_cost"] == pytest.approx(MAX01 * 0.2) and row["score"] == 0


def test_clock_backwards_never_crashes_nor_gives_time_back(pack, clock):
    run("mock", "--count", "1", "--minutes", "10")
    clock.t += 120
    assert "08:00 left" in run("mock", "status").output
    clock.t = T0 - 3600  # the clock jumps back an hour
    r = run("mock", "status")
    assert r.exit_code == 0 and "08:00 left" in r.output
    clock.t = T0 + 601
    assert "reached its time limit" in run("mock", "status").output


def test_solution_and_watch_are_locked_during_a_mock(pack, clock):
    run("mock", "--count", "1")
    r = run("solution", "1", "--yes")
    assert r.exit_code == 2 and "locked until the mock ends: `pt-quiz mock finish`" in r.output
    assert "BEGIN SOLUTION" not in r.output
    r = run("watch", "--once")
    assert r.exit_code == 2 and "not available during a mock" in r.output
    run("mock", "finish")
    assert "BEGIN SOLUTION" in run("solution", "1", "--yes").output


def test_history_lists_sessions(pack, clock):
    assert "No mock interviews yet" in run("mock", "history").output
    run("mock", "--count", "1", "--seed", "1")
    first, _ = session(pack)
    run("mock", "finish")
    clock.t += 120
    run("mock", "--count", "2")
    second, _ = session(pack)
    r = run("mock", "history")
    assert r.exit_code == 0
    lines = [ln for ln in r.output.splitlines() if first["id"] in ln or second["id"] in ln]
    assert len(lines) == 2 and "0/" in lines[0] and "no pass" in lines[0] and "running" in lines[1]
    from ptquiz import events
    assert [(e["action"], e["id"]) for e in events.read(pack) if e["kind"] == "mock"] == [
        ("start", first["id"]), ("finish", first["id"]), ("start", second["id"])]


def test_two_terminals_on_one_session_both_count(pack, clock):
    """session.json is updated under a lock: concurrent grade records and hints are all kept."""
    import threading
    from types import SimpleNamespace
    from ptquiz.catalog import Catalog
    run("mock", "--count", "2")
    cat = Catalog(pack)

    def work(n):
        s, _ = mock.current(cat)
        for _ in range(5):
            mock.record_grades(s, mock.now(), {}, [SimpleNamespace(number=n, score=1, max_score=MAX01)])
            mock.hint(s, 3 - n, 99)
    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    data, _ = session(pack)
    assert [len(e["grades"]) for e in data["exercises"]] == [5, 5]
    assert [e["hints"] for e in data["exercises"]] == [5, 5]


def test_followups_of_attempted_exercises_in_the_learners_language(pack, clock):
    from ptquiz.catalog import Catalog
    fus = [f["question"]["zh"] for f in Catalog(pack).get(2).followups]  # the pack's 02 is a copy of the kit's 01
    q = fus[0]
    run("mock", "--count", "2")
    run("hint", "2")
    r = run("--lang", "zh", "mock", "finish")
    assert r.exit_code == 0 and q in r.output and "追问" in r.output
    card = card_of(pack)
    assert [f["number"] for f in card["followups"]] == [2]  # 01 was not attempted
    assert card["followups"][0]["questions"] == fus


@pytest.mark.parametrize("argv, says", [
    (["--minutes", "0"], "positive number of minutes"),
    (["--minutes", "-5"], "positive number of minutes"),
    (["--count", "0"], "at least one exercise"),
    (["--topic", "quantum"], "Known topics: nn.Linear, nn.Module, parameter registration"),
    (["--difficulty", "3"], "no exercise matches"),
    (["--difficulty", "4"], "4"),
])
def test_bad_input_says_what_to_do(pack, clock, argv, says):
    r = run("mock", *argv)
    assert r.exit_code == 2 and says in r.output, r.output
    assert not (pack / ".pt-quiz" / "mock" / "active").exists()


def test_a_deleted_session_folder_is_reported_and_closed_cleanly(pack, clock):
    import shutil
    run("mock", "--count", "1")
    data, folder = session(pack)
    shutil.rmtree(folder)
    r = run("list")
    assert r.exit_code == 0 and "was deleted" in r.output and "pt-quiz mock finish" in r.output
    r = run("mock", "status")
    assert r.exit_code == 2 and "was deleted" in r.output
    assert run("solution", "1", "--yes").exit_code == 2  # still locked until closed
    r = run("mock", "finish")
    assert r.exit_code == 0 and f"Closed mock {data['id']}" in r.output
    assert run("mock", "--count", "1").exit_code == 0


def test_a_corrupt_session_file_is_set_aside(pack, clock):
    run("mock", "--count", "1")
    data, folder = session(pack)
    (folder / "session.json").write_text("{not json")
    r = run("mock", "status")
    assert r.exit_code == 2 and "unreadable" in r.output and "pt-quiz mock" in r.output
    assert any(p.name.startswith("session.json.corrupt-") for p in folder.iterdir())
    assert "unreadable" in run("mock", "history").output
    assert run("mock", "status").exit_code == 0  # closed: no mock running
    assert "no pass" not in run("mock", "--count", "1").output
