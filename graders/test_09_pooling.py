"""Grader for exercise 09 — max and average pooling from scratch."""
from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (BuiltinUsed, accelerator, assert_close, assert_on_device, assert_shape, check, expect,
                             fail, first_line, forbid, missing_import, run_learner, seeded, to_cpu)

Cfg = namedtuple("Cfg", "n c h w k stride padding")

# Each check gets its own shapes, so an answer tuned to one set fails the others.
DEFAULT_STRIDE_CFGS = [Cfg(1, 2, 28, 28, 2, None, 0),          # the seed's layer
                       Cfg(2, 3, 9, 11, 3, None, 0),           # odd sizes: the last partial window is dropped
                       Cfg(3, 1, 10, 7, (2, 3), None, 1)]
SHAPE_CFGS = [Cfg(2, 3, 10, 7, 3, 2, 1), Cfg(1, 2, 9, 8, 2, 1, 0), Cfg(3, 1, 11, 12, (3, 2), (2, 1), (1, 0))]
MAX_CFGS = [Cfg(2, 3, 9, 11, 2, None, 0),
            Cfg(1, 4, 10, 7, 3, 2, 1),
            Cfg(3, 2, 8, 9, 3, 1, 1),                          # overlapping windows
            Cfg(2, 1, 7, 12, (3, 2), (2, 1), (1, 0))]
NEG_CFGS = [Cfg(2, 3, 7, 9, 3, 2, 1), Cfg(1, 2, 8, 5, 2, 1, 1), Cfg(3, 1, 6, 7, (3, 2), 1, 1)]
AVG_CFGS = [Cfg(3, 2, 11, 9, 2, None, 0),
            Cfg(2, 3, 9, 10, 3, 2, 1),
            Cfg(1, 2, 7, 8, 3, 1, 1),
            Cfg(2, 2, 12, 7, (2, 3), (1, 2), 1)]
MAX_GRAD_CFGS = [Cfg(2, 2, 9, 8, 3, 1, 1), Cfg(1, 3, 11, 10, 2, None, 0), Cfg(3, 1, 8, 11, (2, 3), (2, 1), (1, 1))]
AVG_GRAD_CFGS = [Cfg(1, 2, 10, 9, 3, 2, 1), Cfg(3, 1, 7, 8, 2, 1, 1)]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _call(c, name):
    args = f"x{(c.n, c.c, c.h, c.w)}, kernel_size={c.k}"
    if c.stride is not None:
        args += f", stride={c.stride}"
    if c.padding:
        args += f", padding={c.padding}"
    return f"{name}({args})"


def _kwargs(c):
    kw = {"kernel_size": c.k, "padding": c.padding}
    if c.stride is not None:
        kw["stride"] = c.stride
    return kw


def _unique(c, seed, negative=False):
    """An input without ties (a shuffled ramp), so every window has one arg-max."""
    with seeded(seed):
        numel = c.n * c.c * c.h * c.w
        x = (torch.randperm(numel).float() / numel * 4 - 2).reshape(c.n, c.c, c.h, c.w)
    return x - 2.5 if negative else x


# ---------------------------------------------------------------------------
# Built-in pooling is off limits while the learner's code runs: the public names are monkeypatched
# to raise, and a torch-function mode catches any other route (torch.max_pool2d, torch.ops.aten...).

_PATCHES = [(F, a, "F." + a) for a in ("max_pool2d", "avg_pool2d", "max_pool2d_with_indices", "adaptive_max_pool2d",
                                       "adaptive_avg_pool2d", "lp_pool2d", "fractional_max_pool2d")]
_PATCHES += [(torch, a, "torch." + a) for a in ("max_pool2d", "avg_pool2d", "max_pool2d_with_indices",
                                                "adaptive_avg_pool2d", "adaptive_max_pool2d")]
_PATCHES += [(cls, "forward", "nn." + cls.__name__) for cls in (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d,
                                                                 nn.AdaptiveAvgPool2d, nn.LPPool2d)]


