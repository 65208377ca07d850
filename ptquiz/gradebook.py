"""`pt-quiz gradebook`: grade a class's submissions into a CSV.

Each submission is a folder holding ``NN_slug.py`` files, or a whole student repository
(a folder with ``exercises/``, e.g. a git clone of a Classroom assignment). Every student
is graded in a run of its own, with the instructor's graders (never the student's), so one
student's crash, hang or tampering never touches another's row. A few run at once.
Never imports torch.
"""
from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Exercise
from .export import check_tamper, expected_manifest


OTHER_EXERCISE = re.compile(r"^graders/(stubs/)?(test_)?\d{2,3}_[a-z0-9_]+\.(py|toml)$")


@dataclass
class Row:
    student: str
    path: Path
    scores: dict = field(default_factory=dict)  # exercise name -> score (None: not graded)
    total: int = 0
    max_total: int = 0
    tamper: str = ""
    errors: list = field(default_factory=list)
    seconds: float = 0.0


def submission_target(sub: Path) -> Path:
    """The folder holding the student's NN_slug.py files."""
    return sub / "exercises" if (sub / "exercises").is_dir() else sub


def student_names(subs: list[Path]) -> list[str]:
    names = [s.name for s in subs]
    if len(set(names)) == len(names):
        return names
    return [str(s) for s in subs]  # two folders with one name: use the paths


def _tamper_text(sub: Path, trusted: dict) -> str:
    """Tampering evidence in a whole-repo submission: graders/engine differing from the trusted manifest."""
    if not ((sub / "graders").is_dir() or (sub / "ptquiz").is_dir()):
        return ""  # only exercise files were handed in: nothing to compare
    rep = check_tamper(sub, trusted)
    if rep:  # graders of exercises not being graded (a bigger export) are not evidence of anything
        rep["added"] = [a for a in rep["added"] if not OTHER_EXERCISE.match(a)]
        rep["tampered"] = bool(rep["changed"] or rep["missing"] or rep["added"])
    if not rep or not rep["tampered"]:
        return "no"
    parts = [f"{k}: {' '.join(rep[k])}" for k in ("changed", "missing", "added") if rep[k]]
    return "yes (" + "; ".join(parts) + ")"


def grade_one(exercises: list[Exercise], sub: Path, name: str, root: Path, trusted: dict,
              check_timeout: float, deadline: float) -> Row:
    from .runner import run_pytest, score

    row = Row(name, sub, {ex.name: None for ex in exercises})
    t0 = time.monotonic()
    try:
        row.max_total = sum(ex.max_score() for ex in exercises)
    except Exception as e:  # noqa: BLE001
        row.errors.append(f"grader: {e}")
    try:
        row.tamper = _tamper_text(sub, trusted)
    except Exception as e:  # noqa: BLE001 - unreadable files: say so, keep grading
        row.tamper = f"unknown ({e})"
    try:
        with tempfile.TemporaryDirectory(prefix="ptquiz-gradebook-") as tmp:
            # grade copies of the exercise files only: nothing else of the submission (its pyproject.toml,
            # conftest.py, ...) can reach pytest, and nothing is written beside the student's files
            target = Path(tmp)
            src = submission_target(sub)
            for ex in exercises:
                f = src / f"{ex.name}.py"
                if f.is_file():
                    shutil.copyfile(f, target / f.name)
            graders = [ex.grader_path for ex in exercises if ex.grader_path.exists()]
            records = run_pytest(graders, target=target, workers=1, check_timeout=check_timeout,
                                 deadline=deadline, cwd=root)
            results = score(exercises, records, target)
        for e in results:
            key = e.name
            row.scores[key] = e.score
            if e.status == "missing":
                row.errors.append(f"{key}: missing (no {key}.py in the submission)")
            elif e.status == "error":
                msg = (e.message or {}).get("en") or e.status
                row.errors.append(f"{key}: error: {msg.splitlines()[0][:200] if msg else ''}")
            elif any(c.kind in ("crash", "timeout", "noresult") for c in e.checks if not c.passed):
                kinds = sorted({c.kind for c in e.checks if not c.passed and c.kind in ("crash", "timeout", "noresult")})
                row.errors.append(f"{key}: {', '.join(kinds)}")
        row.total = sum(e.score for e in results)
    except Exception as e:  # noqa: BLE001 - one student's failure stays in their row
        row.errors.append(f"grading failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    row.seconds = round(time.monotonic() - t0, 1)
    return row


def run_gradebook(exercises: list[Exercise], subs: list[Path], root: Path, *, jobs: int = 2,
                  manifest: dict | None = None, all_exercises: list[Exercise] | None = None, check_timeout: float = 60.0, deadline: float | None = None,
                  progress=None) -> list[Row]:
    trusted = manifest or expected_manifest(exercises)
    names = student_names(subs)
    deadline = deadline or (60 + 2 * check_timeout * max(1, len(exercises)))
    say = progress or (lambda msg: None)
    rows: dict[int, Row] = {}
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futs = {pool.submit(grade_one, exercises, s, n, root, trusted, check_timeout, deadline): i
                for i, (s, n) in enumerate(zip(subs, names))}
        for k, fut in enumerate(as_completed(futs), 1):
            i = futs[fut]
            try:
                row = fut.result()
            except Exception as e:  # noqa: BLE001 - never lose a row
                row = Row(names[i], subs[i], errors=[f"{type(e).__name__}: {e}"])
            rows[i] = row
            flag = " TAMPER" if row.tamper.startswith("yes") else ""
            err = f" ({len(row.errors)} error(s))" if row.errors else ""
            say(f"[{k}/{len(subs)}] {row.student}: {row.total}/{row.max_total}{flag}{err} "
                f"in {row.seconds:.0f} s (elapsed {time.monotonic() - t0:.0f} s)")
    return [rows[i] for i in range(len(subs))]


def to_csv(exercises: list[Exercise], rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", *[ex.name for ex in exercises], "total", "max", "tamper", "errors"])
    for r in rows:
        w.writerow([r.student, *["" if r.scores.get(ex.name) is None else r.scores[ex.name] for ex in exercises],
                    r.total, r.max_total, r.tamper, " | ".join(r.errors)])
    return buf.getvalue()
