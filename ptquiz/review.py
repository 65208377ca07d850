"""The review queue: spaced repetition (SM-2) over the exercises the learner has done.

Algorithm: SuperMemo 2 (P. A. Wozniak, "Optimization of learning", 1990; published at
https://super-memory.com/english/ol/sm2.htm), implemented here. Each exercise has a repetition
count n, an interval I (days) and an easiness factor EF (starts at 2.5). A repetition graded with
quality q (0-5):

* q >= 3: I(1) = 1, I(2) = 6, I(n) = round(I(n-1) * EF) for n > 2 (EF as it was before this
  repetition); n += 1.
* q < 3: the repetitions start again (n = 0, I = 1), EF is kept as modified below.
* always: EF' = EF + (0.1 - (5 - q) * (0.08 + (5 - q) * 0.02)), at least 1.3.

Deviations, on purpose: intervals are rounded to the nearest day (SM-2's text says "round up"), and
its step 7 (repeat the same day every item scored below 4) is left out: a review that is not passed
stays open until it is.

Nothing is stored but the event log (ptquiz/events.py): the schedule is derived by replaying it, so it
survives any crash and cannot disagree with the history. Repetitions:

* the first practice of an exercise (mode "exercise" grades, hints and solution views up to its first
  full marks; if it was never passed, all of them, ending at the last one);
* each review session: from a ``review`` event ``action: "open"`` (`pt-quiz review` wrote a fresh stub
  into ``.pt-quiz/review/``) to the first ``review`` event ``action: "grade"`` with ``passed: true``.
  A session not passed yet is open and changes nothing.

Quality of a repetition, from what was measured (``quality``): full marks at the first grading and no
hint: 5; within 3 gradings, no hint and failed checks in at most one category: 4; later, or with hints,
or failures in several categories: 3; the solution viewed before passing: 2; never passed: 2 if the
best score was at least half, 1 if above 0, 0 otherwise (at most 1 with the solution viewed).

No click, no torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .safeio import DATA_DIR

DAY = 86400.0
START_EF = 2.5
MIN_EF = 1.3


def clock() -> float:
    """The time now (UNIX seconds). Tests replace this function; every review command reads the time here."""
    return time.time()


# ---------------------------------------------------------------------------
# SM-2

@dataclass(frozen=True)
class SM2:
    n: int = 0            # successful repetitions in a row
    interval: int = 0     # days until the next repetition
    ef: float = START_EF  # easiness factor

    def repeat(self, q: int) -> "SM2":
        """The state after a repetition of quality q (0-5)."""
        if not 0 <= q <= 5:
            raise ValueError(f"SM-2 quality is 0..5, got {q}")
        if q >= 3:
            interval = 1 if self.n == 0 else 6 if self.n == 1 else int(self.interval * self.ef + 0.5)
            n = self.n + 1
        else:
            interval, n = 1, 0
        ef = max(MIN_EF, self.ef + (0.1 - (5 - q) * (0.08 + (5 - q) * 0.02)))
        return SM2(n, interval, round(ef, 6))


# ---------------------------------------------------------------------------
# quality of one repetition

def failed_checks(ev: dict) -> dict:
    """A grade event's {category: failed checks}, without entries that are not counts (a hand-edited log)."""
    failed = ev.get("failed")
    return {c: k for c, k in failed.items() if type(k) is int and k > 0} if isinstance(failed, dict) else {}


def full_marks(ev: dict) -> bool:
    return type(ev.get("max")) is int and ev["max"] > 0 and ev.get("score") == ev["max"]


def quality(grades: list[dict], hints: int = 0, solution: bool = False) -> int:
    """SM-2 quality (0-5) of one repetition: its grade events in order, hints shown, solution viewed before
    passing. See the module's docstring for the mapping."""
    first = next((i for i, g in enumerate(grades) if full_marks(g)), None)
    if first is None:
        best = max((g["score"] / g["max"] for g in grades
                    if type(g.get("max")) is int and g["max"] > 0 and type(g.get("score")) in (int, float)),
                   default=0.0)
        q = 2 if best >= 0.5 else 1 if best > 0 else 0
        return min(q, 1) if solution else q
    if solution:
        return 2
    tries = first + 1
    categories = {c for g in grades[:tries] for c in failed_checks(g)}
    if tries == 1 and hints == 0:
        return 5
    if tries <= 3 and hints == 0 and len(categories) <= 1:
        return 4
    return 3


# ---------------------------------------------------------------------------
# replaying the log

