"""Grader for exercise 01 — a custom nn.Module."""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, assert_all_params_get_grad, assert_close, assert_on_device, assert_shape,
                             assert_tensor, check, device_mismatch_explained, expect, fail, first_line, missing_import,
                             run_learner, seeded, to_cpu)

SHAPES = [((1, 10), 10, 5), ((7, 10), 10, 5), ((2, 3, 10), 10, 5), ((4, 1, 2, 6), 6, 3)]


def _known_build(e):
    """run_learner's likely mistake for a crash of MyModule(...) itself: the signature, super().__init__(), sizes."""
    text = first_line(e)
    if isinstance(e, TypeError) and "__init__()" in text and "missing" in text:
        return ("the defaults of the stub's signature removed: keep `__init__(self, in_features=10, out_features=5)`.",
                "删掉了桩代码签名中的默认值：应保持 `__init__(self, in_features=10, out_features=5)`。")
    if isinstance(e, TypeError) and "__init__()" in text and ("positional argument" in text or "unexpected keyword" in text):
        return ("MyModule's __init__ should take (in_features=10, out_features=5), like the stub's signature; a version "
                "without these arguments (as in the seed) cannot be built with other sizes.",
                "MyModule 的 __init__ 应接受 (in_features=10, out_features=5)，与桩代码的签名一致；没有这两个参数的写法"
                "（如原题代码）无法构建其他尺寸。")
    return _known(e)


def _known(e):
    """run_learner's likely mistake for a crash of the learner's MyModule (construction or forward)."""
    text = first_line(e)
    if isinstance(e, NameError):
        return missing_import(e)
    if "before Module.__init__() call" in text:
        return ("super().__init__() not called before self.linear is assigned: nn.Module sets up its registry of "
                "layers there, so it must be the first line of __init__.",
                "在给 self.linear 赋值之前没有调用 super().__init__()：nn.Module 在那里建立层的注册表，它必须是 __init__ 的第一行。")
    if "mat1 and mat2 shapes cannot be multiplied" in text or "is invalid for input of size" in text:
        return ("the sizes hard-coded (nn.Linear(10, 5), view(-1, 10)) or in_features and out_features swapped: build "
                "nn.Linear(in_features, out_features) from the constructor's arguments; the input's last dimension is "
                "in_features.",
                "尺寸被写死了（nn.Linear(10, 5)、view(-1, 10)），或 in_features 与 out_features 写反了：应按构造函数的参数"
                "构建 nn.Linear(in_features, out_features)；输入的最后一维就是 in_features。")
    return None


def _new(ex, *args):
    desc = f"MyModule({', '.join(map(str, args))})"
    with seeded(1):
        return run_learner(desc, ("build a module holding nn.Linear" + (f"({args[0]}, {args[1]})" if args else "(10, 5)"),
                                  "构建一个包含 nn.Linear" + (f"({args[0]}, {args[1]})" if args else "(10, 5)") + " 的模块"),
                           ex.MyModule, *args, known=_known_build)


def _fwd(m, x, what):
    """m(x) through run_learner: a crash says what the check needed; a result that is not a tensor says so."""
    o = m.linear.out_features if isinstance(getattr(m, "linear", None), nn.Linear) else "out_features"
    y = run_learner(f"{what} on input {tuple(x.shape)}", (f"return a tensor of shape {(*x.shape[:-1], o)}",
                                                          f"返回形状为 {(*x.shape[:-1], o)} 的张量"), m, x, known=_known)
    assert_tensor(y, f"{what} on input {tuple(x.shape)}",
                  likely=("forward computes the result but does not return it (a missing `return`).",
                          "forward 计算了结果却没有返回（缺少 `return`）。") if y is None else None)
    return y


