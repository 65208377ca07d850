"""Grader for exercise 06 — BatchNorm1d from scratch.

Every call of the learner's forward runs under a TorchFunctionMode that makes the
built-in batch norm (F.batch_norm, torch.batch_norm, torch.native_batch_norm,
nn.BatchNorm1d's forward, torch.ops.aten.*batch_norm*) raise: the exercise is to
write it, not to delegate. References are nn.BatchNorm1d with the same weights.
"""
import copy

import torch
from torch import nn

from ptquiz.gradelib import (BuiltinUsed, accelerator, as_int, as_number, assert_close, assert_on_device,
                             assert_shape, check, expect, fail, forbid, run_learner, seeded, to_cpu)


# ---------------------------------------------------------------------------
# private helpers

def _fwd(m, x, what="BatchNorm1d"):
    """The learner's forward, with the built-in batch norm forbidden."""
    try:
        with forbid(pattern=r"batch_norm|^instance_norm"):
            return m(x)
    except BuiltinUsed as e:
        fail(f"{what}: your forward called the built-in batch norm ({e}); this exercise asks you to compute it "
             "yourself, so the grader makes F.batch_norm, torch.batch_norm and nn.BatchNorm1d raise while your "
             "forward runs.",
             f"{what}：你的 forward 调用了内置的批量归一化（{e}）；本题要求自己实现，因此评分器在你的 forward "
             "运行期间禁止使用 F.batch_norm、torch.batch_norm 和 nn.BatchNorm1d。",
             likely=("delegating to F.batch_norm or an nn.BatchNorm1d submodule instead of computing the batch "
                     "mean/variance, the normalisation and the running-statistics update yourself.",
                     "直接调用了 F.batch_norm 或 nn.BatchNorm1d 子模块，而不是自己计算批均值/方差、归一化和滑动统计量更新。"))


