"""Grader for exercise 07 — Conv2d from scratch (im2col with F.unfold)."""
import math
import re
from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (BuiltinUsed, DeviceMismatchError, accelerator, as_int, assert_all_params_get_grad,
                             assert_close, assert_learns, assert_on_device, assert_shape, assert_uniform, check, expect,
                             fail, forbid, seeded, to_cpu)

Cfg = namedtuple("Cfg", "n cin h w cout k stride padding dilation bias")

# Each check gets its own shapes, so an answer tuned to one set fails the others.
SHAPE_CFGS = [
    Cfg(1, 1, 28, 28, 10, 3, 1, 0, 1, True),                 # the seed's layer, on one image
    Cfg(3, 2, 10, 7, 4, (2, 3), 2, 1, 1, True),
    Cfg(2, 3, 13, 12, 5, 3, 1, 2, 2, False),
    Cfg(1, 4, 9, 11, 2, (3, 1), (2, 1), (0, 1), (1, 2), True),
]
OUT_CFGS = [
    Cfg(2, 3, 9, 11, 4, 3, 1, 0, 1, True),
    Cfg(3, 2, 10, 7, 5, (2, 3), 2, 1, 1, True),              # non-square kernel, stride 2, padding 1
    Cfg(1, 4, 13, 12, 3, (3, 2), (2, 1), (2, 1), 1, False),  # (h, w) pairs, no bias
    Cfg(3, 3, 15, 14, 2, 3, 1, 2, 2, True),                  # dilation 2, padding 2
    Cfg(2, 5, 8, 9, 6, 1, 1, 0, 1, False),                   # 1x1 convolution
    Cfg(1, 2, 12, 11, 3, (5, 3), 2, 1, (2, 1), True),
]
GRAD_CFGS = [
    Cfg(3, 2, 11, 9, 3, (3, 2), 2, 1, 1, True),
    Cfg(1, 3, 12, 13, 4, 3, 1, 2, 2, True),
    Cfg(2, 4, 7, 10, 2, (2, 3), (1, 2), (1, 0), (2, 1), False),
]
# (size, kernel, stride, padding, dilation) -> expected output length
SIZE_TABLE = [(28, 3, 1, 0, 1), (7, 2, 2, 1, 1), (15, 3, 1, 2, 2), (12, 5, 2, 1, 2), (9, 1, 1, 0, 1),
              (13, 3, 3, 0, 1), (11, 4, 2, 2, 3), (10, 3, 2, 1, 1)]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _size(size, k, s=1, p=0, d=1):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _desc(c):
    return (f"conv2d(x{(c.n, c.cin, c.h, c.w)}, weight{(c.cout, c.cin, *_pair(c.k))}, "
            f"bias={'(%d,)' % c.cout if c.bias else None}, stride={c.stride}, padding={c.padding}, "
            f"dilation={c.dilation})")


def _tensors(c, seed):
    with seeded(seed):
        x = torch.randn(c.n, c.cin, c.h, c.w)
        w = torch.randn(c.cout, c.cin, *_pair(c.k)) * 0.3
        b = torch.randn(c.cout) if c.bias else None
    return x, w, b


def _ref(c, x, w, b):
    return F.conv2d(x, w, b, stride=c.stride, padding=c.padding, dilation=c.dilation)


# ---------------------------------------------------------------------------
# The built-in convolution is off limits while the learner's code runs: the public names are
# monkeypatched to raise, and a torch-function mode catches the other routes (torch.ops.aten.convolution,
# F.conv1d, conv_transpose2d, ...). A function mode, not a dispatch mode: torch's first op under a dispatch
# mode imports torch._dynamo (seconds of CPU), which must not land inside a timed check.

