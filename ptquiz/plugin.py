"""The pytest plugin behind every grader (loaded by the ``pytest11`` entry point).

* ``ex`` fixture: the learner's module for the grader's exercise, loaded from the
  target folder (``--ptquiz-target DIR``, ``$PT_QUIZ_TARGET``, or ``exercises/``
  beside ``graders/``) without writing anything next to it.
* Every failed check gets a short bilingual message (stored in the report's
  ``user_properties`` so it survives pytest-xdist).
* Each report carries the check's verdict as this plugin saw it (from the exception
  the check raised, not from the report object), the integrity flags raised by
  :class:`ptquiz.integrity.Guard`, and, under xdist, a seal (HMAC) with a key the
  controller gave this worker before any learner code ran.
* The records file is written by the controlling process only (:mod:`ptquiz.controller`):
  ``pt-quiz grade`` hands it the file's path and a signing key over a pipe
  (``$PT_QUIZ_CHANNEL_FD``), never on a command line or in a worker's reach;
  ``--ptquiz-results FILE`` (plain pytest, ``watch``) writes unsigned records.
  The engine scores a check only from a passing record: positive evidence.
* ``KeyboardInterrupt`` / ``pytest.exit()`` raised by the learner's code fail the
  check that raised them instead of ending the session.

Imports no torch (the controller of an xdist run stays light).
"""
from __future__ import annotations

import json
import os
import re
import sys
import types
from pathlib import Path

import pytest

MSG_KEY = "ptquiz_message"
FLAGS_KEY = "ptquiz_flags"
VERDICT_KEY = "ptquiz_verdict"
SEAL_KEY = "ptquiz_seal"
MAX_TIMEOUTS = 2  # per exercise: after this many checks ran out of time, its other checks are not run


def pytest_addoption(parser):
    g = parser.getgroup("pt-quiz")
    g.addoption("--ptquiz-target", default=None, help="folder holding the learner's NN_slug.py files")
    g.addoption("--ptquiz-results", default=None, help="append one JSON line per test report to this file")


def pytest_configure(config):
    config.addinivalue_line("markers", "ptquiz_check(points, category): a scored pt-quiz check")
    for cat in ("shape", "gradient", "training", "device", "correctness"):
        config.addinivalue_line("markers", f"{cat}: pt-quiz check category '{cat}'")
    sys.dont_write_bytecode = True  # never leave __pycache__ beside the learner's files
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: take this worker's sealing key out of reach of later code
        key = workerinput.pop("ptquiz_seal_key", None)
        _WORKER["seal"] = bytes.fromhex(key) if key else None
        _WORKER["budget"] = workerinput.get("ptquiz_budget")
        return
    from .controller import Controller, read_channel

    channel = read_channel()
    results = config.getoption("--ptquiz-results", default=None)
    if channel is not None or results:
        config.pluginmanager.register(Controller(config, channel or {"results": results}), "ptquiz-controller")


def pytest_collection_finish(session):
    """Optimizer.step() always imports torch._dynamo (2-4 s). When a grader trains, pay that here, at
    collection, rather than inside the time limit of whichever check steps an optimizer first."""
    if "torch" not in sys.modules or "torch._dynamo" in sys.modules:
        return  # no grader imported torch in this process (e.g. the xdist controller)
    for path in {str(item.fspath) for item in session.items}:
        try:
            if "optim" in Path(path).read_text(encoding="utf-8", errors="replace"):
                import torch._dynamo  # noqa: F401
                return
        except OSError:
            continue


# ---------------------------------------------------------------------------
# loading the learner's module

class LearnerLoadError(Exception):
    def __init__(self, en, zh, kind="load"):
        super().__init__(en)
        self.en, self.zh, self.kind = en, zh, kind


class NotRun(Exception):
    """A check not run because its exercise used up its time-out budget."""

    def __init__(self, en, zh):
        super().__init__(en)
        self.en, self.zh, self.kind = en, zh, "budget"


class LearnerInterrupt(Exception):
    """KeyboardInterrupt or pytest.exit() raised by the learner's code, turned into a failure of that check."""

    def __init__(self, en, zh):
        super().__init__(en)
        self.en, self.zh, self.kind = en, zh, "error"


