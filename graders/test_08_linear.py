"""Grader for exercise 08 — Linear from scratch.

Every call of the learner's forward runs under a TorchFunctionMode that makes the
built-in linear (F.linear, nn.Linear's forward, torch.ops.aten.linear) raise: the
exercise is to write it, not to delegate. References are F.linear with the same weights.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (BuiltinUsed, DeviceMismatchError, accelerator, as_int, assert_all_params_get_grad,
                             assert_close, assert_learns, assert_on_device, assert_shape, assert_uniform, check, expect,
                             fail, forbid, seeded, to_cpu)


# ---------------------------------------------------------------------------
# private helpers

_LEAD_LIKELY = ("2-D only (torch.mm, or x.view(N, in_features)): x @ weight.T (torch.matmul) broadcasts over any "
                "number of leading dims, including none.",
                "只支持 2 维（torch.mm，或 x.view(N, in_features)）：x @ weight.T（torch.matmul）"
                "可以处理任意数量（包括零个）的前导维度。")


def _fwd(m, x, what="Linear"):
    """The learner's forward, with the built-in linear forbidden."""
    try:
        with forbid(ops={"linear"}):
            return m(x)
    except DeviceMismatchError:
        raise
    except (RuntimeError, ValueError, IndexError) as e:
        if x.dim() == 2:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        fail(f"{what}: forward on a {x.dim()}-D input of shape {tuple(x.shape)} raised {type(e).__name__}: {first}",
             f"{what}：对形状为 {tuple(x.shape)} 的 {x.dim()} 维输入，forward 抛出 {type(e).__name__}: {first}",
             likely=_LEAD_LIKELY)
    except BuiltinUsed as e:
        fail(f"{what}: your forward called the built-in {e} (F.linear / nn.Linear); this exercise asks you to "
             "compute x @ weight.T + bias yourself, so the grader makes F.linear and nn.Linear raise while your "
             "forward runs.",
             f"{what}：你的 forward 调用了内置的 {e}（F.linear / nn.Linear）；本题要求自己计算 "
             "x @ weight.T + bias，因此评分器在你的 forward 运行期间禁止使用 F.linear 和 nn.Linear。",
             likely=("delegating to F.linear or an nn.Linear submodule.", "直接调用了 F.linear 或 nn.Linear 子模块。"))


