"""Grader for exercise 11 — a small convolutional image classifier."""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (IMPORT_LINES, accelerator, assert_all_params_get_grad, assert_close,
                             assert_on_device, assert_shape, check, expect, fail, first_line, missing_import,
                             passes_over_seeds, run_learner, seeded, to_cpu)

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
RANDOM_HINT = ("a layer created (or re-initialised) inside forward, e.g. self.fc = nn.Linear(...) sized from the input, "
               "so every call draws new weights; or F.dropout(x, p) without training=self.training, which keeps dropping "
               "in eval mode. Create every layer in __init__ (and prefer nn.Dropout, which follows train()/eval()).",
               "在 forward 中创建（或重新初始化）了层，例如按输入大小写 self.fc = nn.Linear(...)，于是每次调用都会抽取新的权重；"
               "或者使用 F.dropout(x, p) 却没有传 training=self.training，在 eval 模式下仍在丢弃。所有层都应在 __init__ 中创建"
               "（dropout 最好用 nn.Dropout，它跟随 train()/eval()）。")
SQUASH = {
    "softmax": ("each row sums to 1: forward returns softmax probabilities. Return the raw scores of the last Linear: "
                "F.cross_entropy applies log_softmax itself, so a softmax in forward is applied twice and flattens the "
                "gradient (log_softmax is fine: it only shifts each row).",
                "每一行之和为 1：forward 返回的是 softmax 概率。应返回最后一个 Linear 的原始分数：F.cross_entropy 自己会做 "
                "log_softmax，forward 里再做 softmax 就做了两次，梯度被压平（log_softmax 可以：它只是把每行平移）。"),
    "softmax0": ("each COLUMN sums to 1: a softmax over dim 0, the batch, which also mixes the samples. Return the "
                 "raw scores of the last Linear (no softmax at all: F.cross_entropy applies log_softmax over dim 1).",
                 "每一列之和为 1：在 dim 0（batch 维）上做了 softmax，这还会混合不同样本。应返回最后一个 Linear 的原始分数"
                 "（完全不要 softmax：F.cross_entropy 会在 dim 1 上做 log_softmax）。"),
    "sigmoid": ("every score lies strictly between 0 and 1: a sigmoid after the last Linear. Return its raw scores "
                "(sigmoid belongs between layers, as in LeNet, not on the logits).",
                "所有分数都严格位于 0 和 1 之间：最后一个 Linear 之后加了 sigmoid。应返回它的原始分数"
                "（sigmoid 可以放在层与层之间，像 LeNet 那样，但不要加在 logits 上）。"),
    "nonneg": ("no score is negative: an activation (ReLU, ...) after the last Linear clips the logits at 0, and a "
               "class whose scores are all clipped gets no gradient. Return the last Linear's raw scores.",
               "没有任何分数是负的：最后一个 Linear 之后的激活（ReLU 等）把 logits 截断在 0，分数全被截断的类别得不到梯度。"
               "应返回最后一个 Linear 的原始分数。"),
}


def _squashed(out):
    """'softmax' / 'softmax0' / 'sigmoid' / 'nonneg' when the scores (B, C) cannot be raw logits, else None (log_softmax passes)."""
    out = out.detach().double()
    if out.numel() == 0 or not torch.isfinite(out).all() or out.min() < 0:
        return None
    if out.max() <= 1 and torch.allclose(out.sum(1), torch.ones(out.shape[0], dtype=out.dtype), atol=1e-4):
        return "softmax"
    if out.max() <= 1 and torch.allclose(out.sum(0), torch.ones(out.shape[1], dtype=out.dtype), atol=1e-4):
        return "softmax0"
    if out.min() > 0 and out.max() < 1:
        return "sigmoid"
    return "nonneg"


