"""Grader for exercise 04 — several GPUs: pick_device, get_device, DataParallel, and DDP run for real.

The DDP checks start real worker processes (``fork``) that talk over the ``gloo``
backend on the CPU, meeting through a ``file://`` rendezvous in the check's temp
folder (no TCP port, so concurrent runs cannot collide). Every run has its own
deadline; whatever happens (error, deadlock, pytest timeout), every worker is
killed before the check returns.
"""
import contextlib
import copy
import datetime
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import sys
import time
import traceback

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (CheckFailed, DeviceMismatchError, accelerator, as_number, assert_learns, assert_on_device,
                             check, expect, fail, first_line, learner_line, run_learner, seeded, to_cpu)

GLOO_TIMEOUT = datetime.timedelta(seconds=10)  # the grader's own process groups
DEADLINE = 20.0  # seconds for one multi-process run, start to finish
GRACE = 3.0  # once a rank failed, how long its peers get to finish or fail too


# ---------------------------------------------------------------------------
# messages about the learner's get_device

def _call_get_device(ex, m, what):
    try:
        dev = ex.get_device(m)
    except AttributeError as e:
        if "device" not in str(e):
            raise
        fail(f"get_device({what}) raised AttributeError: {e}. An nn.Module has no .device attribute "
             "(only tensors have one).",
             f"get_device({what}) 抛出 AttributeError：{e}。nn.Module 没有 .device 属性（只有张量有）。",
             likely=("model.device, as in the seed code; look at the device of a parameter or buffer instead.",
                     "像原题代码那样写了 model.device；应查看某个参数或缓冲区的设备。"))
    except StopIteration:
        fail(f"get_device({what}) raised StopIteration: the module has no parameters.",
             f"get_device({what}) 抛出 StopIteration：该模块没有参数。",
             likely=("next(model.parameters()) with no fallback: try the buffers, then return cpu.",
                     "直接用了 next(model.parameters()) 而没有后备：应再看缓冲区，最后返回 cpu。"))
    expect(isinstance(dev, torch.device),
           f"get_device({what}) should return a torch.device, got {type(dev).__name__} {dev!r}.",
           f"get_device({what}) 应返回 torch.device，实际是 {type(dev).__name__} {dev!r}。",
           likely=("returning a string such as 'cpu'; wrap it as torch.device(...) or return tensor.device.",
                   "返回了字符串（如 'cpu'）；应返回 torch.device(...) 或 tensor.device。"))
    return dev


class _BufferOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.full((3,), 2.0))

    def forward(self, x):
        return x * self.scale


# ---------------------------------------------------------------------------
# running ranks in real worker processes