def _make(ex, c, eps=1e-5, momentum=0.1, affine=True):
    with seeded(1):
        m = ex.BatchNorm1d(c, eps=eps, momentum=momentum, affine=affine)
    expect(isinstance(m, nn.Module), f"BatchNorm1d(...) should be an nn.Module, got {type(m).__name__}.",
           f"BatchNorm1d(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _ref(c, seed, eps=1e-5, momentum=0.1, affine=True, random_running=False):
    """An nn.BatchNorm1d with non-trivial affine parameters (and running statistics)."""
    with seeded(seed):
        ref = nn.BatchNorm1d(c, eps=eps, momentum=momentum, affine=affine)
        with torch.no_grad():
            if affine:
                ref.weight.copy_(1 + 0.5 * torch.randn(c))
                ref.bias.copy_(0.5 * torch.randn(c))
            if random_running:
                ref.running_mean.copy_(torch.randn(c))
                ref.running_var.copy_(0.5 + torch.rand(c))
                ref.num_batches_tracked.fill_(3)
    return ref


def _like(ex, ref):
    """The learner's layer with the same hyper-parameters and state as the built-in `ref`.

    Tries load_state_dict first; when the names or the registration are off (that is
    test_parameters_and_buffers' job), falls back to copying attribute by attribute so
    that the other checks still test the numbers.
    """
    m = _make(ex, ref.num_features, eps=ref.eps, momentum=ref.momentum, affine=ref.affine)
    sd = ref.state_dict()
    try:
        m.load_state_dict(sd)
        return m
    except Exception as e:  # noqa: BLE001 - report any loading problem to the learner
        error = " ".join(str(e).split())[:300] or type(e).__name__
    for name, t in sd.items():
        cur = getattr(m, name, None)
        if isinstance(cur, torch.Tensor) and tuple(cur.shape) == tuple(t.shape):
            with torch.no_grad():
                cur.copy_(t)
        elif name == "num_batches_tracked" and isinstance(cur, int):
            setattr(m, name, int(t))
        else:
            fail(f"could not give BatchNorm1d({ref.num_features}, affine={ref.affine}) the state of an "
                 f"nn.BatchNorm1d: load_state_dict failed ({error}) and self.{name} is not a tensor of shape "
                 f"{tuple(t.shape)}.",
                 f"无法把 nn.BatchNorm1d 的状态赋给 BatchNorm1d({ref.num_features}, affine={ref.affine})："
                 f"load_state_dict 失败（{error}），且 self.{name} 不是形状为 {tuple(t.shape)} 的张量。",
                 likely=("parameters/buffers not named weight, bias, running_mean, running_var, "
                         "num_batches_tracked, or wrong shapes.",
                         "参数/缓冲区没有命名为 weight、bias、running_mean、running_var、num_batches_tracked，或形状不对。"))
    return m


def _data(shape, seed, loc=2.0, scale=3.0):
    with seeded(seed):
        return loc + scale * torch.randn(*shape)


_DIMS_LIKELY = ("statistics taken over the wrong dims: per channel C means dim 0 for (N, C) and dims (0, 2) for "
                "(N, C, L); x.reshape(-1, C) on (N, C, L) mixes channels (move C last first).",
                "统计量的维度不对：按通道 C 统计，(N, C) 对 dim 0，(N, C, L) 对 dims (0, 2)；"
                "对 (N, C, L) 直接 x.reshape(-1, C) 会把不同通道混在一起（要先把 C 移到最后）。")


# ---------------------------------------------------------------------------
# checks

@check(points=1, category="shape")
def test_output_shape(ex):
    """The output has the input's shape, for (N, C) and (N, C, L) inputs of several sizes.
    zh: 对多种大小的 (N, C) 和 (N, C, L) 输入，输出形状与输入相同。
    """
    for i, shape in enumerate([(2, 3), (7, 4), (3, 5, 9), (1, 6, 11)]):
        m = _make(ex, shape[1])
        y = _fwd(m, _data(shape, 10 + i), f"BatchNorm1d({shape[1]}) on input {shape}")
        assert_shape(y, shape, f"BatchNorm1d({shape[1]}) on input {shape}",
                     likely=("a reduced dimension not kept for broadcasting: reshape the (C,) statistics to "
                             "(1, C) or (1, C, 1) before subtracting.",
                             "被归约的维度没有保留：相减前把 (C,) 统计量变形为 (1, C) 或 (1, C, 1)。"))


@check(points=2, category="correctness")
def test_parameters_and_buffers(ex):
    """weight/bias are Parameters (ones/zeros) and running_mean/running_var/num_batches_tracked are buffers, named as in nn.BatchNorm1d.
    zh: weight/bias 是参数（初值 1/0），running_mean/running_var/num_batches_tracked 是缓冲区，命名与 nn.BatchNorm1d 相同。
    """
    c = 6
    m = _make(ex, c)
    params = {n: tuple(p.shape) for n, p in m.named_parameters()}
    expect(params == {"weight": (c,), "bias": (c,)},
           f"BatchNorm1d({c}) should have exactly the parameters weight ({c},) and bias ({c},); it has {params}.",
           f"BatchNorm1d({c}) 应恰好有参数 weight ({c},) 和 bias ({c},)；实际为 {params}。",
           likely=("weight/bias kept as plain tensors (wrap them in nn.Parameter), or running statistics made "
                   "Parameters instead of buffers.",
                   "weight/bias 是普通张量（应包装为 nn.Parameter），或把滑动统计量做成了参数而不是缓冲区。"))
    expect(torch.equal(m.weight.detach(), torch.ones(c)) and torch.equal(m.bias.detach(), torch.zeros(c)),
           "weight should start as ones and bias as zeros (so a fresh layer just normalises).",
           "weight 初值应全为 1，bias 初值应全为 0（新建的层只做归一化）。")
    bufs = dict(m.named_buffers())
    expect(set(bufs) == {"running_mean", "running_var", "num_batches_tracked"},
           f"BatchNorm1d({c}) should register the buffers running_mean, running_var and num_batches_tracked; "
           f"it has {sorted(bufs)}.",
           f"BatchNorm1d({c}) 应注册缓冲区 running_mean、running_var 和 num_batches_tracked；实际为 {sorted(bufs)}。",
           likely=("running statistics stored as plain tensor attributes or Python ints; use "
                   "self.register_buffer(name, tensor) so they move with .to() and appear in state_dict().",
                   "滑动统计量存成了普通张量属性或 Python 整数；应使用 self.register_buffer(name, tensor)，"
                   "这样它们会随 .to() 移动并出现在 state_dict() 中。"))
    expect(torch.equal(bufs["running_mean"], torch.zeros(c)) and torch.equal(bufs["running_var"], torch.ones(c)),
           "running_mean should start as zeros and running_var as ones, shape (C,).",
           "running_mean 初值应全为 0、running_var 初值应全为 1，形状为 (C,)。")
    nbt = bufs["num_batches_tracked"]
    expect(nbt.dtype == torch.long and nbt.dim() == 0 and int(nbt) == 0,
           f"num_batches_tracked should be a 0-dim torch.long tensor equal to 0; got dtype {nbt.dtype}, "
           f"shape {tuple(nbt.shape)}.",
           f"num_batches_tracked 应为值为 0 的 0 维 torch.long 张量；实际 dtype {nbt.dtype}、形状 {tuple(nbt.shape)}。",
           likely=("torch.tensor(0) is long already; torch.zeros(1) is float and 1-D.",
                   "torch.tensor(0) 本身就是 long；torch.zeros(1) 是浮点且为 1 维。"))
    keys, ref_keys = sorted(m.state_dict()), sorted(nn.BatchNorm1d(c).state_dict())
    expect(keys == ref_keys, f"state_dict() keys should be {ref_keys} (as nn.BatchNorm1d's); got {keys}.",
           f"state_dict() 的键应为 {ref_keys}（与 nn.BatchNorm1d 相同）；实际为 {keys}。")
    ref = _ref(c, seed=3, random_running=True)
    m = _make(ex, c)
    try:
        m.load_state_dict(ref.state_dict())
    except Exception as e:  # noqa: BLE001 - report any loading problem to the learner
        error = " ".join(str(e).split())[:400] or type(e).__name__
        fail(f"load_state_dict(nn.BatchNorm1d({c}).state_dict()) should work on BatchNorm1d({c}); it raised: {error}",
             f"BatchNorm1d({c}) 应能 load_state_dict(nn.BatchNorm1d({c}).state_dict())；实际报错：{error}",
             likely=("parameter/buffer names or shapes differ from nn.BatchNorm1d's.",
                     "参数/缓冲区的名称或形状与 nn.BatchNorm1d 不同。"))
    for name, t in ref.state_dict().items():
        assert_close(m.state_dict()[name].double(), t.double(), f"{name} after load_state_dict from nn.BatchNorm1d")


@check(points=1, category="correctness")
def test_no_affine(ex):
    """affine=False: no parameters, weight and bias are None, and the output matches nn.BatchNorm1d(affine=False).
    zh: affine=False 时没有参数，weight 和 bias 为 None，输出与 nn.BatchNorm1d(affine=False) 一致。
    """
    c = 5
    m = _make(ex, c, affine=False)
    params = [n for n, _ in m.named_parameters()]
    expect(not params and getattr(m, "weight", 0) is None and getattr(m, "bias", 0) is None,
           f"BatchNorm1d({c}, affine=False) should have no parameters and weight = bias = None; "
           f"it has parameters {params}.",
           f"BatchNorm1d({c}, affine=False) 应没有参数，且 weight = bias = None；实际参数为 {params}。",
           likely=("affine ignored, or weight/bias not set to None: use self.register_parameter('weight', None).",
                   "忽略了 affine，或没有把 weight/bias 设为 None：使用 self.register_parameter('weight', None)。"))
    ref = _ref(c, seed=4, affine=False)
    m = _like(ex, ref)
    x = _data((6, c), 20)
    assert_close(_fwd(m, x, "BatchNorm1d(affine=False)"), ref(x), "BatchNorm1d(5, affine=False) output on (6, 5)")


@check(points=2, category="correctness")
def test_train_forward_2d(ex):
    """Training mode on (N, C): equals nn.BatchNorm1d (batch mean, biased batch variance, eps, affine).
    zh: 训练模式下 (N, C) 输入：与 nn.BatchNorm1d 一致（批均值、有偏批方差、eps、仿射变换）。
    """
    for i, (n, c, eps) in enumerate([(8, 4, 1e-5), (3, 7, 0.1), (16, 1, 1e-3), (5, 3, 1.0)]):
        ref = _ref(c, seed=30 + i, eps=eps)
        m = _like(ex, ref)
        x = _data((n, c), 40 + i)
        what = f"BatchNorm1d({c}, eps={eps}) in training mode on ({n}, {c})"
        assert_close(_fwd(m, x, what), ref(x), what,
                     likely=("the unbiased variance used to normalise (PyTorch normalises with the biased one, "
                             "correction=0), eps added outside the square root or ignored, or weight/bias not applied.",
                             "归一化时用了无偏方差（PyTorch 用有偏方差，correction=0），eps 放在了平方根外或被忽略，"
                             "或没有应用 weight/bias。"))


@check(points=2, category="correctness")
def test_train_forward_3d(ex):
    """Training mode on (N, C, L): statistics per channel over dims 0 and 2, equal to nn.BatchNorm1d.
    zh: 训练模式下 (N, C, L) 输入：按通道在 dims 0 和 2 上统计，与 nn.BatchNorm1d 一致。
    """
    for i, shape in enumerate([(4, 3, 5), (2, 6, 7), (5, 2, 1), (1, 4, 9)]):
        ref = _ref(shape[1], seed=50 + i)
        m = _like(ex, ref)
        x = _data(shape, 60 + i)
        y = _fwd(m, x, f"BatchNorm1d({shape[1]}) on {shape}")
        assert_shape(y, shape, f"BatchNorm1d({shape[1]}) on {shape}", likely=_DIMS_LIKELY)
        assert_close(y, ref(x), f"BatchNorm1d({shape[1]}) in training mode on 3-D input {shape}", likely=_DIMS_LIKELY)


def _simulate(batches, momentum, biased=False, reversed_momentum=False):
    """Running statistics under a given (possibly mistaken) update rule, for diagnosis."""
    c = batches[0].shape[1]
    rm, rv = torch.zeros(c), torch.ones(c)
    for x in batches:
        dims = (0,) if x.dim() == 2 else (0, 2)
        mean, var = x.mean(dims), x.var(dims, correction=0 if biased else 1)
        keep = momentum if reversed_momentum else 1 - momentum
        rm, rv = keep * rm + (1 - keep) * mean, keep * rv + (1 - keep) * var
    return rm, rv


def _same(a, b):
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.detach().double(), b.double(),
                                                                                 atol=1e-5, rtol=1e-4)