@dataclass
class Repetition:
    t: float          # when it ended (first full marks, or the last event of a first practice never passed)
    q: int
    kind: str         # "first" (the first practice) or "review"
    tries: int
    hints: int
    solution: bool


@dataclass
class Item:
    exercise: int
    sm2: SM2 = field(default_factory=SM2)
    last: float = 0.0                     # when it was last practised (the last repetition)
    history: list = field(default_factory=list)   # Repetition, oldest first
    open_since: float | None = None       # a review session opened and not passed yet
    open_tries: int = 0

    @property
    def due(self) -> float:
        return self.last + self.sm2.interval * DAY

    def overdue_days(self, now: float) -> float:
        return (now - self.due) / DAY


def grade_mode(ev: dict) -> str:
    return ev.get("mode") or "exercise"


def schedule(evs: list[dict]) -> dict[int, Item]:
    """Replay the events (oldest first) into each practised exercise's SM-2 schedule."""
    by_ex: dict[int, list[dict]] = {}
    for ev in sorted(evs, key=lambda e: e["t"]):
        if type(ev.get("exercise")) is int:
            by_ex.setdefault(ev["exercise"], []).append(ev)
    items = {}
    for n, exs in by_ex.items():
        reps, open_since, open_tries = _repetitions(exs)
        if not reps and open_since is None:
            continue
        item = Item(n, open_since=open_since, open_tries=open_tries)
        for rep in sorted(reps, key=lambda r: r.t):
            item.sm2 = item.sm2.repeat(rep.q)
            item.last = rep.t
            item.history.append(rep)
        items[n] = item
    return items


def _repetitions(exs: list[dict]):
    """The repetitions of one exercise's events; and the open review session (start, gradings), if any."""
    sessions = []            # [start, end or None, grades]
    cur = None
    for ev in exs:
        if ev["kind"] != "review":
            if cur is not None and ev["kind"] == "grade" and grade_mode(ev) == "review":
                cur[2].append(ev)
            continue
        action = ev.get("action")
        if action == "open" and cur is None:
            cur = [ev["t"], None, []]
            sessions.append(cur)
        elif action == "grade" and cur is not None and ev.get("passed") is True:
            cur[1] = ev["t"]
            cur = None

    def in_session(t):
        return any(s[0] <= t and (s[1] is None or t <= s[1]) for s in sessions)

    reps = []
    # the first practice: exercise-mode grades, hints, solution views outside review sessions, up to full marks
    first, hints, solution, end = [], 0, False, None
    for ev in exs:
        if in_session(ev["t"]) and ev["kind"] in ("hint", "solution"):
            continue
        if ev["kind"] == "grade" and grade_mode(ev) == "exercise":
            first.append(ev)
            end = ev["t"]
            if full_marks(ev):
                break
        elif ev["kind"] == "hint" and ev.get("mode") != "mock":  # a mock's hints belong to the mock
            hints += 1
        elif ev["kind"] == "solution":
            solution, end = True, ev["t"]
    if end is not None:
        passed = bool(first) and full_marks(first[-1])
        tries = len(first) if passed else 0
        reps.append(Repetition(end, quality(first, hints, solution), "first", tries, hints, solution))
    open_since = open_tries = None
    for start, stop, grades in sessions:
        if stop is None:
            open_since, open_tries = start, len(grades)
            continue
        window = [ev for ev in exs if start <= ev["t"] <= stop]
        h = sum(1 for ev in window if ev["kind"] == "hint")
        s = any(ev["kind"] == "solution" for ev in window)
        reps.append(Repetition(stop, quality(grades, h, s), "review", len(grades), h, s))
    return reps, open_since, open_tries or 0


def queue(items: dict[int, Item], now: float, due_only: bool = True) -> list[Item]:
    """Most overdue first; with due_only, only those due by `now`."""
    out = sorted(items.values(), key=lambda i: (i.due, i.exercise))
    return [i for i in out if i.due <= now] if due_only else out


def open_session(items: dict[int, Item]) -> Item | None:
    """The review session opened most recently and not passed yet."""
    opened = [i for i in items.values() if i.open_since is not None]
    return max(opened, key=lambda i: i.open_since) if opened else None


def review_dir(root: Path) -> Path:
    return Path(root) / DATA_DIR / "review"


def scratch_path(root: Path, ex) -> Path:
    """Where a review of `ex` is written: .pt-quiz/review/NN_slug.py (never the learner's exercises/ file)."""
    return review_dir(root) / f"{ex.name}.py"