WINDOWS_LIKELY = ("the output size and the windows disagree: stride/padding not used consistently, or channels mixed "
                  "up when reshaping F.unfold's (N, C*kH*kW, L) result.",
                  "输出尺寸与窗口数不一致：stride/padding 没有一致地使用，或在 reshape F.unfold 的 (N, C*kH*kW, L) 结果时混淆了通道。")


def _crash_likely(e):
    """The likely mistake behind a crash in the learner's pooling, from what the error says."""
    text = first_line(e)
    if isinstance(e, NameError):
        return missing_import(e)
    if isinstance(e, TypeError) and "NoneType" in text:
        return ("stride=None not handled: it means stride = kernel_size (e.g. stride = kernel_size if stride is None "
                "else stride), before turning it into an (h, w) pair.",
                "没有处理 stride=None：它表示 stride = kernel_size（例如 stride = kernel_size if stride is None else "
                "stride），然后再转成 (h, w) 二元组。")
    if isinstance(e, TypeError) and ("tuple" in text or "int" in text):
        return ("kernel_size, stride and padding may each be an int or an (h, w) pair: turn every one of them into a "
                "pair (the stub's _pair) before using it.",
                "kernel_size、stride 和 padding 都可能是 int 或 (h, w) 二元组：使用前先把它们都转成二元组（桩代码中的 _pair）。")
    if isinstance(e, RuntimeError) and any(k in text for k in ("shape", "size", "dimension")):
        return WINDOWS_LIKELY
    return None


def _learner(ex, what, fn, *args, **kwargs):
    """Call the learner's code with built-in pooling banned; a crash says what the check needed."""
    try:
        with forbid(ex, _PATCHES, pattern="(?i)pool"):
            return run_learner(what, ("return the pooled (N, C, H_out, W_out) tensor", "返回池化后的 (N, C, H_out, W_out) 张量"),
                               fn, *args, known=_crash_likely, **kwargs)
    except BuiltinUsed as e:
        fail(f"{what} called the built-in pooling ({e.name}); this exercise asks you to write it yourself "
             "with F.unfold (or Tensor.unfold) and max/mean over each window.",
             f"{what} 调用了内置池化（{e.name}）；本题要求用 F.unfold（或 Tensor.unfold）加上对每个窗口取 max/mean 自己实现。",
             likely=("calling nn.MaxPool2d / nn.AvgPool2d / F.max_pool2d, as the seed's answer does, instead of implementing it.",
                     "像原题答案那样直接调用 nn.MaxPool2d / nn.AvgPool2d / F.max_pool2d，而不是自己实现。"))


