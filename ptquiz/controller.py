"""The controlling side of a grading pytest: the only writer of the records file, and the watchdog.

Registered by :mod:`ptquiz.plugin` in the process that does not run checks (the xdist controller), or
in the single process of a plain ``pytest`` / ``watch`` run. Learner code never runs here.

* Records: one JSON line per report, ``<json>\\t<hmac>``, sealed with the key ``pt-quiz grade`` handed
  over a pipe (``$PT_QUIZ_CHANNEL_FD``, read and closed before any worker starts). A worker's report
  counts only when its own seal (per-worker key, given to the worker before any learner import) matches
  the verdict and flags it carries; otherwise the check earns nothing and is flagged.
* Watchdog (under xdist): the time limit of each check is enforced from here, outside the learner's
  process. A worker whose current check ran ``GRACE`` s past its limit (code that ignores SIGALRM and
  cancels faulthandler's backstop) is killed with its children; xdist reports the check as crashed
  (worded here as a time-out) and starts a fresh worker for the rest.
* Budget: after ``MAX_TIMEOUTS`` checks of one exercise ran out of time, its remaining checks are not run
  (a file the workers read), so one endless loop cannot eat the time of the other exercises.
* A worker whose session the learner's code ended (``KeyboardInterrupt`` outside a check, ``pytest.exit``,
  ``session.shouldstop``, an internal error) counts as a crash of the check it was running: the session
  goes on with a fresh worker.

Imports no torch.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from pathlib import Path

import pytest

from .integrity import flag, same, seal
from .plugin import FLAGS_KEY, MAX_TIMEOUTS, MSG_KEY, SEAL_KEY, VERDICT_KEY

from .runner import CHANNEL_VAR, GRACE  # noqa: E402  (defined where the parent needs them without pytest)


def read_channel() -> dict | None:
    """The grading run's settings from the pipe named by $PT_QUIZ_CHANNEL_FD (then closed and unset)."""
    fd = os.environ.pop(CHANNEL_VAR, None)
    if not fd or not fd.isdigit():
        return None
    chunks = []
    try:
        while True:
            b = os.read(int(fd), 65536)
            if not b:
                break
            chunks.append(b)
    except OSError:
        return None
    finally:
        try:
            os.close(int(fd))
        except OSError:
            pass
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        return None


def _split(nodeid: str) -> tuple[str, str]:
    parts = nodeid.split("::")
    return Path(parts[0]).name, (parts[1].split("[", 1)[0] if len(parts) > 1 else "")