def _make(ex, in_channels=1, num_classes=10, seed=0):
    with seeded(seed):
        m = run_learner(f"SimpleCNN({in_channels}, {num_classes})", ("build the model", "构建出模型"), ex.SimpleCNN,
                        in_channels, num_classes, known=lambda e: missing_import(e) if isinstance(e, NameError) else None)
    expect(isinstance(m, nn.Module), f"SimpleCNN(...) should be an nn.Module, got {type(m).__name__}.",
           f"SimpleCNN(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


CONSTRUCTOR_ARG_HINT = ("a constructor argument used inside forward as a bare name; __init__'s arguments are local to "
                        "__init__, so store what forward needs as self.something (or flatten with x.flatten(1), which "
                        "needs no size at all).",
                        "在 forward 中直接使用了构造函数的参数名；__init__ 的参数只在 __init__ 内可见，forward 需要的值应保存为 "
                        "self.xxx（或用 x.flatten(1) 展平，这样根本不需要尺寸）。")
CHANNELS_HINT = ("the first Conv2d does not take in_channels input channels: build it as nn.Conv2d(in_channels, ...), "
                 "not with a fixed 1 (SimpleCNN(3, 5) gets 3-channel images).",
                 "第一个 Conv2d 的输入通道数不是 in_channels：应写成 nn.Conv2d(in_channels, ...)，而不是固定的 1"
                 "（SimpleCNN(3, 5) 接收 3 通道图像）。")


def _crash_likely(e):
    """The likely mistake behind a crash in forward, from what the error says."""
    if isinstance(e, NameError):
        return missing_import(e) if getattr(e, "name", None) in IMPORT_LINES else CONSTRUCTOR_ARG_HINT
    if not isinstance(e, RuntimeError):
        return None
    text = first_line(e)
    if "expected input" in text and "channels" in text:
        return CHANNELS_HINT
    if text.startswith("shape '[-1,"):  # view(-1, N): N is not the per-sample feature count
        return (SIZE_HINT[0] + " With view(-1, N), a wrong N can even run silently for some batch sizes and "
                "regroup the batch (several samples per row); x.flatten(1) cannot.",
                SIZE_HINT[1] + "用 view(-1, N) 时，错误的 N 在某些 batch 大小下甚至能静默运行，把 batch 重新分组"
                "（一行里有多个样本）；x.flatten(1) 不会。")
    return SIZE_HINT


def _forward(m, x, what):
    """Run the model; a crash says what the check needed and the likely mistake the error shows."""
    return run_learner(f"{what} with input {tuple(x.shape)}: forward", ("return logits (B, num_classes)",
                                                                        "返回 logits (B, num_classes)"),
                       m, x, known=_crash_likely)


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
        again = _forward(m, x, "SimpleCNN()")
        _check_shape(again, (6, 10), "SimpleCNN() on input (6, 1, 28, 28)")
        expect(torch.allclose(again, y, atol=1e-5, rtol=1e-4),
               "In eval mode, the same batch given twice gave different outputs: forward is random or rebuilds "
               "something on every call.",
               "eval 模式下，同一个 batch 输入两次得到了不同的输出：forward 带有随机性，或每次调用都重新构建了某些东西。",
               likely=RANDOM_HINT)
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
    _expect_graph(out)
    F.cross_entropy(out, y).backward()
    assert_all_params_get_grad(m, "SimpleCNN()")


TRAIN_STEPS = 150  # a classic sigmoid LeNet-5 fits these 16 images in 30-80 Adam steps; ReLU CNNs in about 5
TRAIN_ACCURACY = 0.9


def _expect_graph(out):
    expect(out.requires_grad, "In train mode, the output of forward does not require grad: no loss computed from it "
           "can train the model.",
           "train 模式下 forward 的输出不需要梯度：由它计算的损失无法训练模型。",
           likely=("the output is detached (.detach(), .data, torch.no_grad(), or a round trip through numpy / .item()) "
                   "somewhere in forward.",
                   "forward 中某处把输出 detach 了（.detach()、.data、torch.no_grad()，或经过 numpy / .item() 转换）。"))


def _accuracy(m, x, y):
    m.eval()
    with torch.no_grad():
        out = _forward(m, x, "SimpleCNN(1, 4) in eval mode")
    m.train()
    _check_shape(out, tuple(y.shape) + (4,), f"SimpleCNN(1, 4) on input {tuple(x.shape)}")
    return (out.argmax(1) == y).double().mean().item(), out


def _train_quadrants(ex, seed):
    """Adam (lr 1e-2) on 16 images until the eval-mode accuracy on them reaches TRAIN_ACCURACY (checked every
    5 steps), for at most TRAIN_STEPS steps. Returns what was seen."""
    x, y = _quadrants(16, seed=5 + seed)
    m = _make(ex, 1, 4, seed=3 + seed).train()
    params = list(m.parameters())
    expect(params, "SimpleCNN(1, 4) has no parameters, so there is nothing to train.",
           "SimpleCNN(1, 4) 没有参数，没有东西可训练。",
           likely=("the layers are created in forward, or kept in a plain list instead of attributes / nn.ModuleList.",
                   "层是在 forward 中创建的，或保存在普通 list 中，而不是属性 / nn.ModuleList。"))
    known = {id(p) for p in params}
    opt = torch.optim.Adam(params, lr=1e-2)
    losses, acc, step, out = [], 0.0, 0, None
    with seeded(100 + seed):  # dropout and anything else random in forward
        while step < TRAIN_STEPS:
            step += 1
            opt.zero_grad()
            out = _forward(m, x, "SimpleCNN(1, 4)")
            _check_shape(out, (16, 4), "SimpleCNN(1, 4) on input (16, 1, 28, 28)")
            _expect_graph(out)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if step % 5 == 0:
                acc, out = _accuracy(m, x, y)
                if acc >= TRAIN_ACCURACY:
                    break
    added = [n for n, p in m.named_parameters() if id(p) not in known]
    return {"acc": acc, "steps": step, "losses": losses, "added": added, "kind": _squashed(out)}


@check(points=3, category="training")
def test_learns_quadrant_task(ex):
    """Trained with Adam (lr 1e-2) for up to 150 steps, it classifies 90% of the images of a 4-class "where is the bright square" task.
    zh: 用 Adam（lr 1e-2）最多训练 150 步后，在四分类的“亮方块在哪个象限”任务上对 90% 的图像分类正确。
    """
    seen = {}

    def run(seed):
        seen[seed] = _train_quadrants(ex, seed)
        return seen[seed]["acc"]

    ok, _ = passes_over_seeds(run, TRAIN_ACCURACY)
    if ok:
        return
    r = seen[0]
    losses = r["losses"]
    en = (f"After {r['steps']} Adam steps (lr 1e-2), the accuracy on the 16 training images was {r['acc']:.0%} "
          f"(4 classes: chance is 25%; a classic LeNet-5 reaches {TRAIN_ACCURACY:.0%} in 30-80 steps); the loss went "
          f"from {losses[0]:.4g} to {losses[-1]:.4g}.")
    zh = (f"Adam（lr 1e-2）训练 {r['steps']} 步后，在 16 张训练图像上的准确率为 {r['acc']:.0%}（4 类：随机猜测为 25%；"
          f"经典的 LeNet-5 在 30-80 步内就能达到 {TRAIN_ACCURACY:.0%}）；损失从 {losses[0]:.4g} 变为 {losses[-1]:.4g}。")
    if r["added"]:
        fail(en + f" Parameters {r['added'][:4]} appeared only after the optimizer was built.",
             zh + f" 参数 {r['added'][:4]} 是在优化器创建之后才出现的。",
             likely=("a layer created inside forward: the optimizer, built from model.parameters() before the first "
                     "forward, never sees it, and it is re-drawn on every call. Create every layer in __init__.",
                     "在 forward 中创建了层：优化器在第一次 forward 之前由 model.parameters() 构建，看不到这个层，"
                     "而且它每次调用都被重新初始化。所有层都应在 __init__ 中创建。"))
    if not all(torch.isfinite(torch.tensor(losses))):
        fail(en, zh, likely=("the loss became NaN or infinite: a log of 0, a division by 0, or exploding activations.",
                             "损失变成了 NaN 或无穷大：对 0 取对数、除以 0，或激活值爆炸。"))
    if r["kind"]:
        fail(en, zh, likely=SQUASH[r["kind"]])
    fail(en, zh, likely=("the model does not learn although every parameter gets a gradient: check that forward uses the "
                         "layers built in __init__ in order, that nothing after the last Linear squashes or clips the "
                         "logits, and that no layer is frozen or re-initialised during forward.",
                         "每个参数都有梯度，但模型学不会：检查 forward 是否按顺序使用了 __init__ 中的层、最后一个 Linear 之后"
                         "是否有东西压缩或截断了 logits、是否有层被冻结或在 forward 中被重新初始化。"))


@check(points=2, category="correctness")
def test_returns_logits(ex):
    """forward returns raw scores (logits; log_softmax also accepted), not probabilities or non-negative scores.
    zh: forward 返回原始分数（logits；也接受 log_softmax），而不是概率或非负分数。
    """
    kinds = []
    for seed in (5, 6, 7):  # three initialisations: a correct model's scores are never squashed in all three
        m = _make(ex, 1, 10, seed=seed).eval()
        with torch.no_grad():
            out = _forward(m, _images(5, seed=20 + seed), "SimpleCNN()")
        _check_shape(out, (5, 10), "SimpleCNN() on input (5, 1, 28, 28)")
        kinds.append(_squashed(out))
        if kinds[-1] is None:
            return
    sums = ", ".join(f"{v:.4g}" for v in out.sum(1)[:3].tolist())
    fail(f"The scores of SimpleCNN() for 5 images (three initialisations) cannot be logits: min {out.min().item():.4g}, "
         f"max {out.max().item():.4g}, first row sums {sums}.",
         f"SimpleCNN() 对 5 张图像的分数（三次初始化）都不可能是 logits：最小 {out.min().item():.4g}，"
         f"最大 {out.max().item():.4g}，前几行之和 {sums}。", likely=SQUASH[kinds[0]])


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