def _make(ex, i, o, bias=True, seed=1):
    with seeded(seed):
        m = ex.Linear(i, o, bias=bias)
    expect(isinstance(m, nn.Module), f"Linear(...) should be an nn.Module, got {type(m).__name__}.",
           f"Linear(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _weight(m, i, o, bias=True):
    """The learner's weight (and bias), after checking nn.Linear's layout."""
    w = getattr(m, "weight", None)
    if not isinstance(w, nn.Parameter) or tuple(w.shape) != (o, i):
        seen = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        fail(f"Linear({i}, {o}).weight should be an nn.Parameter of shape (out_features, in_features) = ({o}, {i}), "
             f"like nn.Linear's; got {seen}{'' if isinstance(w, nn.Parameter) or w is None else ' (not a Parameter)'}.",
             f"Linear({i}, {o}).weight 应是形状为 (out_features, in_features) = ({o}, {i}) 的 nn.Parameter，"
             f"与 nn.Linear 相同；实际为 {seen}。",
             likely=("weight stored as (in_features, out_features) and applied as x @ W; nn.Linear stores "
                     "(out_features, in_features) and computes x @ W.T, so its state_dict would not load.",
                     "权重存成了 (in_features, out_features) 并用 x @ W 计算；nn.Linear 存的是 "
                     "(out_features, in_features)、计算 x @ W.T，否则无法加载它的 state_dict。"))
    b = getattr(m, "bias", None)
    if bias:
        expect(isinstance(b, nn.Parameter) and tuple(b.shape) == (o,),
               f"Linear({i}, {o}).bias should be an nn.Parameter of shape ({o},); got "
               f"{tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__}.",
               f"Linear({i}, {o}).bias 应是形状为 ({o},) 的 nn.Parameter；实际为 "
               f"{tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__}。")
    return w, b


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_output_shape(ex):
    """Output is (..., out_features) for 2-D inputs, extra leading dims and a 1-D input.
    zh: 对 2 维输入、带额外前导维度的输入以及 1 维输入，输出都是 (..., out_features)。
    """
    for k, (shape, i, o) in enumerate([((7, 3), 3, 8), ((1, 10), 10, 5), ((2, 3, 6), 6, 4),
                                       ((4, 1, 2, 5), 5, 3), ((9,), 9, 2)]):
        m = _make(ex, i, o)
        with seeded(10 + k):
            x = torch.randn(*shape)
        what = f"Linear({i}, {o}) on input {shape}"
        try:
            y = _fwd(m, x, what)
        except (RuntimeError, ValueError, IndexError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            fail(f"{what} should give {(*shape[:-1], o)}; it raised {type(e).__name__}: {first}",
                 f"{what} 应输出 {(*shape[:-1], o)}；实际抛出 {type(e).__name__}: {first}",
                 likely=_LEAD_LIKELY if len(shape) != 2 else None)
        assert_shape(y, (*shape[:-1], o), what, likely=_LEAD_LIKELY)


@check(points=2, category="correctness")
def test_parameters_match_nn_linear(ex):
    """weight (out, in) and bias (out,) are registered Parameters with nn.Linear's names; load_state_dict from nn.Linear works.
    zh: weight (out, in) 和 bias (out,) 是已注册的参数，名称与 nn.Linear 相同；能从 nn.Linear 执行 load_state_dict。
    """
    i, o = 7, 4
    m = _make(ex, i, o)
    _weight(m, i, o)
    params = {n: tuple(p.shape) for n, p in m.named_parameters()}
    expect(params == {"weight": (o, i), "bias": (o,)},
           f"Linear({i}, {o}) should have exactly the parameters weight {(o, i)} and bias ({o},); it has {params}.",
           f"Linear({i}, {o}) 应恰好有参数 weight {(o, i)} 和 bias ({o},)；实际为 {params}。",
           likely=("weight/bias kept as plain tensors (wrap them in nn.Parameter), or an extra nn.Linear submodule.",
                   "weight/bias 是普通张量（应包装为 nn.Parameter），或多了一个 nn.Linear 子模块。"))
    ref = nn.Linear(i, o)
    try:
        m.load_state_dict(ref.state_dict())
    except Exception as e:  # noqa: BLE001 - report any loading problem to the learner
        error = " ".join(str(e).split())[:400] or type(e).__name__
        fail(f"load_state_dict(nn.Linear({i}, {o}).state_dict()) should work on Linear({i}, {o}); it raised: {error}",
             f"Linear({i}, {o}) 应能 load_state_dict(nn.Linear({i}, {o}).state_dict())；实际报错：{error}",
             likely=("parameter names or shapes differ from nn.Linear's (weight (out, in), bias (out,)).",
                     "参数名称或形状与 nn.Linear 不同（weight (out, in)，bias (out,)）。"))
    assert_close(m.weight, ref.weight, "weight after load_state_dict from nn.Linear")
    assert_close(m.bias, ref.bias, "bias after load_state_dict from nn.Linear")


@check(points=1, category="correctness")
def test_keeps_in_and_out_features(ex):
    """Like nn.Linear, the layer keeps in_features and out_features as attributes.
    zh: 与 nn.Linear 一样，层把 in_features 和 out_features 保存为属性。
    """
    likely = ("the constructor arguments not stored: add self.in_features = in_features and "
              "self.out_features = out_features in __init__ (nn.Linear has both; code reads them, e.g. "
              "layer.in_features when building the next layer).",
              "没有保存构造参数：在 __init__ 中加入 self.in_features = in_features 和 "
              "self.out_features = out_features（nn.Linear 有这两个属性，很多代码会读取它们，例如用 "
              "layer.in_features 搭建下一层）。")
    for i, o, bias in [(7, 4, True), (3, 11, False)]:
        m = _make(ex, i, o, bias=bias)
        for name, want in (("in_features", i), ("out_features", o)):
            what = f"Linear({i}, {o}{'' if bias else ', bias=False'}).{name}"
            expect(hasattr(m, name), f"{what} is missing; nn.Linear keeps it as an attribute.",
                   f"缺少 {what}；nn.Linear 把它保存为属性。", likely=likely)
            got = as_int(getattr(m, name), what, likely=likely)
            expect(got == want, f"{what} should be {want}, got {got}.", f"{what} 应为 {want}，实际为 {got}。",
                   likely=("in_features and out_features swapped.", "in_features 与 out_features 写反了。"))


@check(points=2, category="correctness")
def test_no_bias(ex):
    """bias=False: self.bias is None, only weight is registered, and no bias is added.
    zh: bias=False 时 self.bias 为 None，只注册了 weight，且不加偏置。
    """
    likely = ("the bias argument ignored: with bias=False call self.register_parameter('bias', None) and skip "
              "the addition in forward.",
              "忽略了 bias 参数：bias=False 时应调用 self.register_parameter('bias', None)，并在 forward 中跳过加法。")
    for k, (shape, i, o) in enumerate([((5, 6), 6, 3), ((2, 3, 4), 4, 7)]):
        m = _make(ex, i, o, bias=False)
        w, _ = _weight(m, i, o, bias=False)
        names = [n for n, _ in m.named_parameters()]
        expect(getattr(m, "bias", 0) is None and names == ["weight"],
               f"Linear({i}, {o}, bias=False) should have self.bias = None and only the parameter weight; "
               f"it has parameters {names} and bias = {type(getattr(m, 'bias', None)).__name__}.",
               f"Linear({i}, {o}, bias=False) 应满足 self.bias = None 且只有参数 weight；"
               f"实际参数为 {names}，bias 为 {type(getattr(m, 'bias', None)).__name__}。", likely=likely)
        keys = sorted(m.state_dict())
        expect(keys == ["weight"], f"Linear({i}, {o}, bias=False).state_dict() keys should be ['weight'] "
               f"(as nn.Linear(bias=False)'s); got {keys}.",
               f"Linear({i}, {o}, bias=False).state_dict() 的键应为 ['weight']（与 nn.Linear(bias=False) 相同）；"
               f"实际为 {keys}。", likely=likely)
        with seeded(20 + k):
            x = torch.randn(*shape)
        what = f"Linear({i}, {o}, bias=False) on {shape}"
        assert_close(_fwd(m, x, what), F.linear(x, w.detach()), what, likely=likely)


@check(points=2, category="correctness")
def test_matches_f_linear(ex):
    """forward(x) equals F.linear(x, weight, bias) for several shapes, and loaded nn.Linear weights give nn.Linear's output.
    zh: 对多种形状，forward(x) 等于 F.linear(x, weight, bias)；加载 nn.Linear 的权重后输出与 nn.Linear 一致。
    """
    for k, (shape, i, o) in enumerate([((5, 3), 3, 6), ((2, 7, 8), 8, 2), ((3, 1, 2, 4), 4, 5), ((6,), 6, 6)]):
        m = _make(ex, i, o, seed=30 + k)
        w, b = _weight(m, i, o)
        with seeded(40 + k):
            x = torch.randn(*shape)
        what = f"Linear({i}, {o}) on {shape}"
        assert_close(_fwd(m, x, what), F.linear(x, w.detach(), b.detach()), what,
                     likely=("weight not transposed (x @ W.T), bias missing or added twice, or an activation "
                             "applied in forward.",
                             "没有转置权重（应为 x @ W.T），偏置缺失或重复相加，或在 forward 中加了激活函数。"))
    with seeded(50):
        ref = nn.Linear(5, 3)
        x = torch.randn(4, 5)
    m = _make(ex, 5, 3)
    _weight(m, 5, 3)
    with torch.no_grad():
        m.weight.copy_(ref.weight)
        m.bias.copy_(ref.bias)
    assert_close(_fwd(m, x), ref(x), "Linear(5, 3) with nn.Linear's weights copied in, on (4, 5)")


@check(points=2, category="gradient")
def test_gradients(ex):
    """Gradients w.r.t. the input, weight and bias equal F.linear's.
    zh: 对输入、weight 和 bias 的梯度与 F.linear 一致。
    """
    for k, (shape, i, o) in enumerate([((3, 4, 6), 6, 5), ((7, 2), 2, 3)]):
        m = _make(ex, i, o, seed=60 + k)
        w, b = _weight(m, i, o)
        with seeded(70 + k):
            x = torch.randn(*shape)
            g = torch.randn(*shape[:-1], o)
        xm, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
        wr, br = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
        what = f"Linear({i}, {o}) on {shape}"
        y = _fwd(m, xm, what)
        expect(isinstance(y, torch.Tensor) and y.requires_grad,
               f"{what}: the output does not require grad, so no gradient can flow back.",
               f"{what}：输出不需要梯度，梯度无法反向传播。",
               likely=("torch.no_grad() or .detach() in forward, or weight not an nn.Parameter.",
                       "forward 中使用了 torch.no_grad() 或 .detach()，或 weight 不是 nn.Parameter。"))
        (y * g).sum().backward()
        (F.linear(xr, wr, br) * g).sum().backward()
        assert_all_params_get_grad(m, f"Linear({i}, {o})")
        assert_close(xm.grad, xr.grad, f"{what}: gradient w.r.t. the input")
        assert_close(w.grad, wr.grad, f"{what}: gradient of weight")
        assert_close(b.grad, br.grad, f"{what}: gradient of bias")


@check(points=3, category="correctness")
def test_init_like_nn_linear(ex):
    """weight and bias start in U(-1/sqrt(in), 1/sqrt(in)): reaching the bound, not beyond, with the uniform's spread.
    zh: weight 和 bias 的初值服从 U(-1/sqrt(in), 1/sqrt(in))：能取到边界附近、不越界，离散程度与该均匀分布相符。
    """
    fix = ("nn.Linear's init: nn.init.kaiming_uniform_(weight, a=math.sqrt(5)) (bound 1/sqrt(in_features)) and "
           "nn.init.uniform_(bias, -bound, bound) with the same bound.",
           "nn.Linear 的初始化是：nn.init.kaiming_uniform_(weight, a=math.sqrt(5))（边界 1/sqrt(in_features)），"
           "以及相同边界的 nn.init.uniform_(bias, -bound, bound)。")
    # Several fans, the widest bias included: Linear(1, n) has the largest bound (1), Linear(4, 30000) the most draws.
    for k, (i, o) in enumerate([(256, 128), (3, 2000), (1, 3000), (4, 30000), (50, 40)]):
        m = _make(ex, i, o, seed=80 + k)
        w, b = _weight(m, i, o)
        bound = 1 / math.sqrt(i)
        for name, t in (("weight", w), ("bias", b)):
            assert_uniform(t, bound, f"Linear({i}, {o}).{name} at init", "1/sqrt(in_features)", fix)


@check(points=2, category="training")
def test_mlp_learns(ex):
    """A Linear -> Tanh -> Linear network built from your Linear fits a small regression with Adam.
    zh: 用你的 Linear 搭建的 Linear -> Tanh -> Linear 网络能用 Adam 拟合一个小回归问题。
    """
    with seeded(90):
        model = nn.Sequential(ex.Linear(4, 16), nn.Tanh(), ex.Linear(16, 1))
        x = torch.randn(64, 4)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5], [1.5]]) + 0.3
    params = list(model.parameters())
    expect(params, "the network built from Linear has no parameters, so nothing can be trained.",
           "由 Linear 搭建的网络没有参数，无法训练。",
           likely=("weight/bias not wrapped in nn.Parameter.", "weight/bias 没有包装为 nn.Parameter。"))
    opt = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.mse_loss(_fwd(model, x, "Linear inside nn.Sequential"), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert_learns(losses, "Linear(4, 16) -> Tanh -> Linear(16, 1) with Adam(lr=1e-2)")


@check(points=2, category="device")
def test_moves_with_to_device(ex):
    """Built on the CPU and moved with .to(device), it runs there (with and without bias) and gives the CPU's numbers.
    zh: 在 CPU 上构建、用 .to(device) 移动后（有无偏置均可）能在该设备上运行且结果与 CPU 一致。
    """
    for k, (bias, shape) in enumerate([(True, (3, 2, 6)), (False, (5, 6))]):
        m = _make(ex, 6, 4, bias=bias, seed=100 + k)
        with seeded(110 + k):
            x = torch.randn(*shape)
        ref = _fwd(m, x).detach()
        with accelerator() as dev:
            m.to(dev)
            y = _fwd(m, x.to(dev), "Linear on the accelerator")
            assert_on_device(y, dev, f"Linear(6, 4, bias={bias}) output",
                             likely=("weight/bias kept as plain tensors (not nn.Parameter), so .to() leaves them on "
                                     "the CPU, or .cpu() inside forward.",
                                     "weight/bias 是普通张量（不是 nn.Parameter），.to() 不会移动它们；或在 forward 中"
                                     "调用了 .cpu()。"))
            y = to_cpu(y)
        assert_close(y, ref, f"Linear(6, 4, bias={bias}) output on the accelerator")
