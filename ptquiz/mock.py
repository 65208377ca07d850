"""`pt-quiz mock`: a timed session like a real technical screen. No click here, and no torch.

A session lives in ``.pt-quiz/mock/<id>/``: ``session.json`` (everything that happened, written
atomically under ``.pt-quiz/mock/mock.lock``), a fresh stub ``NN_slug.py`` per exercise (the
learner's own ``exercises/`` are never touched), and, once it ends, ``scorecard.json`` and
``scorecard.txt``. ``.pt-quiz/mock/active`` names the running session, so a crash, Ctrl-C or a
closed terminal loses nothing: the next ``pt-quiz mock`` shows it again.

Time comes from ``now()`` (tests replace it). The session keeps the latest time it has seen
(``clock``), so a clock that jumps backwards neither crashes nor gives time back. The first command
that sees the clock past the deadline finalises the session. Each grade run is recorded with its time,
score and the sha256 of the graded file; only runs that started before the deadline count.

Rules (README "Mock interview"): each hint level costs ``HINT_COST`` % of that exercise's points;
``FREE_GRADES`` grade runs per exercise are free, each further one costs ``GRADE_COST`` %, at most
``MAX_GRADES``; the overall result passes at ``PASS_AT`` %.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import time
from pathlib import Path

from .catalog import CatalogError, text
from .i18n import t
from .safeio import DATA_DIR, KitFileError, ensure_dir, explain, locked, write_file
from .stubs import StubError, pristine_stub

SESSION_VERSION = 1
HINT_COST = 10      # % of the exercise's points per hint level
FREE_GRADES = 3     # grade runs per exercise that cost nothing
GRADE_COST = 2      # % of the exercise's points per grade run beyond FREE_GRADES
MAX_GRADES = 10     # grade runs per exercise
PASS_AT = 70        # % of the total for a pass
DEFAULT_MINUTES = 45
DEFAULT_COUNT = 3


def now() -> float:
    """The time; tests replace this function."""
    return time.time()


class MockError(KitFileError):
    """Bad input or a broken session: ``msg`` = {'en', 'zh'} says what to do."""


def _err(key: str, **kw) -> MockError:
    return MockError(t(key, "en", **kw), t(key, "zh", **kw))


def mock_dir(root: Path) -> Path:
    return Path(root) / DATA_DIR / "mock"


def _pointer(root: Path) -> Path:
    return mock_dir(root) / "active"


def _lock(root: Path) -> Path:
    return mock_dir(root) / "mock.lock"


def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def clock_str(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def when_str(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


class Session:
    def __init__(self, root: Path, data: dict):
        self.root = Path(root)
        self.data = data

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def dir(self) -> Path:
        return mock_dir(self.root) / self.id

    @property
    def path(self) -> Path:
        return self.dir / "session.json"

    @property
    def numbers(self) -> list[int]:
        return [e["number"] for e in self.data["exercises"]]

    def entry(self, number: int) -> dict | None:
        return next((e for e in self.data["exercises"] if e["number"] == number), None)

    def file(self, number: int) -> Path:
        return self.dir / f"{self.entry(number)['name']}.py"

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def active(self) -> bool:
        return self.data["status"] == "active"

    def time_left(self) -> float:
        return self.data["deadline"] - self.data["clock"]

    def elapsed(self) -> float:
        return self.data["clock"] - self.data["started"]

    def update(self, fn):
        """Under the lock: re-read session.json, apply fn(data), write it atomically; return fn's result."""
        with locked(_lock(self.root), self.root):
            data = _read(self.root, self.id)
            out = fn(data)
            _write(self.root, data)
            self.data = data
        return out


# ---------------------------------------------------------------------------
# files

def _write(root: Path, data: dict) -> None:
    write_file(mock_dir(root) / data["id"] / "session.json", json.dumps(data, indent=1, ensure_ascii=False), root)


def _valid(data) -> bool:
    try:
        return (isinstance(data, dict) and data.get("version") == SESSION_VERSION
                and all(isinstance(data[k], (int, float)) for k in ("started", "deadline", "clock", "minutes"))
                and data["status"] in ("active", "finished") and isinstance(data["id"], str)
                and isinstance(data["exercises"], list) and data["exercises"]
                and all(isinstance(e, dict) and type(e["number"]) is int and isinstance(e["name"], str)
                        and type(e["max"]) is int and type(e["hints"]) is int and isinstance(e["grades"], list)
                        for e in data["exercises"]))
    except (KeyError, TypeError):
        return False