_CONV_OP = re.compile(r"convolution|^_?conv(_transpose|_tbc|_depthwise|\dd)")
_PATCHES = [(F, "conv2d", "F.conv2d"), (torch, "conv2d", "torch.conv2d"), (torch, "convolution", "torch.convolution"),
            (torch, "_convolution", "torch._convolution"), (nn.Conv2d, "forward", "nn.Conv2d"),
            (nn.Conv2d, "_conv_forward", "nn.Conv2d")]


_LIKELY_CRASH = ("the output size and the unfold call disagree: padding, stride or dilation not passed to F.unfold, or "
                 "conv_output_size wrong (then the reshape of the L columns fails); or the weight flattened with view "
                 "on a non-matching size.",
                 "输出尺寸与 unfold 的结果不一致：padding、stride 或 dilation 没有传给 F.unfold，或 conv_output_size "
                 "算错（于是把 L 列 reshape 成 (H_out, W_out) 时出错）；或用 view 展平权重时尺寸不匹配。")


_LIKELY_VALUES = ("the weight flattened in a different order from the rows of F.unfold, which are (C_in, kH, kW): "
                  "use weight.reshape(C_out, -1), not a permuted or transposed view; or the bias added on the wrong "
                  "axis, or stride/padding/dilation given to F.unfold in the wrong (h, w) order.",
                  "权重展平的顺序与 F.unfold 的行顺序 (C_in, kH, kW) 不一致：应使用 weight.reshape(C_out, -1)，"
                  "不要先 permute 或转置；或 bias 加错了维度，或传给 F.unfold 的 stride/padding/dilation 的 (h, w) 顺序错了。")


def _learner(ex, what, fn, *args, **kwargs):
    """Call the learner's code with the built-in convolution banned; turn crashes into a clear message."""
    try:
        with forbid(ex, _PATCHES, pattern=_CONV_OP):
            return fn(*args, **kwargs)
    except BuiltinUsed as e:
        fail(f"{what} called the built-in convolution ({e.name}); this exercise asks you to write it yourself "
             "with F.unfold (im2col) and a matrix multiply.",
             f"{what} 调用了内置卷积（{e.name}）；本题要求用 F.unfold（im2col）加矩阵乘法自己实现。",
             likely=("calling F.conv2d / nn.Conv2d / torch.conv2d, as the seed's answer does, instead of implementing it.",
                     "像原题答案那样直接调用 F.conv2d / nn.Conv2d / torch.conv2d，而不是自己实现。"))
    except (NotImplementedError, DeviceMismatchError):
        raise
    except Exception as e:  # noqa: BLE001 - the learner's code may raise anything
        text = (str(e).strip().splitlines() or [""])[0][:300]
        fail(f"{what} raised {type(e).__name__}: {text}", f"{what} 抛出 {type(e).__name__}：{text}", likely=_LIKELY_CRASH)


