"""The learner's progress, kept in ``.pt-quiz/state.json`` under the project root.

Several pt-quiz commands may run at once (a `watch` in one terminal, `start`/`hint` in another): a
State remembers what this command changed, and ``save`` re-reads the file and applies just those
changes under an exclusive lock (``.pt-quiz/state.lock``), then writes a unique temporary file and
renames it into place. So no command reverts another's changes, and none sees a half-written file.

A corrupt file is set aside (never deleted) and replaced by a fresh state, with a warning, so a bad
file never stops the learner; a negative hint level is counted as 0, with a warning.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .safeio import ensure_dir, locked, write_file

STATE_VERSION = 1


def _fresh() -> dict:
    return {"version": STATE_VERSION, "current": None, "started": [], "hints": {}, "scores": {}}


class State:
    def __init__(self, root: Path):
        self.root = root
        self.dir = root / ".pt-quiz"
        self.path = self.dir / "state.json"
        self.lock = self.dir / "state.lock"
        self.warning: str | None = None
        self._changes: list = []  # what this command changed, re-applied to the file's latest content on save
        self.data = self._load()

    def _warn(self, text: str) -> None:
        self.warning = f"{self.warning}; {text}" if self.warning else text

    def _load(self) -> dict:
        try:
            if not self.path.is_file():
                return _fresh()
        except OSError:
            return _fresh()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError("unexpected content")
            fresh = _fresh()
            for key, default in fresh.items():
                if not isinstance(data.get(key), type(default)) and default is not None:
                    raise ValueError(f"field {key!r} has the wrong type")
            if data.get("current") is not None and type(data["current"]) is not int:
                raise ValueError("field 'current' is not an exercise number")
            if not all(type(n) is int for n in data["started"]):
                raise ValueError("field 'started' holds something other than exercise numbers")
            if not all(type(v) is int for v in data["hints"].values()):
                raise ValueError("field 'hints' holds something other than hint levels")
            if not all(isinstance(v, list) and len(v) == 2 and all(type(x) is int for x in v)
                       for v in data["scores"].values()):
                raise ValueError("field 'scores' holds something other than [score, max]")
            for n, v in list(data["hints"].items()):
                if v < 0:
                    data["hints"][n] = 0
                    self._warn(f"{self.path}: hint level {v} for exercise {n} is not a hint level (they start at 1); "
                               f"counting it as 0, so `pt-quiz hint {n}` shows hint 1")
            return data
        except (ValueError, OSError) as e:
            aside = self.path.with_name(f"state.json.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(self.path, aside)
            except OSError:
                aside = None
            self._warn(f"progress file {self.path} was unreadable ({e}); "
                       f"{'kept a copy as ' + str(aside) + ' and ' if aside else ''}started a fresh one")
            return _fresh()

    def _change(self, fn) -> None:
        fn(self.data)
        self._changes.append(fn)

    def save(self) -> None:
        """Merge this command's changes into the file's latest content. Raises safeio.KitFileError (read-only
        folder, `.pt-quiz` being a file, ...), which says what to do."""
        self.transaction(lambda data: None)

    def transaction(self, fn):
        """Under the lock: re-read the file, re-apply this command's changes, then fn(data); write; return
        fn's result. For a change that depends on the latest value (the next hint level)."""
        ensure_dir(self.dir, self.root)
        with locked(self.lock, self.root):
            data = self._load()
            for change in self._changes:
                change(data)
            out = fn(data)
            write_file(self.path, json.dumps(data, indent=1, ensure_ascii=False), self.root)
            self.data, self._changes = data, []
        return out

    # -- accessors -------------------------------------------------------
    @property
    def current(self) -> int | None:
        return self.data.get("current")

    def start(self, number: int) -> None:
        def change(data):
            data["current"] = number
            if number not in data["started"]:
                data["started"].append(number)
        self._change(change)

    @property
    def started(self) -> list[int]:
        return [n for n in self.data["started"] if isinstance(n, int)]

    def hint_level(self, number: int) -> int:
        return max(0, int(self.data["hints"].get(str(number), 0)))

    def set_hint_level(self, number: int, level: int) -> None:
        def change(data):  # hints only go forward: a level another command reached meanwhile is kept
            data["hints"][str(number)] = max(level, int(data["hints"].get(str(number), 0)))
        self._change(change)

    def next_hint(self, number: int, total: int) -> int:
        """Advance the hint level of `number` (at most `total`) in one locked step and return it: two `hint`
        commands at once show hints 1 and 2, not 1 twice."""
        def bump(data):
            level = min(max(0, int(data["hints"].get(str(number), 0))) + 1, total)
            data["hints"][str(number)] = level
            return level
        return self.transaction(bump)

    def record(self, number: int, score: int, max_score: int) -> None:
        def change(data):
            data["scores"][str(number)] = [score, max_score]
        self._change(change)

    def last_score(self, number: int):
        s = self.data["scores"].get(str(number))
        return tuple(s) if isinstance(s, list) and len(s) == 2 else None

    def passed(self, number: int) -> bool:
        s = self.last_score(number)
        return bool(s and s[1] > 0 and s[0] == s[1])
