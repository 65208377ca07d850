"""The review queue (ptquiz/review.py, `pt-quiz review`): SM-2 on known sequences, the schedule replayed from
the event log, and reviews that work on a fresh stub in .pt-quiz/review/ without touching exercises/.

Runs in a throw-away project (tests/conftest.py `pack`). The time is injected (ptquiz.review.clock): no sleeps.
"""
import hashlib
import json

import pytest
from click.testing import CliRunner

import cli
from conftest import KIT, MAX01
from ptquiz import events, review
from ptquiz.review import DAY, SM2, quality, schedule

SOL = (KIT / "solutions" / "01_custom_module.py").read_text(encoding="utf-8")
T0 = 1_800_000_000.0


def run(*args, input=None):
    return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)


def sm2_reference(qs):
    """SM-2 as published (Wozniak 1990, super-memory.com/english/ol/sm2.htm), written out independently."""
    n, interval, ef, out = 0, 0, 2.5, []
    for q in qs:
        if q < 3:
            n, interval = 0, 1
        else:
            n += 1
            interval = 1 if n == 1 else 6 if n == 2 else round(interval * ef)
        ef = max(1.3, ef + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02))
        out.append((interval, round(ef, 6)))
    return out


def replay(qs):
    s, out = SM2(), []
    for q in qs:
        s = s.repeat(q)
        out.append((s.interval, s.ef))
    return out


def test_sm2_known_sequences():
    assert replay([5, 5, 5, 5]) == [(1, 2.6), (6, 2.7), (16, 2.8), (45, 2.9)]
    assert replay([4, 4, 4]) == [(1, 2.5), (6, 2.5), (15, 2.5)]
    assert replay([3]) == [(1, 2.36)]
    s = SM2(n=3, interval=16, ef=2.8).repeat(1)  # a lapse: the repetitions start again, EF drops
    assert (s.n, s.interval, s.ef) == (0, 1, pytest.approx(2.8 - 0.54))
    assert SM2(ef=1.35).repeat(0).ef == 1.3  # the floor
    for qs in ([5, 5, 5, 5, 5], [4, 3, 2, 5, 5, 4], [0, 0, 3, 4, 5, 5], [3, 3, 3, 3, 3, 3, 3]):
        got = replay(qs)
        assert [i for i, _ in got] == [i for i, _ in sm2_reference(qs)], qs
        assert [e for _, e in got] == pytest.approx([e for _, e in sm2_reference(qs)]), qs
    with pytest.raises(ValueError):
        SM2().repeat(6)


def g(score, mx=10, **failed):
    return {"kind": "grade", "score": score, "max": mx, "failed": failed, "mode": "exercise"}


def test_quality_from_what_was_measured():
    assert quality([g(10)]) == 5
    assert quality([g(10)], hints=1) == 3
    assert quality([g(4, device=2), g(10)]) == 4
    assert quality([g(4, device=2), g(6, shape=1), g(10)]) == 3  # failures in two categories
    assert quality([g(1), g(2), g(3), g(10)]) == 3  # many gradings
    assert quality([g(4), g(10)], solution=True) == 2
    assert quality([g(6), g(4)]) == 2 and quality([g(3)]) == 1 and quality([g(0)]) == 0  # never passed
    assert quality([g(6)], solution=True) == 1


def ev(t, kind, n=1, **fields):
    return {"v": 1, "t": T0 + t, "kind": kind, "exercise": n, **fields}


def test_schedule_is_replayed_from_the_log():
    log = [ev(0, "hint", level=1), ev(60, "grade", score=4, max=10, failed={"device": 1}, mode="exercise"),
           ev(120, "grade", score=10, max=10, failed={}, mode="exercise"),
           ev(200, "grade", score=10, max=10, failed={}, mode="exercise"),  # after passing: not a repetition
           ev(300, "grade", 2, score=10, max=10, failed={}, mode="exercise"),
           ev(400, "hint", 3, level=1)]  # hints alone: not practised
    items = schedule(log)
    assert set(items) == {1, 2}
    one, two = items[1], items[2]
    assert [r.q for r in one.history] == [3] and one.sm2 == SM2(1, 1, 2.36) and one.last == T0 + 120
    assert two.sm2 == SM2(1, 1, 2.6) and two.due == T0 + 300 + DAY
    # a review session: opened, failed once, passed -> quality 4 (second grading, one category)
    log += [ev(2 * DAY, "review", action="open"),
            ev(2 * DAY + 60, "grade", score=5, max=10, failed={"shape": 2}, mode="review"),
            ev(2 * DAY + 61, "review", action="grade", score=5, max=10, passed=False)]
    items = schedule(log)
    assert items[1].open_since == T0 + 2 * DAY and items[1].open_tries == 1 and items[1].sm2 == SM2(1, 1, 2.36)
    log += [ev(2 * DAY + 120, "grade", score=10, max=10, failed={}, mode="review"),
            ev(2 * DAY + 121, "review", action="grade", score=10, max=10, passed=True)]
    items = schedule(log)
    one = items[1]
    assert one.open_since is None and [r.q for r in one.history] == [3, 4]
    assert one.sm2 == SM2(2, 6, 2.36) and one.due == T0 + 2 * DAY + 121 + 6 * DAY
    assert [i.exercise for i in review.queue(items, T0 + 3 * DAY)] == [2]  # 1 is not due before day 8