@check(points=3, category="correctness")
def test_running_stats(ex):
    """After several training steps, running_mean, running_var (unbiased) and num_batches_tracked equal nn.BatchNorm1d's.
    zh: 训练若干步后，running_mean、running_var（无偏）和 num_batches_tracked 与 nn.BatchNorm1d 一致。
    """
    cases = [(4, 0.1, [(5, 4), (9, 4), (2, 4), (7, 4)]), (3, 0.3, [(2, 3, 5), (4, 3, 3), (1, 3, 8)])]
    for k, (c, momentum, shapes) in enumerate(cases):
        ref = _ref(c, seed=70 + k, momentum=momentum)
        m = _like(ex, ref)
        batches = [_data(s, 80 + 10 * k + j, loc=1.0 + j, scale=2.0) for j, s in enumerate(shapes)]
        for x in batches:
            _fwd(m, x, f"BatchNorm1d({c}, momentum={momentum})")
            ref(x)
        what = f"BatchNorm1d({c}, momentum={momentum}) after {len(batches)} training steps on {shapes}"
        rm, rv = getattr(m, "running_mean", None), getattr(m, "running_var", None)
        if not _same(rm, ref.running_mean):
            if _same(rm, _simulate(batches, momentum, reversed_momentum=True)[0]):
                fail(f"{what}: running_mean looks like momentum was applied the wrong way round. PyTorch updates "
                     "running = (1 - momentum) * running + momentum * batch_mean.",
                     f"{what}：running_mean 看起来把 momentum 用反了。PyTorch 的更新为 "
                     "running = (1 - momentum) * running + momentum * batch_mean。",
                     likely=("running = momentum * running + (1 - momentum) * batch: momentum is the weight of the "
                             "NEW batch in PyTorch (the opposite of the optimizer's momentum).",
                             "写成了 running = momentum * running + (1 - momentum) * batch：在 PyTorch 中 momentum "
                             "是新批次的权重（与优化器的 momentum 含义相反）。"))
            assert_close(rm, ref.running_mean, f"{what}: running_mean",
                         likely=("running statistics not updated in training mode (or not under torch.no_grad() "
                                 "in place on the buffer), momentum misapplied, or the wrong dims for (N, C, L).",
                                 "训练模式下没有更新滑动统计量（或没有在 torch.no_grad() 下原地更新缓冲区），"
                                 "momentum 用错，或 (N, C, L) 的统计维度不对。"))
        if not _same(rv, ref.running_var):
            if _same(rv, _simulate(batches, momentum, biased=True)[1]):
                fail(f"{what}: running_var was updated with the biased batch variance; PyTorch normalises with the "
                     "biased variance but stores the unbiased one (times n / (n - 1), n = values per channel) in "
                     "running_var.",
                     f"{what}：running_var 用有偏的批方差更新了；PyTorch 归一化时用有偏方差，但写入 running_var "
                     "的是无偏方差（乘以 n / (n - 1)，n 为每个通道的数值个数）。",
                     likely=("reusing the variance computed for normalising (correction=0) in the running update.",
                             "在滑动更新中复用了归一化用的方差（correction=0）。"))
            assert_close(rv, ref.running_var, f"{what}: running_var",
                         likely=("running_var must take the unbiased batch variance (n / (n - 1) times the biased one, "
                                 "n = N for (N, C), N * L for (N, C, L)), with momentum weighting the new batch.",
                                 "running_var 应使用无偏批方差（有偏方差乘 n / (n - 1)，(N, C) 时 n = N，"
                                 "(N, C, L) 时 n = N * L），且 momentum 是新批次的权重。"))
        nbt = getattr(m, "num_batches_tracked", None)
        expect(isinstance(nbt, torch.Tensor) and int(nbt) == len(batches),
               f"{what}: num_batches_tracked should be {len(batches)}, got {nbt!r}.",
               f"{what}：num_batches_tracked 应为 {len(batches)}，实际为 {nbt!r}。",
               likely=("num_batches_tracked not incremented in place (self.num_batches_tracked += 1 under no_grad) "
                       "on every training forward.",
                       "每次训练前向时没有原地把 num_batches_tracked 加 1（在 no_grad 下 self.num_batches_tracked += 1）。"))


