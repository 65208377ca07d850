"""`pt-quiz gradebook`: grade a class's submissions into a CSV.

Each submission is a folder holding ``NN_slug.py`` files, or a whole student repository
(a folder with ``exercises/``, e.g. a git clone of a Classroom assignment). Every student
is graded in a run of its own, with the instructor's graders (never the student's), so one
student's crash, hang or tampering never touches another's row. A few run at once.

Isolation: the instructor's graders and engine are read into memory once, at the start. Each
student is graded against a fresh copy of them written from memory into a folder of the
student's own (the child's working directory is an empty folder there and its ``PYTHONPATH``
points at the copied engine, so no ``solutions/`` and no instructor file is reachable by a
relative path). After each student, the copy and the instructor's kit are compared with memory:
a changed copy withholds that student's scores (flagged), a changed instructor file is restored
from memory and flagged in the row of every student being graded at that moment.
Never imports torch.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import re
import shutil
import tempfile
import threading
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
    flags: list = field(default_factory=list)  # integrity findings (scores withheld, kit restored, ...)
    hints: int | None = None      # from the student's .pt-quiz/events.jsonl (None: no such file)
    solutions: int | None = None  # exercises whose reference solution the student viewed


ENGINE = Path(__file__).resolve().parent


def _skip(p: Path) -> bool:
    return "__pycache__" in p.parts or p.suffix in (".pyc", ".pyo")


def kit_snapshot(exercises: list[Exercise]) -> dict[Path, bytes]:
    """The bytes of every instructor file grading depends on or that must not be lost: the engine,
    and each exercise's grader, metadata, solution and stub (absolute paths)."""
    files = [f for f in ENGINE.rglob("*") if f.is_file() and not _skip(f)]
    for ex in exercises:
        files += [ex.grader_path, ex.meta_path, ex.solution_path, ex.exercise_path]
    return {f.resolve(): f.read_bytes() for f in dict.fromkeys(files) if f.is_file()}


def pristine_copy(dest: Path, exercises: list[Exercise], snap: dict[Path, bytes]) -> list[Exercise]:
    """Write the engine and the graders from SNAP under DEST (DEST/ptquiz, DEST/graders); return the
    exercises as seen from that copy (their grader_path points into it)."""
    for f, data in snap.items():
        if f.is_relative_to(ENGINE):
            out = dest / "ptquiz" / f.relative_to(ENGINE)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
    (dest / "graders").mkdir(parents=True, exist_ok=True)
    copies = []
    for ex in exercises:
        for f in (ex.grader_path, ex.meta_path):
            data = snap.get(f.resolve())
            if data is not None:
                (dest / "graders" / f.name).write_bytes(data)
        copies.append(dataclasses.replace(ex, pack=dest))
    return copies


def changed_files(snap: dict[Path, bytes]) -> list[Path]:
    """Files of SNAP that differ from their snapshot bytes or are gone."""
    out = []
    for f, data in snap.items():
        try:
            if f.read_bytes() != data:
                out.append(f)
        except OSError:
            out.append(f)
    return out


_RESTORE = threading.Lock()


def restore_kit(snap: dict[Path, bytes]) -> list[Path]:
    """Put back every instructor file that differs from the snapshot; returns those restored."""
    with _RESTORE:
        bad = changed_files(snap)
        for f in bad:
            try:
                if f.is_symlink() or f.is_dir():
                    shutil.rmtree(f) if f.is_dir() and not f.is_symlink() else f.unlink()
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(snap[f])
            except OSError:
                pass
        return bad


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
        if not any(k.startswith(".github/") for k in trusted.get("files", {})):
            # a manifest computed here (not the export's own) cannot know the workflow the export wrote
            rep["added"] = [a for a in rep["added"] if not a.startswith(".github/")]
        rep["tampered"] = bool(rep["changed"] or rep["missing"] or rep["added"])
    if not rep or not rep["tampered"]:
        return "no"
    parts = [f"{k}: {' '.join(rep[k])}" for k in ("changed", "missing", "added") if rep[k]]
    return "yes (" + "; ".join(parts) + ")"


def practice(sub: Path, exercises: list[Exercise]) -> tuple[int | None, int | None]:
    """(hints shown, exercises whose solution was viewed) for the graded exercises, from the student's
    ``.pt-quiz/events.jsonl`` (as the student's own copy recorded it: informative, not proof); (None, None)
    when the submission has no such file."""
    from .events import log_path, read

    if not log_path(sub).is_file():
        return None, None
    numbers = {ex.number for ex in exercises}
    evs = [e for e in read(sub) if type(e.get("exercise")) is int and e["exercise"] in numbers]
    return (sum(1 for e in evs if e["kind"] == "hint"),
            len({e["exercise"] for e in evs if e["kind"] == "solution"}))


