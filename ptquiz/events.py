"""What the learner did, as an append-only log: ``.pt-quiz/events.jsonl``, one JSON object per line.

Every learner command that matters to practice statistics appends one event (``grade``, ``hint``,
``solution``, ``debrief``, ``mock``, ``review``) with its outcome. Lines are only ever appended (under
the state lock, so two commands never interleave a line), never rewritten: `pt-quiz stats` and the
review queue are computed from this log, so a corrupt line costs that line only (it is skipped, with a
warning), never the history.

Event fields: ``v`` (format, 1), ``t`` (UNIX time, float), ``kind``, ``exercise`` (number or null),
then the kind's own fields, e.g. for ``grade``: ``score``, ``max``, ``failed`` ({category: count}),
``mode`` ("exercise", "mock" or "review").
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .safeio import DATA_DIR, ensure_dir, explain, locked

EVENTS_VERSION = 1
KINDS = ("grade", "hint", "solution", "debrief", "mock", "review")


def log_path(root: Path) -> Path:
    return Path(root) / DATA_DIR / "events.jsonl"


def record(root: Path, kind: str, exercise: int | None = None, **fields) -> dict:
    """Append one event. Raises safeio.KitFileError when the folder cannot be written (callers warn)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(KINDS)}")
    event = {"v": EVENTS_VERSION, "t": time.time(), "kind": kind, "exercise": exercise, **fields}
    root = Path(root)
    ensure_dir(root / DATA_DIR, root)
    line = json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n"
    with locked(root / DATA_DIR / "state.lock", root):
        try:
            with open(log_path(root), "a", encoding="utf-8") as f:
                f.write(line)
        except OSError as e:
            raise explain(e, log_path(root), root) from None
    return event


def grade_fields(result, mode: str) -> dict:
    """A grade event's fields for one runner.ExerciseResult: score, max, failed {category: failed checks}, mode."""
    failed: dict = {}
    for ch in result.checks:
        if not ch.passed:
            failed[ch.category] = failed.get(ch.category, 0) + 1
    return {"score": result.score, "max": result.max_score, "failed": failed, "mode": mode}


def read(root: Path, warn=None) -> list[dict]:
    """Every readable event, oldest first. Unreadable lines are skipped (reported once through `warn`)."""
    path = log_path(root)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as e:
        if warn:
            warn(f"{path}: cannot be read ({e}); statistics start empty")
        return []
    out, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
            if not isinstance(ev, dict) or ev.get("kind") not in KINDS or not isinstance(ev.get("t"), (int, float)):
                raise ValueError
            out.append(ev)
        except ValueError:
            bad += 1
    if bad and warn:
        warn(f"{path}: skipped {bad} unreadable line(s); the rest of the history is used")
    return out