@check(points=2, category="correctness")
def test_eval_uses_running_stats(ex):
    """Eval mode normalises with running_mean/running_var (not the batch) and leaves the buffers unchanged.
    zh: 评估模式用 running_mean/running_var（而非当前批次）归一化，并且不改变缓冲区。
    """
    for i, shape in enumerate([(6, 4), (3, 4, 5), (1, 4), (2, 4, 1)]):
        ref = _ref(4, seed=90 + i, eps=1e-3, random_running=True).eval()
        m = _like(ex, ref)
        m.eval()
        before = {n: b.clone() for n, b in m.named_buffers()}
        x = _data(shape, 100 + i, loc=5.0, scale=2.0)
        what = f"BatchNorm1d(4) in eval mode on {shape}"
        likely = ("batch statistics in eval mode: after model.eval() (self.training is False) normalise "
                  "with running_mean and running_var.",
                  "评估模式下使用了批统计量：model.eval() 之后（self.training 为 False）应使用 "
                  "running_mean 和 running_var 归一化。")
        if len(shape) == 3:
            likely = (likely[0] + " For (N, C, L) the (C,) running statistics must broadcast as (1, C, 1).",
                      likely[1] + "对 (N, C, L)，(C,) 的滑动统计量要按 (1, C, 1) 广播。")
        assert_close(_fwd(m, x, what), ref(x), what, likely=likely)
        for n, b in m.named_buffers():
            expect(torch.equal(b, before[n]), f"{what}: buffer {n} changed during an eval-mode forward.",
                   f"{what}：评估模式的前向改变了缓冲区 {n}。",
                   likely=("running statistics updated regardless of self.training.",
                           "不论 self.training 如何都更新了滑动统计量。"))


