"""Grader for exercise 11 — a small convolutional image classifier."""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (DeviceMismatchError, accelerator, assert_all_params_get_grad, assert_close,
                             assert_learns, assert_on_device, assert_shape, check, expect, fail, seeded, to_cpu)

SIZE_HINT = ("the flattened size is wrong. out = floor((in + 2*padding - kernel) / stride) + 1: a 3x3 conv without "
             "padding takes 28 -> 26 and MaxPool2d(2) takes 26 -> 13 (not 14), so one conv+pool block leaves C*13*13 "
             "features per sample. Flatten with x.flatten(1) and size the Linear from the real feature map.",
             "展平后的尺寸算错了。out = floor((in + 2*padding - kernel) / stride) + 1：不加 padding 的 3x3 卷积把 "
             "28 变成 26，MaxPool2d(2) 把 26 变成 13（不是 14），所以一个卷积+池化块之后每个样本有 C*13*13 个特征。"
             "用 x.flatten(1) 展平，并按实际特征图大小设置 Linear。")
MERGE_HINT = ("view(-1, N) with N different from the per-sample feature count regroups the batch: several samples end up "
              "in one row (or one sample is split over rows). Flatten per sample with x.flatten(1) or "
              "x.view(x.size(0), -1).",
              "view(-1, N) 中的 N 与每个样本的特征数不一致时，会重新划分 batch：多个样本被合并到一行（或一个样本被拆成多行）。"
              "应按样本展平：x.flatten(1) 或 x.view(x.size(0), -1)。")
MIX_HINT = ("samples are mixed inside forward: view(-1, N) with the wrong N, a softmax/normalisation over dim 0 "
            "(the batch) instead of dim 1, or a statistic computed over the whole batch.",
            "forward 中混合了不同样本：view(-1, N) 的 N 不对、在 dim 0（batch 维）而不是 dim 1 上做 softmax/归一化，"
            "或用整个 batch 计算了统计量。")