def _die_with_parent(ppid):
    """Linux: have the kernel kill this worker if the grading process dies."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the parent's finally still kills us
        pass
    if os.getppid() != ppid:
        os._exit(3)


def _worker(fn, rank, world, out_dir, ppid, learner_file, args):
    code = 1
    try:
        torch.set_num_threads(1)  # forked after the parent used OpenMP: more threads can hang
        _die_with_parent(ppid)
        result = fn(rank, world, out_dir, *args)
        tmp = os.path.join(out_dir, f"rank{rank}.tmp")
        torch.save(result, tmp)
        os.replace(tmp, os.path.join(out_dir, f"rank{rank}.pt"))
        code = 0
    except BaseException as e:  # noqa: BLE001 - report anything, even SystemExit
        where = None
        for fr in traceback.extract_tb(e.__traceback__):
            if fr.filename == learner_file:
                where = [fr.lineno, fr.name]
        text = str(e).strip().splitlines()
        first = re.sub(r"\[[^\]]*\.(?:cc|cpp|h|hpp):\d+\] ?", "", text[0]) if text else ""
        info = {"time": time.time(), "type": type(e).__name__, "where": where,
                "last": (f"{type(e).__name__}: {first}" if first else type(e).__name__)[:400]}
        try:
            with open(os.path.join(out_dir, f"rank{rank}.err"), "w", encoding="utf-8") as f:
                json.dump(info, f)
        except Exception:  # noqa: BLE001
            pass
    finally:
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)  # no atexit handlers, no C++ destructors of a half-open process group


def _warm_imports():
    # DDP's constructor imports torch._dynamo (~2 s): import it once here, not in every forked rank
    import torch._dynamo  # noqa: F401
    import torch.nn.parallel  # noqa: F401
    import torch.optim  # noqa: F401


_RUNS = [0]


def _run_ranks(ex, tmp_path, fn, args=(), world=2, deadline=DEADLINE):
    """Run fn(rank, world, out_dir, *args) in `world` forked processes; return their results by rank.

    Fails the check (never hangs, never leaves a process behind) when a rank raises,
    crashes, or does not finish before the deadline.
    """
    _warm_imports()
    _RUNS[0] += 1
    out = tmp_path / f"run{_RUNS[0]}"
    out.mkdir()
    ctx = multiprocessing.get_context("fork")
    procs = []
    hung = []
    try:
        for rank in range(world):
            p = ctx.Process(target=_worker, daemon=True,
                            args=(fn, rank, world, str(out), os.getpid(), getattr(ex, "__file__", None), args))
            p.start()
            procs.append(p)
        end = time.monotonic() + deadline
        failed_at = None
        while True:
            alive = [p for p in procs if p.is_alive()]
            now = time.monotonic()
            if not alive or now >= end:
                break
            if failed_at is None and any(p.exitcode not in (None, 0) for p in procs):
                failed_at = now
                end = min(end, now + GRACE)
            multiprocessing.connection.wait([p.sentinel for p in alive], timeout=min(0.5, end - now))
        hung = [r for r, p in enumerate(procs) if p.is_alive()]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join(5)
    return _collect(ex, out, procs, hung, deadline)


_DEADLOCK_LIKELY = (
    "the ranks do not make the same collective calls in the same order, e.g. only some ranks call backward() "
    "(DDP all-reduces the gradients inside backward), or a barrier / all_reduce on one rank only.",
    "各进程没有以相同顺序调用相同的集合通信，例如只有部分进程调用 backward()（DDP 在 backward 中对梯度做 "
    "all-reduce），或只有一个进程调用了 barrier / all_reduce。")
_COMM_MARKERS = ("timed out", "connection closed", "connection reset", "broken pipe")


def _is_comm_error(e):
    """A rank that gave up on its peers (gloo timeout, peer gone) rather than failing on its own."""
    return any(m in e.get("last", "").lower() for m in _COMM_MARKERS)


def _collect(ex, out, procs, hung, deadline):
    results, errors, silent = {}, [], []
    for r, p in enumerate(procs):
        if (out / f"rank{r}.err").exists():
            try:
                errors.append((r, json.loads((out / f"rank{r}.err").read_text(encoding="utf-8"))))
            except ValueError:
                errors.append((r, {"time": 0, "type": "?", "where": None, "last": "(unreadable error report)"}))
        elif (out / f"rank{r}.pt").exists():
            results[r] = torch.load(out / f"rank{r}.pt", weights_only=True)
        elif r not in hung:
            silent.append((r, p.exitcode))
    stopped = (f" Rank(s) {hung} were still running and were stopped." if hung else "",
               f" 进程 {hung} 仍在运行，已被终止。" if hung else "")
    own = [re_ for re_ in errors if not _is_comm_error(re_[1])]
    comm = [re_ for re_ in errors if _is_comm_error(re_[1])]
    rel = os.path.relpath(ex.__file__) if getattr(ex, "__file__", None) else "your file"
    # the root cause first: a rank's own error, then a rank that vanished, then the peers left waiting
    if own:
        r, e = min(own, key=lambda re_: re_[1].get("time", 0))
        where = e.get("where")
        at = f" (at {rel}:{where[0]} in {where[1]})" if where else ""
        if e.get("type") == "NotImplementedError" and where:
            fail(f"Not implemented yet: {where[1]} at {rel}:{where[0]} still raises NotImplementedError.",
                 f"尚未实现：{rel}:{where[0]} 的 {where[1]} 仍然抛出 NotImplementedError。")
        fail(f"Rank {r} (of {len(procs)} worker processes) raised {e['last']}{at}.{stopped[0]}",
             f"第 {r} 号进程（共 {len(procs)} 个）抛出 {e['last']}{at}。{stopped[1]}")
    if silent:
        r, code = silent[0]
        fail(f"Rank {r} exited (exit code {code}) without a result and without a Python error.{stopped[0]}",
             f"第 {r} 号进程退出（退出码 {code}），既没有结果也没有 Python 异常。{stopped[1]}",
             likely=("sys.exit()/os._exit() in the step, or a crash inside C++ code.",
                     "在训练步骤中调用了 sys.exit()/os._exit()，或在 C++ 代码中崩溃。"))
    if comm:
        r, e = min(comm, key=lambda re_: re_[1].get("time", 0))
        where = e.get("where")
        at = f" (at {rel}:{where[0]} in {where[1]})" if where else ""
        short = re.split(r"(?<=[a-z0-9\]])\. ", e["last"])[0].rstrip(".")
        fail(f"Rank {r} (of {len(procs)} worker processes) gave up waiting for the other ranks{at}: {short}. "
             f"The ranks deadlocked, or one of them left early.{stopped[0]}",
             f"第 {r} 号进程（共 {len(procs)} 个）等待其他进程超时或连接中断{at}：{short}。"
             f"各进程发生了死锁，或其中一个提前退出。{stopped[1]}", likely=_DEADLOCK_LIKELY)
    if hung:
        done = sorted(results)
        fail(f"Rank(s) {hung} did not finish within {deadline:.0f} s and were stopped"
             f"{f' (rank(s) {done} had finished)' if done else ''}: a deadlock (or an endless loop).",
             f"进程 {hung} 在 {deadline:.0f} 秒内没有结束，已被终止"
             f"{f'（进程 {done} 已完成）' if done else ''}：发生了死锁（或死循环）。", likely=_DEADLOCK_LIKELY)
    return [results[r] for r in range(len(procs))]


# ---------------------------------------------------------------------------
# what the ranks run

def _grader_group(rank, world, out_dir):
    """The grader's own process group, so the DDP checks do not depend on the learner's setup()."""
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/rdzv", rank=rank, world_size=world,
                            timeout=GLOO_TIMEOUT)


def _finish_group():
    dist.barrier()  # every rank is done with the step before any leaves
    dist.destroy_process_group()


_LOSS_LIKELY = ("return loss.item() (a Python float), measured before opt.step().",
                "返回 loss.item()（Python float），在 opt.step() 之前计算。")


def _step_rank(rank, world, out_dir, ex, model, x, y, lr, steps):
    _grader_group(rank, world, out_dir)
    losses, bad = [], None
    for _ in range(steps):
        loss = ex.ddp_train_step(model, x, y, lr, rank, world)
        try:  # every rank goes on stepping (a rank that stopped would leave its peers waiting)
            losses.append(as_number(loss, "ddp_train_step's return value (this rank's loss)", likely=_LOSS_LIKELY))
        except CheckFailed as e:
            losses.append(None)
            bad = bad or [e.en, e.zh]
    _finish_group()
    return {"params": [p.detach().clone() for p in model.parameters()], "losses": losses, "bad_loss": bad}


def _losses_ok(results):
    """Fail with as_number's message when a rank's ddp_train_step returned something that is not a number."""
    for out in results:
        if out.get("bad_loss"):
            fail(*out["bad_loss"])


def _setup_rank(rank, world, out_dir, ex):
    ex.setup(rank, world, f"file://{out_dir}/rdzv")
    obs = {"initialized": dist.is_initialized()}
    if not obs["initialized"]:
        return obs
    obs.update(rank=dist.get_rank(), world=dist.get_world_size(), backend=str(dist.get_backend()),
               used_init_method=os.path.exists(os.path.join(out_dir, "rdzv")))
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    obs["sum"] = float(t)
    try:  # private API: the group's timeout; skipped if this torch hides it
        obs["timeout"] = dist.group.WORLD._get_backend(torch.device("cpu")).options._timeout.total_seconds()
    except Exception:  # noqa: BLE001
        obs["timeout"] = None
    ex.cleanup()
    obs["after_cleanup"] = dist.is_initialized()
    return obs


# ---------------------------------------------------------------------------
# references computed in this process

def _problem(seed, n, d_in, hidden, d_out):
    with seeded(seed):
        model = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, d_out))
        x = torch.randn(n, d_in)
        y = torch.randn(n, d_out)
    return model, x, y


def _grads(model, x, y, reduction="mean"):
    m = copy.deepcopy(model)
    loss = F.mse_loss(m(x), y, reduction=reduction)
    return list(torch.autograd.grad(loss, list(m.parameters())))


def _stepped(model, grads, lr):
    return [(p - lr * g).detach() for p, g in zip(model.parameters(), grads)]


def _sgd_steps(model, x, y, lr, steps, accumulate=False):
    """The parameters after `steps` full-batch SGD steps (MSE, mean); accumulate=True: gradients never cleared."""
    m = copy.deepcopy(model)
    acc = None
    for _ in range(steps):
        g = torch.autograd.grad(F.mse_loss(m(x), y), list(m.parameters()))
        acc = g if acc is None or not accumulate else [a + b for a, b in zip(acc, g)]
        with torch.no_grad():
            for p, gi in zip(m.parameters(), acc):
                p -= lr * gi
    return [p.detach().clone() for p in m.parameters()]


def _same(a, b, atol=1e-5, rtol=1e-4):
    return len(a) == len(b) and all(u.shape == v.shape and torch.allclose(u, v, atol=atol, rtol=rtol)
                                    for u, v in zip(a, b))


def _max_diff(a, b):
    if len(a) != len(b) or any(u.shape != v.shape for u, v in zip(a, b)):
        return math.inf
    return max(float((u - v).abs().max()) for u, v in zip(a, b))


def _mse(model, x, y, reduction="mean"):
    with torch.no_grad():
        return float(F.mse_loss(model(x), y, reduction=reduction))


def _close(a, b):
    return a is not None and abs(a - b) <= 1e-5 + 1e-4 * abs(b)


def _pretend_gpus(mp, ex, n):
    """Make torch.cuda report n GPUs (also where the learner imported the functions by name)."""
    count, avail = (lambda: n), (lambda: n > 0)
    for name, val in list(vars(ex).items()):
        if val is torch.cuda.device_count:
            mp.setattr(ex, name, count)
        elif val is torch.cuda.is_available:
            mp.setattr(ex, name, avail)
    mp.setattr(torch.cuda, "device_count", count)
    mp.setattr(torch.cuda, "is_available", avail)


# ---------------------------------------------------------------------------
# checks

@check(points=1, category="device")
def test_pick_device(ex, monkeypatch):
    """pick_device() is cuda:0 when CUDA is available, else cpu (as a torch.device).
    zh: 有 CUDA 时 pick_device() 返回 cuda:0，否则返回 cpu（torch.device 类型）。
    """
    real = torch.cuda.is_available()
    for avail, patched in ((False, True), (True, True), (real, False)):  # last: this machine, unpatched
        want = torch.device("cuda", 0) if avail else torch.device("cpu")
        with monkeypatch.context() as mp:
            if patched:
                _pretend_gpus(mp, ex, 1 if avail else 0)
            got = ex.pick_device()
        expect(isinstance(got, torch.device),
               f"pick_device() should return a torch.device, got {type(got).__name__} {got!r}.",
               f"pick_device() 应返回 torch.device，实际是 {type(got).__name__} {got!r}。",
               likely=("returning the string 'cuda:0'/'cpu'; wrap it: torch.device(...).",
                       "返回了字符串 'cuda:0'/'cpu'；应写成 torch.device(...)。"))
        expect(got == want,
               f"With torch.cuda.is_available() == {avail}, pick_device() should be {want}, got {got}.",
               f"torch.cuda.is_available() == {avail} 时，pick_device() 应为 {want}，实际为 {got}。",
               likely=("the condition inverted, or 'cuda' without the index 0.", "条件写反了，或写成了不带编号 0 的 'cuda'。"))


@check(points=2, category="correctness")
def test_get_device_from_parameters(ex):
    """get_device(model) is the device of the model's parameters (a Module has no .device).
    zh: get_device(model) 返回模型参数所在的设备（Module 没有 .device 属性）。
    """
    cases = [("nn.Linear(3, 2)", nn.Linear(3, 2), "cpu"),
             ("nn.Linear(3, 2, device='meta')", nn.Linear(3, 2, device="meta"), "meta"),
             ("nn.Sequential(nn.ReLU(), nn.Linear(4, 1)) on meta",
              nn.Sequential(nn.ReLU(), nn.Linear(4, 1, device="meta")), "meta"),
             ("nn.Conv1d(2, 3, 3).to('meta')", nn.Conv1d(2, 3, 3).to("meta"), "meta")]
    for what, m, want in cases:
        got = _call_get_device(ex, m, what)
        expect(got == torch.device(want),
               f"get_device({what}) should be {want} (where its parameters are), got {got}.",
               f"get_device({what}) 应为 {want}（参数所在的设备），实际为 {got}。",
               likely=("a hard-coded device, or pick_device() used instead of looking at the model.",
                       "写死了设备，或用 pick_device() 代替了查看模型本身。"))


@check(points=1, category="correctness")
def test_get_device_without_parameters(ex):
    """Without parameters: the device of a buffer; for an empty module, cpu.
    zh: 没有参数时返回缓冲区所在的设备；空模块返回 cpu。
    """
    cases = [("a module with only a buffer, on meta", _BufferOnly().to("meta"), "meta"),
             ("nn.BatchNorm1d(4, affine=False).to('meta')", nn.BatchNorm1d(4, affine=False).to("meta"), "meta"),
             ("a module with only a buffer, on cpu", _BufferOnly(), "cpu"),
             ("nn.ReLU()", nn.ReLU(), "cpu"),
             ("nn.Sequential()", nn.Sequential(), "cpu")]
    for what, m, want in cases:
        got = _call_get_device(ex, m, what)
        expect(got == torch.device(want),
               f"get_device({what}) should be {want}, got {got}.",
               f"get_device({what}) 应为 {want}，实际为 {got}。",
               likely=("buffers ignored (look at model.buffers() when there are no parameters), or no cpu fallback.",
                       "忽略了缓冲区（没有参数时应查看 model.buffers()），或没有回退到 cpu。"))


@check(points=2, category="device")
def test_get_device_follows_to(ex):
    """After model.to(accelerator), get_device reports the accelerator, for parameters and buffers alike.
    zh: model.to(加速设备) 之后，get_device 报告加速设备（参数和缓冲区都一样）。
    """
    with seeded(0):
        mods = [("nn.Sequential(nn.Linear(5, 4), nn.ReLU())", nn.Sequential(nn.Linear(5, 4), nn.ReLU())),
                ("a module with only a buffer", _BufferOnly())]
    with accelerator() as dev:
        for what, m in mods:
            got = _call_get_device(ex, m, what + " on the CPU")
            expect(got.type == "cpu", f"get_device({what}) before .to() should be cpu, got {got}.",
                   f"get_device({what}) 在 .to() 之前应为 cpu，实际为 {got}。")
            m.to(dev)
            got = _call_get_device(ex, m, what + " after .to(device)")
            expect(got.type == torch.device(dev).type,
                   f"get_device({what}) after .to(device) should be the accelerator ({torch.device(dev).type}), got {got}.",
                   f"get_device({what}) 在 .to(device) 之后应为加速设备，实际为 {got}。",
                   likely=("the device computed once and cached, or a hard-coded / pick_device() answer.",
                           "设备只计算一次后被缓存，或直接写死/用了 pick_device()。"))


_REAL_DP = nn.DataParallel


class _FakeDataParallel(_REAL_DP):
    """Stands in for nn.DataParallel, whose constructor needs real GPUs."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        nn.Module.__init__(self)
        self.module = module
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def _kind(obj):
    return "nn.DataParallel" if isinstance(obj, _REAL_DP) else type(obj).__name__


