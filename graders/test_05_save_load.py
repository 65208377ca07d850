"""Grader for exercise 05 — saving and loading checkpoints."""
import contextlib
import pickle
import re
import warnings

import torch
import torch.serialization
from torch import nn
from torch.utils._pytree import tree_map

from ptquiz.gradelib import (ShadowTensor, accelerator, as_int, assert_close, assert_learns, assert_on_device, check,
                             expect, fail, seeded, to_cpu)

LR = 1e-2


class _Net(nn.Module):
    """A small regressor with BatchNorm (buffers) and Dropout (train/eval behaviour differ)."""

    def __init__(self, n_in=6, hidden=16, n_out=3, p=0.3):
        super().__init__()
        # no bias before BatchNorm: its gradient would be ~0 noise, which Adam blows up to full-size steps
        self.body = nn.Sequential(nn.Linear(n_in, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
                                  nn.Dropout(p))
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.head(self.body(x))


_RAN = []  # what unpickling a planted object did in this process


def _planted_call(note):
    _RAN.append(note)
    return note


class _Planted:
    """Unpickling this object CALLS a function named in the file (_planted_call), the way a malicious checkpoint
    calls os.system: weights_only=True must refuse it before anything runs."""

    def __reduce__(self):
        return _planted_call, ("code planted in the checkpoint ran",)


@contextlib.contextmanager
def _old_torch_load_default(mp):
    """Within the block torch.load defaults to weights_only=False, as in torch 2.2-2.5 (the kit supports them;
    torch >= 2.6 defaults to True): only an explicit weights_only=True protects the learner's loader."""
    mp.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    mp.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch >= 2.6: applies only where weights_only is not passed
    if hasattr(torch.serialization, "_default_to_weights_only"):
        mp.setattr(torch.serialization, "_default_to_weights_only", lambda *a, **k: False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*weights_only.*")
        warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
        yield


def _net(seed, **kw):
    with seeded(seed):
        return _Net(**kw)


def _batches(n, n_in=6, n_out=3, batch=16, seed=0):
    with seeded(seed):
        w = torch.randn(n_in, n_out)
        out = []
        for _ in range(n):
            x = torch.randn(batch, n_in)
            out.append((x, x @ w + 0.1 * torch.randn(batch, n_out)))
        return out


def _train(model, opt, batches, first_step=0, device=None):
    """One Adam step per batch; dropout is re-seeded per step so runs can be compared step by step."""
    model.train()
    losses = []
    for k, (x, y) in enumerate(batches):
        if device is not None:
            x, y = x.to(device), y.to(device)
        with seeded(1000 + first_step + k):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        losses.append(float(loss.detach().cpu()) if device is None else float(to_cpu(loss)))
    return losses


def _trained(seed=0, steps=3, **kw):
    m = _net(seed, **kw)
    opt = torch.optim.Adam(m.parameters(), lr=LR)
    _train(m, opt, _batches(steps, n_in=kw.get("n_in", 6), n_out=kw.get("n_out", 3), seed=seed + 50))
    return m, opt


@contextlib.contextmanager
def _saved_as_if_on_gpu():
    """Make torch.save tag every storage as living on a CUDA device this machine lacks."""
    fake = f"cuda:{torch.cuda.device_count() + 1}"
    real = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: fake
    try:
        yield fake
    finally:
        torch.serialization.location_tag = real


@contextlib.contextmanager
def _recording_load(shadow=None):
    """Record torch.load's keyword arguments; with the GPU stand-in, map_location=<it> gives stand-in tensors
    (real torch.load cannot map to the stand-in: its tensors would have no data)."""
    real = torch.load
    calls = []

    def load(f, map_location=None, *args, **kwargs):
        calls.append(dict(kwargs, map_location=map_location))
        if shadow is not None and isinstance(map_location, (str, torch.device)) \
                and torch.device(map_location).type == shadow.type:
            out = real(f, *args, map_location="cpu", **kwargs)
            return tree_map(lambda t: ShadowTensor(t) if isinstance(t, torch.Tensor) else t, out)
        return real(f, map_location, *args, **kwargs)

    torch.load = load
    try:
        yield calls
    finally:
        torch.load = real


def _why(e):
    """The informative line of a weights_only UnpicklingError (e.g. 'Unsupported global: GLOBAL x.Net')."""
    text = str(e)
    m = re.search(r"Unsupported global: GLOBAL [\w.]+", text) or re.search(r"WeightsUnpickler error: [^\n]{0,150}", text)
    return m.group(0) if m else text.strip().splitlines()[0][:150]


def _load_file(path):
    """The grader's own look at the checkpoint file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        fail("The checkpoint file cannot be read with torch.load(..., weights_only=True): it holds pickled Python "
             f"objects ({_why(e)}).",
             "无法用 torch.load(..., weights_only=True) 读取检查点文件：其中含有被 pickle 的 Python 对象"
             f"（{_why(e)}）。",
             likely=("the whole model (or optimizer) object saved with torch.save(model); save model.state_dict() "
                     "and optimizer.state_dict() instead.",
                     "用 torch.save(model) 保存了整个模型（或优化器）对象；应保存 model.state_dict() 和 optimizer.state_dict()。"))


def _call_load(what, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except pickle.UnpicklingError as e:
        fail(f"{what} raised UnpicklingError while reading a checkpoint written by your save_checkpoint: "
             f"{_why(e)}.",
             f"{what} 在读取你的 save_checkpoint 写出的检查点时抛出 UnpicklingError：{_why(e)}。",
             likely=("the whole model object pickled by save_checkpoint; weights_only=True loads only tensors and "
                     "plain containers, so save state dicts.",
                     "save_checkpoint 把整个模型对象 pickle 了；weights_only=True 只能加载张量和普通容器，应保存 state_dict。"))
    except RuntimeError as e:
        text = str(e).splitlines()[0]
        if "deserialize object on" in text:
            fail(f"{what} could not load a checkpoint written on a GPU: {text[:200]}",
                 f"{what} 无法加载在 GPU 上保存的检查点：{text[:200]}",
                 likely=("map_location not passed to torch.load: tensors saved on cuda are restored on cuda unless "
                         "you map them, e.g. torch.load(path, map_location=map_location, weights_only=True).",
                         "没有把 map_location 传给 torch.load：在 cuda 上保存的张量默认会被恢复到 cuda，需要用 "
                         "torch.load(path, map_location=map_location, weights_only=True) 映射。"))
        raise


def _epoch(got):
    """load_checkpoint's return value as an int (numpy and 1-element integer tensors accepted, bool refused)."""
    return as_int(got, "load_checkpoint's return value (the saved epoch)",
                  likely=("return ckpt['epoch'], the epoch saved by save_checkpoint.", "返回 ckpt['epoch']，即 save_checkpoint 保存的 epoch。"))


def _expect_same_state(model, ref, what):
    got, want = model.state_dict(), ref.state_dict()
    expect(set(got) == set(want), f"{what}: state_dict keys differ.", f"{what}：state_dict 的键不一致。")
    for k, v in want.items():
        if v.is_floating_point():
            assert_close(got[k], v, f"{what}: {k}", atol=0, rtol=0,
                         likely=("model.load_state_dict(...) not called with the saved state, or a stale copy saved.",
                                 "没有用保存的状态调用 model.load_state_dict(...)，或保存的是旧的副本。"))
        else:
            expect(torch.equal(to_cpu(got[k]), v), f"{what}: {k} differs ({to_cpu(got[k])} vs {v}).",
                   f"{what}：{k} 不一致（{to_cpu(got[k])} 与 {v}）。")


@check(points=2, category="correctness")
def test_checkpoint_file_contents(ex, tmp_path):
    """The file holds {"model", "optimizer", "epoch"}: both state dicts and the epoch, loadable with weights_only=True.
    zh: 文件中是 {"model", "optimizer", "epoch"}：两个 state_dict 和 epoch，可用 weights_only=True 读取。
    """
    m, opt = _trained(seed=1)
    path = tmp_path / "ckpt.pt"
    ex.save_checkpoint(path, m, opt, 7)
    expect(path.is_file(), f"save_checkpoint(path, ...) wrote no file at path.",
           f"save_checkpoint(path, ...) 没有在 path 写出文件。")
    ckpt = _load_file(path)
    expect(isinstance(ckpt, dict), f"The checkpoint should be a dict, got {type(ckpt).__name__}.",
           f"检查点应为 dict，实际为 {type(ckpt).__name__}。",
           likely=("only model.state_dict() saved (an OrderedDict of tensors) instead of a dict with three entries.",
                   "只保存了 model.state_dict()，而不是含三项的字典。"))
    keys = set(ckpt)
    expect({"model", "optimizer", "epoch"} <= keys,
           f"The checkpoint dict should have the keys 'model', 'optimizer' and 'epoch'; it has {sorted(map(str, keys))}.",
           f"检查点字典应包含键 'model'、'optimizer' 和 'epoch'；实际为 {sorted(map(str, keys))}。",
           likely=("the optimizer state not saved: without Adam's moment estimates and step count, resumed training "
                   "differs from uninterrupted training.",
                   "没有保存优化器状态：缺少 Adam 的一阶/二阶矩估计和步数，恢复后的训练会与不间断训练不同。"))
    expect(ckpt["epoch"] == 7, f"ckpt['epoch'] should be 7, got {ckpt['epoch']!r}.",
           f"ckpt['epoch'] 应为 7，实际为 {ckpt['epoch']!r}。")
    want = m.state_dict()
    expect(isinstance(ckpt["model"], dict) and set(ckpt["model"]) == set(want),
           f"ckpt['model'] should be model.state_dict() with keys {sorted(want)}.",
           f"ckpt['model'] 应为 model.state_dict()，键为 {sorted(want)}。")
    for k, v in want.items():
        expect(torch.equal(ckpt["model"][k], v), f"ckpt['model'][{k!r}] differs from the model's current value.",
               f"ckpt['model'][{k!r}] 与模型当前的值不同。")
    o = ckpt["optimizer"]
    expect(isinstance(o, dict) and {"state", "param_groups"} <= set(o) and len(o["state"]) == len(list(m.parameters())),
           "ckpt['optimizer'] should be optimizer.state_dict() (with 'state' for every parameter and 'param_groups').",
           "ckpt['optimizer'] 应为 optimizer.state_dict()（包含每个参数的 'state' 以及 'param_groups'）。",
           likely=("the optimizer saved before any step, or something other than optimizer.state_dict().",
                   "在任何一步之前就保存了优化器，或保存的不是 optimizer.state_dict()。"))


@check(points=2, category="correctness")
def test_load_restores_model_and_epoch(ex, tmp_path):
    """load_checkpoint puts the saved weights and BatchNorm statistics into a fresh model and returns the epoch.
    zh: load_checkpoint 把保存的权重和 BatchNorm 统计量载入新模型，并返回 epoch。
    """
    for seed, epoch, kw in [(2, 3, {}), (3, 12, dict(n_in=5, hidden=7, n_out=2))]:
        m, opt = _trained(seed=seed, **kw)
        path = tmp_path / f"ckpt{seed}.pt"
        ex.save_checkpoint(path, m, opt, epoch)
        fresh = _net(seed + 100, **kw)
        fresh_opt = torch.optim.Adam(fresh.parameters(), lr=LR)
        got = _epoch(_call_load("load_checkpoint", ex.load_checkpoint, path, fresh, fresh_opt))
        expect(got == epoch, f"load_checkpoint should return the saved epoch {epoch}, got {got!r}.",
               f"load_checkpoint 应返回保存的 epoch {epoch}，实际为 {got!r}。")
        _expect_same_state(fresh, m, "the reloaded model")
        fresh2 = _net(seed + 200, **kw)
        got = _epoch(_call_load("load_checkpoint without an optimizer", ex.load_checkpoint, path, fresh2))
        expect(got == epoch, f"load_checkpoint(path, model) should also work without an optimizer and return {epoch}.",
               f"load_checkpoint(path, model) 在不传优化器时也应可用并返回 {epoch}。")
        _expect_same_state(fresh2, m, "the model reloaded without an optimizer")


@check(points=3, category="training")
def test_resume_matches_uninterrupted_training(ex, tmp_path):
    """6 Adam steps, save, load into a fresh model and optimizer, 6 more steps == 12 uninterrupted steps.
    zh: 6 步 Adam、保存、载入新的模型和优化器、再 6 步，结果与不间断的 12 步相同。
    """
    data = _batches(12, seed=7)
    a = _net(0)
    losses_a = _train(a, torch.optim.Adam(a.parameters(), lr=LR), data)

    b = _net(0)
    opt_b = torch.optim.Adam(b.parameters(), lr=LR)
    first = _train(b, opt_b, data[:6])
    path = tmp_path / "resume.pt"
    ex.save_checkpoint(path, b, opt_b, 6)
    del b, opt_b
    c = _net(99)
    opt_c = torch.optim.Adam(c.parameters(), lr=LR)
    epoch = _epoch(_call_load("load_checkpoint", ex.load_checkpoint, path, c, opt_c))
    expect(epoch == 6, f"load_checkpoint should return the saved epoch 6, got {epoch!r}.",
           f"load_checkpoint 应返回保存的 epoch 6，实际为 {epoch!r}。")
    second = _train(c, opt_c, data[6:], first_step=6)
    likely = ("the optimizer state not saved or not loaded: a fresh Adam restarts its moment estimates and step count "
              "(save optimizer.state_dict() and call optimizer.load_state_dict()).",
              "没有保存或没有载入优化器状态：新的 Adam 会重置矩估计和步数（应保存 optimizer.state_dict() 并调用 "
              "optimizer.load_state_dict()）。")
    assert_close(torch.tensor(second), torch.tensor(losses_a[6:]), "losses of the 6 steps after resuming",
                 atol=1e-6, rtol=1e-5, likely=likely)
    for (n, p), q in zip(c.named_parameters(), a.parameters()):
        assert_close(p, q, f"parameter {n} after resuming", atol=1e-6, rtol=1e-5, likely=likely)
    assert_learns(first + second, "training across the save/load")


@check(points=2, category="correctness")
def test_load_refuses_pickled_objects(ex, tmp_path, monkeypatch):
    """load_checkpoint and load_for_inference pass weights_only=True: a file that would run code is refused, whatever torch's default.
    zh: load_checkpoint 和 load_for_inference 显式传入 weights_only=True：无论 torch 的默认值如何，会执行代码的文件都被拒绝。
    """
    m, opt = _trained(seed=4)
    clean = {"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 2}
    ok, bad = tmp_path / "ok.pt", tmp_path / "bad.pt"
    torch.save(clean, ok)
    torch.save(dict(clean, extra=_Planted()), bad)
    expect(_epoch(_call_load("load_checkpoint", ex.load_checkpoint, ok, _net(5))) == 2,
           "load_checkpoint should return 2 for a checkpoint saved with epoch 2.",
           "对 epoch 为 2 的检查点，load_checkpoint 应返回 2。")
    with _old_torch_load_default(monkeypatch):
        _RAN.clear()
        torch.load(bad)  # grader self-test: with the old default the planted call does run
        if not _RAN:
            raise AssertionError("grader self-test: torch.load without weights_only should have run the planted call")
        with _recording_load() as calls:
            for what, fn, args in [("load_checkpoint", ex.load_checkpoint, (bad, _net(5))),
                                   ("load_for_inference", ex.load_for_inference, (bad, _net(5), "cpu"))]:
                _RAN.clear()
                del calls[:]
                try:
                    fn(*args)
                except pickle.UnpicklingError:
                    if not _RAN:
                        continue
                passed = [c["weights_only"] if "weights_only" in c else "(not passed)" for c in calls]
                if all("weights_only" not in c or c["weights_only"] is None for c in calls):
                    likely = ("torch.load(...) without weights_only=True. torch >= 2.6 defaults to weights_only=True, "
                              "but torch 2.2-2.5 (which this kit supports, and which many machines still run) default "
                              "to False and unpickle anything: pass weights_only=True explicitly. This check runs with "
                              "the old default.",
                              "torch.load(...) 没有传 weights_only=True。torch >= 2.6 默认 weights_only=True，但 "
                              "torch 2.2-2.5（本套题支持这些版本，很多机器也仍在使用）默认为 False，会反序列化任何对象："
                              "请显式传入 weights_only=True。本项检查在旧的默认值下运行。")
                else:
                    likely = ("torch.load(..., weights_only=False) (or a pickle-based loader): unpickling an untrusted "
                              "file can run arbitrary code; pass weights_only=True.",
                              "使用了 torch.load(..., weights_only=False)（或基于 pickle 的加载方式）：反序列化不可信的文件"
                              "可能执行任意代码；应传 weights_only=True。")
                fail(f"{what} unpickled a checkpoint holding a planted Python object instead of refusing it: a function "
                     f"named in the file was called while loading (an attacker's file would call os.system the same "
                     f"way). torch.load was called with weights_only={passed}.",
                     f"{what} 反序列化了一个含有植入 Python 对象的检查点，而没有拒绝它：加载时调用了文件中指定的函数"
                     f"（攻击者的文件也能以同样方式调用 os.system）。torch.load 调用时 weights_only={passed}。",
                     likely=likely)


@check(points=2, category="correctness")
def test_load_for_inference_is_in_eval_mode(ex, tmp_path):
    """load_for_inference returns the model in eval mode: Dropout off, BatchNorm on running stats, repeatable outputs.
    zh: load_for_inference 返回处于 eval 模式的模型：关闭 Dropout、BatchNorm 使用运行统计量、输出可重复。
    """
    m, opt = _trained(seed=6, p=0.5)
    path = tmp_path / "infer.pt"
    ex.save_checkpoint(path, m, opt, 1)
    m.eval()
    fresh = _net(60, p=0.5)
    got = _call_load("load_for_inference", ex.load_for_inference, path, fresh, "cpu")
    expect(isinstance(got, nn.Module), f"load_for_inference should return the model, got {type(got).__name__}.",
           f"load_for_inference 应返回模型，实际为 {type(got).__name__}。")
    training = sorted({n or "(model)" for n, mod in got.named_modules() if mod.training})
    expect(not training, f"After load_for_inference the model should be in eval mode; modules still training: {training}.",
           f"load_for_inference 之后模型应处于 eval 模式；仍处于训练模式的模块：{training}。",
           likely=("model.eval() not called after loading (a fresh model starts in training mode: Dropout is active "
                   "and BatchNorm uses batch statistics).",
                   "加载后没有调用 model.eval()（新建的模型默认处于训练模式：Dropout 生效，BatchNorm 使用批统计量）。"))
    for b in (1, 5):
        x = torch.randn(b, 6)
        with torch.no_grad():
            y1, y2 = got(x), got(x)
            ref = m(x)
        assert_close(y1, y2, f"two inference calls on the same batch of {b}")
        assert_close(y1, ref, f"inference output on a batch of {b}")


@check(points=2, category="device")
def test_gpu_checkpoint_loads_on_cpu(ex, tmp_path):
    """A checkpoint written on a GPU loads on a CPU-only machine through map_location.
    zh: 在 GPU 上保存的检查点能通过 map_location 在只有 CPU 的机器上加载。
    """
    m, opt = _trained(seed=8)
    path = tmp_path / "gpu.pt"
    with _saved_as_if_on_gpu() as fake:
        ex.save_checkpoint(path, m, opt, 4)
    try:
        torch.load(path, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError):
        pass
    else:
        raise AssertionError(f"grader self-test: the file should not load without map_location (saved as {fake})")
    fresh = _net(80)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=LR)
    expect(_epoch(_call_load("load_checkpoint(..., map_location='cpu')", ex.load_checkpoint, path, fresh, fresh_opt,
                             map_location="cpu")) == 4,
           "load_checkpoint should return the saved epoch 4.", "load_checkpoint 应返回保存的 epoch 4。")
    _expect_same_state(fresh, m, "the model loaded from a GPU checkpoint")
    for p in fresh.parameters():
        for k, v in fresh_opt.state[p].items():
            if isinstance(v, torch.Tensor) and v.dim() > 0:
                expect(v.device.type == "cpu", f"optimizer state {k} should be on the CPU, found {v.device}.",
                       f"优化器状态 {k} 应在 CPU 上，实际在 {v.device}。")
    got = _call_load("load_for_inference(..., 'cpu')", ex.load_for_inference, path, _net(81), "cpu")
    _expect_same_state(got, m, "the inference model loaded from a GPU checkpoint")
    if torch.cuda.is_available():  # the real thing as well
        g = _net(9).cuda()
        gopt = torch.optim.Adam(g.parameters(), lr=LR)
        _train(g, gopt, _batches(2, seed=90), device="cuda")
        ex.save_checkpoint(tmp_path / "real_gpu.pt", g, gopt, 5)
        cpu_model = _net(82)
        _call_load("load_checkpoint(..., map_location='cpu')", ex.load_checkpoint, tmp_path / "real_gpu.pt",
                   cpu_model, None, map_location="cpu")
        _expect_same_state(cpu_model, g.cpu(), "a CPU model loaded from a real CUDA checkpoint")


@check(points=2, category="device")
def test_load_for_inference_on_accelerator(ex, tmp_path):
    """load_for_inference(path, model, device) returns the model on the device, giving the CPU's eval outputs.
    zh: load_for_inference(path, model, device) 返回位于该设备上的模型，输出与 CPU 上 eval 模式的结果一致。
    """
    m, opt = _trained(seed=10, n_in=4, hidden=9, n_out=2, p=0.5)
    path = tmp_path / "to_device.pt"
    ex.save_checkpoint(path, m, opt, 3)
    x = torch.randn(7, 4)
    ref = m.eval()(x).detach()
    fresh = _net(110, n_in=4, hidden=9, n_out=2, p=0.5)
    with accelerator() as dev, _recording_load(shadow=None if dev.type == "cuda" else dev):
        got = _call_load("load_for_inference", ex.load_for_inference, path, fresh, dev)
        expect(isinstance(got, nn.Module), f"load_for_inference should return the model, got {type(got).__name__}.",
               f"load_for_inference 应返回模型，实际为 {type(got).__name__}。")
        for n, t in list(got.named_parameters()) + list(got.named_buffers()):
            assert_on_device(t, dev, f"{n} of the returned model",
                             likely=("the model never moved: torch.load(map_location=device) only places the loaded "
                                     "tensors, load_state_dict copies them into the model where it is; call "
                                     "model.to(device).",
                                     "模型没有移动：torch.load(map_location=device) 只决定载入张量的位置，load_state_dict "
                                     "会把它们复制到模型当前所在的设备；需要调用 model.to(device)。"))
        expect(not got.training, "The returned model should be in eval mode.", "返回的模型应处于 eval 模式。",
               likely=("model.eval() not called.", "没有调用 model.eval()。"))
        with torch.no_grad():
            y = got(x.to(dev))
        assert_on_device(y, dev, "inference output")
        y = to_cpu(y)
    assert_close(y, ref, "inference output on the accelerator")


@check(points=2, category="device")
def test_resume_on_accelerator(ex, tmp_path):
    """load_checkpoint(..., map_location=device) resumes a model and Adam on the device, matching the CPU run.
    zh: load_checkpoint(..., map_location=device) 在该设备上恢复模型和 Adam，结果与 CPU 上一致。
    """
    m, opt = _trained(seed=11, p=0.0)  # no dropout: CUDA's random stream differs from the CPU's
    path = tmp_path / "resume_dev.pt"
    ex.save_checkpoint(path, m, opt, 3)
    data = _batches(2, seed=12)
    _train(m, opt, data, first_step=3)
    fresh = _net(120, p=0.0)
    with accelerator() as dev, _recording_load(shadow=None if dev.type == "cuda" else dev) as calls:
        fresh.to(dev)
        fresh_opt = torch.optim.Adam(fresh.parameters(), lr=LR)
        epoch = _epoch(_call_load("load_checkpoint(..., map_location=device)", ex.load_checkpoint, path, fresh,
                                  fresh_opt, map_location=dev))
        expect(epoch == 3, f"load_checkpoint should return the saved epoch 3, got {epoch!r}.",
               f"load_checkpoint 应返回保存的 epoch 3，实际为 {epoch!r}。")
        maps = [c.get("map_location") for c in calls]
        expect(any(isinstance(v, (str, torch.device)) and torch.device(v).type == dev.type for v in maps)
               or any(v is not None and not isinstance(v, (str, torch.device)) for v in maps),
               f"load_checkpoint(..., map_location=device) should pass map_location on to torch.load; torch.load got "
               f"map_location={maps}.",
               f"load_checkpoint(..., map_location=device) 应把 map_location 传给 torch.load；torch.load 实际收到 "
               f"map_location={maps}。",
               likely=("map_location ignored or hard-coded to 'cpu' inside load_checkpoint.",
                       "load_checkpoint 内部忽略了 map_location 参数，或写死为 'cpu'。"))
        _train(fresh, fresh_opt, data, first_step=3, device=dev)
        for p in fresh.parameters():
            assert_on_device(fresh_opt.state[p]["exp_avg"], dev, "Adam's exp_avg after resuming")
        got = {n: to_cpu(p) for n, p in fresh.named_parameters()}
    for n, p in m.named_parameters():
        assert_close(got[n], p, f"parameter {n} after 2 resumed steps on the accelerator", atol=1e-5, rtol=1e-4,
                     likely=("the optimizer state not loaded, so Adam restarts on the device.",
                             "没有载入优化器状态，Adam 在设备上从头开始。"))