_MODE_LIKELY = ("the mode kept in a flag of your own, set in an overridden eval() (or train()): model.eval() and "
                "module.train(False) only call train(False) on every submodule, never their eval(). Branch on "
                "self.training, which nn.Module.train(mode) sets.",
                "用自己的标志记录模式，并在重写的 eval()（或 train()）中设置：model.eval() 和 module.train(False) "
                "只会对每个子模块调用 train(False)，从不调用它们的 eval()。应根据 nn.Module.train(mode) 设置的 "
                "self.training 分支。")


_EVAL_BATCH_LIKELY = ("batch statistics in eval mode: when self.training is False (after model.eval() or "
                      "train(False)) normalise with running_mean and running_var.",
                      "评估模式下使用了批统计量：self.training 为 False 时（model.eval() 或 train(False) 之后）应使用 "
                      "running_mean 和 running_var 归一化。")


_TRAIN_RUNNING_LIKELY = ("running statistics in training mode: when self.training is True normalise with the batch "
                         "mean and the biased batch variance.",
                         "训练模式下使用了滑动统计量：self.training 为 True 时应使用批均值和有偏批方差归一化。")


def _why_wrong_stats(layer, x, want, mode="eval"):
    """Why a layer meant to be in ``mode`` normalised with the other mode's statistics: after its own .eval() /
    .train() it gets ``want`` (a mode flag of its own: _MODE_LIKELY), or it does not (the statistics themselves).
    ``layer``: a copy of the learner's layer taken before that forward."""
    other = _EVAL_BATCH_LIKELY if mode == "eval" else _TRAIN_RUNNING_LIKELY
    try:
        getattr(layer, mode)()
        y = _fwd(layer, x)
    except Exception:  # noqa: BLE001 - only a probe for the message
        return other
    return _MODE_LIKELY if _same(y, want) else other