def _shape_likely(c, got, want):
    """Name the mistake behind a wrong output shape, when it is recognisable."""
    if got is None or len(got) != 4:
        return ("the output must be (N, C, H_out, W_out): each channel pooled on its own.",
                "输出应为 (N, C, H_out, W_out)：每个通道单独池化。")
    (kh, kw), (ph, pw) = _pair(c.k), _pair(c.padding)
    if c.stride is None and got[2:] == ((c.h + 2 * ph - kh) + 1, (c.w + 2 * pw - kw) + 1):
        return ("stride defaults to 1 instead of kernel_size: with stride=None the windows must not overlap.",
                "stride 默认值写成了 1 而不是 kernel_size：stride=None 时窗口不应重叠。")
    sh, sw = _pair(c.k if c.stride is None else c.stride)
    if got[2:] == ((c.h - kh) // sh + 1, (c.w - kw) // sw + 1) and got[2:] != want[2:]:
        return ("padding ignored.", "忽略了 padding。")
    return ("H_out = (H + 2*padding - kH) // stride + 1, and the channels must stay separate.",
            "H_out = (H + 2*padding - kH) // stride + 1，且各通道要分开处理。")


def _assert_pool(y, want, c, name, what, likely=None):
    """Shape first (naming a recognisable mistake), then the values."""
    got = tuple(y.shape) if isinstance(y, torch.Tensor) else None
    assert_shape(y, want.shape, what, likely=_shape_likely(c, got, tuple(want.shape)))
    assert_close(y, want, what, likely=likely)


def _check_shape(ex, c, name, seed):
    x = _unique(c, seed)
    want = tuple(getattr(F, name)(x, **_kwargs(c)).shape)
    y = _learner(ex, _call(c, name), getattr(ex, name), x, **_kwargs(c))
    got = tuple(y.shape) if isinstance(y, torch.Tensor) else None
    assert_shape(y, want, f"{_call(c, name)} output", likely=_shape_likely(c, got, want))


# ---------------------------------------------------------------------------

@check(points=2, category="shape")
def test_default_stride_is_kernel_size(ex):
    """With stride omitted (None) both poolings use stride = kernel_size, like F.max_pool2d / F.avg_pool2d.
    zh: 省略 stride（None）时，两种池化都使用 stride = kernel_size，与 F.max_pool2d / F.avg_pool2d 相同。
    """
    for i, c in enumerate(DEFAULT_STRIDE_CFGS):
        for name in ("max_pool2d", "avg_pool2d"):
            _check_shape(ex, c, name, 10 + i)
            x = _unique(c, 10 + i)
            y = _learner(ex, _call(c, name) + " with stride=None", getattr(ex, name), x, c.k, None, c.padding)
            want = tuple(getattr(F, name)(x, c.k, None, c.padding).shape)
            assert_shape(y, want, f"{_call(c, name)} with stride=None, output",
                         likely=_shape_likely(c, tuple(y.shape) if isinstance(y, torch.Tensor) else None, want))


@check(points=2, category="shape")
def test_output_shapes(ex):
    """Explicit strides and paddings give F's output shapes (odd sizes, non-square kernels, both poolings).
    zh: 显式给出 stride 和 padding 时，输出形状与 F 的一致（奇数尺寸、非方形窗口、两种池化）。
    """
    for i, c in enumerate(SHAPE_CFGS):
        for name in ("max_pool2d", "avg_pool2d"):
            _check_shape(ex, c, name, 20 + i)


@check(points=3, category="correctness")
def test_max_pool_matches_builtin(ex):
    """max_pool2d gives F.max_pool2d's numbers (kernel 2/3, stride 1/2/default, padding 0/1, odd sizes).
    zh: max_pool2d 与 F.max_pool2d 结果一致（窗口 2/3，stride 1/2/默认，padding 0/1，奇数尺寸）。
    """
    for i, c in enumerate(MAX_CFGS):
        x = _unique(c, 30 + i)
        y = _learner(ex, _call(c, "max_pool2d"), ex.max_pool2d, x, **_kwargs(c))
        _assert_pool(y, F.max_pool2d(x, **_kwargs(c)), c, "max_pool2d", f"{_call(c, 'max_pool2d')} output",
                     likely=("channels mixed up when reshaping F.unfold's (N, C*kH*kW, L) result (its rows are "
                             "ordered C, kH, kW), the max taken over the wrong dimension, or padded with zeros.",
                             "reshape F.unfold 的 (N, C*kH*kW, L) 结果时混淆了通道（行的顺序是 C, kH, kW），"
                             "在错误的维度上取 max，或用 0 做了填充。"))


@check(points=2, category="correctness")
def test_max_pool_padding_never_wins(ex):
    """On all-negative inputs with padding, max_pool2d still equals F.max_pool2d: padding acts as -inf.
    zh: 输入全为负数且有 padding 时，max_pool2d 仍与 F.max_pool2d 一致：填充值相当于 -inf。
    """
    for i, c in enumerate(NEG_CFGS):
        x = _unique(c, 40 + i, negative=True)
        y = _learner(ex, _call(c, "max_pool2d"), ex.max_pool2d, x, **_kwargs(c))
        want = F.max_pool2d(x, **_kwargs(c))
        zero_padded = F.max_pool2d(F.pad(x, (_pair(c.padding)[1],) * 2 + (_pair(c.padding)[0],) * 2), c.k, c.stride)
        if isinstance(y, torch.Tensor) and y.shape == want.shape and torch.allclose(y, zero_padded):
            likely = ("padded with zeros (F.unfold(padding=...) and F.pad pad with 0), so on negative inputs the border "
                      "windows return 0: pad with -inf, e.g. F.pad(x, ..., value=float('-inf')).",
                      "用 0 做了填充（F.unfold(padding=...) 和 F.pad 默认填 0），输入为负数时边界窗口返回 0："
                      "应填充 -inf，例如 F.pad(x, ..., value=float('-inf'))。")
        else:
            likely = ("padding must never win the max: pad with -inf, not 0.", "填充值不能成为最大值：应填充 -inf 而不是 0。")
        _assert_pool(y, want, c, "max_pool2d", f"{_call(c, 'max_pool2d')} on an all-negative input", likely=likely)


@check(points=3, category="correctness")
def test_avg_pool_matches_builtin(ex):
    """avg_pool2d gives F.avg_pool2d's numbers, zero padding counted in the average (count_include_pad=True).
    zh: avg_pool2d 与 F.avg_pool2d 结果一致，零填充计入平均值（count_include_pad=True）。
    """
    for i, c in enumerate(AVG_CFGS):
        x = _unique(c, 50 + i)
        y = _learner(ex, _call(c, "avg_pool2d"), ex.avg_pool2d, x, **_kwargs(c))
        want = F.avg_pool2d(x, **_kwargs(c))
        excl = F.avg_pool2d(x, **_kwargs(c), count_include_pad=False)
        if isinstance(y, torch.Tensor) and y.shape == want.shape and torch.allclose(y, excl, atol=1e-5):
            likely = ("divided by the number of real (non-padded) elements, which is count_include_pad=False; "
                      "F.avg_pool2d's default divides every window by kH*kW, padding included.",
                      "除以了真实（非填充）元素的个数，这是 count_include_pad=False 的行为；"
                      "F.avg_pool2d 默认把每个窗口都除以 kH*kW（包括填充）。")
        else:
            likely = ("channels mixed up when reshaping F.unfold's result, or the mean taken over the wrong dimension.",
                      "reshape F.unfold 的结果时混淆了通道，或在错误的维度上求平均。")
        _assert_pool(y, want, c, "avg_pool2d", f"{_call(c, 'avg_pool2d')} output", likely=likely)


@check(points=3, category="gradient")
def test_max_pool_gradient_goes_to_argmax(ex):
    """max_pool2d's input gradient equals F.max_pool2d's: each window's gradient reaches its arg-max only.
    zh: max_pool2d 对输入的梯度与 F.max_pool2d 一致：每个窗口的梯度只流向其最大值位置。
    """
    for i, c in enumerate(MAX_GRAD_CFGS):
        x = _unique(c, 60 + i)
        ref_x = x.clone().requires_grad_()
        ref = F.max_pool2d(ref_x, **_kwargs(c))
        with seeded(70 + i):
            g = torch.rand_like(ref) + 0.5
        ref.backward(g)
        mine = x.clone().requires_grad_()
        y = _learner(ex, _call(c, "max_pool2d"), ex.max_pool2d, mine, **_kwargs(c))
        assert_shape(y, ref.shape, f"{_call(c, 'max_pool2d')} output",
                     likely=_shape_likely(c, tuple(y.shape) if isinstance(y, torch.Tensor) else None, tuple(ref.shape)))
        expect(y.requires_grad, f"{_call(c, 'max_pool2d')}: the output does not require grad, so no gradient flows back.",
               f"{_call(c, 'max_pool2d')}：输出不需要梯度，梯度无法回传。",
               likely=("the graph was cut with .detach(), .data, .item() or torch.no_grad().",
                       "计算图被 .detach()、.data、.item() 或 torch.no_grad() 切断了。"))
        y.backward(g)
        expect(mine.grad is not None, f"{_call(c, 'max_pool2d')}: no gradient reached the input.",
               f"{_call(c, 'max_pool2d')}：梯度没有传到输入。")
        stray = int(((mine.grad != 0) & (ref_x.grad == 0)).sum())
        note = f" ({stray} positions that are no window's arg-max got gradient)" if stray else ""
        assert_close(mine.grad, ref_x.grad, f"{_call(c, 'max_pool2d')}: gradient w.r.t. the input{note}",
                     likely=("the gradient spread over the window (e.g. a softmax/mean or a mask like x == max "
                             "divided among elements) instead of the arg-max alone: use .max(dim).values or amax "
                             "on the windows and let autograd route it; or the forward numbers are wrong (see the "
                             "max_pool2d output checks).",
                             "梯度被分摊到了整个窗口（如用 softmax/mean，或用 x == max 的掩码平分），而不是只给最大值位置："
                             "对窗口使用 .max(dim).values 或 amax，让 autograd 自动回传；或前向结果本身不对（见 max_pool2d 输出检查）。"))


@check(points=2, category="gradient")
def test_avg_pool_gradient(ex):
    """avg_pool2d's input gradient equals F.avg_pool2d's (each window shares its gradient over kH*kW).
    zh: avg_pool2d 对输入的梯度与 F.avg_pool2d 一致（每个窗口的梯度平均分给 kH*kW 个位置）。
    """
    for i, c in enumerate(AVG_GRAD_CFGS):
        x = _unique(c, 80 + i)
        ref_x = x.clone().requires_grad_()
        ref = F.avg_pool2d(ref_x, **_kwargs(c))
        with seeded(90 + i):
            g = torch.randn_like(ref)
        ref.backward(g)
        mine = x.clone().requires_grad_()
        y = _learner(ex, _call(c, "avg_pool2d"), ex.avg_pool2d, mine, **_kwargs(c))
        assert_shape(y, ref.shape, f"{_call(c, 'avg_pool2d')} output",
                     likely=_shape_likely(c, tuple(y.shape) if isinstance(y, torch.Tensor) else None, tuple(ref.shape)))
        expect(y.requires_grad and y.grad_fn is not None,
               f"{_call(c, 'avg_pool2d')}: the output does not require grad, so no gradient flows back.",
               f"{_call(c, 'avg_pool2d')}：输出不需要梯度，梯度无法回传。",
               likely=("the graph was cut with .detach(), .data, .item() or torch.no_grad().",
                       "计算图被 .detach()、.data、.item() 或 torch.no_grad() 切断了。"))
        y.backward(g)
        assert_close(mine.grad, ref_x.grad, f"{_call(c, 'avg_pool2d')}: gradient w.r.t. the input",
                     likely=("the forward numbers are wrong (see the avg_pool2d output check).",
                             "前向结果本身就不对（见 avg_pool2d 输出检查）。"))


@check(points=2, category="correctness")
def test_no_builtin_pooling(ex):
    """Both functions work with F.max_pool2d, F.avg_pool2d, nn.MaxPool2d, nn.AvgPool2d (and friends) disabled.
    zh: 在禁用 F.max_pool2d、F.avg_pool2d、nn.MaxPool2d、nn.AvgPool2d 等内置池化的情况下，两个函数仍能正确运行。
    """
    c = Cfg(2, 3, 8, 6, 2, None, 0)
    x = _unique(c, 100)
    for name in ("max_pool2d", "avg_pool2d"):
        y = _learner(ex, _call(c, name), getattr(ex, name), x, c.k)
        _assert_pool(y, getattr(F, name)(x, c.k), c, name, f"{_call(c, name)} output")


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator both functions run there (padding included) and give the CPU's numbers.
    zh: 在加速设备上，两个函数（包括填充）都在该设备上运行，结果与 CPU 一致。
    """
    c = Cfg(2, 3, 9, 7, 3, 2, 1)
    x = _unique(c, 110)
    for name in ("max_pool2d", "avg_pool2d"):
        want = getattr(F, name)(x, **_kwargs(c))
        with accelerator() as dev:
            y = _learner(ex, _call(c, name) + " on the accelerator", getattr(ex, name), x.to(dev), **_kwargs(c))
            assert_on_device(y, dev, f"{_call(c, name)} output")
            y = to_cpu(y)
        _assert_pool(y, want, c, name, f"{_call(c, name)} output on the accelerator",
                     likely=("the forward numbers are wrong (see the output checks above).",
                             "前向结果本身就不对（见前面的输出检查）。"))