@check(points=2, category="device")
def test_data_parallel_only_with_several_gpus(ex, monkeypatch):
    """maybe_data_parallel wraps in nn.DataParallel only when more than one GPU is visible.
    zh: 只有可见 GPU 多于一个时，maybe_data_parallel 才用 nn.DataParallel 包装。
    """
    for n in (0, 1, 2, 4):
        with monkeypatch.context() as mp:
            _pretend_gpus(mp, ex, n)
            mp.setattr(torch.nn, "DataParallel", _FakeDataParallel)
            mp.setattr(torch.nn.parallel, "DataParallel", _FakeDataParallel)
            mp.setattr(sys.modules["torch.nn.parallel.data_parallel"], "DataParallel", _FakeDataParallel)
            for name, val in list(vars(ex).items()):  # the learner may have imported it by name
                if val is _REAL_DP:
                    mp.setattr(ex, name, _FakeDataParallel)
            with seeded(n):
                model = nn.Linear(3, 2)
            got = ex.maybe_data_parallel(model)
        if n > 1:
            expect(isinstance(got, _REAL_DP) and getattr(got, "module", None) is model,
                   f"With {n} visible GPUs, maybe_data_parallel(model) should return nn.DataParallel(model), "
                   f"got {_kind(got)}.",
                   f"可见 {n} 个 GPU 时，maybe_data_parallel(model) 应返回 nn.DataParallel(model)，实际是 {_kind(got)}。",
                   likely=("the condition never true (e.g. device_count() > 2), or a copy of the model wrapped.",
                           "条件永远不成立（如 device_count() > 2），或包装的是模型的副本。"))
        else:
            expect(got is model,
                   f"With {n} visible GPU(s), maybe_data_parallel(model) should return the model itself, unwrapped; "
                   f"got {_kind(got)}.",
                   f"可见 {n} 个 GPU 时，maybe_data_parallel(model) 应原样返回模型（不包装）；实际是 {_kind(got)}。",
                   likely=("wrapping whenever CUDA is available (>= 1 GPU): DataParallel on one GPU only adds overhead, "
                           "use device_count() > 1.",
                           "只要有 CUDA（>= 1 个 GPU）就包装：单个 GPU 上 DataParallel 只会增加开销，应判断 device_count() > 1。"))