@check(points=3, category="gradient")
def test_gradients(ex):
    """Gradients w.r.t. the input, weight and bias equal nn.BatchNorm1d's, in training and eval mode.
    zh: 对输入、weight 和 bias 的梯度在训练和评估模式下都与 nn.BatchNorm1d 一致。
    """
    for i, (shape, train) in enumerate([((6, 5), True), ((3, 4, 7), True), ((2, 5), True), ((5, 3, 2), False)]):
        c = shape[1]
        ref = _ref(c, seed=110 + i, random_running=True).train(train)
        m = _like(ex, ref).train(train)
        probe = copy.deepcopy(m)
        x = _data(shape, 120 + i)
        with seeded(130 + i):
            g = torch.randn(*shape)
        xm, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
        mode = "training" if train else "eval"
        what = f"BatchNorm1d({c}) in {mode} mode on {shape}"
        y = _fwd(m, xm, what)
        expect(isinstance(y, torch.Tensor) and y.requires_grad,
               f"{what}: the output does not require grad, so no gradient can flow back.",
               f"{what}：输出不需要梯度，梯度无法反向传播。",
               likely=("the whole forward wrapped in torch.no_grad(), or .detach() on the result.",
                       "整个 forward 包在 torch.no_grad() 中，或对结果调用了 .detach()。"))
        yr = ref(xr)
        likely = ("the forward itself is wrong; fix the forward checks first.", "前向计算本身有误；请先修正前向相关的检查。")
        if not train and _same(y, copy.deepcopy(ref).train()(x)):
            likely = _why_wrong_stats(probe, x, yr)
        assert_close(y, yr, f"{what}: output (checked before the gradients)", likely=likely)
        (y * g).sum().backward()
        (yr * g).sum().backward()
        assert_close(xm.grad, xr.grad, f"{what}: gradient w.r.t. the input",
                     likely=("batch mean/variance detached (or computed under torch.no_grad()): in training mode the "
                             "gradient also flows through the batch statistics.",
                             "批均值/方差被 detach（或在 torch.no_grad() 下计算）：训练模式下梯度也要流经批统计量。")
                     if train else None)
        assert_close(m.weight.grad, ref.weight.grad, f"{what}: gradient of weight")
        assert_close(m.bias.grad, ref.bias.grad, f"{what}: gradient of bias")
        for n, b in m.named_buffers():
            expect(not b.requires_grad,
                   f"{what}: buffer {n} requires grad after a training step; running statistics must be updated "
                   "outside autograd.",
                   f"{what}：训练一步后缓冲区 {n} 需要梯度；滑动统计量必须在自动求导之外更新。",
                   likely=("running_mean/var updated from the batch statistics without torch.no_grad() or .detach(), "
                           "so they keep a graph that later eval-mode backward passes reach.",
                           "用批统计量更新 running_mean/var 时没有使用 torch.no_grad() 或 .detach()，"
                           "它们保留了计算图，之后评估模式的反向传播会走到这张图。"))


