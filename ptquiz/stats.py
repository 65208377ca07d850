"""`pt-quiz stats`: what the event log (ptquiz/events.py) says about the learner's practice, per topic
and per check category.

Per exercise (``exercise_stats``): passed (full marks at a grading in exercise mode), passed at the first
grading, hints shown, solution viewed, failed checks by category (every grading: exercise, review, mock),
time spent. Time spent is the sum of the gaps between consecutive events of that exercise that are
shorter than 30 minutes (a longer gap is a break, not work); the time before its first event (reading the
question, first edit before the first grade or hint) is not in the log, so it is not counted.

Per topic (an exercise counts for each of its topics) and per category (an exercise counts for each
category its grader has checks in): exercises practised, passed, passed at the first grading, hints,
solutions viewed, exercises with failed checks (for a category: failed checks of that category), time.
Topics weakest first: the lowest mean SM-2 quality of the last repetition (ptquiz/review.py), then the
most exercises with mistakes; categories: the most exercises with failed checks of that category first.

No click, no torch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .catalog import CATEGORIES, CatalogError
from .review import failed_checks, full_marks, grade_mode, schedule

GAP = 30 * 60  # seconds: a longer pause between two events is not counted as time spent
TIME_METHOD = "sum of the gaps shorter than 30 min between consecutive events of the exercise"


@dataclass
class ExerciseStats:
    exercise: int
    grades: int = 0
    passed: bool = False
    first_try: bool = False
    hints: int = 0
    solution: bool = False
    failed: dict = field(default_factory=dict)   # category -> failed checks, summed over gradings
    seconds: float = 0.0
    quality: int | None = None                   # SM-2 quality of the last repetition (None: none yet)


def exercise_stats(evs: list[dict]) -> dict[int, ExerciseStats]:
    out: dict[int, ExerciseStats] = {}
    last_t: dict[int, float] = {}
    for ev in sorted(evs, key=lambda e: e["t"]):
        n = ev.get("exercise")
        if type(n) is not int:
            continue
        s = out.setdefault(n, ExerciseStats(n))
        if n in last_t and 0 <= ev["t"] - last_t[n] < GAP:
            s.seconds += ev["t"] - last_t[n]
        last_t[n] = ev["t"]
        kind = ev["kind"]
        if kind == "grade":
            for cat, k in failed_checks(ev).items():
                s.failed[cat] = s.failed.get(cat, 0) + k
            if grade_mode(ev) == "exercise":
                s.grades += 1
                if full_marks(ev):
                    s.first_try = s.first_try or (s.grades == 1 and not s.passed)
                    s.passed = True
        elif kind == "hint":
            s.hints += 1
        elif kind == "solution":
            s.solution = True
    for n, item in schedule(evs).items():
        if n in out and item.history:
            out[n].quality = item.history[-1].q
    return out


def _group(name: str, members: list[ExerciseStats], category: str | None = None) -> dict:
    qs = [m.quality for m in members if m.quality is not None]
    if category is None:
        mistakes = sum(1 for m in members if m.failed)
        failed_checks = sum(sum(m.failed.values()) for m in members)
    else:
        mistakes = sum(1 for m in members if m.failed.get(category))
        failed_checks = sum(m.failed.get(category, 0) for m in members)
    return {"name": name, "exercises": sorted(m.exercise for m in members), "practised": len(members),
            "passed": sum(m.passed for m in members), "first_try": sum(m.first_try for m in members),
            "hints": sum(m.hints for m in members), "solutions": sum(m.solution for m in members),
            "failed_in": mistakes, "failed_checks": failed_checks,
            "minutes": round(sum(m.seconds for m in members) / 60, 1),
            "mean_quality": round(sum(qs) / len(qs), 2) if qs else None}


def _weakest_first(groups: list[dict]) -> list[dict]:
    return sorted(groups, key=lambda g: (g["mean_quality"] if g["mean_quality"] is not None else 99,
                                         -g["failed_in"], g["name"]))


def compute(evs: list[dict], catalog) -> dict:
    """Everything `pt-quiz stats` shows, as one JSON-ready document. Exercises no longer in the catalog are
    left out of topics and categories (they count in the totals)."""
    per = exercise_stats(evs)
    topics: dict[str, list] = {}
    cats: dict[str, list] = {}
    for n, s in per.items():
        ex = catalog.exercises.get(n)
        if ex is None:
            continue
        for topic in ex.topics:
            topics.setdefault(topic, []).append(s)
        try:
            have = {c.category for c in ex.checks()}
        except CatalogError:
            have = set(s.failed)
        for cat in CATEGORIES:
            if cat in have:
                cats.setdefault(cat, []).append(s)
    members = list(per.values())
    return {
        "totals": _group("all", members),
        "topics": _weakest_first([_group(k, v) for k, v in topics.items()]),
        "categories": sorted(_weakest_first([_group(k, v, category=k) for k, v in cats.items()]),
                             key=lambda g: -g["failed_in"]),
        "exercises": [asdict(per[n]) for n in sorted(per)],
        "time_method": TIME_METHOD,
    }