def grade_one(exercises: list[Exercise], sub: Path, name: str, root: Path, trusted: dict,
              check_timeout: float, deadline: float, snap: dict | None = None) -> Row:
    from .runner import run_pytest, score

    snap = snap if snap is not None else kit_snapshot(exercises)

    row = Row(name, sub, {ex.name: None for ex in exercises})
    t0 = time.monotonic()
    try:
        row.max_total = sum(ex.max_score() for ex in exercises)
    except Exception as e:  # noqa: BLE001
        row.errors.append(f"grader: {e}")
    try:
        row.hints, row.solutions = practice(sub, exercises)
    except OSError as e:
        row.errors.append(f"events: {e}")
    try:
        row.tamper = _tamper_text(sub, trusted)
    except Exception as e:  # noqa: BLE001 - unreadable files: say so, keep grading
        row.tamper = f"unknown ({e})"
    try:
        with tempfile.TemporaryDirectory(prefix="ptquiz-gradebook-") as tmp:
            # grade copies of the exercise files only: nothing else of the submission (its pyproject.toml,
            # conftest.py, ...) can reach pytest, and nothing is written beside the student's files
            target, kit, work = Path(tmp) / "submission", Path(tmp) / "kit", Path(tmp) / "work"
            for d in (target, work):
                d.mkdir()
            src = submission_target(sub)
            for ex in exercises:
                f = src / f"{ex.name}.py"
                if f.is_file():
                    shutil.copyfile(f, target / f.name)
            copies = pristine_copy(kit, exercises, snap)
            copy_snap = {c.grader_path.resolve(): snap[e.grader_path.resolve()] for c, e in zip(copies, exercises)
                         if e.grader_path.resolve() in snap}
            copy_snap.update({(kit / "ptquiz" / f.relative_to(ENGINE)).resolve(): b for f, b in snap.items()
                              if f.is_relative_to(ENGINE)})
            graders = [c.grader_path for c in copies if c.grader_path.exists()]
            checks = {c.name: c.checks() for c in copies}  # points read before the student's code runs
            records = run_pytest(graders, target=target, workers=1, check_timeout=check_timeout,
                                 deadline=deadline, cwd=work, env={"PYTHONPATH": str(kit)})
            tampered_copy = changed_files(copy_snap)
            for c in copies:  # score against the points read before grading
                object.__setattr__(c, "checks", (lambda v: (lambda: v))(checks[c.name]))
            results = score(copies, records, target)
        restored = restore_kit(snap)
        if restored:
            names = ", ".join(sorted({_rel(f, root) for f in restored}))
            row.flags.append(f"the instructor's kit changed while this submission was being graded ({names}); "
                             "restored from the copy taken at the start")
        if tampered_copy:
            names = ", ".join(sorted({f.name for f in tampered_copy}))
            row.flags.append(f"the submission rewrote the graders or engine it was graded with ({names}): "
                             "scores withheld")
            results = [dataclasses.replace(e, score=0, status="flagged") for e in results]
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
            for f in getattr(e, "flags", None) or []:
                row.flags.append(f"{key}: {(f.get('en') if isinstance(f, dict) else str(f))}")
        row.total = sum(e.score for e in results)
    except Exception as e:  # noqa: BLE001 - one student's failure stays in their row
        row.errors.append(f"grading failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    row.seconds = round(time.monotonic() - t0, 1)
    return row


def _rel(f: Path, root: Path) -> str:
    try:
        return f.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(f)


def run_gradebook(exercises: list[Exercise], subs: list[Path], root: Path, *, jobs: int = 2,
                  manifest: dict | None = None, all_exercises: list[Exercise] | None = None, check_timeout: float = 60.0, deadline: float | None = None,
                  progress=None) -> list[Row]:
    trusted = manifest or expected_manifest(exercises)
    snap = kit_snapshot(all_exercises or exercises)  # the instructor's files, read before any student runs
    names = student_names(subs)
    deadline = deadline or (60 + 2 * check_timeout * max(1, len(exercises)))
    say = progress or (lambda msg: None)
    rows: dict[int, Row] = {}
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futs = {pool.submit(grade_one, exercises, s, n, root, trusted, check_timeout, deadline, snap): i
                for i, (s, n) in enumerate(zip(subs, names))}
        for k, fut in enumerate(as_completed(futs), 1):
            i = futs[fut]
            try:
                row = fut.result()
            except Exception as e:  # noqa: BLE001 - never lose a row
                row = Row(names[i], subs[i], errors=[f"{type(e).__name__}: {e}"])
            rows[i] = row
            flag = (" TAMPER" if row.tamper.startswith("yes") else "") + (" FLAGGED" if row.flags else "")
            err = f" ({len(row.errors)} error(s))" if row.errors else ""
            say(f"[{k}/{len(subs)}] {row.student}: {row.total}/{row.max_total}{flag}{err} "
                f"in {row.seconds:.0f} s (elapsed {time.monotonic() - t0:.0f} s)")
    return [rows[i] for i in range(len(subs))]


def to_csv(exercises: list[Exercise], rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", *[ex.name for ex in exercises], "total", "max", "hints", "solutions_viewed", "tamper",
                "flags", "errors"])
    for r in rows:
        w.writerow([r.student, *["" if r.scores.get(ex.name) is None else r.scores[ex.name] for ex in exercises],
                    r.total, r.max_total, "" if r.hints is None else r.hints,
                    "" if r.solutions is None else r.solutions, r.tamper, " | ".join(r.flags), " | ".join(r.errors)])
    return buf.getvalue()
