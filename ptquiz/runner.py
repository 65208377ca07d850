"""Run graders and turn pytest reports into scores. Never imports torch.

Grading runs pytest in a child process under pytest-xdist (``-n W --dist
worksteal``; with ``load`` a crashed worker's remaining tests were never rescheduled): a segfault, ``os._exit`` or hang in the learner's code costs only
the check that ran it, and the other exercises are still graded. The controller
(:mod:`ptquiz.controller`) writes one sealed JSON line per report to a file whose
path and key reach it over a pipe; a check earns its points only from a passing
record (positive evidence), never from an exit code or a missing failure.

pytest runs under :mod:`ptquiz.reaper` (a child subreaper): when grading ends, for whatever reason
(SIGTERM to ``grade`` included), nothing the learner's code started is left running.
A result with integrity flags (:mod:`ptquiz.integrity`) is *flagged*: its score is withheld (0) and
every format says why; the points its checks reported are kept in ``withheld``.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import CatalogError, Exercise
from .workdir import engine_importable, learner_dirs, reroot, scratch_dir

def check_timeout_default() -> float:
    """Seconds a check may run before it is stopped: $PT_QUIZ_CHECK_TIMEOUT, else 60."""
    try:
        value = float(os.environ.get("PT_QUIZ_CHECK_TIMEOUT", "60"))
    except ValueError:
        return 60.0
    return value if value > 0 else 60.0  # 0 would switch the limit off


@dataclass
class CheckResult:
    name: str
    title: dict
    category: str
    points: int
    passed: bool
    score: int
    message: dict | None = None
    kind: str | None = None
    duration: float = 0.0
    reported: str | None = None  # in a flagged result: "passed" for a check that reported a pass (not counted)

    @property
    def outcome(self) -> str:
        """pass; fail (the answer is wrong or unwritten); error (crash, time-out, unloadable file, ...)."""
        if self.passed:
            return "pass"
        return "fail" if (self.kind or "check") in ("check", "todo") else "error"


@dataclass
class ExerciseResult:
    number: int
    slug: str
    title: dict
    score: int
    max_score: int
    status: str
    checks: list = field(default_factory=list)
    message: dict | None = None
    flags: list = field(default_factory=list)  # [{"en", "zh", "kind"}]: grading cannot vouch for this result
    withheld: int = 0  # a flagged result's points as its checks reported them (its score is 0)

    @property
    def name(self) -> str:
        return f"{self.number:02d}_{self.slug}"


@dataclass
class GradeResult:
    exercises: list
    seconds: float = 0.0

    @property
    def score(self):
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self):
        return sum(e.max_score for e in self.exercises)

    def to_json(self, lang: str = "en") -> dict:
        def msg(m):
            return None if m is None else (m.get(lang) or m.get("en"))
        return {
            "score": self.score,
            "max_score": self.max_score,
            "exercises": [
                {"number": e.number, "slug": e.slug, "title": e.title.get(lang) or e.title["en"],
                 "score": e.score, "max_score": e.max_score, "status": e.status, "message": msg(e.message),
                 "flags": [{"kind": f.get("kind"), "message": msg(f)} for f in e.flags],
                 **({"withheld": e.withheld} if e.flags else {}),
                 "checks": [{"name": c.name, "title": c.title.get(lang) or c.title["en"], "category": c.category,
                             "points": c.points, "score": c.score, "passed": c.passed,
                             "message": msg(c.message), "duration": c.duration,
                             **({"reported": c.reported} if c.reported else {})}
                            for c in e.checks]}
                for e in self.exercises],
        }


class GradingError(Exception):
    pass


def worker_count(n_files: int) -> int:
    env = os.environ.get("PT_QUIZ_WORKERS")
    if env and env.isdigit() and int(env) > 0:
        return min(int(env), n_files)
    return max(1, min(n_files, os.cpu_count() or 1, 4))


def child_env() -> dict:
    env = dict(os.environ)
    env.pop("PT_QUIZ_TARGET", None)  # the engine passes the folder to grade explicitly
    # parallel workers slow each other several-fold if each uses every core
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, "1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # load only the plugins grading needs: other installed plugins cost start-up time (hypothesis's
    # alone is ~1 s) and could change how tests run (reordering, retries, ...)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


REQUIRED = (("pytest", "pytest"), ("xdist", "pytest-xdist"), ("pytest_timeout", "pytest-timeout"))
REAPER = Path(__file__).resolve().with_name("reaper.py")
CHANNEL_VAR = "PT_QUIZ_CHANNEL_FD"  # the pipe the controller reads its settings from
GRACE = 3.0  # seconds past a check's limit before the watchdog kills its worker (faulthandler's backstop: 5)
RESTART = 10.0  # seconds a replaced worker may take to start (torch import) when the deadline is estimated


def missing_plugins() -> list[str]:
    """The packages grading needs that this Python lacks (pip names)."""
    import importlib.util

    out = []
    for mod, pkg in REQUIRED:
        try:
            if importlib.util.find_spec(mod) is None:
                out.append(pkg)
        except (ImportError, ValueError):
            out.append(pkg)
    return out


def pytest_args(graders: list[Path], results: Path, target: Path | None, check_timeout: float,
                results_option: bool = True) -> list[str]:
    """Arguments for a grading pytest. Its config is an empty pytest.ini beside the results file, so a
    project's own [tool.pytest.ini_options] (filterwarnings=error, python_files, ...) cannot change grading.
    ``results_option=False``: the records' path is not put on the command line (``run_pytest`` hands it to the
    controller over a pipe, out of the workers' sight)."""
    ini = results.parent / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    # the rootdir must hold the graders, or pytest drops the file part of their test ids
    rootdir = os.path.commonpath([str(Path(g).resolve().parent) for g in graders])
    # no:unraisableexception: its clean-up runs gc.collect() five times, ~1 s once torch is loaded
    args = [*map(str, graders), "-c", str(ini), f"--rootdir={rootdir}", "-p", "ptquiz.plugin", "-p", "pytest_timeout",
            "-p", "no:cacheprovider", "-p", "no:unraisableexception",
            "-o", "addopts=", "-q", "--no-header", "--timeout", str(check_timeout),
            "-W", "ignore::DeprecationWarning"]
    if results_option:
        args.append(f"--ptquiz-results={results}")
    # one "--opt=value" argument each: a separate value would be taken for a path when pytest looks for
    # its rootdir and config file, and a pyproject.toml next to a student's files could then configure it
    if target is not None:
        args.append(f"--ptquiz-target={target}")
    return args


