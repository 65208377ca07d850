"""The learner's progress, kept in ``.pt-quiz/state.json`` under the project root.

Written atomically; a corrupt file is set aside (never deleted) and replaced by a
fresh state, with a warning, so a bad file never stops the learner.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

STATE_VERSION = 1


def _fresh() -> dict:
    return {"version": STATE_VERSION, "current": None, "started": [], "hints": {}, "scores": {}}


class State:
    def __init__(self, root: Path):
        self.dir = root / ".pt-quiz"
        self.path = self.dir / "state.json"
        self.warning: str | None = None
        self.data = self._load()

    def _load(self) -> dict:
        if not self.path.exists():
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
            return data
        except (ValueError, OSError) as e:
            aside = self.path.with_name(f"state.json.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(self.path, aside)
            except OSError:
                aside = None
            self.warning = (f"progress file {self.path} was unreadable ({e}); "
                            f"{'kept a copy as ' + str(aside) + ' and ' if aside else ''}started a fresh one")
            return _fresh()

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)

    # -- accessors -------------------------------------------------------
    @property
    def current(self) -> int | None:
        return self.data.get("current")

    def start(self, number: int) -> None:
        self.data["current"] = number
        if number not in self.data["started"]:
            self.data["started"].append(number)

    @property
    def started(self) -> list[int]:
        return [n for n in self.data["started"] if isinstance(n, int)]

    def hint_level(self, number: int) -> int:
        return int(self.data["hints"].get(str(number), 0))

    def set_hint_level(self, number: int, level: int) -> None:
        self.data["hints"][str(number)] = level

    def record(self, number: int, score: int, max_score: int) -> None:
        self.data["scores"][str(number)] = [score, max_score]

    def last_score(self, number: int):
        s = self.data["scores"].get(str(number))
        return tuple(s) if isinstance(s, list) and len(s) == 2 else None

    def passed(self, number: int) -> bool:
        s = self.last_score(number)
        return bool(s and s[1] > 0 and s[0] == s[1])