class Controller:
    def __init__(self, config, channel: dict):
        self.config = config
        self.results = channel.get("results")
        key = channel.get("key")
        self.key = bytes.fromhex(key) if key else None
        self.limits = channel.get("limits") or {}
        self.budget = channel.get("budget")
        try:
            self.default_limit = float(channel.get("timeout") or config.getoption("--timeout") or 0) or None
        except (ValueError, TypeError):
            self.default_limit = None
        self.seq = 0
        self.lock = threading.Lock()
        self.running: dict = {}  # node -> (nodeid, start)
        self.killed: dict[str, float] = {}  # nodeid -> the limit it ran past
        self.setup_seen: set[str] = set()
        self.timeouts: dict[str, int] = {}
        self.counted: set[str] = set()
        self.ended_early: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = None
        if self.key is not None:
            from .reaper import PR_SET_DUMPABLE, prctl
            prctl(PR_SET_DUMPABLE, 0)  # the key and the records path stay out of /proc/<pid>/ for other processes

    # records -------------------------------------------------------------
    def write(self, record: dict) -> None:
        if not self.results:
            return
        with self.lock:
            self.seq += 1
            record = {"seq": self.seq, **record}
            text = json.dumps(record, ensure_ascii=False)
            line = text + ("\t" + seal(self.key, text) if self.key else "")
            with open(self.results, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def limit(self, nodeid: str) -> float | None:
        file, func = _split(nodeid)
        return (self.limits.get(file) or {}).get(func) or self.default_limit

    # hooks -----------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """Before a worker starts: its own sealing key and the budget file (never the records' path)."""
        node.workerinput["ptquiz_seal_key"] = secrets.token_hex(32)
        if self.budget:
            node.workerinput["ptquiz_budget"] = self.budget

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session):
        self.write({"nodeid": "", "when": "session", "outcome": "started", "duration": 0, "message": None})
        ds = self.config.pluginmanager.getplugin("dsession")
        if ds is not None:
            self._watch(ds)

    def pytest_sessionfinish(self, session, exitstatus):
        self._stop.set()
        self.write({"nodeid": "", "when": "session", "outcome": "finished", "duration": 0, "message": None,
                    "exitstatus": int(exitstatus)})

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        node = getattr(report, "node", None)
        worker_made = report.when != "???"  # "???": xdist's own report of a crashed worker
        flags = list(props.get(FLAGS_KEY) or [])
        verdict = props.get(VERDICT_KEY)
        outcome = report.outcome
        if worker_made:
            if node is not None and node.workerinput.get("ptquiz_seal_key"):
                key = bytes.fromhex(node.workerinput["ptquiz_seal_key"])
                want = seal(key, report.nodeid, report.when, verdict,
                            json.dumps(props.get(FLAGS_KEY) or [], sort_keys=True, ensure_ascii=False))
                if not same(props.get(SEAL_KEY), want) or verdict not in ("passed", "failed", "skipped"):
                    flags.append(flag("report", "A report of this check did not carry the grader's seal (code in your file "
                                                "changed how results are reported), so it earns nothing.",
                                      "该检查的报告没有评分器的签名（你的文件改动了结果的上报方式），因此不计分。"))
                    outcome = "failed"
                else:
                    outcome = verdict
            elif verdict in ("passed", "failed", "skipped"):
                outcome = verdict
        if report.when == "setup" and outcome == "passed":
            self.setup_seen.add(report.nodeid)
        msg = props.get(MSG_KEY) if outcome == "failed" else None
        if outcome == "failed" and msg is None:
            msg = self._crash_message(report)
        if msg and msg.get("kind") == "timeout":
            self._count_timeout(report.nodeid)
        record = {"nodeid": report.nodeid, "when": report.when, "outcome": outcome,
                  "duration": round(getattr(report, "duration", 0.0) or 0.0, 4), "message": msg}
        if flags:
            record["flags"] = flags
        self.write(record)

    def pytest_collectreport(self, report):
        if not report.failed:
            return
        text = str(report.longrepr or "").strip()
        last = text.splitlines()[-1] if text else "?"
        self.write({"nodeid": report.nodeid, "when": "collect", "outcome": "failed", "duration": 0,
                    "message": {"en": "The grader itself could not be loaded: " + last,
                                "zh": "评分脚本本身无法加载：" + last, "kind": "grader"}})

    # messages ----------------------------------------------------------------
    def _crash_message(self, report) -> dict:
        text = str(report.longrepr or "")
        nodeid = report.nodeid
        if nodeid in self.killed:
            secs = f"{self.killed[nodeid]:g}"
            if nodeid not in self.setup_seen:
                return {"en": f"Your module did not finish importing within {secs} s (an endless loop, or heavy work at the "
                              f"top level of the file? Put work inside functions); it ignored the time limit, so its process "
                              f"was stopped from outside.",
                        "zh": f"你的模块在 {secs} 秒内没有完成导入（顶层代码有死循环或计算量过大？请把计算放进函数里）；"
                              f"它忽略了时间限制，因此其进程被从外部终止。", "kind": "timeout"}
            return {"en": f"The check took longer than {secs} s and ignored the time limit (an endless loop inside a bare "
                          f"`except:`, or code that blocks the limit's signal), so its process was stopped from outside.",
                    "zh": f"该检查超过 {secs} 秒且忽略了时间限制（裸 `except:` 中的死循环，或屏蔽了限时信号的代码），"
                          f"因此其进程被从外部终止。", "kind": "timeout"}
        if nodeid in self.ended_early:
            return {"en": "Code in your file ended the grading process's session (" + self.ended_early[nodeid] +
                          "); this check failed, the others still run in a fresh process.",
                    "zh": "你的文件中的代码结束了评分进程的会话（" + self.ended_early[nodeid] + "）；本项检查失败，其余检查在新进程中照常运行。",
                    "kind": "crash"}
        if "crashed" in text and "worker" in text:
            return {"en": "The Python process running this check died or was stopped: a segfault, os._exit(), or code that "
                          "ignored the time limit (an endless loop inside a bare `except:`).",
                    "zh": "运行该检查的 Python 进程崩溃或被终止：段错误、os._exit()，或忽略了时间限制的代码（裸 `except:` 中的死循环）。",
                    "kind": "crash"}
        return {"en": text.strip().splitlines()[-1][:500] if text.strip() else "failed", "zh": "", "kind": "error"}

    def _count_timeout(self, nodeid: str) -> None:
        if nodeid in self.counted:
            return
        self.counted.add(nodeid)
        file, _ = _split(nodeid)
        self.timeouts[file] = self.timeouts.get(file, 0) + 1
        if self.budget and self.timeouts[file] >= MAX_TIMEOUTS:
            tmp = f"{self.budget}.{os.getpid()}.tmp"
            try:
                Path(tmp).write_text(json.dumps(self.timeouts), encoding="utf-8")
                os.replace(tmp, self.budget)
            except OSError:
                pass

    # watchdog ----------------------------------------------------------------
    def _watch(self, ds) -> None:
        """Track which check each worker runs (xdist's own event handlers, wrapped) and kill overdue workers."""
        names = ("worker_logstart", "worker_logfinish", "worker_errordown", "worker_workerfinished",
                 "worker_internal_error")
        if not all(callable(getattr(ds, n, None)) for n in names):
            return  # an xdist this code does not know: the in-process limits and faulthandler still apply
        orig = {n: getattr(ds, n) for n in names}

        def logstart(node, nodeid, location):
            with self.lock:
                self.running[node] = (nodeid, time.monotonic())
            return orig["worker_logstart"](node=node, nodeid=nodeid, location=location)

        def logfinish(node, nodeid, location):
            with self.lock:
                self.running.pop(node, None)
            return orig["worker_logfinish"](node=node, nodeid=nodeid, location=location)

        def errordown(node, error):
            with self.lock:
                self.running.pop(node, None)
            return orig["worker_errordown"](node=node, error=error)

        def workerfinished(node):
            out = getattr(node, "workeroutput", None) or {}
            pending = (getattr(ds.sched, "node2pending", None) or {}).get(node)
            stopped = out.get("exitstatus") == 2 or out.get("shouldstop") or out.get("shouldfail")
            if stopped or pending:
                node.workeroutput = {**out, "exitstatus": 0, "shouldstop": False, "shouldfail": False}
                if pending:
                    why = "KeyboardInterrupt or pytest.exit() outside a check" if stopped else "it stopped running checks"
                    with self.lock:
                        current = self.running.pop(node, None)
                    if current:
                        self.ended_early[current[0]] = why
                    else:
                        try:
                            self.ended_early[ds.sched.collection[pending[0]]] = why
                        except (AttributeError, IndexError, TypeError):
                            pass
                    return errordown(node=node, error="the worker's session was ended by the code under grading")
            return orig["worker_workerfinished"](node=node)

        def internal_error(node, formatted_error):
            # xdist would drop the worker without replacing it: kill it instead, so that its end is handled as a crash
            self._kill(node)

        for n, fn in (("worker_logstart", logstart), ("worker_logfinish", logfinish), ("worker_errordown", errordown),
                      ("worker_workerfinished", workerfinished), ("worker_internal_error", internal_error)):
            setattr(ds, n, fn)
        self._thread = threading.Thread(target=self._loop, name="ptquiz-watchdog", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self.lock:
                overdue = []
                for node, (nodeid, start) in self.running.items():
                    lim = self.limit(nodeid)
                    if lim and now - start > lim + GRACE and nodeid not in self.killed:
                        overdue.append((node, nodeid, lim))
            for node, nodeid, lim in overdue:
                self.killed[nodeid] = lim
                self._kill(node)

    @staticmethod
    def _kill(node) -> None:
        from .reaper import descendants

        try:
            pid = node.gateway._io.popen.pid
        except AttributeError:
            return
        for p in [*descendants(pid), pid]:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