def _make(ex, i=10, o=5):
    m = _new(ex, i, o)
    expect(isinstance(m, nn.Module), f"MyModule(...) should be an nn.Module, got {type(m).__name__}.",
           f"MyModule(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _linear(ex, m):
    lin = getattr(m, "linear", None)
    children = dict(m.named_children())
    if not isinstance(lin, nn.Linear) or "linear" not in children:
        other = [n for n, c in children.items() if isinstance(c, nn.Linear)]
        hidden = [n for n, v in vars(m).items() if isinstance(v, (list, tuple, dict))
                  and any(isinstance(c, nn.Module) for c in (v.values() if isinstance(v, dict) else v))]
        if other:
            likely = (f"the layer registered under another name (self.{other[0]}); the task names it self.linear.",
                      f"层注册在了别的名字下（self.{other[0]}）；题目要求命名为 self.linear。")
        elif hidden:
            likely = (f"the layer kept in a plain Python {type(vars(m)[hidden[0]]).__name__} (self.{hidden[0]}), which "
                      "nn.Module does not look into: assign it as an attribute, self.linear = nn.Linear(...).",
                      f"层放在了普通的 Python {type(vars(m)[hidden[0]]).__name__}（self.{hidden[0]}）里，nn.Module 不会查看它："
                      "应作为属性赋值，self.linear = nn.Linear(...)。")
        else:
            likely = ("no nn.Linear assigned as self.linear in __init__ (a layer created in forward is not registered).",
                      "__init__ 中没有把 nn.Linear 赋值给 self.linear（在 forward 里创建的层不会被注册）。")
        fail("MyModule should register an nn.Linear as self.linear; none found among its registered children "
             f"{list(children)}.",
             f"MyModule 应把 nn.Linear 注册为 self.linear；已注册的子模块为 {list(children)}。", likely=likely)
    return lin


@check(points=2, category="shape")
def test_output_shape(ex):
    """Output is (..., out_features) for several batch sizes and extra leading dims.
    zh: 对不同 batch 大小和额外前导维度，输出都是 (..., out_features)。
    """
    for shape, i, o in SHAPES:
        m = _make(ex, i, o)
        y = _fwd(m, torch.randn(*shape), f"MyModule({i}, {o})")
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
        y = _fwd(m, x, f"MyModule({i}, {o})")
        assert_shape(y, (*shape[:-1], o), f"MyModule({i}, {o}) on input {shape}",
                     likely=("reshaping the input with view(-1, ...) or hard-coding sizes; nn.Linear handles leading dims.",
                             "用 view(-1, ...) 改变了输入形状或写死了尺寸；nn.Linear 本身支持前导维度。"))
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
    _fwd(m, x, "MyModule(6, 3)").pow(2).sum().backward()
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
    ref = _fwd(m, x, "MyModule(10, 5)").detach()
    with accelerator() as dev, device_mismatch_explained((
            "a layer or tensor created inside forward stays on the CPU: .to(device) moves only what __init__ registered.",
            "在 forward 内部创建的层或张量留在 CPU 上：.to(device) 只会移动 __init__ 中注册的东西。")):
        m.to(dev)
        y = m(x.to(dev))
        assert_on_device(y, dev, "MyModule output")
        y = to_cpu(y)
    assert_close(y, ref, "output on the accelerator")


@check(points=1, category="correctness")
def test_default_sizes(ex):
    """MyModule() with no arguments holds nn.Linear(10, 5), the stub's defaults, and maps (1, 10) to (1, 5).
    zh: 不带参数的 MyModule() 持有 nn.Linear(10, 5)（桩代码的默认值），把 (1, 10) 映射为 (1, 5)。
    """
    m = _new(ex)
    lin = _linear(ex, m)
    expect((lin.in_features, lin.out_features) == (10, 5),
           f"MyModule() should default to in_features=10, out_features=5; its self.linear is {lin!r}.",
           f"MyModule() 的默认值应为 in_features=10、out_features=5；实际 self.linear 为 {lin!r}。",
           likely=("the defaults of the stub's signature changed or swapped: keep `__init__(self, in_features=10, "
                   "out_features=5)`.",
                   "改动或交换了桩代码签名中的默认值：应保持 `__init__(self, in_features=10, out_features=5)`。"))
    with seeded(2):
        x = torch.randn(1, 10)
    assert_shape(_fwd(m, x, "MyModule()"), (1, 5), "MyModule() on input (1, 10)")