@check(points=2, category="device")
def test_moves_with_to_device(ex):
    """Moved with .to(device), buffers follow; training and eval forwards run there and match the CPU.
    zh: 用 .to(device) 移动后缓冲区随之移动；训练和评估前向都在该设备上运行且与 CPU 一致。
    """
    ref = _ref(4, seed=140, random_running=True)
    m = _like(ex, ref)
    cpu = copy.deepcopy(m)
    xs = [_data((5, 4), 141), _data((2, 4, 3), 142)]
    ref_out = [_fwd(cpu, x).detach() for x in xs]
    cpu.eval()
    ref_eval = _fwd(cpu, xs[0]).detach()
    with accelerator() as dev:
        m.to(dev)
        outs = []
        for x in xs:
            y = _fwd(m, x.to(dev), "BatchNorm1d on the accelerator")
            assert_on_device(y, dev, "BatchNorm1d output")
            outs.append(to_cpu(y))
        for n, b in m.named_buffers():
            assert_on_device(b, dev, f"buffer {n} after .to(device) and two training steps",
                             likely=("the buffer replaced by a new CPU tensor in forward (assign in place: "
                                     "self.running_mean.mul_(...).add_(...)), or a plain attribute instead of a buffer.",
                                     "在 forward 中用新的 CPU 张量替换了缓冲区（应原地更新："
                                     "self.running_mean.mul_(...).add_(...)），或用了普通属性而不是缓冲区。"))
        bufs = {n: to_cpu(b) for n, b in m.named_buffers()}
        m.eval()
        y_eval = to_cpu(_fwd(m, xs[0].to(dev), "BatchNorm1d on the accelerator (eval)"))
    for y, r in zip(outs, ref_out):
        assert_close(y, r, "training-mode output on the accelerator")
    for n, b in cpu.named_buffers():
        assert_close(bufs[n].double(), b.double(), f"{n} after two training steps on the accelerator")
    assert_close(y_eval, ref_eval, "eval-mode output on the accelerator")