def check_limits(graders: list[Path], check_timeout: float) -> dict[str, dict[str, float]]:
    """{grader file name: {check: its time limit}} from the graders' text (``@check(timeout=...)`` or the default)."""
    from .catalog import read_checks

    out = {}
    for g in graders:
        try:
            out[Path(g).name] = {c.name: float(c.timeout or check_timeout) for c in read_checks(Path(g))}
        except Exception:  # noqa: BLE001 - an unreadable grader is reported by its collection error
            out[Path(g).name] = {}
    return out


def _trap_signals():
    """While grading, SIGTERM / SIGHUP raise SystemExit (so the clean-up below runs); returns the restorer.
    Only the main thread can set handlers (gradebook grades from threads: its own process handles them)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    sigs = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    old = {}
    for s in sigs:
        prev = signal.getsignal(s)
        if prev in (signal.SIG_IGN,):
            continue  # nohup: leave it ignored
        old[s] = prev

        def handler(signum, frame):
            raise SystemExit(128 + signum)
        signal.signal(s, handler)

    def restore():
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
    return restore


def _stop(proc: subprocess.Popen, token: str) -> None:
    """End the grading tree: the reaper kills what is left of it; then its process group and anything still
    carrying this run's token (if the learner's code killed the reaper itself)."""
    from .reaper import kill_tagged

    clean = proc.poll() is not None and proc.returncode >= 0  # the reaper ended by itself: it left nothing
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            clean = proc.wait(timeout=10) >= 0
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if not clean or not sys.platform.startswith("linux"):  # the reaper was killed (or is no subreaper here)
        kill_tagged(token)


def run_pytest(graders: list[Path], target: Path | None = None, workers: int | None = None,
               check_timeout: float | None = None, deadline: float | None = None,
               cwd: Path | None = None, env: dict | None = None) -> list[dict]:
    """Run the graders in a child pytest under xdist (under the reaper); return the verified report records.
    The child runs in a scratch folder of its own; messages name files relative to `cwd` (default: the
    current folder). ``env``: variables added to the child's environment (the gradebook points PYTHONPATH
    at a pristine copy of the engine).

    Raises GradingError when pytest could not run them at all (a Python without the test plugins, ...)."""
    from .reaper import TOKEN_VAR

    check_timeout = check_timeout or check_timeout_default()
    workers = workers or worker_count(len(graders))
    missing = missing_plugins()
    if missing:
        raise GradingError(f"this Python ({sys.executable}) lacks {', '.join(missing)}, which grading needs. Install them "
                           f"into it (`{sys.executable} -m pip install {' '.join(missing)}`, or `pip install -e .` in the kit) "
                           f"and grade again.")
    limits = check_limits(graders, check_timeout)
    if deadline is None:
        # a safety net only: the watchdog ends every check within its limit + GRACE
        per_check = [lim + GRACE + RESTART for checks in limits.values() for lim in (checks.values() or [check_timeout])]
        deadline = 120 + sum(per_check) / workers
    extra_env = env
    with tempfile.TemporaryDirectory(prefix="ptquiz-", ignore_cleanup_errors=True) as tmp, scratch_dir() as work:
        results = Path(tmp) / "results.jsonl"
        results.touch()
        key, token = secrets.token_bytes(32), secrets.token_hex(16)
        channel = json.dumps({"results": str(results), "key": key.hex(), "budget": str(Path(tmp) / "budget.json"),
                              "limits": limits, "timeout": check_timeout}).encode()
        cmd = [sys.executable, "-I", "-S", str(REAPER), "--", sys.executable, "-m", "pytest",
               *pytest_args(graders, results, target, check_timeout, results_option=False),
               "-p", "xdist.plugin", "-n", str(workers), "--dist", "worksteal", "--max-worker-restart", "1000"]
        log = Path(tmp) / "pytest.log"
        env = {**engine_importable(child_env()), **(extra_env or {})}
        env[TOKEN_VAR] = token
        restore = _trap_signals()
        r, w = os.pipe()
        try:
            env[CHANNEL_VAR] = str(r)
            with open(log, "w") as out:
                try:
                    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=(r,))
                except BaseException:
                    os.close(w)
                    raise
                os.close(r)
                r = None
                writer = threading.Thread(target=_write_all, args=(w, channel), daemon=True)
                writer.start()  # a thread: the settings may exceed a pipe's buffer
                code = None
                try:
                    end = time.monotonic() + deadline
                    while True:
                        try:
                            code = proc.wait(timeout=1.0)
                            break
                        except subprocess.TimeoutExpired:
                            if time.monotonic() > end:
                                break
                            try:  # code that stops (SIGSTOP) the grading processes only delays them
                                os.killpg(proc.pid, signal.SIGCONT)
                            except (ProcessLookupError, PermissionError):
                                pass
                finally:
                    _stop(proc, token)
                    writer.join(timeout=1)
        finally:
            if r is not None:
                os.close(r)
            restore()
        records = reroot(read_records(results, key), learner_dirs(graders, target), os.path.realpath(work), cwd)
        if not any(rec.get("when") == "session" for rec in records):
            tail = log.read_text(errors="replace")[-3000:]
            raise GradingError(f"pytest could not run the graders (exit code {code}):\n{tail}")
        return records


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass
    finally:
        os.close(fd)


def _channel_flag(en_why: str, zh_why: str) -> dict:
    from .integrity import flag
    return flag("channel", f"The grading records were tampered with ({en_why}): grading cannot vouch for this result.",
                f"评分记录被篡改（{zh_why}）：无法确认该成绩。")


def read_records(path: Path, key: bytes | None = None) -> list[dict]:
    """The records in ``path``. With ``key`` (a run of :func:`run_pytest`), each line must carry the controller's
    seal and the sequence numbers must follow on: a forged or edited line is dropped and becomes a
    ``when: "tamper"`` record carrying a flag (for its check's exercise when its nodeid is readable, else all)."""
    from .integrity import same, seal

    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    records, expected = [], 1
    for i, line in enumerate(lines):
        body, sep, mac = line.rpartition("\t")
        if key is not None:
            if not sep or not same(mac, seal(key, body)):
                if i == len(lines) - 1 and not text.endswith("\n"):
                    continue  # cut short by a killed controller
                try:
                    nodeid = str(json.loads(body if sep else line).get("nodeid") or "")
                except (ValueError, AttributeError):
                    nodeid = ""
                records.append({"nodeid": nodeid, "when": "tamper", "outcome": "failed", "duration": 0, "message": None,
                                "flags": [_channel_flag("a line not written by the grading process",
                                                        "有一行不是评分进程写入的")]})
                continue
        try:
            rec = json.loads(body if (sep and key is not None) else line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
        if key is not None:
            if rec.get("seq") != expected:
                records.append({"nodeid": "", "when": "tamper", "outcome": "failed", "duration": 0, "message": None,
                                "flags": [_channel_flag("records missing or out of order", "记录缺失或顺序错乱")]})
            expected = (rec.get("seq") or expected) + 1
        records.append(rec)
    return records


def _split(nodeid: str) -> tuple[str, str]:
    parts = nodeid.split("::")
    file = Path(parts[0]).name
    func = parts[1].split("[", 1)[0] if len(parts) > 1 else ""
    return file, func


NO_RESULT = {"en": "No result: the grading process stopped before this check finished (a crash, or the overall time limit).",
             "zh": "没有结果：评分进程在该检查完成前停止了（崩溃或超过总时限）。", "kind": "noresult"}


def score(exercises: list[Exercise], records: list[dict], target: Path | None = None) -> list[ExerciseResult]:
    """Results per exercise from the records. A result with flags (from the records, or from
    :func:`ptquiz.integrity.scan_source` of the learner's file) is *flagged*: score 0, the points its checks
    reported kept in ``withheld``, each check that reported a pass marked ``reported="passed"``, not passed."""
    by_check: dict[tuple[str, str], list[dict]] = {}
    collect_fail: dict[str, dict] = {}
    flags_by_file: dict[str, list[dict]] = {}
    for r in records:
        if r.get("when") == "session":
            continue
        file, func = _split(r.get("nodeid") or "") if r.get("nodeid") else ("*", "")
        if r.get("flags"):
            flags_by_file.setdefault(file, []).extend(r["flags"])
        if r.get("when") == "tamper":
            continue
        if r.get("when") == "collect":
            collect_fail[file] = r
        else:
            by_check.setdefault((file, func), []).append(r)
    out = []
    for ex in exercises:
        try:
            checks = ex.checks()
        except CatalogError as e:
            out.append(ExerciseResult(ex.number, ex.slug, ex.title, 0, 0, "error", [],
                                      {"en": str(e), "zh": str(e)}))
            continue
        gfile = ex.grader_path.name
        results = []
        for c in checks:
            recs = by_check.get((gfile, c.name), [])
            calls = [r for r in recs if r["when"] == "call"]
            failed = [r for r in recs if r["outcome"] == "failed"]
            passed = bool(calls) and all(r["outcome"] == "passed" for r in calls) and not failed
            if passed:
                msg = None
            elif failed:
                msg = failed[0].get("message")
            elif recs and all(r["outcome"] == "skipped" for r in recs):
                msg = {"en": "Skipped.", "zh": "已跳过。"}
            elif gfile in collect_fail:
                msg = collect_fail[gfile]["message"]
            else:
                msg = NO_RESULT
            kind = (msg or {}).get("kind")
            results.append(CheckResult(c.name, c.title, c.category, c.points, passed, c.points if passed else 0,
                                       msg, kind, round(sum(r.get("duration", 0) for r in recs), 3)))
        total = sum(r.score for r in results)
        mx = sum(c.points for c in checks)
        kinds = {r.kind for r in results if not r.passed}
        status, emsg = "partial", None
        learner = ex.learner_path(target)
        if not learner.exists():
            status, emsg = "missing", results[0].message if results else None
        elif total == mx:
            status = "passed"
        elif kinds == {"load"}:
            status, emsg = "error", results[0].message
        elif total == 0 and (kinds <= {"todo"} or _untouched(ex, learner)):
            status = "todo"
        elif total == 0:
            status = "failed"
        result = ExerciseResult(ex.number, ex.slug, ex.title, total, mx, status, results, emsg)
        if learner.exists():
            flags = flags_by_file.get(gfile, []) + flags_by_file.get("*", []) + _scan(ex, learner)
            if flags:
                _withhold(result, flags)
        out.append(result)
    return out


WITHHELD = {"en": "Withheld: this check reported a pass, but grading cannot vouch for it (see the flags above).",
            "zh": "不计分：该检查报告通过，但无法确认其可信（见上方的标记）。", "kind": "flagged"}


def _scan(ex: Exercise, learner: Path) -> list[dict]:
    from .integrity import scan_source
    return scan_source(learner, local_dirs=dict.fromkeys([learner.parent, ex.grader_path.parent, ex.pack]))


def _withhold(result: ExerciseResult, flags: list[dict]) -> None:
    seen, unique = set(), []
    for f in flags:
        k = (f.get("kind"), f.get("en"))
        if k not in seen:
            seen.add(k)
            unique.append(f)
    result.flags = unique
    result.withheld, result.score, result.status = result.score, 0, "flagged"
    for c in result.checks:
        if c.passed:
            c.reported, c.passed, c.score, c.message, c.kind = "passed", False, 0, WITHHELD, "flagged"


def _untouched(ex: Exercise, learner: Path) -> bool:
    """The learner's file is still the starting stub."""
    from .stubs import StubError, pristine_stub
    try:
        return learner.read_text(encoding="utf-8") == pristine_stub(ex)
    except (OSError, UnicodeDecodeError, StubError):
        return False


def grade(exercises: list[Exercise], target: Path | None = None, workers: int | None = None,
          cwd: Path | None = None) -> GradeResult:
    t0 = time.monotonic()
    graders, runnable = [], []
    for ex in exercises:
        if ex.grader_path.exists():
            graders.append(ex.grader_path)
            runnable.append(ex)
    records = run_pytest(graders, target=target, workers=workers, cwd=cwd) if graders else []
    return GradeResult(score(exercises, records, target), round(time.monotonic() - t0, 2))
