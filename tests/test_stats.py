"""Practice history (.pt-quiz/events.jsonl): the events the learner commands record, and `pt-quiz stats`.

Runs in a throw-away project (tests/conftest.py `pack`): the kit's exercise 01 copied as 01 and 02.
"""
import json
import os
import subprocess
import sys

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
