"""The pytest plugin behind every grader (loaded by the ``pytest11`` entry point).

* ``ex`` fixture: the learner's module for the grader's exercise, loaded from the
  target folder (``--ptquiz-target DIR``, ``$PT_QUIZ_TARGET``, or ``exercises/``
  beside ``graders/``) without writing anything next to it.
* Every failed check gets a short bilingual message (stored in the report's
  ``user_properties`` so it survives pytest-xdist).
* With ``--ptquiz-results FILE`` every report is appended to FILE as a JSON line,
  by the controlling process, crashes of xdist workers included. The engine
  scores a check only from a passing report in that file: positive evidence.

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


def pytest_addoption(parser):
    g = parser.getgroup("pt-quiz")
    g.addoption("--ptquiz-target", default=None, help="folder holding the learner's NN_slug.py files")
    g.addoption("--ptquiz-results", default=None, help="append one JSON line per test report to this file")


def pytest_configure(config):
    config.addinivalue_line("markers", "ptquiz_check(points, category): a scored pt-quiz check")
    for cat in ("shape", "gradient", "training", "device", "correctness"):
        config.addinivalue_line("markers", f"{cat}: pt-quiz check category '{cat}'")
    sys.dont_write_bytecode = True  # never leave __pycache__ beside the learner's files


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
    def __init__(self, en, zh):
        super().__init__(en)
        self.en, self.zh = en, zh


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
    source = path.read_text(encoding="utf-8", errors="replace")
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as e:
        raise LearnerLoadError(f"{rel}:{e.lineno}: SyntaxError: {e.msg}. Fix the syntax; nothing in this file can be graded until then.",
                               f"{rel}:{e.lineno}: 语法错误：{e.msg}。修正语法后才能评分。") from None
    name = "ptquiz_learner_" + path.stem
    mod = types.ModuleType(name)
    mod.__file__ = str(path)
    sys.modules[name] = mod
    try:
        exec(code, mod.__dict__)
    except BaseException as e:  # noqa: BLE001 - the learner's code may raise anything, even SystemExit
        line = _learner_line(e.__traceback__, path)
        where = f"{rel}:{line}" if line else rel
        raise LearnerLoadError(f"{where}: importing your file raised {type(e).__name__}: {e}",
                               f"{where}：导入文件时抛出 {type(e).__name__}: {e}") from None
    return mod


_cache: dict[str, object] = {}


@pytest.fixture(scope="module")
def ex(request):
    """The learner's module for this grader (test_NN_slug.py -> NN_slug.py)."""
    grader = Path(request.module.__file__)
    stem = grader.stem[len("test_"):] if grader.stem.startswith("test_") else grader.stem
    path = target_dir(request.config, grader) / f"{stem}.py"
    key = str(path)
    if key not in _cache:
        try:
            _cache[key] = load_learner(path)
        except LearnerLoadError as e:
            _cache[key] = e
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
    if en is not None:  # CheckFailed or LearnerLoadError: already worded for the learner
        kind = "load" if isinstance(exc, LearnerLoadError) else "check"
        return {"en": en, "zh": getattr(exc, "zh", en), "kind": kind}
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.excinfo is not None:
        try:
            msg = explain(call.excinfo.value)
        except Exception as e:  # noqa: BLE001 - never let message-building hide the failure
            msg = {"en": f"{type(call.excinfo.value).__name__} ({e})", "zh": "", "kind": "error"}
        rep.user_properties.append((MSG_KEY, msg))


# ---------------------------------------------------------------------------
# results file (written by the controlling process)

def _append(config, record):
    path = config.getoption("--ptquiz-results", default=None)
    if not path or hasattr(config, "workerinput"):  # xdist workers: the controller writes
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


def pytest_runtest_logreport(report):
    config = _CONFIG.get("config")
    if config is None:
        return
    msg = dict(report.user_properties).get(MSG_KEY) if report.failed else None
    if report.failed and msg is None:
        text = str(report.longrepr or "")
        if "crashed" in text and "worker" in text:
            msg = {"en": "The Python process running this check died or was stopped: a segfault, os._exit(), or code "
                         "that ignored the time limit (an endless loop inside a bare `except:`).",
                   "zh": "运行该检查的 Python 进程崩溃或被终止：段错误、os._exit()，或忽略了时间限制的代码（裸 `except:` 中的死循环）。",
                   "kind": "crash"}
        else:
            msg = {"en": text.strip().splitlines()[-1][:500] if text.strip() else "failed", "zh": "", "kind": "error"}
    _append(config, {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                     "duration": round(getattr(report, "duration", 0.0), 4), "message": msg})


def pytest_collectreport(report):
    config = _CONFIG.get("config")
    if config is None or not report.failed:
        return
    text = str(report.longrepr or "").strip()
    _append(config, {"nodeid": report.nodeid, "when": "collect", "outcome": "failed", "duration": 0,
                     "message": {"en": "The grader itself could not be loaded: " + (text.splitlines()[-1] if text else "?"),
                                 "zh": "评分脚本本身无法加载：" + (text.splitlines()[-1] if text else "?"), "kind": "grader"}})


_CONFIG: dict = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _CONFIG["config"] = session.config