@check(points=2, category="correctness", timeout=90)
def test_setup_and_cleanup(ex, tmp_path):
    """setup() joins a 2-process gloo group (right rank, world size, short timeout); cleanup() leaves it.
    zh: setup() 加入 2 进程的 gloo 进程组（rank、world size 正确，超时较短）；cleanup() 退出进程组。
    """
    obs = _run_ranks(ex, tmp_path, _setup_rank, (ex,), world=2)
    for r, o in enumerate(obs):
        expect(o["initialized"], f"After setup({r}, 2, init_method) on rank {r}, dist.is_initialized() is False.",
               f"在第 {r} 号进程调用 setup({r}, 2, init_method) 之后，dist.is_initialized() 为 False。",
               likely=("init_process_group not called.", "没有调用 init_process_group。"))
        expect((o["rank"], o["world"]) == (r, 2),
               f"On rank {r} the group reports rank {o['rank']} of world size {o['world']}; expected rank {r} of 2.",
               f"第 {r} 号进程的进程组报告 rank {o['rank']}、world size {o['world']}；应为 rank {r}、共 2 个。",
               likely=("rank and world_size swapped.", "rank 与 world_size 写反了。"))
        expect(o["used_init_method"],
               "setup() should meet the other ranks through the init_method it is given (here a file:// URL), "
               "but that rendezvous file was never created.",
               "setup() 应通过传入的 init_method（这里是 file:// 地址）与其他进程会合，但该会合文件从未被创建。",
               likely=("init_method ignored, e.g. env:// with a fixed MASTER_PORT, which collides with any other run "
                       "on the machine.",
                       "忽略了 init_method，例如用 env:// 加固定的 MASTER_PORT，会与本机上的其他运行冲突。"))
        expect(o["backend"] == "gloo", f"The backend should default to gloo, got {o['backend']}.",
               f"后端默认应为 gloo，实际为 {o['backend']}。")
        expect(o["sum"] == 3.0, f"all_reduce of [rank + 1] over 2 ranks should give 3, got {o['sum']}.",
               f"2 个进程对 [rank + 1] 做 all_reduce 应得 3，实际为 {o['sum']}。")
        if o["timeout"] is not None:
            expect(o["timeout"] <= 60,
                   f"The process group's timeout is {o['timeout']:.0f} s; it should be short (<= 60 s).",
                   f"进程组的超时为 {o['timeout']:.0f} 秒；应设得较短（<= 60 秒）。",
                   likely=("no timeout= given to init_process_group (the default is 30 minutes, so a rank whose peer "
                           "died hangs that long).",
                           "没有给 init_process_group 传 timeout=（默认 30 分钟，对端进程挂掉时会一直等这么久）。"))
        expect(not o["after_cleanup"], f"After cleanup() on rank {r}, dist.is_initialized() is still True.",
               f"在第 {r} 号进程调用 cleanup() 之后，dist.is_initialized() 仍为 True。",
               likely=("destroy_process_group() not called.", "没有调用 destroy_process_group()。"))