@check(points=1, category="correctness")
def test_hyperparameters_kept(ex):
    """The constructor's arguments are kept as attributes named like nn.BatchNorm1d's: num_features, eps, momentum, affine.
    zh: 构造参数保存为与 nn.BatchNorm1d 同名的属性：num_features、eps、momentum、affine。
    """
    for c, eps, momentum, affine in [(7, 1e-3, 0.2, False), (3, 0.5, 0.05, True)]:
        m = _make(ex, c, eps=eps, momentum=momentum, affine=affine)
        call = f"BatchNorm1d({c}, eps={eps}, momentum={momentum}, affine={affine})"
        likely = ("the arguments stored under other names (self.C, self.m, ...) or not stored at all; code that inspects "
                  "a BatchNorm layer (fusing it into a convolution, copying or printing it) reads bn.num_features, "
                  "bn.eps, bn.momentum and bn.affine.",
                  "参数以其他名字保存（self.C、self.m 等）或根本没有保存；检查 BatchNorm 层的代码（把它融合进卷积、"
                  "复制或打印它）会读取 bn.num_features、bn.eps、bn.momentum 和 bn.affine。")
        missing = [n for n in ("num_features", "eps", "momentum", "affine") if not hasattr(m, n)]
        expect(not missing, f"{call} should keep its hyper-parameters as attributes; it has no {', '.join(missing)}.",
               f"{call} 应把超参数保存为属性；它没有 {', '.join(missing)}。", likely=likely)
        got = (as_int(m.num_features, f"{call}.num_features"), as_number(m.eps, f"{call}.eps"),
               as_number(m.momentum, f"{call}.momentum"))
        expect(got == (c, eps, momentum) and m.affine in (True, False) and bool(m.affine) == affine,
               f"{call} should have num_features={c}, eps={eps}, momentum={momentum}, affine={affine}; got "
               f"num_features={m.num_features!r}, eps={m.eps!r}, momentum={m.momentum!r}, affine={m.affine!r}.",
               f"{call} 应有 num_features={c}、eps={eps}、momentum={momentum}、affine={affine}；实际为 "
               f"num_features={m.num_features!r}、eps={m.eps!r}、momentum={m.momentum!r}、affine={m.affine!r}。",
               likely=("an argument stored in the wrong attribute, or a default kept instead of the argument.",
                       "某个参数存进了别的属性，或保存的是默认值而不是传入的参数。"))


@check(points=2, category="correctness")
def test_follows_the_model_mode(ex):
    """Inside a model, the layer follows model.eval() and model.train(): it reads self.training, which they set.
    zh: 放在模型中时，该层跟随 model.eval() 和 model.train()：它读取由它们设置的 self.training。
    """
    c = 3
    ref = _ref(c, seed=150, random_running=True)
    bn = _like(ex, ref)
    model = nn.Sequential(nn.Identity(), bn)
    x = _data((5, c, 2), 151, loc=3.0)
    with_batch = copy.deepcopy(ref).train()(x).detach()
    with_running = copy.deepcopy(ref).eval()(x).detach()
    where = f"BatchNorm1d({c}) inside nn.Sequential(nn.Identity(), BatchNorm1d({c}))"
    for mode, want, other, stats in (("eval", with_running, with_batch, "running statistics"),
                                     ("train", with_batch, with_running, "batch statistics")):
        run_learner(f"model.{mode}()", ("set the mode of the model and of every submodule",
                                        "设置模型及其每个子模块的模式"), getattr(model, mode),
                    known=[("positional argument", ("train() overridden without its mode argument: nn.Module.train(mode=True) "
                                                    "is what model.eval() calls on every submodule, as train(False).",
                                                    "重写 train() 时去掉了 mode 参数：model.eval() 会以 train(False) "
                                                    "的形式对每个子模块调用 nn.Module.train(mode=True)。"))])
        before = {n: b.clone() for n, b in bn.named_buffers()}
        probe = copy.deepcopy(bn)
        y = _fwd(model, x, f"{where} after model.{mode}()")
        what = f"{where} after model.{mode}(): output on {tuple(x.shape)}"
        if not _same(y, want) and _same(y, other):
            fail(f"{what} uses the {'batch' if mode == 'eval' else 'running'} statistics; after model.{mode}() it "
                 f"should normalise with the {stats}.",
                 f"{what} 使用了{'批' if mode == 'eval' else '滑动'}统计量；model.{mode}() 之后应使用"
                 f"{'滑动' if mode == 'eval' else '批'}统计量归一化。",
                 likely=_why_wrong_stats(probe, x, want, mode))
        assert_close(y, want, what)
        if mode == "eval":
            for n, b in bn.named_buffers():
                expect(torch.equal(b, before[n]), f"{where}: buffer {n} changed during a forward after model.eval().",
                       f"{where}：model.eval() 之后的前向改变了缓冲区 {n}。",
                       likely=("running statistics updated regardless of self.training (the output did use them, so "
                               "only the update ignores the mode).",
                               "不论 self.training 如何都更新了滑动统计量（输出确实用了它们，只是更新没有看模式）。"))
