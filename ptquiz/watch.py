"""`pt-quiz watch`: re-grade on every save without paying the torch import again.

The watcher imports torch (and what the grader imports) once, then for each change
forks a child that runs pytest in-process on the warm interpreter. The child is
disposable: a crash or hang in the learner's code kills only the child (the parent
enforces a deadline), and the next save forks a fresh one.
"""
from __future__ import annotations

import ast
import gc
import importlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import click

from .catalog import Exercise
from .i18n import t
from .events import grade_fields
from .runner import GradeResult, check_timeout_default, child_env, pytest_args, read_records, score
from .workdir import learner_dirs, reroot, scratch_dir


def _preimport(grader: Path) -> None:
    """Import the grader's top-level dependencies (torch, torchvision, ...) once, in the parent."""
    import pytest  # noqa: F401
    import ptquiz.gradelib  # noqa: F401  (imports torch)
    import torch._dynamo  # noqa: F401  (the first optimizer built in a process imports it: pay once)
    try:
        tree = ast.parse(grader.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return
    for node in tree.body:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the child will report it properly
                pass
    gc.freeze()  # forked children need not scan what the warm parent holds (torch's heap)


def grade_forked(ex: Exercise, deadline: float | None = None, cwd: Path | None = None) -> GradeResult:
    """Grade `ex` in a forked child of this warm process. The child runs in a scratch folder of its own;
    messages name files relative to `cwd` (default: the current folder)."""
    import pytest

    t0 = time.monotonic()
    checks = ex.checks()
    deadline = deadline or (30 + sum(c.timeout or check_timeout_default() for c in checks))
    with tempfile.TemporaryDirectory(prefix="ptquiz-watch-") as tmp, scratch_dir() as work:
        results = Path(tmp) / "results.jsonl"
        results.touch()
        args = pytest_args([ex.grader_path], results, None, check_timeout_default()) + ["-p", "no:xdist"]
        pid = os.fork()
        if pid == 0:  # child
            code = 3
            try:
                os.setsid()
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                # the parent's Python-level streams may be wrapped (a test runner, an IDE): write nowhere
                sys.stdout = sys.stderr = open(os.devnull, "w")
                os.chdir(work)  # a relative write or delete in the learner's code lands in the scratch folder
                env = child_env()  # the same environment as `pt-quiz grade`
                os.environ.clear()
                os.environ.update(env)
                code = int(pytest.main(args))
            finally:
                os._exit(code)
        end = time.monotonic() + deadline
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > end:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                break
            time.sleep(0.02)
        records = reroot(read_records(results), learner_dirs([ex.grader_path], None), os.path.realpath(work), cwd)
    return GradeResult(score([ex], records), round(time.monotonic() - t0, 2))


def _mtimes(paths):
    out = []
    for p in paths:
        try:
            out.append(p.stat().st_mtime_ns)
        except OSError:
            out.append(None)
    return out


def watch(ex: Exercise, c, interval: float = 0.5, once: bool = False) -> None:
    from .report import render_text
    from .safeio import explain_unusable

    _preimport(ex.grader_path)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    paths = [ex.exercise_path, ex.grader_path]
    # snapshot the learner's files before each re-grade; report the others it changed (the watched file is
    # not reported: saving it while it is graded is what you do)
    mine = {other.exercise_path: other.number for other in c.catalog}
    last = None
    try:
        while True:
            now = _mtimes(paths)
            if now != last:
                last = now
                snap = c.snapshot(mine, f"pt-quiz watch {ex.number}")
                result = grade_forked(ex, cwd=c.catalog.root)
                explain_unusable(result.exercises, {ex.number: ex.exercise_path})
                click.clear() if not once else None
                click.echo(render_text(result, c.lang, color=not once))
                c.print_changes(c.changed_files(snap, mine, skip={ex.exercise_path}))
                e = result.exercises[0]
                c.state.record(e.number, e.score, e.max_score)
                c.save_state()
                c.log_event("grade", e.number, **grade_fields(e, "exercise"), via="watch")
                if once:
                    return
                if e.status == "passed":
                    nxt = min((n for n in c.catalog.exercises if n > ex.number), default=None)
                    if nxt:
                        click.echo(click.style("\n" + t("all_passed", c.lang, n=nxt), fg="green"))
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo("")