@check(points=2, category="gradient", timeout=90)
def test_ddp_ranks_stay_in_sync(ex, tmp_path):
    """After one ddp_train_step on 2 ranks, the parameters are identical on both (gradients averaged).
    zh: 在 2 个进程上执行一次 ddp_train_step 后，两边的参数完全相同（梯度已平均）。
    """
    model, x, y = _problem(4, 6, 5, 7, 3)
    a, b = [r["params"] for r in _run_ranks(ex, tmp_path, _step_rank, (ex, model, x, y, 0.5, 1), world=2)]
    expect(len(a) == len(b) == len(list(model.parameters())),
           "The model's parameter list changed during ddp_train_step.", "ddp_train_step 期间模型的参数列表发生了变化。")
    expect(not _same(a, list(model.parameters()), atol=0, rtol=0),
           "After ddp_train_step the model's parameters are unchanged.",
           "ddp_train_step 之后模型参数没有变化。",
           likely=("the step applied to a copy of the model, optimizer.step() missing, or lr ignored.",
                   "更新的是模型的副本、缺少 optimizer.step()，或没有使用 lr。"))
    expect(_same(a, b, atol=1e-6, rtol=1e-6),
           f"After one step the parameters differ between ranks 0 and 1 (largest difference {_max_diff(a, b):.3g}).",
           f"一步之后 0 号和 1 号进程的参数不同（最大差 {_max_diff(a, b):.3g}）。",
           likely=("the model not wrapped in DistributedDataParallel (or the forward pass run through the unwrapped "
                   "model), so each rank steps on its own gradients.",
                   "模型没有用 DistributedDataParallel 包装（或前向传播用的是未包装的模型），于是各进程用各自的梯度更新。"))