def _make(ex, *args, **kwargs):
    with seeded(7):
        m = _learner(ex, f"Conv2d{args}", ex.Conv2d, *args, **kwargs)
    expect(isinstance(m, nn.Module), f"Conv2d(...) should be an nn.Module, got {type(m).__name__}.",
           f"Conv2d(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _param(m, name, shape, what):
    p = dict(m.named_parameters()).get(name)
    if p is None:
        fail(f"{what} should register '{name}' as an nn.Parameter; its parameters are {list(dict(m.named_parameters()))}.",
             f"{what} 应把 '{name}' 注册为 nn.Parameter；实际参数为 {list(dict(m.named_parameters()))}。",
             likely=("a plain tensor attribute (torch.randn(...)) instead of nn.Parameter(...), or another name.",
                     "用了普通张量属性（torch.randn(...)）而不是 nn.Parameter(...)，或者名字不对。"))
    expect(tuple(p.shape) == tuple(shape), f"{what}.{name} should have shape {tuple(shape)}, got {tuple(p.shape)}.",
           f"{what}.{name} 的形状应为 {tuple(shape)}，实际为 {tuple(p.shape)}。",
           likely=("in/out channels swapped, or the kernel size not expanded to (kH, kW).",
                   "输入/输出通道写反了，或 kernel_size 没有展开成 (kH, kW)。"))
    return p


# ---------------------------------------------------------------------------

@check(points=2, category="shape")
def test_output_size_formula(ex):
    """conv_output_size gives F.conv2d's output length, dilation and padding included.
    zh: conv_output_size 给出与 F.conv2d 相同的输出长度（包括 dilation 和 padding）。
    """
    for size, k, s, p, d in SIZE_TABLE:
        want = _size(size, k, s, p, d)
        call = f"conv_output_size({size}, {k}, stride={s}, padding={p}, dilation={d})"
        got = as_int(ex.conv_output_size(size, k, s, p, d), call,
                     likely=("true division `/` (a float) instead of floor division `//`.",
                             "用了 `/`（得到浮点数）而不是整除 `//`。"))
        if got != want:
            if got == (size + 2 * p - k) // s + 1:
                likely = ("dilation ignored: a dilated kernel spans dilation*(kernel-1)+1 pixels, not kernel.",
                          "忽略了 dilation：膨胀后的卷积核覆盖 dilation*(kernel-1)+1 个像素，而不是 kernel 个。")
            elif got == _size(size, k, s, 0, d):
                likely = ("padding ignored: it adds 2*padding to the input size.", "忽略了 padding：输入尺寸应加上 2*padding。")
            else:
                likely = ("the formula is floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1.",
                          "公式应为 floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1。")
            fail(f"{call}: expected {want}, got {got}.", f"{call}：期望 {want}，实际为 {got}。", likely=likely)


@check(points=2, category="shape", timeout=20)
def test_output_shape(ex):
    """conv2d returns (N, C_out, H_out, W_out) for several batches, kernels, strides, paddings and dilations.
    zh: 对不同的 batch、卷积核、stride、padding 和 dilation，conv2d 返回 (N, C_out, H_out, W_out)。
    """
    for i, c in enumerate(SHAPE_CFGS):
        x, w, b = _tensors(c, 10 + i)
        want = tuple(_ref(c, x, w, b).shape)
        y = _learner(ex, _desc(c), ex.conv2d, x, w, b, c.stride, c.padding, c.dilation)
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else None
        if got != want:
            kh, kw = _pair(c.k)
            (sh, sw), (ph, pw), (dh, dw) = _pair(c.stride), _pair(c.padding), _pair(c.dilation)
            guesses = [
                ((_size(c.h, kh, sh, 0, dh), _size(c.w, kw, sw, 0, dw)), ("padding ignored.", "忽略了 padding。")),
                ((_size(c.h, kh, sh, ph, 1), _size(c.w, kw, sw, pw, 1)), ("dilation ignored.", "忽略了 dilation。")),
                ((_size(c.h, kh, 1, ph, dh), _size(c.w, kw, 1, pw, dw)), ("stride ignored.", "忽略了 stride。")),
                ((_size(c.h, kw, sw, pw, dw), _size(c.w, kh, sh, ph, dh)), ("height and width settings swapped.", "高和宽的参数弄反了。")),
            ]
            likely = next((lk for hw, lk in guesses if got and got[2:] == hw and hw != want[2:]),
                          ("the output must be (N, C_out, H_out, W_out) with H_out/W_out from conv_output_size.",
                           "输出应为 (N, C_out, H_out, W_out)，H_out/W_out 由 conv_output_size 计算。"))
            assert_shape(y, want, f"{_desc(c)} output", likely=likely)


@check(points=3, category="correctness", timeout=20)
def test_matches_builtin_conv2d(ex):
    """conv2d gives F.conv2d's numbers (same weights) on non-square kernels, strides, paddings, dilations, no bias.
    zh: 在非方形卷积核、stride、padding、dilation、无 bias 等配置下，conv2d 与 F.conv2d（相同权重）结果一致。
    """
    for i, c in enumerate(OUT_CFGS):
        x, w, b = _tensors(c, 20 + i)
        y = _learner(ex, _desc(c), ex.conv2d, x, w, b, c.stride, c.padding, c.dilation)
        assert_close(y, _ref(c, x, w, b), f"{_desc(c)} output", atol=1e-4, likely=_LIKELY_VALUES)


@check(points=3, category="gradient", timeout=20)
def test_gradients_match_builtin(ex):
    """Gradients w.r.t. input, weight and bias equal those of F.conv2d.
    zh: 对输入、权重和偏置的梯度与 F.conv2d 的一致。
    """
    for i, c in enumerate(GRAD_CFGS):
        x, w, b = _tensors(c, 30 + i)
        with seeded(40 + i):
            g = torch.randn_like(_ref(c, x, w, b))
        def leaves():
            return [t.clone().requires_grad_() if t is not None else None for t in (x, w, b)]
        ref = leaves()
        _ref(c, *ref).backward(g)
        mine = leaves()
        y = _learner(ex, _desc(c), ex.conv2d, *mine, c.stride, c.padding, c.dilation)
        assert_shape(y, g.shape, f"{_desc(c)} output")
        expect(y.requires_grad, f"{_desc(c)}: the output does not require grad, so no gradient can flow back.",
               f"{_desc(c)}：输出不需要梯度，梯度无法回传。",
               likely=("the graph was cut with .detach(), .data, .item() or torch.no_grad().",
                       "计算图被 .detach()、.data、.item() 或 torch.no_grad() 切断了。"))
        y.backward(g)
        for name, t, r in zip(("input", "weight", "bias"), mine, ref):
            if r is None:
                continue
            expect(t.grad is not None, f"{_desc(c)}: no gradient reached the {name}.",
                   f"{_desc(c)}：梯度没有传到 {name}。",
                   likely=("the graph was cut with .detach(), .data or a copy through numpy/lists.",
                           "计算图被 .detach()、.data 或经由 numpy/列表的拷贝切断了。"))
            assert_close(t.grad, r.grad, f"{_desc(c)}: gradient w.r.t. the {name}", atol=1e-4,
                         likely=("the forward numbers are wrong (see the output check), or an in-place write "
                                 "(out[...] = ...) into a pre-allocated tensor that autograd cannot follow.",
                                 "前向结果本身就不对（见输出检查），或对预先分配的张量做了 autograd 无法追踪的原地写入（out[...] = ...）。"))


@check(points=2, category="correctness", timeout=20)
def test_no_builtin_convolution(ex):
    """conv2d and Conv2d work with F.conv2d, torch.conv2d, torch.convolution and nn.Conv2d disabled.
    zh: 在禁用 F.conv2d、torch.conv2d、torch.convolution 和 nn.Conv2d 的情况下，conv2d 和 Conv2d 仍能运行。
    """
    c = Cfg(2, 3, 8, 7, 4, 3, 1, 1, 1, True)
    x, w, b = _tensors(c, 50)
    y = _learner(ex, _desc(c), ex.conv2d, x, w, b, c.stride, c.padding, c.dilation)
    assert_close(y, _ref(c, x, w, b), f"{_desc(c)} output", atol=1e-4, likely=_LIKELY_VALUES)
    m = _make(ex, 3, 2, 3, padding=1)
    y = _learner(ex, "Conv2d(3, 2, 3, padding=1).forward", m, x)
    assert_shape(y, (2, 2, 8, 7), "Conv2d(3, 2, 3, padding=1) output")


_ANY_OP = re.compile("")
# Same batch, channels and kernel; only the image grows (72 -> 437 output pixels, 9 -> 23 rows, 8 -> 19 columns).
LOOP_CFGS = (Cfg(2, 3, 9, 8, 4, 3, 1, 1, 1, True), Cfg(2, 3, 23, 19, 4, 3, 1, 1, 1, True))


def _ops_run(ex, c, seed):
    """How many torch functions (ops, Tensor methods, indexing) the learner's conv2d calls on config ``c``."""
    x, w, b = _tensors(c, seed)
    with torch.no_grad(), forbid(pattern=_ANY_OP, raise_on_use=False) as seen:
        _learner(ex, _desc(c), ex.conv2d, x, w, b, c.stride, c.padding, c.dilation)
    return len(seen)


@check(points=2, category="correctness", timeout=20)
def test_no_python_loop_over_pixels(ex):
    """Vectorised: the number of torch operations conv2d runs does not grow with the image size.
    zh: 已向量化：conv2d 执行的 torch 运算次数不随图像尺寸增长。
    """
    small, large = LOOP_CFGS
    few, many = _ops_run(ex, small, 55), _ops_run(ex, large, 56)
    px = [_size(c.h, c.k, c.stride, c.padding, c.dilation) * _size(c.w, c.k, c.stride, c.padding, c.dilation)
          for c in LOOP_CFGS]
    grew, more_px = many - few, px[1] - px[0]
    seen = (f"conv2d on a {small.h}x{small.w} image ran {few} torch operations (ops, Tensor methods, indexing) and "
            f"{many} on a {large.h}x{large.w} image (same batch, channels and kernel): {grew} more for "
            f"{more_px} more output pixels",
            f"conv2d 在 {small.h}x{small.w} 的图像上执行了 {few} 次 torch 运算（算子、Tensor 方法、索引），在 "
            f"{large.h}x{large.w} 的图像上执行了 {many} 次（batch、通道和卷积核都相同）：输出像素多了 {more_px} 个，"
            f"运算多了 {grew} 次")
    if grew * 4 >= more_px:
        fail(f"{seen[0]}: the work is done in a Python loop over the output pixels, which the exercise forbids "
             f"(on a 96x96 image that is 9216 Python steps per call).",
             f"{seen[1]}：计算是在 Python 循环中逐个输出像素完成的，本题不允许这样做（在 96x96 的图像上每次调用就是 9216 "
             f"步 Python 循环）。",
             likely=("a loop `for i in range(H_out): for j in range(W_out):` (even one whose body is vectorised over "
                     "the batch and channels); F.unfold cuts every patch out at once, then one matrix multiply does "
                     "all the pixels.",
                     "写了 `for i in range(H_out): for j in range(W_out):` 这样的循环（即使循环体已对 batch 和通道向量化）；"
                     "F.unfold 一次取出所有图像块，再用一次矩阵乘法算出全部像素。"))
    if grew > 3:
        fail(f"{seen[0]}: the work grows with the image, a Python loop over output rows or columns, which the "
             "exercise forbids.",
             f"{seen[1]}：运算次数随图像增大而增加，说明在 Python 中逐行或逐列循环，本题不允许这样做。",
             likely=("a loop over the output rows (or columns), each step vectorised over the rest; F.unfold plus one "
                     "matrix multiply needs no loop at all (a loop over the kernel taps is fine: it does not grow "
                     "with the image).",
                     "按输出行（或列）循环，每步对其余维度向量化；F.unfold 加一次矩阵乘法根本不需要循环"
                     "（对卷积核位置循环没问题：它不随图像增大）。"))


@check(points=2, category="correctness", timeout=10)
def test_fast_on_an_image_batch(ex):
    """Vectorised: a (8, 16, 96, 96) batch with 32 3x3 filters runs well within the time limit and is exact.
    zh: 已向量化：对 (8, 16, 96, 96) 的输入用 32 个 3x3 卷积核，能在时限内完成且结果正确。
    """
    c = Cfg(8, 16, 96, 96, 32, 3, 1, 1, 1, True)
    x, w, b = _tensors(c, 60)
    with torch.no_grad():
        y = _learner(ex, _desc(c), ex.conv2d, x, w, b, c.stride, c.padding, c.dilation)
    assert_close(y, _ref(c, x, w, b), f"{_desc(c)} output", atol=1e-4, likely=_LIKELY_VALUES)


@check(points=2, category="shape")
def test_module_registers_parameters(ex):
    """Conv2d registers weight (out, in, kH, kW) and bias (out,), and no bias parameter when bias=False.
    zh: Conv2d 注册 weight (out, in, kH, kW) 和 bias (out,)；bias=False 时不注册 bias 参数。
    """
    m = _make(ex, 3, 5, (3, 2))
    _param(m, "weight", (5, 3, 3, 2), "Conv2d(3, 5, (3, 2))")
    _param(m, "bias", (5,), "Conv2d(3, 5, (3, 2))")
    keys = sorted(m.state_dict())
    expect(keys == ["bias", "weight"], f"Conv2d(3, 5, (3, 2)).state_dict() should hold exactly ['bias', 'weight'], got {keys}.",
           f"Conv2d(3, 5, (3, 2)).state_dict() 应恰好包含 ['bias', 'weight']，实际为 {keys}。",
           likely=("an extra parameter or sub-module (e.g. an nn.Conv2d kept inside).", "多了参数或子模块（例如内部放了一个 nn.Conv2d）。"))
    m = _make(ex, 2, 4, 3, bias=False)
    _param(m, "weight", (4, 2, 3, 3), "Conv2d(2, 4, 3, bias=False)")
    names = list(dict(m.named_parameters()))
    expect(names == ["weight"] and getattr(m, "bias", 0) is None,
           f"Conv2d(2, 4, 3, bias=False) should have only 'weight' and m.bias should be None; parameters {names}, "
           f"m.bias = {getattr(m, 'bias', '<missing>')!r}.",
           f"Conv2d(2, 4, 3, bias=False) 应只有 'weight'，且 m.bias 为 None；实际参数 {names}，m.bias = {getattr(m, 'bias', '<缺失>')!r}。",
           likely=("bias=False ignored, or no self.register_parameter('bias', None).",
                   "忽略了 bias=False，或没有调用 self.register_parameter('bias', None)。"))


@check(points=1, category="correctness")
def test_module_init_like_builtin(ex):
    """Parameters start uniform in ±1/sqrt(in*kH*kW), like nn.Conv2d: reaching the bound, not beyond, with its spread.
    zh: 参数像 nn.Conv2d 一样在 ±1/sqrt(in*kH*kW) 内均匀初始化：能取到边界附近、不越界，离散程度相符。
    """
    fix = ("nn.Conv2d's init: uniform_(-bound, bound) for the weight and the bias, bound = 1/sqrt(in_channels*kH*kW) "
           "(what nn.init.kaiming_uniform_(weight, a=math.sqrt(5)) gives).",
           "nn.Conv2d 的初始化是：weight 和 bias 都用 uniform_(-bound, bound)，bound = 1/sqrt(in_channels*kH*kW)"
           "（即 nn.init.kaiming_uniform_(weight, a=math.sqrt(5)) 的结果）。")
    # Several fans; Conv2d(1, n, 1) has the largest bound (1) and, like Conv2d(3, 2000, (1, 2)), a bias of thousands.
    for args in [(8, 32, (3, 5)), (1, 3000, 1), (3, 2000, (1, 2))]:
        m = _make(ex, *args)
        kh, kw = _pair(args[2])
        bound = 1 / math.sqrt(args[0] * kh * kw)
        params = dict(m.named_parameters())
        for name in ("weight", "bias"):
            expect(name in params, f"Conv2d{args} has no parameter '{name}'; its parameters are {list(params)}.",
                   f"Conv2d{args} 没有参数 '{name}'；实际参数为 {list(params)}。")
            assert_uniform(params[name], bound, f"Conv2d{args}.{name} at init", "1/sqrt(in_channels*kH*kW)", fix,
                           module="nn.Conv2d", wrong_fan=("the output channels", "输出通道数"))


@check(points=2, category="correctness", timeout=20)
def test_module_matches_builtin(ex):
    """Conv2d(...)(x) equals F.conv2d(x, m.weight, m.bias, stride, padding, dilation) with its settings.
    zh: Conv2d(...)(x) 等于用其设置调用 F.conv2d(x, m.weight, m.bias, stride, padding, dilation) 的结果。
    """
    cases = [((3, 4, (3, 2)), dict(stride=(2, 1), padding=1, dilation=(1, 2)), (2, 3, 11, 10)),
             ((2, 3, 3), dict(padding=2, dilation=2, bias=False), (1, 2, 9, 8)),
             ((1, 2, 5), dict(stride=2), (3, 1, 13, 15))]
    for args, kw, shape in cases:
        m = _make(ex, *args, **kw)
        with seeded(70):
            x = torch.randn(*shape)
        what = f"Conv2d{args} with {kw}"
        y = _learner(ex, what, m, x)
        bias = dict(m.named_parameters()).get("bias")
        ref = F.conv2d(x, m.weight, bias, stride=kw.get("stride", 1), padding=kw.get("padding", 0),
                       dilation=kw.get("dilation", 1))
        assert_close(y, ref, f"{what} on input {shape}", atol=1e-4,
                     likely=("stride/padding/dilation not stored in __init__ or not passed on in forward, forward not "
                             "using the registered weight and bias, or conv2d itself wrong (see the conv2d checks).",
                             "__init__ 中没有保存 stride/padding/dilation、forward 中没有传下去，forward 没有使用已注册的 "
                             "weight 和 bias，或 conv2d 本身有误（见 conv2d 的检查）。"))


@check(points=2, category="training", timeout=20)
def test_module_learns(ex):
    """A Conv2d trained with Adam (lr 1e-2, 30 steps) fits a target made by a fixed convolution.
    zh: 用 Adam（lr 1e-2，30 步）训练的 Conv2d 能拟合由固定卷积生成的目标。
    """
    m = _make(ex, 2, 3, 3, padding=1)
    with seeded(80):
        x = torch.randn(2, 2, 7, 6)
        target = F.conv2d(x, torch.randn(3, 2, 3, 3) * 0.5, torch.randn(3), padding=1)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for step in range(30):
        opt.zero_grad()
        loss = F.mse_loss(_learner(ex, "Conv2d(2, 3, 3, padding=1).forward", m, x), target)
        loss.backward()
        if step == 0:
            assert_all_params_get_grad(m, "Conv2d(2, 3, 3, padding=1)")
        opt.step()
        losses.append(loss.item())
    assert_learns(losses, "Conv2d(2, 3, 3, padding=1) fitting a target convolution")


@check(points=2, category="device", timeout=20)
def test_runs_on_accelerator(ex):
    """Built on the CPU and moved with .to(device), Conv2d runs there and gives the CPU's numbers.
    zh: 在 CPU 上构建、用 .to(device) 移动后，Conv2d 能在该设备上运行且结果与 CPU 一致。
    """
    m = _make(ex, 3, 4, (2, 3), stride=(1, 2), padding=(1, 2), dilation=(2, 1))
    with seeded(90):
        x = torch.randn(2, 3, 8, 7)
    with torch.no_grad():
        ref = _learner(ex, "Conv2d on the CPU", m, x)
        want = F.conv2d(x, m.weight, m.bias, stride=(1, 2), padding=(1, 2), dilation=(2, 1))
    assert_close(ref, want, "Conv2d output on the CPU", atol=1e-4, likely=_LIKELY_VALUES)
    with accelerator() as dev:
        m.to(dev)
        y = _learner(ex, "Conv2d on the accelerator", m, x.to(dev))
        assert_on_device(y, dev, "Conv2d output")
        y = to_cpu(y)
    assert_close(y, ref, "Conv2d output on the accelerator", atol=1e-4)