def write_log(root, log):
    (root / ".pt-quiz").mkdir(exist_ok=True)
    with open(root / ".pt-quiz" / "events.jsonl", "a", encoding="utf-8") as f:
        for e in log:
            f.write(json.dumps(e) + "\n")


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_review_opens_a_fresh_stub_grades_it_and_schedules_the_next(pack, monkeypatch):
    from ptquiz.stubs import pristine_stub
    mine = pack / "exercises" / "01_custom_module.py"
    mine.write_text(SOL)  # the learner's passed answer
    write_log(pack, [ev(0, "grade", score=MAX01, max=MAX01, failed={}, mode="exercise"),
                     ev(3 * DAY, "grade", 2, score=0, max=MAX01, failed={"correctness": 3}, mode="exercise")])
    monkeypatch.setattr(review, "clock", lambda: T0 + 5 * DAY)
    before = digest(pack / "exercises")
    r = run("review")
    assert r.exit_code == 0, r.output
    assert "Due for review" in r.output
    scratch = pack / ".pt-quiz" / "review" / "01_custom_module.py"  # 01 is the most overdue
    cat_ex = cli.Catalog(pack, []).get(1)
    assert scratch.read_text(encoding="utf-8") == pristine_stub(cat_ex)
    assert "01_custom_module.py" in r.output and "pt-quiz review grade" in r.output
    assert digest(pack / "exercises") == before

    r = run("review")  # run again: the open review is kept, not overwritten
    assert "is open" in r.output
    scratch.unlink()  # deleted by hand: said, and recreated
    r = run("review")
    assert "was deleted" in r.output and scratch.read_text(encoding="utf-8") == pristine_stub(cat_ex)
    scratch.write_text(SOL)  # solved from memory (one real grading: they cost seconds)
    monkeypatch.setattr(review, "clock", lambda: T0 + 5 * DAY + 600)
    r = run("review", "grade")
    assert r.exit_code == 0, r.output
    assert "Review passed (quality 5/5)" in r.output and "in 6 day(s)" in r.output
    assert digest(pack / "exercises") == before  # the learner's passed file is byte-identical
    assert not (pack / ".pt-quiz" / "state.json").exists() or \
        json.loads((pack / ".pt-quiz" / "state.json").read_text())["scores"] == {}  # score unchanged
    kinds = [(e["kind"], e.get("mode") or e.get("action")) for e in events.read(pack)][2:]
    assert kinds == [("review", "open"), ("grade", "review"), ("review", "grade")]
    item = schedule(events.read(pack))[1]
    assert item.sm2 == SM2(2, 6, 2.7) and item.open_since is None and item.last == T0 + 5 * DAY + 600
    assert run("review", "grade").exit_code == 1  # nothing open any more

    r = run("review")  # 02 (never passed, quality 0) is due next
    assert "exercise 2" in r.output
    r = run("review", "--list")
    assert r.exit_code == 0 and "Review queue" in r.output and " 1 " in r.output and " 2 " in r.output


def test_nothing_due_says_when_the_next_one_is(pack, monkeypatch):
    write_log(pack, [ev(0, "grade", score=MAX01, max=MAX01, failed={}, mode="exercise")])
    monkeypatch.setattr(review, "clock", lambda: T0 + 3600)
    r = run("review")
    assert r.exit_code == 0 and "Nothing due" in r.output and "exercise 1" in r.output and "in 1 day" in r.output
    assert not (pack / ".pt-quiz" / "review").exists() and "--ahead" in r.output
    r = run("review", "--ahead")  # practise early: the next one opens as a fresh stub
    assert r.exit_code == 0 and (pack / ".pt-quiz" / "review" / "01_custom_module.py").is_file(), r.output
    (pack / ".pt-quiz" / "events.jsonl").unlink()
    assert "Nothing to review yet" in run("review").output
