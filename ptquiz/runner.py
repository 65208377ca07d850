"""Run graders and turn pytest reports into scores. Never imports torch.

Grading runs pytest in a child process under pytest-xdist (``-n W --dist
worksteal``; with ``load`` a crashed worker's remaining tests were never rescheduled): a segfault, ``os._exit`` or hang in the learner's code costs only
the check that ran it, and the other exercises are still graded. The plugin
writes one JSON line per report; a check earns its points only from a passing
report (positive evidence), never from an exit code or a missing failure.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
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
                 "checks": [{"name": c.name, "title": c.title.get(lang) or c.title["en"], "category": c.category,
                             "points": c.points, "score": c.score, "passed": c.passed,
                             "message": msg(c.message), "duration": c.duration}
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


def pytest_args(graders: list[Path], results: Path, target: Path | None, check_timeout: float) -> list[str]:
    """Arguments for a grading pytest. Its config is an empty pytest.ini beside the results file, so a
    project's own [tool.pytest.ini_options] (filterwarnings=error, python_files, ...) cannot change grading."""
    ini = results.parent / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    # the rootdir must hold the graders, or pytest drops the file part of their test ids
    rootdir = os.path.commonpath([str(Path(g).resolve().parent) for g in graders])
    # no:unraisableexception: its clean-up runs gc.collect() five times, ~1 s once torch is loaded
    args = [*map(str, graders), "-c", str(ini), f"--rootdir={rootdir}", "-p", "ptquiz.plugin", "-p", "pytest_timeout",
            "-p", "no:cacheprovider", "-p", "no:unraisableexception",
            "-o", "addopts=", "-q", "--no-header", "--timeout", str(check_timeout),
            f"--ptquiz-results={results}", "-W", "ignore::DeprecationWarning"]
    # one "--opt=value" argument each: a separate value would be taken for a path when pytest looks for
    # its rootdir and config file, and a pyproject.toml next to a student's files could then configure it
    if target is not None:
        args.append(f"--ptquiz-target={target}")
    return args


def run_pytest(graders: list[Path], target: Path | None = None, workers: int | None = None,
               check_timeout: float | None = None, deadline: float | None = None,
               cwd: Path | None = None, env: dict | None = None) -> list[dict]:
    """Run the graders in a child pytest under xdist; return the report records. The child runs in a scratch
    folder of its own; messages name files relative to `cwd` (default: the current folder).

    ``env``: variables added to the child's environment (the gradebook points PYTHONPATH at a
    pristine copy of the engine)."""
    check_timeout = check_timeout or check_timeout_default()
    workers = workers or worker_count(len(graders))
    with tempfile.TemporaryDirectory(prefix="ptquiz-") as tmp, scratch_dir() as work:
        results = Path(tmp) / "results.jsonl"
        results.touch()
        cmd = [sys.executable, "-m", "pytest",
               *pytest_args(graders, results, target, check_timeout),
               "-p", "xdist.plugin", "-n", str(workers), "--dist", "worksteal", "--max-worker-restart", "1000"]
        log = Path(tmp) / "pytest.log"
        if deadline is None:
            # a safety net only: per-check timeouts stop hangs long before this
            deadline = 600 + 2 * check_timeout * 10 * max(1, len(graders)) / workers
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, cwd=work, env={**engine_importable(child_env()), **(env or {})}, stdout=out,
                                    stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                code = proc.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                if proc.poll() is None or code is None:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait()
        records = reroot(read_records(results), learner_dirs(graders, target), os.path.realpath(work), cwd)
        if code is not None and code not in (0, 1) and not records:
            tail = log.read_text(errors="replace")[-3000:]
            raise GradingError(f"pytest could not run the graders (exit code {code}):\n{tail}")
        return records


def read_records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
    return records


def _split(nodeid: str) -> tuple[str, str]:
    parts = nodeid.split("::")
    file = Path(parts[0]).name
    func = parts[1].split("[", 1)[0] if len(parts) > 1 else ""
    return file, func


NO_RESULT = {"en": "No result: the grading process stopped before this check finished (a crash, or the overall time limit).",
             "zh": "没有结果：评分进程在该检查完成前停止了（崩溃或超过总时限）。", "kind": "noresult"}


def score(exercises: list[Exercise], records: list[dict], target: Path | None = None) -> list[ExerciseResult]:
    by_check: dict[tuple[str, str], list[dict]] = {}
    collect_fail: dict[str, dict] = {}
    for r in records:
        file, func = _split(r["nodeid"])
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
        out.append(ExerciseResult(ex.number, ex.slug, ex.title, total, mx, status, results, emsg))
    return out


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
