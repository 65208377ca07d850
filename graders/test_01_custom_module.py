"""Grader for exercise 01 — a custom nn.Module."""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, assert_all_params_get_grad, assert_close, assert_on_device,
                             assert_shape, check, expect, fail, seeded, to_cpu)

SHAPES = [((1, 10), 10, 5), ((7, 10), 10, 5), ((2, 3, 10), 10, 5), ((4, 1, 2, 6), 6, 3)]


def _make(ex, i=10, o=5):
    with seeded(1):
        m = ex.MyModule(i, o)
    expect(isinstance(m, nn.Module), f"MyModule(...) should be an nn.Module, got {type(m).__name__}.",
           f"MyModule(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _linear(ex, m):
    lin = getattr(m, "linear", None)
    if not isinstance(lin, nn.Linear) or "linear" not in dict(m.named_children()):
        fail("MyModule should register an nn.Linear as self.linear; none found among its registered children "
             f"{list(dict(m.named_children()))}.",
             f"MyModule 应把 nn.Linear 注册为 self.linear；已注册的子模块为 {list(dict(m.named_children()))}。",
             likely=("super().__init__() not called first, or the layer kept in a list/dict instead of an attribute.",
                     "没有先调用 super().__init__()，或把层放在了列表/字典里而不是属性。"))
    return lin


@check(points=2, category="shape")
def test_output_shape(ex):
    """Output is (..., out_features) for several batch sizes and extra leading dims.
    zh: 对不同 batch 大小和额外前导维度，输出都是 (..., out_features)。
    """
    for shape, i, o in SHAPES:
        m = _make(ex, i, o)
        y = m(torch.randn(*shape))
        assert_shape(y, (*shape[:-1], o), f"MyModule({i}, {o}) on input {shape}",
                     likely=("reshaping the input with view(-1, ...) or hard-coding sizes; nn.Linear handles leading dims.",
                             "用 view(-1, ...) 改变了输入形状或写死了尺寸；nn.Linear 本身支持前导维度。"))


@check(points=2, category="correctness")
def test_registered_linear(ex):
    """The layer is registered: parameters() and state_dict() hold linear.weight and linear.bias.
    zh: 线性层已注册：parameters() 和 state_dict() 中有 linear.weight 与 linear.bias。
    """
    m = _make(ex, 10, 5)
    lin = _linear(ex, m)
    keys = set(m.state_dict())
    expect({"linear.weight", "linear.bias"} <= keys,
           f"state_dict() should contain linear.weight and linear.bias; it has {sorted(keys)}.",
           f"state_dict() 应包含 linear.weight 和 linear.bias；实际为 {sorted(keys)}。")
    expect(tuple(lin.weight.shape) == (5, 10), f"self.linear.weight should be (5, 10) for MyModule(10, 5), got {tuple(lin.weight.shape)}.",
           f"MyModule(10, 5) 的 self.linear.weight 应为 (5, 10)，实际为 {tuple(lin.weight.shape)}。",
           likely=("in_features and out_features swapped.", "in_features 与 out_features 写反了。"))
    n = sum(p.numel() for p in m.parameters())
    expect(n == 55, f"MyModule(10, 5) should have 55 parameters (50 weights + 5 biases), has {n}.",
           f"MyModule(10, 5) 应有 55 个参数（50 个权重 + 5 个偏置），实际 {n}。",
           likely=("an extra layer or Parameter that forward never uses.", "多了一个 forward 中用不到的层或参数。"))


@check(points=2, category="correctness")
def test_matches_functional_linear(ex):
    """forward(x) equals F.linear(x, linear.weight, linear.bias), and twice the same input gives the same output.
    zh: forward(x) 等于 F.linear(x, linear.weight, linear.bias)，同一输入两次结果相同。
    """
    for shape, i, o in SHAPES:
        m = _make(ex, i, o)
        lin = _linear(ex, m)
        x = torch.randn(*shape)
        y = m(x)
        assert_close(y, F.linear(x, lin.weight, lin.bias), f"MyModule({i}, {o}) output",
                     likely=("a new nn.Linear created inside forward (fresh random weights on every call), or an extra activation.",
                             "在 forward 里新建了 nn.Linear（每次调用权重都不同），或多加了激活函数。"))
        assert_close(m(x), y, "a second call on the same input")


@check(points=2, category="gradient")
def test_every_parameter_gets_a_gradient(ex):
    """After loss.backward(), every parameter has a non-zero gradient equal to autograd's on F.linear.
    zh: loss.backward() 之后，每个参数都有非零梯度，且与 F.linear 的梯度一致。
    """
    m = _make(ex, 6, 3)
    x = torch.randn(4, 2, 6)
    m(x).pow(2).sum().backward()
    assert_all_params_get_grad(m, "MyModule")
    lin = _linear(ex, m)
    w = lin.weight.detach().clone().requires_grad_()
    b = lin.bias.detach().clone().requires_grad_()
    F.linear(x, w, b).pow(2).sum().backward()
    assert_close(lin.weight.grad, w.grad, "gradient of linear.weight")
    assert_close(lin.bias.grad, b.grad, "gradient of linear.bias")


@check(points=2, category="device")
def test_moves_with_to_device(ex):
    """Built on the CPU and moved with .to(device), it runs there and gives the CPU's numbers.
    zh: 在 CPU 上构建、用 .to(device) 移动后，能在该设备上运行且结果与 CPU 一致。
    """
    m = _make(ex, 10, 5)
    x = torch.randn(3, 10)
    ref = m(x).detach()
    with accelerator() as dev:
        m.to(dev)
        y = m(x.to(dev))
        assert_on_device(y, dev, "MyModule output")
        y = to_cpu(y)
    assert_close(y, ref, "output on the accelerator")