def _rel(path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def target_dir(config, grader_file: Path) -> Path:
    t = config.getoption("--ptquiz-target", default=None) or os.environ.get("PT_QUIZ_TARGET")
    return Path(t).resolve() if t else grader_file.resolve().parent.parent / "exercises"


def load_learner(path: Path) -> types.ModuleType:
    rel = _rel(path)
    if not path.is_file():
        num = path.stem.split("_", 1)[0].lstrip("0")
        raise LearnerLoadError(
            f"{rel} is missing. Run `pt-quiz reset {num}` to restore the starting stub.",
            f"{rel} 不存在。运行 `pt-quiz reset {num}` 恢复初始代码。")
    source = path.read_bytes()  # decoded as Python decodes it (coding cookie, else UTF-8), never "repaired"
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as e:
        if "decode" in str(e.msg) or "encoding" in str(e.msg):
            raise LearnerLoadError(
                f"{rel}: Python cannot read this file as text ({e.msg}). Save it as UTF-8; nothing in it can be graded until then.",
                f"{rel}：Python 无法把该文件读作文本（{e.msg}）。请以 UTF-8 编码保存；在此之前无法评分。") from None
        raise LearnerLoadError(f"{rel}:{e.lineno}: SyntaxError: {e.msg}. Fix the syntax; nothing in this file can be graded until then.",
                               f"{rel}:{e.lineno}: 语法错误：{e.msg}。修正语法后才能评分。") from None
    except ValueError as e:  # null bytes
        raise LearnerLoadError(f"{rel}: Python cannot compile this file ({e}).", f"{rel}：Python 无法编译该文件（{e}）。") from None
    name = "ptquiz_learner_" + path.stem
    mod = types.ModuleType(name)
    mod.__file__ = str(path)
    sys.modules[name] = mod
    try:
        exec(code, mod.__dict__)
    except BaseException as e:  # noqa: BLE001 - the learner's code may raise anything, even SystemExit
        line = _learner_line(e.__traceback__, path)
        where = f"{rel}:{line}" if line else rel
        timeout = re.match(r"Timeout \(?>\s*([\d.]+)\s*s", str(e).strip())
        if timeout:
            secs = timeout.group(1)
            raise LearnerLoadError(
                f"{where}: your module did not finish importing within {secs} s (an endless loop, or heavy work at the top "
                f"level of the file? Put work inside functions).",
                f"{where}：你的模块在 {secs} 秒内没有完成导入（顶层代码有死循环或计算量过大？请把计算放进函数里）。",
                kind="load") from None
        raise LearnerLoadError(f"{where}: importing your file raised {type(e).__name__}: {e}",
                               f"{where}：导入文件时抛出 {type(e).__name__}: {e}") from None
    return mod


_cache: dict[str, object] = {}
_WORKER: dict = {}  # this process's sealing key, budget file, guard


def _guard():
    from .integrity import Guard

    g = _WORKER.get("guard")
    if g is None:
        g = _WORKER["guard"] = Guard()
    return g


@pytest.fixture(scope="module")
def ex(request):
    """The learner's module for this grader (test_NN_slug.py -> NN_slug.py)."""
    grader = Path(request.module.__file__)
    stem = grader.stem[len("test_"):] if grader.stem.startswith("test_") else grader.stem
    path = target_dir(request.config, grader) / f"{stem}.py"
    key = str(path)
    if key not in _cache:
        guard = _guard()
        if not guard.taken:  # before any learner code has run in this process; the graders are all imported
            guard.take({item.module for item in request.session.items if getattr(item, "module", None) is not None})
        guard.learner_files.add(key)
        try:
            _cache[key] = load_learner(path)
        except LearnerLoadError as e:
            _cache[key] = e
        _WORKER["imported"] = _WORKER.get("imported", 0) + 1
    got = _cache[key]
    if isinstance(got, LearnerLoadError):
        raise got
    return got


# ---------------------------------------------------------------------------
# messages

def _learner_line(tb, path: Path | None = None):
    line = None
    while tb is not None:
        fn = tb.tb_frame.f_code.co_filename
        if (path is not None and fn == str(path)) or (path is None and _is_learner_file(fn)):
            line = (fn, tb.tb_lineno, tb.tb_frame.f_code.co_qualname) if path is None else tb.tb_lineno
        tb = tb.tb_next
    return line


def _is_learner_file(fn: str) -> bool:
    return any(m.__file__ == fn for name, m in list(sys.modules.items())
               if name.startswith("ptquiz_learner_") and getattr(m, "__file__", None))


def explain(exc: BaseException) -> dict:
    """A short {'en', 'zh'} message for a failed check."""
    en = getattr(exc, "en", None)
    if en is not None:  # CheckFailed, LearnerLoadError, NotRun, LearnerInterrupt: already worded for the learner
        kind = getattr(exc, "kind", None) if isinstance(exc, (LearnerLoadError, NotRun, LearnerInterrupt)) else "check"
        return {"en": en, "zh": getattr(exc, "zh", en), "kind": kind or "check"}
    where = _learner_line(exc.__traceback__)
    loc = f" (at {_rel(where[0])}:{where[1]} in {where[2]})" if where else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if isinstance(exc, NotImplementedError) and where:
        return {"en": f"Not implemented yet: {where[2]} at {_rel(where[0])}:{where[1]} still raises NotImplementedError.",
                "zh": f"尚未实现：{_rel(where[0])}:{where[1]} 的 {where[2]} 仍然抛出 NotImplementedError。", "kind": "todo"}
    timeout = re.match(r"Timeout \(?>\s*([\d.]+)\s*s", text)
    if timeout:
        secs = timeout.group(1)
        return {"en": f"The check took longer than {secs} s and was stopped{loc}: an infinite loop, or far too much work?",
                "zh": f"该检查超过 {secs} 秒被终止{loc}：是否有死循环或计算量过大？", "kind": "timeout"}
    if name == "DeviceMismatchError":
        return {"en": f"Device mismatch on the GPU stand-in{loc}: {text}",
                "zh": f"设备不一致{loc}：有张量留在了 CPU 上，而其余张量在（模拟的）GPU 上。{text}", "kind": "device"}
    if isinstance(exc, AssertionError):
        return {"en": f"{text or 'assertion failed'}{loc}", "zh": f"{text or '断言失败'}{loc}", "kind": "check"}
    return {"en": f"{name}: {text}{loc}", "zh": f"{name}: {text}{loc}", "kind": "error"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A hard backstop behind pytest-timeout: its signal raises an exception, which a bare `except:` in the
    learner's code can swallow. 5 s past the limit, faulthandler ends the process; under xdist that is
    reported as a crash of this check and the other checks still run."""
    import faulthandler

    _WORKER["boundary"] = nextitem is None or getattr(nextitem, "module", None) is not getattr(item, "module", None)
    limit = None
    marker = item.get_closest_marker("timeout")
    if marker and marker.args:
        limit = float(marker.args[0])
    elif marker and "timeout" in marker.kwargs:
        limit = float(marker.kwargs["timeout"])
    else:
        try:
            limit = float(item.config.getoption("--timeout") or 0) or None
        except (ValueError, TypeError):
            limit = None
    if limit:
        faulthandler.dump_traceback_later(limit + 5, exit=True)
    try:
        yield
    finally:
        if limit:
            faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """An exercise whose checks already ran out of time MAX_TIMEOUTS times has its other checks not run: one
    endless loop costs two time limits, not one per check."""
    if item.get_closest_marker("ptquiz_check") is None:
        return  # not a grader's check (the kit's own tests load this plugin too)
    file = Path(str(item.fspath)).name
    used = _WORKER.get("timeouts", {}).get(file, 0)
    budget = _WORKER.get("budget")
    if budget and used < MAX_TIMEOUTS:
        try:
            used = max(used, json.loads(Path(budget).read_text(encoding="utf-8") or "{}").get(file, 0))
        except (OSError, ValueError, AttributeError):
            pass
    if used >= MAX_TIMEOUTS:
        raise NotRun(f"Not run: {used} checks of this exercise already ran out of time. Fix the endless loop (or the slow "
                     f"code) first; the other checks run again once it is gone.",
                     f"未运行：本题已有 {used} 项检查超时。请先修复死循环（或过慢的代码），之后其余检查会重新运行。")


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """KeyboardInterrupt and pytest.exit() from the learner's code fail this check, not the whole session."""
    if pyfuncitem.get_closest_marker("ptquiz_check") is None:
        return (yield)  # not a grader's check: Ctrl-C still stops a run of the kit's own tests
    try:
        return (yield)
    except KeyboardInterrupt as e:
        where = _learner_line(e.__traceback__)
        loc = f" at {_rel(where[0])}:{where[1]} in {where[2]}" if where else ""
        raise LearnerInterrupt(f"Your code raised KeyboardInterrupt{loc}: it stops this check only; don't raise it "
                               f"(or signal the process) from your solution.",
                               f"你的代码抛出了 KeyboardInterrupt{loc}：只会终止本项检查；解答中不要抛出它（或给进程发信号）。") from None
    except pytest.exit.Exception as e:
        where = _learner_line(e.__traceback__)
        loc = f" at {_rel(where[0])}:{where[1]} in {where[2]}" if where else ""
        raise LearnerInterrupt(f"Your code called pytest.exit(){loc}: that fails this check; the others still run.",
                               f"你的代码调用了 pytest.exit(){loc}：本项检查因此失败，其余检查照常运行。") from None


def _verdict(call) -> str:
    """The phase's outcome from what it raised (never from the report object, which code can replace)."""
    if call.excinfo is None:
        return "passed"
    if call.excinfo.errisinstance(pytest.skip.Exception):
        return "skipped"
    return "failed"


def _runtime_flags(imported: bool, full: bool) -> list:
    guard = _WORKER.get("guard")
    if guard is None or not guard.learner_files:
        return []
    changed = guard.check(full=full)
    if not changed:
        return []
    from .integrity import flag

    shown = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
    during = "importing your file" if imported else "this exercise's checks" if full else "this check"
    during_zh = "导入你的文件" if imported else "本题的检查" if full else "本项检查"
    return [flag("runtime", f"While {during} ran, the grading machinery was changed: {shown}. Grading put the originals "
                            f"back but cannot vouch for this result.",
                 f"在{during_zh}运行期间，评分机制被改动：{shown}。已恢复原状，但无法确认该成绩。")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    imported_before = _WORKER.get("imported", 0)
    outcome = yield
    rep = outcome.get_result()
    verdict = _verdict(call)
    imported = call.when == "setup" and _WORKER.get("imported", 0) != imported_before
    # after every check (cheap), fully after an import and before this worker moves on to another exercise
    full = imported or (call.when == "teardown" and _WORKER.get("boundary", True))
    flags = _runtime_flags(imported, full) if (call.when == "call" or full) else []
    try:
        if getattr(rep, "outcome", None) == "passed" and verdict != "passed":
            from .integrity import flag
            flags.append(flag("report", f"The report of this check said 'passed' although the check raised "
                                        f"{type(call.excinfo.value).__name__}: the report was forged.",
                              f"该检查的报告显示“通过”，但检查实际抛出了 {type(call.excinfo.value).__name__}：报告被伪造。"))
            rep.outcome = verdict
        if verdict == "failed" and call.excinfo is not None:
            try:
                msg = explain(call.excinfo.value)
            except Exception as e:  # noqa: BLE001 - never let message-building hide the failure
                msg = {"en": f"{type(call.excinfo.value).__name__} ({e})", "zh": "", "kind": "error"}
            rep.user_properties.append((MSG_KEY, msg))
            if msg.get("kind") == "timeout":
                counts = _WORKER.setdefault("timeouts", {})
                file = Path(str(item.fspath)).name
                counts[file] = counts.get(file, 0) + 1
        rep.user_properties.append((VERDICT_KEY, verdict))
        rep.user_properties.append((FLAGS_KEY, flags))
        key = _WORKER.get("seal")
        if key:
            from .integrity import seal
            rep.user_properties.append((SEAL_KEY, seal(key, rep.nodeid, rep.when, verdict,
                                                       json.dumps(flags, sort_keys=True, ensure_ascii=False))))
    except Exception:  # noqa: BLE001 - a replaced report object: the controller refuses it unsealed
        pass


