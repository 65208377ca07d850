"""Practice history (.pt-quiz/events.jsonl): the events the learner commands record, and `pt-quiz stats`.

Runs in a throw-away project (tests/conftest.py `pack`): the kit's exercise 01 copied as 01 and 02.
"""
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cli
from conftest import KIT
from ptquiz import events


def run(*args, input=None):
    return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)


def fake_grading(monkeypatch, outcome):
    """Replace the child-process grading with a result: outcome = {check name: passed}."""
    from ptquiz import runner
    from ptquiz.catalog import read_checks

    def grade(exs, target=None, workers=None, cwd=None):
        out = []
        for ex in exs:
            checks = [runner.CheckResult(c.name, c.title, c.category, c.points, outcome.get(c.name, True),
                                         c.points if outcome.get(c.name, True) else 0)
                      for c in read_checks(ex.grader_path)]
            total, mx = sum(c.score for c in checks), sum(c.points for c in checks)
            out.append(runner.ExerciseResult(ex.number, ex.slug, ex.title, total, mx,
                                             "passed" if total == mx else "partial", checks))
        return runner.GradeResult(out)
    monkeypatch.setattr(runner, "grade", grade)


def test_grade_hint_and_solution_append_events(pack, monkeypatch):
    from ptquiz.catalog import read_checks
    checks = read_checks(pack / "graders" / "test_01_custom_module.py")
    wrong = [c for c in checks if c.category == checks[-1].category]
    fake_grading(monkeypatch, {c.name: False for c in wrong})
    run("start", "1")
    assert run("hint").exit_code == 0
    assert run("grade", "1").exit_code == 1
    assert run("solution", "1", "--yes").exit_code == 0
    evs = events.read(pack)
    assert [e["kind"] for e in evs] == ["hint", "grade", "solution"]
    hint, grade, sol = evs
    assert hint["exercise"] == 1 and hint["level"] == 1
    assert grade["exercise"] == 1 and grade["mode"] == "exercise"
    assert grade["failed"] == {checks[-1].category: len(wrong)}
    assert grade["max"] == sum(c.points for c in checks)
    assert grade["score"] == grade["max"] - sum(c.points for c in wrong)
    assert sol["exercise"] == 1


def test_an_unwritable_history_is_a_warning_not_a_stop(pack):
    (pack / ".pt-quiz").mkdir()
    (pack / ".pt-quiz" / "events.jsonl").mkdir()  # a folder where the log should be
    run("start", "1")
    r = run("hint")
    assert r.exit_code == 0 and "Hint 1/3" in r.output
    assert "practice history" in r.output


T0 = 1_800_000_000.0


def ev(t, kind, n=1, **fields):
    return {"v": 1, "t": T0 + t, "kind": kind, "exercise": n, **fields}


LOG = [ev(0, "hint", level=1),
       ev(60, "grade", score=5, max=11, failed={"device": 2, "shape": 1}, mode="exercise"),
       ev(600, "grade", score=11, max=11, failed={}, mode="exercise"),
       ev(10000, "grade", 2, score=11, max=11, failed={}, mode="exercise"),
       ev(13600, "solution", 2),  # an hour later: a break, not time spent
       ev(20000, "grade", 2, score=9, max=11, failed={"device": 1}, mode="review"),
       ev(30000, "grade", 3, score=0, max=11, failed={"correctness": 4}, mode="exercise")]  # not in the catalog
CORRUPT = ["{garbage", "[1, 2]", '{"kind": "nope", "t": 1}', ""]