@check(points=3, category="correctness", timeout=90)
def test_ddp_step_equals_full_batch_sgd(ex, tmp_path):
    """The 2-rank DDP step equals one single-process SGD step (MSE, mean) on the full batch.
    zh: 2 进程的 DDP 一步等于单进程在整个 batch 上做一步 SGD（MSE，取平均）。
    """
    world, lr = 2, 0.3
    model, x, y = _problem(5, 10, 4, 6, 2)
    got = [r["params"] for r in _run_ranks(ex, tmp_path, _step_rank, (ex, model, x, y, lr, 1), world=world)]
    want = _stepped(model, _grads(model, x, y), lr)
    for r, params in enumerate(got):
        if _same(params, want):
            continue
        xs, ys = x.chunk(world), y.chunk(world)
        if _same(params, [p.detach() for p in model.parameters()], atol=0, rtol=0):
            likely = ("the step applied to a copy of the model, or optimizer.step() missing.",
                      "更新的是模型的副本，或缺少 optimizer.step()。")
        elif _same(params, _stepped(model, _grads(model, xs[r], ys[r]), lr)):
            likely = ("no gradient averaging: the model is not wrapped in DistributedDataParallel, so rank r steps on "
                      "its own shard only.",
                      "没有梯度平均：模型没有用 DistributedDataParallel 包装，每个进程只按自己的分片更新。")
        elif _same(params, _stepped(model, _grads(model, x, y, "sum"), lr / world)):
            likely = ("the loss uses reduction='sum'; the contract is F.mse_loss with the default mean.",
                      "损失用了 reduction='sum'；约定是默认取平均的 F.mse_loss。")
        elif _same(params, _stepped(model, _grads(model, x, y), lr * world)):
            likely = ("gradients summed over ranks instead of averaged (an extra all_reduce on top of DDP?).",
                      "各进程的梯度被求和而不是平均（在 DDP 之外又做了一次 all_reduce？）。")
        else:
            likely = ("a different loss or optimizer (momentum, Adam), lr not used as given, or several steps.",
                      "用了别的损失或优化器（动量、Adam），没有按给定的 lr，或走了多步。")
        fail(f"On rank {r} the parameters after ddp_train_step differ from one SGD step (lr={lr}) on the full "
             f"batch of {len(x)} (largest difference {_max_diff(params, want):.3g}).",
             f"第 {r} 号进程在 ddp_train_step 之后的参数与在整个 batch（{len(x)} 个样本）上做一步 SGD（lr={lr}）"
             f"的结果不同（最大差 {_max_diff(params, want):.3g}）。", likely=likely)


@check(points=2, category="gradient", timeout=90)
def test_ddp_consecutive_steps_start_from_clean_gradients(ex, tmp_path):
    """Two ddp_train_step calls in a row equal two full-batch SGD steps: no gradient carries over from the first call.
    zh: 连续调用两次 ddp_train_step 等于在整个 batch 上做两步 SGD：第一次调用的梯度不会带到第二次。
    """
    world, lr = 2, 0.2
    model, x, y = _problem(9, 8, 3, 5, 2)
    got = [r["params"] for r in _run_ranks(ex, tmp_path, _step_rank, (ex, model, x, y, lr, 2), world=world)]
    want = _sgd_steps(model, x, y, lr, 2)
    for r, params in enumerate(got):
        if _same(params, want):
            continue
        if _same(params, _sgd_steps(model, x, y, lr, 2, accumulate=True)):
            likely = ("optimizer.zero_grad() (or p.grad = None) missing: the parameters keep their .grad between calls, "
                      "so the second call's backward() adds its gradient to the first call's and the step is too large. "
                      "Clear the gradients before every backward().",
                      "缺少 optimizer.zero_grad()（或 p.grad = None）：参数的 .grad 在两次调用之间保留，第二次调用的 "
                      "backward() 把梯度加到第一次的梯度上，步长因此过大。每次 backward() 之前都要清空梯度。")
        elif _same(params, _sgd_steps(model, x, y, lr, 1)):
            likely = ("the second call did not change the parameters (a wrapper or optimizer cached from the first call "
                      "that no longer points at the model's parameters?).",
                      "第二次调用没有改变参数（是否缓存了第一次调用的包装器或优化器，而它们不再指向模型的参数？）。")
        else:
            likely = ("state carried over from the first call: gradients not cleared, an optimizer with momentum kept "
                      "between calls, or the first call's loss reused.",
                      "第一次调用的状态被带到了第二次：梯度没有清空、在两次调用之间保留了带动量的优化器，或复用了第一次的损失。")
        fail(f"On rank {r}, after two ddp_train_step calls (lr={lr}) the parameters differ from two SGD steps on the full "
             f"batch of {len(x)} (largest difference {_max_diff(params, want):.3g}).",
             f"第 {r} 号进程调用两次 ddp_train_step（lr={lr}）之后的参数与在整个 batch（{len(x)} 个样本）上做两步 SGD "
             f"的结果不同（最大差 {_max_diff(params, want):.3g}）。", likely=likely)