def _make(ex, in_channels=1, num_classes=10, seed=0):
    with seeded(seed):
        m = ex.SimpleCNN(in_channels, num_classes)
    expect(isinstance(m, nn.Module), f"SimpleCNN(...) should be an nn.Module, got {type(m).__name__}.",
           f"SimpleCNN(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _forward(m, x, what):
    """Run the model, turning the classic crashes into messages that teach."""
    try:
        return m(x)
    except (NotImplementedError, DeviceMismatchError):
        raise
    except NameError as e:
        fail(f"{what}: forward raised NameError: {e}.", f"{what}：forward 抛出 NameError：{e}。",
             likely=("a constructor argument used inside forward as a bare name; __init__'s arguments are local to "
                     "__init__, so store what forward needs as self.something (or flatten with x.flatten(1), which "
                     "needs no size at all).",
                     "在 forward 中直接使用了构造函数的参数名；__init__ 的参数只在 __init__ 内可见，forward 需要的值应保存为 "
                     "self.xxx（或用 x.flatten(1) 展平，这样根本不需要尺寸）。"))
    except RuntimeError as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        likely = SIZE_HINT
        if text.startswith("shape '[-1,"):  # view(-1, N): N is not the per-sample feature count
            likely = (SIZE_HINT[0] + " With view(-1, N), a wrong N can even run silently for some batch sizes and "
                      "regroup the batch (several samples per row); x.flatten(1) cannot.",
                      SIZE_HINT[1] + "用 view(-1, N) 时，错误的 N 在某些 batch 大小下甚至能静默运行，把 batch 重新分组"
                      "（一行里有多个样本）；x.flatten(1) 不会。")
        fail(f"{what} with input {tuple(x.shape)}: forward raised RuntimeError: {text}",
             f"{what}，输入 {tuple(x.shape)}：forward 抛出 RuntimeError：{text}", likely=likely)


def _images(n, c=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, 28, 28, generator=g)


def _quadrants(n, seed):
    """4 classes: a bright 8x8 square somewhere in quadrant y (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = 0.3 * torch.randn(n, 1, 28, 28, generator=g)
    off = torch.randint(0, 7, (n, 2), generator=g)
    for i in range(n):
        r, c = int(y[i] // 2) * 14 + int(off[i, 0]), int(y[i] % 2) * 14 + int(off[i, 1])
        x[i, 0, r:r + 8, c:c + 8] += 1.0
    return x, y


def _check_shape(y, shape, what):
    if isinstance(y, torch.Tensor) and y.dim() == 2 and y.shape[1] == shape[1] and y.shape[0] != shape[0]:
        assert_shape(y, shape, what, likely=MERGE_HINT)
    assert_shape(y, shape, what, likely=SIZE_HINT)


@check(points=2, category="shape")
def test_output_shape(ex):
    """SimpleCNN() maps (B, 1, 28, 28) to (B, 10) for B = 1, 7 and 196.
    zh: 对 B = 1、7、196，SimpleCNN() 把 (B, 1, 28, 28) 映射为 (B, 10)。
    """
    m = _make(ex).eval()
    for b in (1, 7, 196):
        with torch.no_grad():
            y = _forward(m, _images(b, seed=b), "SimpleCNN()")
        _check_shape(y, (b, 10), f"SimpleCNN() on input ({b}, 1, 28, 28)")


@check(points=2, category="shape")
def test_constructor_arguments(ex):
    """SimpleCNN(3, 5) takes 3-channel images and returns 5 scores per image.
    zh: SimpleCNN(3, 5) 接受 3 通道图像，每张图像输出 5 个分数。
    """
    m = _make(ex, 3, 5).eval()
    for b in (2, 5):
        with torch.no_grad():
            y = _forward(m, _images(b, 3, seed=10 + b), "SimpleCNN(3, 5)")
        _check_shape(y, (b, 5), f"SimpleCNN(3, 5) on input ({b}, 3, 28, 28)")


@check(points=3, category="correctness")
def test_batch_independence(ex):
    """In eval mode each sample's output depends only on that sample (changing one never changes the others).
    zh: eval 模式下每个样本的输出只取决于它自己（改变一个样本不会改变其他样本的输出）。
    """
    m = _make(ex, seed=1).eval()
    x = _images(6, seed=2)
    with torch.no_grad():
        y = _forward(m, x, "SimpleCNN()")
        _check_shape(y, (6, 10), "SimpleCNN() on input (6, 1, 28, 28)")
        x2 = x.clone()
        x2[3] = _images(1, seed=3)[0]
        y2 = _forward(m, x2, "SimpleCNN()")
        _check_shape(y2, (6, 10), "SimpleCNN() on input (6, 1, 28, 28)")
        others = [i for i in range(6) if i != 3 and not torch.allclose(y[i], y2[i], atol=1e-5, rtol=1e-4)]
        expect(not others, f"In eval mode, changing only sample 3 of a batch of 6 changed the outputs of samples "
               f"{others}: the model mixes samples.",
               f"eval 模式下，只改变 6 个样本中的第 3 个，样本 {others} 的输出也变了：模型把不同样本混在了一起。",
               likely=MIX_HINT)
        expect(not torch.allclose(y[3], y2[3]), "Changing sample 3 did not change its own output: the output ignores the input.",
               "改变第 3 个样本没有改变它自己的输出：输出与输入无关。")
        for i in (0, 5):
            alone = _forward(m, x[i:i + 1], "SimpleCNN()")
            _check_shape(alone, (1, 10), "SimpleCNN() on input (1, 1, 28, 28)")
            assert_close(alone[0], y[i], f"output for sample {i} run alone vs. inside a batch of 6 (the model mixes "
                         "samples if they differ)", likely=MIX_HINT)


@check(points=2, category="gradient")
def test_every_parameter_gets_a_gradient(ex):
    """In train mode, after loss.backward() every parameter has a non-zero gradient.
    zh: train 模式下，loss.backward() 之后每个参数都有非零梯度。
    """
    m = _make(ex, seed=2).train()
    x, y = _quadrants(8, seed=4)
    out = _forward(m, x, "SimpleCNN()")
    _check_shape(out, (8, 10), "SimpleCNN() on input (8, 1, 28, 28)")
    F.cross_entropy(out, y).backward()
    assert_all_params_get_grad(m, "SimpleCNN()")


@check(points=3, category="training")
def test_learns_quadrant_task(ex):
    """Trained with Adam (lr 1e-2) for 10 steps, the loss falls on a 4-class "where is the bright square" task.
    zh: 用 Adam（lr 1e-2）训练 10 步，在四分类的“亮方块在哪个象限”任务上损失下降。
    """
    x, y = _quadrants(16, seed=5)
    m = _make(ex, 1, 4, seed=3).train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        out = _forward(m, x, "SimpleCNN(1, 4)")
        _check_shape(out, (16, 4), "SimpleCNN(1, 4) on input (16, 1, 28, 28)")
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert_learns(losses, "SimpleCNN(1, 4) on the quadrant task",
                  likely=("the logits are squashed (an activation or softmax on the output), the input is detached, or "
                          "layers are created in forward instead of __init__ (so the optimizer never sees them).",
                          "输出 logits 被压缩（输出上加了激活或 softmax）、输入被 detach，或层在 forward 中而非 __init__ 中创建"
                          "（优化器看不到它们）。"))


@check(points=2, category="device")
def test_runs_on_device(ex):
    """Built on the CPU and moved with .to(device), it runs there and gives the CPU's numbers.
    zh: 在 CPU 上构建、用 .to(device) 移动后，能在该设备上运行且结果与 CPU 一致。
    """
    m = _make(ex, seed=4).eval()
    x = _images(3, seed=6)
    with torch.no_grad():
        ref = _forward(m, x, "SimpleCNN()")
    _check_shape(ref, (3, 10), "SimpleCNN() on input (3, 1, 28, 28)")
    with accelerator() as dev:
        m.to(dev)
        with torch.no_grad():
            y = _forward(m, x.to(dev), "SimpleCNN() on the accelerator")
        assert_on_device(y, dev, "SimpleCNN output")
        y = to_cpu(y)
    assert_close(y, ref, "SimpleCNN output on the accelerator", atol=1e-4)