def _read(root: Path, sid: str) -> dict:
    """A session's data. A missing folder or an unreadable file is a MockError (the file is set aside)."""
    folder = mock_dir(root) / sid
    path = folder / "session.json"
    if not folder.is_dir():
        raise _err("mock_deleted", id=sid, path=_show(root, folder))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not _valid(data) or data["id"] != sid:
            raise ValueError
        return data
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    aside = path.with_name(f"session.json.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.replace(path, aside)
        kept = _show(root, aside)
    except OSError:
        kept = _show(root, path)
    _clear_pointer(root, sid)
    raise _err("mock_corrupt", id=sid, path=_show(root, path), kept=kept)


def _show(root: Path, path: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _active_id(root: Path) -> str | None:
    p = _pointer(root)
    try:
        sid = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        sid = ""
    if not sid or "/" in sid or sid.startswith("."):
        _clear_pointer(root, None)
        return None
    return sid


def _clear_pointer(root: Path, sid: str | None) -> None:
    p = _pointer(root)
    try:
        if sid is None or p.read_text(encoding="utf-8").strip() == sid:
            os.unlink(p)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise explain(e, p, root) from None


def is_running(root: Path) -> bool:
    """A session is marked active (even one whose folder was deleted): `solution` stays locked."""
    return _pointer(root).exists()


# ---------------------------------------------------------------------------
# the active session

def current(cat, lang: str = "en"):
    """(session, finished): the active session, advanced to the current time, or None. A session past its
    deadline is finalised here: then session is None and `finished` is that session (its scorecard saved).
    A deleted folder or a corrupt session.json is a MockError saying what to do."""
    root = cat.root
    sid = _active_id(root)
    if sid is None:
        return None, None
    with locked(_lock(root), root):
        data = _read(root, sid)
        n = now()
        if n > data["clock"]:  # a clock that jumps backwards never gives time back
            data["clock"] = n
            _write(root, data)
    s = Session(root, data)
    if s.time_left() <= 0 or not s.active:  # not active: a finish that stopped half-way is completed
        return None, finish(cat, s, lang, reason="deadline")
    return s, None


def pick(cat, state, count: int, difficulties=(), topics=(), seed=None) -> list:
    """The exercises of a new session: not-yet-passed first, mixed difficulty, reproducible for one seed."""
    if count < 1:
        raise _err("mock_bad_count", count=count)
    known = sorted({tp for ex in cat for tp in ex.topics}, key=str.lower)
    for want in topics:
        if not any(want.lower() in tp.lower() for tp in known):
            raise _err("mock_bad_topic", topic=want, known=", ".join(known) or "-")
    pool = [ex for ex in cat
            if (not difficulties or ex.difficulty in difficulties)
            and (not topics or any(w.lower() in tp.lower() for w in topics for tp in ex.topics))
            and (ex.solution_path.exists() or (ex.pack / "graders" / "stubs" / f"{ex.name}.py").exists())
            and ex.grader_path.exists()]
    if not pool:
        raise _err("mock_no_match")
    rng = random.Random(seed)
    chosen: list = []
    for group in ([ex for ex in pool if not state.passed(ex.number)], [ex for ex in pool if state.passed(ex.number)]):
        levels: dict = {}
        for ex in group:
            levels.setdefault(ex.difficulty, []).append(ex)
        order = sorted(levels)
        for lv in order:
            rng.shuffle(levels[lv])
        rng.shuffle(order)
        while len(chosen) < count and any(levels.values()):  # round-robin over the difficulties
            for lv in order:
                if levels[lv] and len(chosen) < count:
                    chosen.append(levels[lv].pop())
    return sorted(chosen, key=lambda ex: (ex.difficulty, ex.number))


def start(cat, state, minutes=DEFAULT_MINUTES, count=DEFAULT_COUNT, difficulties=(), topics=(), seed=None,
          lang="en") -> Session:
    """Start a new session (there must be no active one): fresh stubs in its own folder."""
    if minutes is None or minutes <= 0:
        raise _err("mock_bad_minutes", minutes=minutes)
    seed = seed if seed is not None else secrets.token_hex(3)
    exs = pick(cat, state, count, tuple(difficulties), tuple(topics), seed)
    root = cat.root
    entries = []
    stubs = {}
    for ex in exs:
        try:
            stub = pristine_stub(ex)
            mx = ex.max_score()
        except (StubError, CatalogError, OSError) as e:
            raise MockError(f"exercise {ex.number}: {e}", f"第 {ex.number} 题：{e}") from None
        stubs[ex.name] = stub
        entries.append({"number": ex.number, "name": ex.name, "difficulty": ex.difficulty, "max": mx,
                        "hints": 0, "grades": []})
    ensure_dir(mock_dir(root), root)
    with locked(_lock(root), root):
        if _active_id(root) is not None:
            raise _err("mock_already")  # another terminal started one meanwhile
        started = now()
        while True:
            sid = time.strftime("%Y%m%d-%H%M", time.localtime(started)) + "-" + secrets.token_hex(2)
            if not (mock_dir(root) / sid).exists():
                break
        data = {"version": SESSION_VERSION, "id": sid, "status": "active", "started": started, "clock": started,
                "minutes": minutes, "deadline": started + minutes * 60, "seed": str(seed), "count": count,
                "difficulties": sorted(difficulties), "topics": list(topics), "lang": lang,
                "exercises": entries, "ended": None, "finished_at": None}
        folder = ensure_dir(mock_dir(root) / sid, root)
        for name, stub in stubs.items():
            write_file(folder / f"{name}.py", stub, root)
        _write(root, data)
        write_file(_pointer(root), sid + "\n", root)
    _event(root, action="start", id=sid, exercises=[e["number"] for e in entries], minutes=minutes, seed=str(seed))
    return Session(root, data)


def _event(root: Path, **fields) -> None:
    from . import events
    try:
        events.record(root, "mock", None, **fields)
    except KitFileError:
        pass  # the session itself is saved; the log is for statistics only


def recreate_missing(s: Session, cat) -> list[Path]:
    """Write a fresh stub for each session file deleted by hand (grading it would only say "missing");
    returns those files."""
    out = []
    for n in s.numbers:
        f = s.file(n)
        if not f.exists() and not f.is_symlink() and n in cat.exercises:
            try:
                stub = pristine_stub(cat.exercises[n])
            except (StubError, OSError):
                stub = None
            if stub is not None:
                write_file(f, stub, s.root)
                out.append(f)
    return out


def hint(s: Session, number: int, total: int) -> int:
    """Advance the mock's hint level of `number` (at most `total`) in one locked step; return it."""
    def bump(data):
        e = next(e for e in data["exercises"] if e["number"] == number)
        e["hints"] = min(e["hints"] + 1, total)
        return e["hints"]
    return s.update(bump)


def can_grade(s: Session, numbers: list[int]) -> tuple[list[int], list[int]]:
    """(allowed, refused): exercises that have used MAX_GRADES grade runs are refused."""
    ok = [n for n in numbers if len(s.entry(n)["grades"]) < MAX_GRADES]
    return ok, [n for n in numbers if n not in ok]


def hashes(s: Session, numbers: list[int]) -> dict:
    """The sha256 of each exercise's session file, taken before grading."""
    return {n: sha256(s.file(n)) for n in numbers}


def record_grades(s: Session, started: float, shas: dict, results) -> None:
    """Record one grade run per result (time = when grading started), unless the session ended meanwhile."""
    def add(data):
        if data["status"] != "active":
            return
        for r in results:
            e = next((e for e in data["exercises"] if e["number"] == r.number), None)
            if e is not None:
                e["grades"].append({"t": started, "score": r.score, "max": r.max_score, "sha256": shas.get(r.number)})
    s.update(add)


# ---------------------------------------------------------------------------
# scoring and the scorecard

def score_entry(e: dict, started: float, deadline: float) -> dict:
    runs = [r for r in e["grades"] if r["t"] < deadline]
    late = len(e["grades"]) - len(runs)
    best = max(runs, key=lambda r: (r["score"], -r["t"]), default=None)
    mx = e["max"]
    raw = best["score"] if best else 0
    hint_cost = round(mx * HINT_COST * e["hints"] / 100, 2)
    extra = max(0, len(runs) - FREE_GRADES)
    grade_cost = round(mx * GRADE_COST * extra / 100, 2)
    full = [r["t"] for r in runs if r["max"] > 0 and r["score"] == r["max"]]
    return {"number": e["number"], "name": e["name"], "max": mx, "best": raw, "hints": e["hints"],
            "grade_runs": len(runs), "late_grade_runs": late, "hint_cost": hint_cost, "grade_cost": grade_cost,
            "score": round(max(0.0, raw - hint_cost - grade_cost), 2),
            "first_full_marks_s": round(min(full) - started, 1) if full else None,
            "graded_sha256": best["sha256"] if best else None}


def scorecard(s: Session, cat, lang: str) -> dict:
    d = s.data
    rows = [score_entry(e, d["started"], d["deadline"]) for e in d["exercises"]]
    total = sum(r["max"] for r in rows)
    got = round(sum(r["score"] for r in rows), 2)
    pct = round(100 * got / total, 1) if total else 0.0
    followups = []
    for r in rows:
        ex = cat.exercises.get(r["number"])
        r["title"] = text(ex.title, lang) if ex else r["name"]
        e = s.entry(r["number"])
        counted = [g for g in e["grades"] if g["t"] < d["deadline"]]
        at_end = sha256(s.file(r["number"]))
        # the file as it is now, against the last grade run that counted: later edits never count
        r["ungraded_edits"] = at_end is not None and (at_end != counted[-1]["sha256"] if counted else
                                                      ex is not None and _differs_from_stub(ex, s.file(r["number"])))
        r["attempted"] = bool(r["grade_runs"] or r["hints"] or r["ungraded_edits"])
        if r["attempted"] and ex is not None:
            followups.append({"number": r["number"], "title": r["title"],
                              "questions": [text(f["question"], lang) for f in ex.followups]})
    return {"id": s.id, "started": d["started"], "minutes": d["minutes"], "ended": d["ended"],
            "duration_s": round(min(d["clock"], d["deadline"]) - d["started"], 1), "seed": d.get("seed"),
            "exercises": rows, "score": got, "max": total, "percent": pct, "pass_at": PASS_AT,
            "passed": pct >= PASS_AT,
            "rules": {"hint_cost_pct": HINT_COST, "free_grades": FREE_GRADES, "grade_cost_pct": GRADE_COST,
                      "max_grades": MAX_GRADES},
            "followups": followups, "lang": lang}


def _differs_from_stub(ex, path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8", errors="replace") != pristine_stub(ex)
    except (OSError, StubError):
        return False


def _num(x: float) -> str:
    return f"{x:g}"


def render(card: dict, lang: str) -> str:
    lines = [t("card_head", lang, id=card["id"]),
             t("card_when", lang, when=when_str(card["started"]), minutes=_num(card["minutes"]),
               ended=t("card_ended", lang)[card["ended"] or "finish"], took=clock_str(card["duration_s"]))]
    for r in card["exercises"]:
        first = clock_str(r["first_full_marks_s"]) if r["first_full_marks_s"] is not None else "—"
        lines.append(f"  {r['number']:02d}  {r['title']}")
        lines.append("      " + t("card_row", lang, score=_num(r["score"]), max=r["max"], best=r["best"],
                                  hcost=_num(r["hint_cost"]), gcost=_num(r["grade_cost"]), first=first,
                                  runs=r["grade_runs"], hints=r["hints"]))
        if r["late_grade_runs"]:
            lines.append("      " + t("card_late", lang, n=r["late_grade_runs"]))
        if r.get("ungraded_edits"):
            lines.append("      " + t("card_ungraded", lang))
    verdict = t("card_pass", lang) if card["passed"] else t("card_nopass", lang)
    lines.append(t("card_result", lang, score=_num(card["score"]), max=card["max"], pct=_num(card["percent"]),
                   verdict=verdict, need=card["pass_at"]))
    if card["followups"]:
        lines.append("")
        lines.append(t("card_followups", lang))
        for f in card["followups"]:
            lines.append(f"  {f['number']:02d}  {f['title']}")
            if not f["questions"]:
                lines.append("      " + t("card_no_followups", lang))
            for k, q in enumerate(f["questions"], 1):
                lines.append(f"      {k}. {q}")
    return "\n".join(lines) + "\n"


def finish(cat, s: Session, lang: str, reason: str = "finish") -> dict:
    """End the session (at its deadline, or early) and save its scorecard; returns the scorecard."""
    root = cat.root

    def end(data):
        if data["status"] == "active":
            data["status"], data["ended"], data["finished_at"] = "finished", reason, now()
            data["clock"] = max(data["clock"], data["finished_at"])
    s.update(end)
    card = scorecard(s, cat, lang)
    write_file(s.dir / "scorecard.json", json.dumps(card, indent=1, ensure_ascii=False), root)
    write_file(s.dir / "scorecard.txt", render(card, lang), root)
    with locked(_lock(root), root):
        _clear_pointer(root, s.id)
    _event(root, action="finish", id=s.id, ended=card["ended"], score=card["score"], max=card["max"],
           percent=card["percent"], passed=card["passed"])
    return card


def abandon(root: Path) -> str | None:
    """Close an active session that cannot be scored (its folder was deleted); returns its id."""
    with locked(_lock(root), root):
        sid = _active_id(root)
        if sid is not None:
            _clear_pointer(root, sid)
    if sid is not None:
        _event(root, action="abandon", id=sid)
    return sid


def history(root: Path) -> list[dict]:
    """Every session found under .pt-quiz/mock/, oldest first: id, started, exercises, status, result."""
    out = []
    folder = mock_dir(root)
    if not folder.is_dir():
        return out
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            data = json.loads((d / "session.json").read_text(encoding="utf-8"))
            if not _valid(data):
                raise ValueError
        except (OSError, ValueError, UnicodeDecodeError):
            out.append({"id": d.name, "started": None, "exercises": [], "status": "unreadable", "card": None})
            continue
        card = None
        try:
            card = json.loads((d / "scorecard.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            pass
        out.append({"id": data["id"], "started": data["started"], "exercises": [e["number"] for e in data["exercises"]],
                    "status": data["status"], "card": card if isinstance(card, dict) else None})
    return sorted(out, key=lambda h: (h["started"] is None, h["started"] or 0, h["id"]))