@check(points=2, category="correctness", timeout=90)
def test_ddp_returns_local_shard_loss(ex, tmp_path):
    """With 3 ranks, each returns the MSE on its own contiguous chunk x.chunk(3)[rank], before the step.
    zh: 3 个进程时，每个进程返回自己那一段连续分片 x.chunk(3)[rank] 上（更新前）的 MSE。
    """
    world = 3
    model, x, y = _problem(6, 12, 3, 4, 1)
    res = _run_ranks(ex, tmp_path, _step_rank, (ex, model, x, y, 0.1, 1), world=world)
    _losses_ok(res)
    for r, out in enumerate(res):
        got = out["losses"][0]
        want = _mse(model, x.chunk(world)[r], y.chunk(world)[r])
        if _close(got, want):
            continue
        if _close(got, _mse(model, x[r::world], y[r::world])):
            likely = ("an interleaved shard x[rank::world_size]; the contract is the contiguous chunk "
                      "x.chunk(world_size)[rank].",
                      "用了交错分片 x[rank::world_size]；约定是连续分片 x.chunk(world_size)[rank]。")
        elif _close(got, _mse(model, x, y)):
            likely = ("every rank uses the full batch: take this rank's shard x.chunk(world_size)[rank].",
                      "每个进程都用了整个 batch：应取本进程的分片 x.chunk(world_size)[rank]。")
        elif _close(got, _mse(model, x.chunk(world)[r], y.chunk(world)[r], "sum")):
            likely = ("the loss uses reduction='sum'; the contract is the mean.", "损失用了 reduction='sum'；约定是取平均。")
        else:
            likely = ("the shard chosen for a fixed world size, the loss measured after the step, or a different loss.",
                      "按固定的进程数选取分片、在更新之后才计算损失，或用了别的损失。")
        fail(f"Rank {r} of {world} returned loss {got}; expected the MSE on x.chunk({world})[{r}] before the step, "
             f"{want:.6g}.",
             f"{world} 个进程中的第 {r} 号返回的损失为 {got}；应为更新前在 x.chunk({world})[{r}] 上的 MSE，即 {want:.6g}。",
             likely=likely)


@check(points=1, category="training", timeout=90)
def test_ddp_training_reduces_loss(ex, tmp_path):
    """Twenty ddp_train_step calls on 2 ranks fit a small linear problem, and the ranks stay in sync.
    zh: 在 2 个进程上调用 20 次 ddp_train_step 能拟合一个小的线性问题，且各进程保持一致。
    """
    with seeded(7):
        model = nn.Linear(4, 2)
        x = torch.randn(16, 4)
        y = x @ torch.randn(4, 2) + 0.5
    res = _run_ranks(ex, tmp_path, _step_rank, (ex, model, x, y, 0.1, 20), world=2)
    _losses_ok(res)
    for r, out in enumerate(res):
        losses = out["losses"]
        grows = not all(map(math.isfinite, losses)) or losses[-1] > losses[0]
        assert_learns(losses, f"rank {r}'s loss over 20 ddp_train_step calls",
                      likely=("the loss grows: steps far too large, e.g. reduction='sum' instead of the mean, or lr scaled.",
                              "损失在增大：步长太大，例如用了 reduction='sum' 而不是平均，或放大了 lr。") if grows else None)
    a, b = res[0]["params"], res[1]["params"]
    expect(_same(a, b, atol=1e-6, rtol=1e-6),
           f"After 20 steps the parameters differ between ranks (largest difference {_max_diff(a, b):.3g}).",
           f"20 步之后各进程的参数不同（最大差 {_max_diff(a, b):.3g}）。",
           likely=("gradients not averaged: wrap the model in DistributedDataParallel.",
                   "梯度没有平均：应把模型用 DistributedDataParallel 包装。"))


