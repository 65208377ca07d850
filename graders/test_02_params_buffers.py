"""Grader for exercise 02 — parameters and buffers."""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, as_int, assert_all_params_get_grad, assert_close, assert_on_device,
                             assert_shape, check, expect, fail, seeded, to_cpu)

PARAMS = {"linear.weight", "linear.bias"}
BUFFERS = {"mean", "std", "causal_avg"}
PERSISTENT = PARAMS | {"mean", "std"}


def _make(ex, i, o, max_len=32, seed=1):
    with seeded(seed):
        m = ex.SmoothedLinear(i, o, max_len)
    expect(isinstance(m, nn.Module), f"SmoothedLinear(...) should be an nn.Module, got {type(m).__name__}.",
           f"SmoothedLinear(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    lin = getattr(m, "linear", None)
    expect(isinstance(lin, nn.Linear) and "linear" in dict(m.named_children()),
           "SmoothedLinear should register an nn.Linear as self.linear.",
           "SmoothedLinear 应把 nn.Linear 注册为 self.linear。",
           likely=("super().__init__() not called first, or the layer stored under another name.",
                   "没有先调用 super().__init__()，或层用了别的属性名。"))
    return m


def _data(shape, seed):
    """Inputs whose features have clearly non-zero means and non-unit spreads."""
    with seeded(seed):
        i = shape[-1]
        return torch.randn(*shape) * torch.linspace(0.5, 3.0, i) + torch.linspace(-2.0, 4.0, i)


def _reference(x, mean, std, w, b):
    z = (x - mean) / std
    steps = torch.arange(1, x.shape[-2] + 1, dtype=x.dtype)[:, None]
    return F.linear(z.cumsum(-2) / steps, w, b)


def _fitted(ex, i, o, max_len=32, seed=1):
    m = _make(ex, i, o, max_len, seed)
    m.fit_stats(_data((5, 7, i), seed + 10))
    return m


@check(points=2, category="shape")
def test_output_shape(ex):
    """Output is (B, T, out_features) for several batch sizes and sequence lengths up to max_len.
    zh: 对不同的 batch 大小和不超过 max_len 的序列长度，输出都是 (B, T, out_features)。
    """
    for (b, t, i, o, L) in [(1, 1, 4, 3, 8), (3, 5, 4, 3, 8), (2, 8, 6, 2, 8), (4, 13, 5, 7, 32)]:
        m = _make(ex, i, o, L)
        y = m(torch.randn(b, t, i))
        assert_shape(y, (b, t, o), f"SmoothedLinear({i}, {o}, max_len={L}) on input ({b}, {t}, {i})",
                     likely=("causal_avg not sliced to [:T, :T], or the averaging applied over the feature axis.",
                             "causal_avg 没有切成 [:T, :T]，或在特征维上做了平均。"))


@check(points=2, category="correctness")
def test_parameters_and_buffers_are_separate(ex):
    """parameters() holds only linear.weight and linear.bias; buffers() holds mean, std and causal_avg.
    zh: parameters() 只含 linear.weight 与 linear.bias；buffers() 含 mean、std 与 causal_avg。
    """
    m = _make(ex, 6, 4, 10)
    params = {n for n, _ in m.named_parameters()}
    bufs = dict(m.named_buffers())
    expect(params == PARAMS,
           f"parameters() should hold exactly {sorted(PARAMS)}; it holds {sorted(params)}.",
           f"parameters() 应恰好包含 {sorted(PARAMS)}；实际为 {sorted(params)}。",
           likely=("a statistic or constant stored as nn.Parameter (then the optimizer trains it), or an extra "
                   "nn.Parameter that forward never uses; use self.register_buffer(...) instead.",
                   "把统计量或常量存成了 nn.Parameter（优化器会去训练它），或多了一个 forward 中用不到的 nn.Parameter；"
                   "应使用 self.register_buffer(...)。"))
    expect(set(bufs) == BUFFERS,
           f"buffers() should hold exactly {sorted(BUFFERS)}; it holds {sorted(bufs)}.",
           f"buffers() 应恰好包含 {sorted(BUFFERS)}；实际为 {sorted(bufs)}。",
           likely=("a plain tensor attribute (self.x = torch...) is not a buffer: register it with "
                   "self.register_buffer(name, tensor).",
                   "普通张量属性（self.x = torch...）不是 buffer：要用 self.register_buffer(name, tensor) 注册。"))
    assert_close(bufs["mean"], torch.zeros(6), "initial buffer mean (zeros)")
    assert_close(bufs["std"], torch.ones(6), "initial buffer std (ones)")
    want = torch.tril(torch.ones(10, 10)) / torch.arange(1, 11, dtype=torch.float32)[:, None]
    assert_close(bufs["causal_avg"], want, "buffer causal_avg for max_len=10",
                 likely=("rows not divided by t + 1 (1, 2, 3, ...), or torch.triu used instead of torch.tril.",
                         "行没有除以 t + 1（1, 2, 3, ...），或误用了 torch.triu 而不是 torch.tril。"))
    for n, buf in bufs.items():
        expect(not buf.requires_grad, f"buffer {n} should not require grad.", f"buffer {n} 不应 requires_grad。")


@check(points=2, category="correctness")
def test_state_dict_keeps_persistent_buffers_only(ex):
    """state_dict() holds the weights, mean and std but not causal_avg, and loads into a model with another max_len.
    zh: state_dict() 含权重、mean 与 std，但不含 causal_avg，且能加载到 max_len 不同的模型中。
    """
    a = _fitted(ex, 5, 3, max_len=12, seed=2)
    keys = set(a.state_dict())
    expect("causal_avg" not in keys,
           f"causal_avg should not be in state_dict() (it is a constant rebuilt from max_len); keys are {sorted(keys)}.",
           f"causal_avg 不应出现在 state_dict() 中（它是由 max_len 重建的常量）；实际键为 {sorted(keys)}。",
           likely=("register_buffer('causal_avg', ...) without persistent=False.",
                   "register_buffer('causal_avg', ...) 时没有传 persistent=False。"))
    expect(keys == PERSISTENT,
           f"state_dict() should hold exactly {sorted(PERSISTENT)}; it holds {sorted(keys)}.",
           f"state_dict() 应恰好包含 {sorted(PERSISTENT)}；实际为 {sorted(keys)}。",
           likely=("mean/std registered with persistent=False or kept as plain attributes (then they are lost when "
                   "saving), or an extra parameter.",
                   "mean/std 用了 persistent=False 或只是普通属性（保存时会丢失），或多了一个参数。"))
    b = _make(ex, 5, 3, max_len=20, seed=3)
    try:
        b.load_state_dict(a.state_dict())
    except RuntimeError as e:
        fail(f"Loading the state_dict of SmoothedLinear(5, 3, max_len=12) into one with max_len=20 failed: "
             f"{str(e).splitlines()[0]}",
             f"把 SmoothedLinear(5, 3, max_len=12) 的 state_dict 加载到 max_len=20 的模型时失败：{str(e).splitlines()[0]}",
             likely=("causal_avg saved in the state_dict (persistent=True), so its shape must match.",
                     "causal_avg 被存进了 state_dict（persistent=True），形状必须一致。"))
    assert_close(b.mean, a.mean, "mean after load_state_dict")
    assert_close(b.std, a.std, "std after load_state_dict")
    x = _data((2, 9, 5), 4)
    assert_close(b(x), a(x), "output of the reloaded model")


@check(points=2, category="correctness")
def test_fit_stats_sets_the_buffers(ex):
    """fit_stats(x) stores the per-feature mean and std in the buffers, without gradients.
    zh: fit_stats(x) 把每个特征的均值和标准差存入 buffer，且不记录梯度。
    """
    for shape in [(40, 3), (6, 11, 4)]:
        m = _make(ex, shape[-1], 2)
        x = _data(shape, 5).requires_grad_()
        out = m.fit_stats(x)
        expect(out is None or out is m, f"fit_stats should return None, got {type(out).__name__}.",
               f"fit_stats 应返回 None，实际返回 {type(out).__name__}。")
        flat = x.detach().reshape(-1, shape[-1])
        bufs = dict(m.named_buffers())
        expect({"mean", "std"} <= set(bufs),
               f"after fit_stats, mean and std should still be buffers; buffers() holds {sorted(bufs)}.",
               f"fit_stats 之后 mean 和 std 应仍是 buffer；buffers() 实际为 {sorted(bufs)}。",
               likely=("mean/std created as nn.Parameter (or replaced by one in fit_stats) instead of "
                       "self.register_buffer(...).",
                       "mean/std 被创建成了 nn.Parameter（或在 fit_stats 中被替换成参数），而不是用 self.register_buffer(...)。"))
        assert_close(bufs["mean"], flat.mean(0), f"buffer mean after fit_stats on {shape}",
                     likely=("statistics taken over the wrong axis (they are per feature, over every leading dim).",
                             "统计量的维度不对（应按特征、在所有前导维度上计算）。"))
        assert_close(bufs["std"], flat.std(0), f"buffer std after fit_stats on {shape}",
                     likely=("a biased std (unbiased=False / correction=0), or the wrong axis.",
                             "用了有偏标准差（unbiased=False / correction=0），或维度不对。"))
        for n in ("mean", "std"):
            expect(not bufs[n].requires_grad and bufs[n].grad_fn is None,
                   f"buffer {n} requires grad after fit_stats on an input that requires grad.",
                   f"在 requires_grad 的输入上调用 fit_stats 后，buffer {n} 带上了梯度。",
                   likely=("the statistics computed outside torch.no_grad() (or without .detach()).",
                           "统计量没有在 torch.no_grad() 中计算（或没有 .detach()）。"))


@check(points=2, category="correctness")
def test_forward_matches_reference(ex):
    """forward standardizes with the buffers, averages causally over time and applies linear.
    zh: forward 用 buffer 做标准化、沿时间做因果平均，再经过 linear。
    """
    for (b, t, i, o, L) in [(2, 6, 4, 3, 8), (3, 1, 5, 2, 16), (1, 11, 3, 4, 11)]:
        m = _fitted(ex, i, o, L, seed=t)
        x = _data((b, t, i), 20 + t)
        y = m(x)
        ref = _reference(x, m.mean, m.std, m.linear.weight, m.linear.bias)
        assert_close(y, ref, f"SmoothedLinear({i}, {o}, max_len={L}) on input ({b}, {t}, {i})",
                     likely=("the buffers mean/std not used (or used as x * std + mean), or causal_avg applied as "
                             "z @ causal_avg instead of causal_avg[:T, :T] @ z.",
                             "没有用 mean/std（或写成 x * std + mean），或写成 z @ causal_avg 而不是 causal_avg[:T, :T] @ z。"))


@check(points=2, category="gradient")
def test_every_parameter_gets_a_gradient(ex):
    """After backward every parameter has autograd's gradient, and no buffer gets one.
    zh: backward 之后每个参数都有正确的梯度，而 buffer 没有梯度。
    """
    m = _fitted(ex, 4, 3, 9, seed=6)
    x = _data((3, 7, 4), 7)
    m(x).pow(2).sum().backward()
    assert_all_params_get_grad(m, "SmoothedLinear",
                               likely=("an nn.Parameter that forward never uses (a constant belongs in a buffer, "
                                       "and an unused parameter does not belong at all).",
                                       "有一个 forward 中从未使用的 nn.Parameter（常量应放在 buffer 里，用不到的参数就不该存在）。"))
    w = m.linear.weight.detach().clone().requires_grad_()
    b = m.linear.bias.detach().clone().requires_grad_()
    _reference(x, m.mean.detach(), m.std.detach(), w, b).pow(2).sum().backward()
    assert_close(m.linear.weight.grad, w.grad, "gradient of linear.weight")
    assert_close(m.linear.bias.grad, b.grad, "gradient of linear.bias")
    for n, buf in m.named_buffers():
        expect(buf.grad is None, f"buffer {n} received a gradient.", f"buffer {n} 得到了梯度。",
               likely=("the buffer made trainable with requires_grad_().", "对 buffer 调用了 requires_grad_()。"))


@check(points=2, category="device")
def test_buffers_follow_to_device(ex):
    """After .to(device) the buffers live on the device and the output equals the CPU result.
    zh: .to(device) 之后 buffer 都在该设备上，输出与 CPU 结果一致。
    """
    m = _fitted(ex, 5, 4, 16, seed=8)
    x = _data((3, 9, 5), 9)
    ref = m(x).detach()
    with accelerator() as dev:
        m.to(dev)
        for n in sorted(BUFFERS):
            t = getattr(m, n, None)
            expect(isinstance(t, torch.Tensor), f"SmoothedLinear has no tensor attribute {n}.",
                   f"SmoothedLinear 没有张量属性 {n}。")
            assert_on_device(t, dev, f"self.{n} after model.to(device)",
                             likely=("a plain tensor attribute instead of a registered buffer: .to() only moves "
                                     "parameters and buffers.",
                                     "用了普通张量属性而不是注册的 buffer：.to() 只移动参数和 buffer。"))
        y = m(x.to(dev))
        assert_on_device(y, dev, "SmoothedLinear output")
        y = to_cpu(y)
    assert_close(y, ref, "output on the accelerator")


@check(points=1, category="correctness")
def test_buffers_follow_dtype(ex):
    """After .double() the buffers are float64 and the output equals a float64 reference.
    zh: .double() 之后 buffer 都是 float64，输出与 float64 参考结果一致。
    """
    m = _fitted(ex, 3, 2, 8, seed=9).double()
    for n in sorted(BUFFERS):
        t = getattr(m, n, None)
        expect(isinstance(t, torch.Tensor) and t.dtype == torch.float64,
               f"self.{n} should be float64 after model.double(); it is "
               f"{getattr(t, 'dtype', type(t).__name__)}.",
               f"model.double() 之后 self.{n} 应为 float64；实际为 {getattr(t, 'dtype', type(t).__name__)}。",
               likely=("a plain tensor attribute instead of a registered buffer: .double()/.to() only convert "
                       "parameters and buffers.",
                       "用了普通张量属性而不是注册的 buffer：.double()/.to() 只转换参数和 buffer。"))
    x = _data((2, 5, 3), 10).double()
    ref = _reference(x, m.mean, m.std, m.linear.weight, m.linear.bias)
    assert_close(m(x), ref, "float64 output", atol=1e-6, rtol=1e-6)


class _Tied(nn.Module):
    """A tiny language model whose output layer reuses the embedding matrix (weight tying)."""

    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        self.head.weight = self.emb.weight
        self.register_buffer("positions", torch.arange(16).float())


class _Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.frozen = nn.Parameter(torch.zeros(4, 2), requires_grad=False)
        self.register_buffer("running", torch.zeros(100))
        self.register_buffer("cache", torch.zeros(50), persistent=False)


def _expect_count(ex, model, what, likely):
    want = sum(p.numel() for p in model.parameters() if p.requires_grad)
    got = as_int(ex.count_trainable(model), f"count_trainable({what})",
                 likely=("a float: sum(...) over float numbers or a division; count with p.numel() (an int).",
                         "返回了浮点数：对浮点数求和或做了除法；应使用 p.numel()（整数）计数。"))
    expect(got == want, f"count_trainable({what}) should be {want}, got {got}.",
           f"count_trainable({what}) 应为 {want}，实际为 {got}。", likely=likely)


@check(points=2, category="correctness")
def test_count_trainable_skips_frozen_and_buffers(ex):
    """count_trainable counts only parameters with requires_grad=True, never buffers.
    zh: count_trainable 只统计 requires_grad=True 的参数，不统计 buffer。
    """
    likely = ("frozen parameters (requires_grad=False) or buffers counted: sum p.numel() over model.parameters() "
              "where p.requires_grad; state_dict() also holds buffers.",
              "统计了冻结参数（requires_grad=False）或 buffer：应对 model.parameters() 中 p.requires_grad 为真的 p "
              "求 p.numel() 之和；state_dict() 里还有 buffer。")
    with seeded(0):
        net = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    _expect_count(ex, net, "Sequential(Linear(5, 8), BatchNorm1d(8), ReLU(), Linear(8, 2))", likely)
    net[0].requires_grad_(False)
    _expect_count(ex, net, "the same Sequential with its first Linear frozen", likely)
    net.requires_grad_(False)
    _expect_count(ex, net, "the same Sequential with every parameter frozen", likely)
    _expect_count(ex, _Mixed(), "a module with a frozen nn.Parameter and two buffers", likely)


@check(points=1, category="correctness")
def test_count_trainable_counts_shared_once(ex):
    """A parameter shared by two layers (tied embedding/output weights) is counted once.
    zh: 两个层共享的参数（共享的嵌入/输出权重）只统计一次。
    """
    likely = ("iterating over each submodule's own parameters (or state_dict()) sees a tied weight twice; "
              "model.parameters() removes duplicates.",
              "逐个子模块遍历参数（或用 state_dict()）会把共享权重数两次；model.parameters() 会自动去重。")
    _expect_count(ex, _Tied(), "a model whose output layer reuses the embedding weight", likely)
    _expect_count(ex, _Tied(7, 5), "a smaller tied model", likely)
    shared = nn.Linear(4, 4)
    _expect_count(ex, nn.Sequential(shared, nn.Tanh(), shared), "Sequential(lin, Tanh(), lin) with one shared Linear",
                  likely)