def write_log(root, lines):
    (root / ".pt-quiz").mkdir(parents=True, exist_ok=True)
    (root / ".pt-quiz" / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_stats_on_a_hand_written_log_with_corrupt_lines(pack):
    write_log(pack, [json.dumps(e) for e in LOG[:3]] + CORRUPT + [json.dumps(e) for e in LOG[3:]])
    r = CliRunner().invoke(cli.main, ["stats", "--json"], catch_exceptions=False)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)  # the warning goes to stderr: stdout stays one JSON document
    assert "skipped 3 unreadable line(s)" in r.output
    assert doc["totals"] == {"name": "all", "exercises": [1, 2, 3], "practised": 3, "passed": 2, "first_try": 1,
                             "hints": 1, "solutions": 1, "failed_in": 3, "failed_checks": 8, "minutes": 10.0,
                             "mean_quality": pytest.approx(8 / 3, abs=0.01)}
    topics = {g["name"]: g for g in doc["topics"]}
    assert set(topics) == {"nn.Module", "nn.Linear", "parameter registration"}
    assert topics["nn.Module"] == {"name": "nn.Module", "exercises": [1, 2], "practised": 2, "passed": 2,
                                   "first_try": 1, "hints": 1, "solutions": 1, "failed_in": 2, "failed_checks": 4,
                                   "minutes": 10.0, "mean_quality": 4.0}  # qualities 3 (hint, 2 gradings) and 5
    cats = [(g["name"], g["failed_in"], g["failed_checks"]) for g in doc["categories"]]
    assert cats == [("device", 2, 3), ("shape", 1, 1), ("correctness", 0, 0), ("gradient", 0, 0)]
    per = {e["exercise"]: e for e in doc["exercises"]}
    assert per[1]["seconds"] == 600 and per[2]["seconds"] == 0 and per[2]["solution"] and per[2]["first_try"]
    assert "30 min" in doc["time_method"]

    r = run("stats")
    assert r.exit_code == 0
    assert "3 exercise(s) practised, 2 passed (1 at the first grading), 1 hint(s), 1 solution(s) viewed, 10.0 min" \
        in r.output
    assert "device checks failed in 2 exercise(s)" in r.output and "shape checks failed in 1 exercise(s)" in r.output
    assert r.output.index("Topics, weakest first") < r.output.index("nn.Module")
    assert "分钟" in run("--lang", "zh", "stats").output


def test_stats_with_no_history_and_an_unreadable_one(pack):
    assert "No practice recorded yet" in run("stats").output
    write_log(pack, CORRUPT)
    r = run("stats")
    assert r.exit_code == 0 and "No practice recorded yet" in r.output and "skipped 3" in r.output


def test_stats_and_review_do_not_import_torch(pack):
    write_log(pack, [json.dumps(e) for e in LOG])
    code = ("import sys, cli\n"
            "for argv in (['stats'], ['stats', '--json'], ['review', '--list'], ['review']):\n"
            "    try:\n        cli.main(argv)\n    except SystemExit as e:\n        assert not e.code, (argv, e.code)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=pack, env={**os.environ, "PYTHONPATH": str(KIT)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_gradebook_columns_from_a_students_events(pack, tmp_path):
    import csv
    import io

    from ptquiz.catalog import Catalog
    from ptquiz.gradebook import Row, practice, to_csv
    exs = list(Catalog(pack, []))
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    bob.mkdir()
    write_log(alice, [json.dumps(e) for e in LOG + [ev(40000, "hint", 1, level=2), ev(40001, "solution", 1),
                                                    ev(40002, "solution", 1)]] + CORRUPT)
    assert practice(alice, exs) == (2, 2)  # hints of 01; solutions of 01 and 02 (01's twice counts once)
    assert practice(alice, exs[:1]) == (2, 1)  # only the graded exercises count
    assert practice(bob, exs) == (None, None)  # no events file
    rows = [Row("alice", alice, hints=2, solutions=2), Row("bob", bob)]
    got = {r["student"]: r for r in csv.DictReader(io.StringIO(to_csv(exs, rows)))}
    assert (got["alice"]["hints"], got["alice"]["solutions_viewed"]) == ("2", "2")
    assert (got["bob"]["hints"], got["bob"]["solutions_viewed"]) == ("", "")


def test_odd_field_types_in_the_log_never_crash(pack, tmp_path):
    from ptquiz.catalog import Catalog
    from ptquiz.gradebook import practice
    odd = [ev(0, "grade", score="x", max=11, failed=[1, 2], mode="exercise"),
           ev(1, "grade", score=11, max="11", failed={"device": "many", "shape": 1}),
           ev(2, "hint", [1], level=None), ev(3, "solution", "2"), ev(4, "review", action="grade", passed="yes"),
           ev(5, "review", None, action="open"), ev(6, "grade", score=11, max=11, failed=None, mode=["?"])]
    write_log(pack, [json.dumps(e) for e in odd])
    r = run("stats", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["exercises"][0]["failed"] == {"shape": 1}
    for argv in (["stats"], ["review"], ["review", "--list"]):
        assert run(*argv).exit_code == 0, argv
    assert practice(pack, list(Catalog(pack, []))) == (0, 0)