@contextlib.contextmanager
def _one_rank_group(tmp_path):
    """A one-process gloo group in the grading process itself (a forked rank could not use a real GPU)."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/rdzv_single", rank=0, world_size=1,
                            timeout=GLOO_TIMEOUT)
    try:
        yield
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _batch_left_behind(x, y):
    """run_learner's known=: the likely mistake behind a crash of ddp_train_step on the accelerator."""
    shapes = {f"shape {tuple(t.shape)}" for t in (x, y)}

    def known(e):
        text = str(e)
        if isinstance(e, DeviceMismatchError) and not any(sh in text for sh in shapes):
            return ("a tensor created inside the step without device=... (it stays on the CPU while the model is on the "
                    "accelerator); make it on get_device(model).",
                    "在训练步骤中创建张量时没有指定 device=...（模型在加速设备上，它却留在 CPU 上）；应在 get_device(model) "
                    "上创建。")
        if isinstance(e, DeviceMismatchError) or "device" in text:
            return ("the batch left on the CPU: x and y arrive on the CPU (as from a DataLoader) while the model is on "
                    "the accelerator; move this rank's shard to the model's device, "
                    "x.chunk(world_size)[rank].to(get_device(model)), before the forward pass.",
                    "batch 留在了 CPU 上：x 和 y 是在 CPU 上传入的（就像来自 DataLoader），而模型在加速设备上；"
                    "前向传播之前要把本进程的分片移到模型所在的设备：x.chunk(world_size)[rank].to(get_device(model))。")
        return None
    return known


def _ddp_accepts_the_stand_in(mp, dev):
    """On the GPU stand-in (which has no device index) let DDP take device_ids=[None] / [<stand-in>] as a real GPU's
    [0]: code written `device_ids=[dev.index] if dev.type != "cpu" else None` is right on a real GPU."""
    if dev.type == "cuda":
        return
    from torch.nn.parallel import DistributedDataParallel as DDP
    real = DDP.__init__

    def init(self, module, device_ids=None, output_device=None, *args, **kwargs):
        def stand_in(d):
            return d is None or (isinstance(d, (str, torch.device)) and torch.device(d).type == dev.type)
        if device_ids is not None and len(device_ids) == 1 and stand_in(device_ids[0]):
            device_ids, output_device = None, None
        real(self, module, device_ids, output_device, *args, **kwargs)

    mp.setattr(DDP, "__init__", init)


@check(points=2, category="device", timeout=90)
def test_ddp_step_with_the_model_on_the_accelerator(ex, tmp_path, monkeypatch):
    """With the model on the accelerator and the batch arriving on the CPU, ddp_train_step moves the shard there and steps.
    zh: 模型在加速设备上、batch 在 CPU 上传入时，ddp_train_step 把分片移到该设备上并完成一步更新。
    """
    lr = 0.25
    model, x, y = _problem(11, 6, 4, 5, 3)
    want = _sgd_steps(model, x, y, lr, 1)  # one rank: its shard is the whole batch
    want_loss = _mse(model, x, y)
    known = _batch_left_behind(x, y)
    _warm_imports()
    with _one_rank_group(tmp_path), accelerator() as dev:
        _ddp_accepts_the_stand_in(monkeypatch, dev)
        model.to(dev)
        try:
            loss = run_learner("ddp_train_step (model on the accelerator, x and y on the CPU, world_size=1)",
                               ("move this rank's shard to the model's device and step there",
                                "把本进程的分片移到模型所在的设备并在那里完成一步更新"),
                               ex.ddp_train_step, model, x, y, lr, 0, 1, known=known)
        except DeviceMismatchError as e:
            which = [name for name, t in (("x", x), ("y", y)) if f"shape {tuple(t.shape)}" in str(e)]
            if which:
                shape = tuple((x if which[0] == "x" else y).shape)
                fail(f"On the accelerator, ddp_train_step{learner_line(e)} mixed devices: a CPU tensor of shape {shape} "
                     f"(the shape of {which[0]}) met the model's tensors on the device.",
                     f"在加速设备上，ddp_train_step{learner_line(e)} 混用了设备：一个形状为 {shape} 的 CPU 张量"
                     f"（即 {which[0]} 的形状）遇到了设备上的模型张量。", likely=known(e))
            fail(f"On the accelerator: {first_line(e)}{learner_line(e)}.",
                 f"在加速设备上：{first_line(e)}{learner_line(e)}。", likely=known(e))
        for n, p in model.named_parameters():
            assert_on_device(p, dev, f"parameter {n} after ddp_train_step",
                             likely=("the model moved inside ddp_train_step (e.g. .to(pick_device()) or .cpu()): leave it "
                                     "where it is and bring the batch to it.",
                                     "在 ddp_train_step 中移动了模型（例如 .to(pick_device()) 或 .cpu()）：模型应留在原处，"
                                     "把 batch 移过去。"))
        got = to_cpu(list(model.parameters()))
        loss = as_number(loss, "ddp_train_step's return value (the loss)", likely=_LOSS_LIKELY)
    expect(_same(got, want),
           f"With the model on the accelerator, the parameters after ddp_train_step (world_size=1, lr={lr}) differ from "
           f"one SGD step on the batch (largest difference {_max_diff(got, want):.3g}).",
           f"模型在加速设备上时，ddp_train_step（world_size=1，lr={lr}）之后的参数与在该 batch 上做一步 SGD 的结果不同"
           f"（最大差 {_max_diff(got, want):.3g}）。",
           likely=("the step applied to a copy of the model, or a different step (see the other ddp_train_step checks).",
                   "更新的是模型的副本，或这一步本身不对（见其他 ddp_train_step 检查）。"))
    expect(_close(loss, want_loss),
           f"With world_size=1 the returned loss should be the MSE on the whole batch before the step, {want_loss:.6g}; "
           f"got {loss}.",
           f"world_size=1 时返回的损失应为更新前整个 batch 上的 MSE，即 {want_loss:.6g}；实际为 {loss}。")
