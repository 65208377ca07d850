"""Grader for exercise 29 — image classification with torchvision.

The transforms are compared with the formula (x / 255 - mean) / std; train_one_epoch and evaluate are
checked on a small model defined here (so a mistake in the learner's CNN cannot hide or cause a
failure there) against the textbook loop; the learning check trains the learner's SmallCNN with the
learner's fit on a synthetic task that is solvable: "which colour channel holds the bright square
(or none)", the square anywhere in the image.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ptquiz.gradelib import (DeviceMismatchError, accelerator, as_loss, assert_all_params_get_grad, assert_close,
                             assert_on_device, assert_shape, assert_tensor, check, expect, fail, first_line,
                             learner_line, missing_import, run_learner, seeded, to_cpu)

CIFAR = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
OTHER = ((0.3, 0.6, 0.45), (0.5, 0.2, 0.3))

# ---------------------------------------------------------------------------
# private helpers


SIZE_LIKELY = ("the flattened size depends on the input size: put nn.AdaptiveAvgPool2d (e.g. output 1x1) before the "
               "classifier and size the Linear from its output channels.",
               "展平后的尺寸依赖输入尺寸：在分类器前加 nn.AdaptiveAvgPool2d（例如输出 1x1），并按其输出通道数设置 Linear。")


DEVICE_TEXT = "Expected all tensors to be on the same device"


NEED = {"make_transforms": ("return the pair (train_transform, eval_transform) of v2 pipelines",
                            "返回 (train_transform, eval_transform) 两个 v2 管道"),
        "transform": ("map a uint8 image (3, size, size) to a normalised float32 image of the same size",
                      "把 uint8 图像 (3, size, size) 变成同样大小、归一化后的 float32 图像"),
        "SmallCNN": ("build the model", "构建模型"),
        "model": ("map (B, C, H, W) images of any size to logits (B, num_classes)",
                  "把任意尺寸的图像 (B, C, H, W) 映射为 logits (B, num_classes)"),
        "train_one_epoch": ("run one training epoch over the loader and return the mean batch loss",
                            "在 loader 上训练一个 epoch 并返回各 batch 损失的平均值"),
        "evaluate": ("return the accuracy over the loader (correct / samples)", "返回整个 loader 上的准确率（正确数 / 样本数）"),
        "fit": ("train for the given epochs with Adam and return the per-epoch mean losses",
                "用 Adam 训练给定的 epoch 数，并返回每个 epoch 的平均损失")}


def _known(device=None):
    """run_learner's likely mistake: the import a NameError asks for, a CUDA device mismatch (`device`, on the
    accelerator), a classifier sized for one input size."""
    def likely(e):
        text = first_line(e)
        if isinstance(e, NameError):
            return missing_import(e)
        if device is not None and DEVICE_TEXT in text:
            return device
        if "mat1 and mat2 shapes cannot be multiplied" in text:
            return SIZE_LIKELY
        return None
    return likely


def _run(what, fn, call, *args, device=None):
    """call(*args) through run_learner, with what the learner's `fn` must do and its likely mistakes. `device`: the
    likely mistake behind a device mismatch, CUDA's RuntimeError or the stand-in's DeviceMismatchError (which
    run_learner lets through)."""
    try:
        return run_learner(what, NEED[fn], call, *args, known=_known(device))
    except DeviceMismatchError as e:
        if device is None:
            raise
        fail(f"{what}: device mismatch{learner_line(e)}: {first_line(e)}",
             f"{what}：设备不一致{learner_line(e)}：{first_line(e)}", likely=device)


def _transforms(ex, mean, std, size):
    got = _run(f"make_transforms(mean={mean}, std={std}, size={size})", "make_transforms", ex.make_transforms, mean, std, size)
    expect(isinstance(got, (tuple, list)) and len(got) == 2 and all(callable(t) for t in got),
           f"make_transforms should return a pair (train_transform, eval_transform) of callables; got {type(got).__name__}.",
           f"make_transforms 应返回 (train_transform, eval_transform) 两个可调用对象；实际为 {type(got).__name__}。")
    return got


def _image(seed, size, binary=False):
    g = torch.Generator().manual_seed(seed)
    if binary:
        return (torch.rand(3, size, size, generator=g) < 0.5).to(torch.uint8) * 255
    return torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)


def _formula(img, mean, std):
    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    return (img.float() / 255 - m) / s


def _apply(tf, img, what):
    out = _run(what, "transform", tf, img.clone())
    assert_tensor(out, what, likely=("the pipeline returns a PIL image or a tv_tensors wrapper of the wrong kind: end it "
                                     "with v2.ToDtype(torch.float32, scale=True) and v2.Normalize(mean, std).",
                                     "管道返回了 PIL 图像或其他类型：应以 v2.ToDtype(torch.float32, scale=True) 和 "
                                     "v2.Normalize(mean, std) 结尾。"))
    assert_shape(out, tuple(img.shape), what, likely=("the augmentation changes the size (a crop without padding, or a "
                                                      "resize to another size).",
                                                      "数据增强改变了尺寸（裁剪时没有 padding，或 resize 到了别的尺寸）。"))
    expect(out.dtype == torch.float32, f"{what}: expected float32, got {out.dtype}.", f"{what}：应为 float32，实际为 {out.dtype}。",
           likely=("v2.ToDtype(torch.float32, scale=True) missing.", "缺少 v2.ToDtype(torch.float32, scale=True)。"))
    return out if type(out) is torch.Tensor else out.as_subclass(torch.Tensor)


def _norm_likely(out, img, mean, std):
    """Which normalisation mistake explains out (for an eval transform), if a known one does."""
    plain = img.float()
    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    known = [
        ((plain - m) / s, ("the image not scaled to [0, 1] before Normalize: use v2.ToDtype(torch.float32, scale=True) "
                           "(scale=False keeps 0..255).",
                           "Normalize 之前没有把图像缩放到 [0, 1]：应使用 v2.ToDtype(torch.float32, scale=True)"
                           "（scale=False 会保留 0..255）。")),
        (plain / 255, ("no v2.Normalize(mean, std): the values are only scaled to [0, 1].",
                       "缺少 v2.Normalize(mean, std)：数值只被缩放到了 [0, 1]。")),
        ((plain / 255 - s) / m, ("mean and std swapped: v2.Normalize(mean, std) takes the mean first.",
                                 "mean 和 std 写反了：v2.Normalize(mean, std) 先传均值。")),
        (_formula(img, *CIFAR) if (tuple(mean), tuple(std)) != CIFAR else _formula(img, *OTHER),
         ("mean/std hard-coded instead of the ones passed to make_transforms.", "mean/std 写死了，没有使用传给 make_transforms 的值。")),
    ]
    for want, likely in known:
        if torch.allclose(out, want, atol=1e-3):
            return likely
    return None


def _net(seed=0, c=3, k=3):
    """The grader's own small classifier with BatchNorm (for the loop checks)."""
    with seeded(seed):
        return nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, k))


def _loader(n, bs, seed, hw=8, k=3):
    with seeded(seed):
        x, y = torch.randn(n, 3, hw, hw), torch.randint(0, k, (n,))
    return DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=False), x, y


def _bn_state(model):
    return {k: v.detach().clone() for k, v in model.named_buffers()}


def _same_state(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _number(v, what, likely=None):
    """A Python float from an int/float/0-dim tensor (not a bool), else a failure that says what came back."""
    if isinstance(v, torch.Tensor):
        expect(v.numel() == 1, f"{what} should be one number; got a tensor of shape {tuple(v.shape)}.",
               f"{what} 应是一个数；实际是形状为 {tuple(v.shape)} 的张量。", likely=likely)
        v = v.item()
    expect(not isinstance(v, bool) and hasattr(v, "__float__"), f"{what} should be a number; got {type(v).__name__}.",
           f"{what} 应是一个数；实际为 {type(v).__name__}。", likely=likely)
    return float(v)


def _squares(n, seed, hw=28):
    """4 classes: a bright 10x10 square in the red (0), green (1) or blue (2) channel, or none (3); anywhere."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = 0.3 * torch.randn(n, 3, hw, hw, generator=g)
    off = torch.randint(0, hw - 10, (n, 2), generator=g)
    for i in range(n):
        if y[i] < 3:
            r, c = off[i].tolist()
            x[i, y[i], r:r + 10, c:c + 10] += 1.5
    return x, y


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="correctness")
def test_eval_transform(ex):
    """eval_transform is deterministic and equals (x / 255 - mean) / std with the given mean/std.
    zh: eval_transform 是确定性的，且等于用给定 mean/std 计算的 (x / 255 - mean) / std。
    """
    for (mean, std), size in ((CIFAR, 32), (OTHER, 28)):
        _, tf = _transforms(ex, mean, std, size)
        img = _image(size, size)
        outs = []
        for s in (1, 2, 3):
            with seeded(s):
                outs.append(_apply(tf, img, f"eval_transform (size {size}) on a uint8 image (3, {size}, {size})"))
        if any(not torch.equal(o, outs[0]) for o in outs[1:]):
            fail(f"eval_transform (size {size}) gave different outputs for the same image on repeated calls; evaluation "
                 "preprocessing must be deterministic.",
                 f"eval_transform（size {size}）对同一张图像多次调用得到不同的输出；评估时的预处理必须是确定性的。",
                 likely=("random augmentation (RandomCrop, RandomHorizontalFlip, ...) in the eval pipeline: it belongs in "
                         "train_transform only.",
                         "评估管道里有随机数据增强（RandomCrop、RandomHorizontalFlip……）：它只应出现在 train_transform 中。"))
        want = _formula(img, mean, std)
        if not torch.allclose(outs[0], want, atol=1e-4):
            assert_close(outs[0], want, f"eval_transform (mean={mean}, std={std}) vs (x / 255 - mean) / std", atol=1e-4,
                         likely=_norm_likely(outs[0], img, mean, std))


@check(points=2, category="correctness")
def test_train_transform_is_random(ex):
    """train_transform keeps the shape (3, size, size) and is random: the same image gives different outputs.
    zh: train_transform 保持形状 (3, size, size)，并且是随机的：同一张图像会得到不同的输出。
    """
    for size in (32, 28):
        tf, _ = _transforms(ex, CIFAR[0], CIFAR[1], size)
        img = _image(100 + size, size)
        outs = []
        for s in range(8):
            with seeded(s):
                outs.append(_apply(tf, img, f"train_transform (size {size}) on a uint8 image (3, {size}, {size})"))
        distinct = len({o.numpy().tobytes() for o in outs})
        expect(distinct >= 2, f"train_transform (size {size}) gave the same output for the same image in 8 calls "
               f"with different seeds; training preprocessing should add random augmentation.",
               f"train_transform（size {size}）对同一张图像、不同随机种子调用 8 次，输出完全相同；训练时的预处理应包含随机数据增强。",
               likely=("no random transform in the train pipeline (it is the eval pipeline): add e.g. "
                       "v2.RandomCrop(size, padding=4) and v2.RandomHorizontalFlip().",
                       "训练管道里没有随机变换（与评估管道相同）：加上例如 v2.RandomCrop(size, padding=4) 和 "
                       "v2.RandomHorizontalFlip()。"))


@check(points=2, category="correctness")
def test_train_transform_normalises(ex):
    """train_transform normalises with the given mean/std: per channel, values span [(0-mean)/std, (1-mean)/std].
    zh: train_transform 用给定的 mean/std 归一化：每个通道的取值范围为 [(0-mean)/std, (1-mean)/std]。
    """
    for (mean, std), size in ((OTHER, 32), (CIFAR, 30)):
        tf, _ = _transforms(ex, mean, std, size)
        img = _image(200 + size, size, binary=True)
        lo = [(0 - m) / s for m, s in zip(mean, std)]
        hi = [(1 - m) / s for m, s in zip(mean, std)]
        outs = []
        for seed in range(6):  # colour jitter may darken one draw; the best draw must span the range
            with seeded(seed):
                outs.append(_apply(tf, img, f"train_transform (size {size}) on a uint8 image (3, {size}, {size})"))
        for c in range(3):
            vmin = min(o[c].min().item() for o in outs)
            vmax = max(o[c].max().item() for o in outs)
            span = max(o[c].max().item() - o[c].min().item() for o in outs)
            ok = vmin >= lo[c] - 1e-3 and vmax <= hi[c] + 1e-3 and span >= 0.9 * (hi[c] - lo[c])
            if not ok:
                if vmax > hi[c] + 1:
                    likely = ("the image not scaled to [0, 1] before Normalize: v2.ToDtype(torch.float32, scale=True).",
                              "Normalize 之前没有把图像缩放到 [0, 1]：v2.ToDtype(torch.float32, scale=True)。")
                elif vmin >= -1e-3 and vmax <= 1 + 1e-3:
                    likely = ("no v2.Normalize(mean, std) in the train pipeline.", "训练管道里缺少 v2.Normalize(mean, std)。")
                else:
                    likely = ("normalised with other statistics than the given mean/std (hard-coded values, or mean and "
                              "std swapped).", "没有用给定的 mean/std 归一化（写死了数值，或 mean 和 std 写反）。")
                fail(f"train_transform (mean={mean}, std={std}), channel {c}: for an image of 0s and 255s the values "
                     f"should span [{lo[c]:.3f}, {hi[c]:.3f}]; saw [{vmin:.3f}, {vmax:.3f}].",
                     f"train_transform（mean={mean}, std={std}），通道 {c}：对只含 0 和 255 的图像，取值应覆盖 "
                     f"[{lo[c]:.3f}, {hi[c]:.3f}]；实际为 [{vmin:.3f}, {vmax:.3f}]。", likely=likely)


@check(points=2, category="shape")
def test_model_any_input_size(ex):
    """SmallCNN gives (B, num_classes) for several input sizes, channel counts and batch sizes (eval mode).
    zh: 对不同的输入尺寸、通道数和 batch 大小，SmallCNN 输出 (B, num_classes)（eval 模式）。
    """
    for (cin, k), (b, h, w) in (((3, 5), (2, 28, 28)), ((3, 5), (3, 40, 36)), ((1, 4), (2, 32, 32)), ((3, 10), (1, 64, 48))):
        with seeded(cin + k):
            m = _run(f"SmallCNN({cin}, {k})", "SmallCNN", ex.SmallCNN, cin, k)
        expect(isinstance(m, nn.Module), f"SmallCNN(...) should be an nn.Module, got {type(m).__name__}.",
               f"SmallCNN(...) 应是 nn.Module，实际是 {type(m).__name__}。")
        with seeded(b + h), torch.no_grad():
            x = torch.randn(b, cin, h, w)
            y = _run(f"SmallCNN({cin}, {k}) on input {tuple(x.shape)}", "model", m.eval(), x)
        assert_shape(y, (b, k), f"SmallCNN({cin}, {k}) on input {tuple(x.shape)}", likely=SIZE_LIKELY)


@check(points=1, category="correctness")
def test_model_uses_batchnorm(ex):
    """SmallCNN has BatchNorm2d layers, used in forward: a train-mode pass updates their running statistics.
    zh: SmallCNN 含有 BatchNorm2d 层，并在 forward 中使用：训练模式下前向一次会更新它们的运行统计量。
    """
    with seeded(0):
        m = _run("SmallCNN(3, 4)", "SmallCNN", ex.SmallCNN, 3, 4)
    bns = [n for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d)]
    expect(bns, "SmallCNN(3, 4) has no nn.BatchNorm2d layer; the task asks for convolutions with BatchNorm.",
           "SmallCNN(3, 4) 没有 nn.BatchNorm2d 层；题目要求卷积后接 BatchNorm。")
    before = _bn_state(m)
    with seeded(1), torch.no_grad():
        _run("SmallCNN(3, 4) in train mode", "model", m.train(), torch.randn(4, 3, 28, 28))
    moved = [n for n in bns if not torch.equal(before[f"{n}.running_mean"], m.get_submodule(n).running_mean)]
    expect(moved, f"A train-mode forward pass left the running statistics of {bns} unchanged: the BatchNorm layers are "
           "created but not used in forward.",
           f"训练模式下前向一次后，{bns} 的运行统计量没有变化：BatchNorm 层创建了却没有在 forward 中使用。")


@check(points=2, category="gradient")
def test_model_every_parameter_gets_gradient(ex):
    """In train mode, after loss.backward() every parameter of SmallCNN has a non-zero gradient.
    zh: 训练模式下 loss.backward() 之后，SmallCNN 的每个参数都有非零梯度。
    """
    with seeded(2):
        m = _run("SmallCNN(3, 6)", "SmallCNN", ex.SmallCNN, 3, 6)
        x, y = torch.randn(6, 3, 30, 30), torch.randint(0, 6, (6,))
    out = _run("SmallCNN(3, 6) on input (6, 3, 30, 30)", "model", m.train(), x)
    assert_shape(out, (6, 6), "SmallCNN(3, 6) on input (6, 3, 30, 30)")
    F.cross_entropy(out, y).backward()
    assert_all_params_get_grad(m, "SmallCNN(3, 6)")


@check(points=3, category="training")
def test_train_one_epoch_matches_loop(ex):
    """train_one_epoch (model given in eval mode) equals the textbook train-mode loop: same weights, BatchNorm buffers, mean loss.
    zh: train_one_epoch（传入的模型处于 eval 模式）与标准的训练模式循环一致：权重、BatchNorm 缓冲区和平均损失都相同。
    """
    loader, _, _ = _loader(10, 4, seed=3)
    m, ref = _net(4), _net(4)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    ref.train()
    losses, sizes = [], []
    for xb, yb in loader:
        ref_opt.zero_grad()
        loss = F.cross_entropy(ref(xb), yb)
        loss.backward()
        ref_opt.step()
        losses.append(loss.item())
        sizes.append(len(yb))
    m.eval()
    bn_before = _bn_state(m)
    got = _run("train_one_epoch(model, loader, optimizer, 'cpu')", "train_one_epoch",
               ex.train_one_epoch, m, loader, opt, torch.device("cpu"))
    expect(m.training, "After train_one_epoch the model should be in training mode; it is in eval mode.",
           "train_one_epoch 之后模型应处于训练模式；实际处于 eval 模式。",
           likely=("model.train() missing at the start of train_one_epoch: after evaluate() the model stays in eval "
                   "mode, so BatchNorm uses its running statistics and never updates them (dropout stays off).",
                   "train_one_epoch 开头缺少 model.train()：调用 evaluate() 之后模型一直处于 eval 模式，BatchNorm 用运行统计量"
                   "且不再更新（dropout 也一直关闭）。"))
    expect(not _same_state(bn_before, _bn_state(m)), "train_one_epoch did not update the BatchNorm running statistics.",
           "train_one_epoch 没有更新 BatchNorm 的运行统计量。",
           likely=("the model set to eval mode (or run under torch.no_grad() in eval) inside train_one_epoch.",
                   "在 train_one_epoch 里把模型设成了 eval 模式。"))
    likely = ("not the stated loop: optimizer.zero_grad() every batch (without it gradients accumulate), "
              "F.cross_entropy(model(images), labels), backward(), optimizer.step() once per batch.",
              "与规定的循环不同：每个 batch 都要 optimizer.zero_grad()（否则梯度会累加），"
              "F.cross_entropy(model(images), labels)，backward()，每个 batch 一次 optimizer.step()。")
    for (name, p), q in zip(m.named_parameters(), ref.parameters()):
        assert_close(p, q, f"after one epoch, parameter {name}", atol=1e-5, likely=likely)
    mean = as_loss(got, "train_one_epoch's return value", number=_number,
                   attached=("train_one_epoch returned a tensor that is still part of the autograd graph; it should "
                             "return a Python float.", "train_one_epoch 返回的张量仍连在计算图上；应返回 Python float。"),
                   attached_likely=("summing the loss tensors (total += loss) instead of loss.item(): every batch's "
                                    "graph stays alive until the epoch ends, so memory grows with the number of batches.",
                                    "累加的是损失张量（total += loss）而不是 loss.item()：每个 batch 的计算图都一直保留到 "
                                    "epoch 结束，内存随 batch 数增长。"))
    batch_mean = sum(losses) / len(losses)
    sample_mean = sum(v * s for v, s in zip(losses, sizes)) / sum(sizes)
    expect(abs(mean - batch_mean) < 1e-4 or abs(mean - sample_mean) < 1e-4,
           f"train_one_epoch should return the epoch's mean loss ({batch_mean:.5f}); it returned {mean:.5f}.",
           f"train_one_epoch 应返回该 epoch 的平均损失（{batch_mean:.5f}）；实际返回 {mean:.5f}。",
           likely=("returning the last batch's loss or the sum of the losses.", "返回了最后一个 batch 的损失或损失之和。"))


@check(points=2, category="correctness")
def test_evaluate_accuracy(ex):
    """evaluate returns correct / samples over the whole loader (a short last batch counts by its size).
    zh: evaluate 返回整个 loader 上的 正确数 / 样本数（较短的最后一个 batch 按其大小计入）。
    """
    m = _net(5, k=4)
    for n, bs in ((10, 4), (7, 3)):
        loader, x, y = _loader(n, bs, seed=6 + n, k=4)
        m.eval()
        with torch.no_grad():
            pred = m(x).argmax(1)
        # full batches all wrong but sample 0, the short last batch all right: per-batch averaging gives another number
        y = torch.where(torch.arange(n) < n - (n % bs), (pred + 1) % 4, pred)
        y[0] = pred[0]
        loader = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=False)
        want = (pred == y).float().mean().item()
        got = _number(_run(f"evaluate(model, loader, 'cpu') ({n} samples, batch size {bs})", "evaluate", ex.evaluate, m, loader,
                            torch.device("cpu")), "evaluate's return value")
        per_batch = sum((pred[i:i + bs] == y[i:i + bs]).float().mean().item() for i in range(0, n, bs)) / -(-n // bs)
        likely = None
        if abs(got - per_batch) < 1e-6:
            likely = ("per-batch accuracies averaged: with a short last batch that weighs its samples more; count correct "
                      "predictions and samples over the whole loader and divide once.",
                      "对各 batch 的准确率取了平均：最后一个 batch 较短时，其样本权重更大；应在整个 loader 上统计正确数和样本数，最后除一次。")
        elif abs(got - 100 * want) < 1e-4:
            likely = ("a percentage returned: evaluate returns a fraction in [0, 1].", "返回了百分数：evaluate 应返回 [0, 1] 之间的比例。")
        expect(abs(got - want) < 1e-6, f"evaluate on {n} samples (batch size {bs}): expected accuracy {want:.4f} "
               f"(correct / samples), got {got:.4f}.",
               f"evaluate（{n} 个样本，batch 大小 {bs}）：期望准确率 {want:.4f}（正确数 / 样本数），实际为 {got:.4f}。",
               likely=likely)


@check(points=2, category="correctness")
def test_evaluate_has_no_side_effects(ex):
    """evaluate, given a model in train mode, changes no BatchNorm statistic, builds no graph, and scores eval-mode predictions.
    zh: 即使传入的模型处于训练模式，evaluate 也不改变任何 BatchNorm 统计量、不构建计算图，并按 eval 模式的预测计分。
    """
    m = _net(7)
    loader, x, y = _loader(12, 4, seed=8)
    m.train()
    for _ in range(2):  # running statistics that differ from any batch's
        with torch.no_grad():
            m(torch.randn(6, 3, 8, 8) * 2 + 1)
    before = _bn_state(m)
    grad_on = []
    hook = m[0].register_forward_pre_hook(lambda mod, inp: grad_on.append(torch.is_grad_enabled()))
    m.train()
    try:
        got = _run("evaluate(model, loader, 'cpu')", "evaluate", ex.evaluate, m, loader, torch.device("cpu"))
    finally:
        hook.remove()
    changed = [k for k, v in _bn_state(m).items() if not torch.equal(v, before[k])]
    expect(not changed, f"evaluate changed the BatchNorm buffers {changed}: evaluation must not touch the model.",
           f"evaluate 改变了 BatchNorm 缓冲区 {changed}：评估不能修改模型。",
           likely=("model.eval() missing in evaluate: in training mode BatchNorm normalises with the batch's statistics "
                   "and updates running_mean/running_var on every forward (torch.no_grad() does not stop that).",
                   "evaluate 里缺少 model.eval()：训练模式下 BatchNorm 用 batch 统计量归一化，并在每次前向时更新 "
                   "running_mean/running_var（torch.no_grad() 挡不住）。"))
    expect(grad_on and not any(grad_on), "evaluate ran the model with autograd on: it builds a graph (and keeps its "
           "memory) for nothing.",
           "evaluate 在开启 autograd 的情况下运行模型：白白构建计算图（并占用内存）。",
           likely=("the evaluation loop not wrapped in torch.no_grad() (model.eval() does not turn autograd off).",
                   "评估循环没有放在 torch.no_grad() 中（model.eval() 并不会关闭 autograd）。"))
    m.eval()
    with torch.no_grad():
        want = (m(x).argmax(1) == y).float().mean().item()
    assert_close(torch.tensor(_number(got, "evaluate's return value")), torch.tensor(want),
                 "evaluate's accuracy vs the eval-mode predictions", atol=1e-6)


@check(points=3, category="training")
def test_fit_learns_synthetic_task(ex):
    """fit uses its lr (lr=0 leaves the weights as they were); fit(SmallCNN(3, 4), loader, 3 epochs, lr 1e-2) reaches >= 75 % held-out accuracy on a 4-class coloured-square task.
    zh: fit 使用传入的 lr（lr=0 时权重不变）；fit(SmallCNN(3, 4), loader, 3 个 epoch, lr 1e-2) 在四分类“彩色方块”任务上达到 >= 75% 的验证准确率。
    """
    cpu = torch.device("cpu")
    small, _, _ = _loader(8, 4, seed=5)
    m = _net(6)
    before = [p.detach().clone() for p in m.parameters()]
    _run("fit(model, loader, epochs=1, lr=0.0, device='cpu')", "fit", ex.fit, m, small, 1, 0.0, cpu)
    expect(all(torch.equal(a, p.detach().cpu()) for a, p in zip(before, m.parameters())),
           "fit(model, loader, epochs=1, lr=0.0, ...) changed the weights: the optimizer does not use the lr argument.",
           "fit(model, loader, epochs=1, lr=0.0, ...) 改变了权重：优化器没有使用 lr 参数。",
           likely=("Adam built without lr=lr (so it uses its default 1e-3) or with a hard-coded learning rate: "
                   "optim.Adam(model.parameters(), lr=lr).",
                   "构建 Adam 时没有写 lr=lr（于是用默认的 1e-3）或写死了学习率：optim.Adam(model.parameters(), lr=lr)。"))
    xt, yt = _squares(192, seed=10)
    xv, yv = _squares(96, seed=11)
    accs = []
    for seed in (0, 1, 2):
        with seeded(seed):
            m = _run("SmallCNN(3, 4)", "SmallCNN", ex.SmallCNN, 3, 4)
            loader = DataLoader(TensorDataset(xt, yt), batch_size=16, shuffle=True)
            hist = _run("fit(model, loader, epochs=3, lr=0.01, device='cpu')", "fit", ex.fit, m, loader, 3, 1e-2, cpu)
        expect(isinstance(hist, (list, tuple)) and len(hist) == 3,
               f"fit(..., epochs=3, ...) should return the 3 per-epoch mean losses; got {type(hist).__name__}"
               + (f" of length {len(hist)}" if isinstance(hist, (list, tuple)) else "") + ".",
               f"fit(..., epochs=3, ...) 应返回 3 个 epoch 的平均损失；实际为 {type(hist).__name__}。")
        m.eval()
        with torch.no_grad():
            acc = (m(xv).argmax(1) == yv).float().mean().item()
        accs.append(acc)
        if seed == 0 and acc >= 0.75 or sum(a >= 0.75 for a in accs) >= 2:
            return
    fail(f"After fit for 3 epochs (Adam, lr 0.01, batches of 16), held-out accuracy should reach 75 % on a task a "
         f"small CNN solves; saw {', '.join(f'{a:.0%}' for a in accs)} over 3 seeds (chance is 25 %).",
         f"fit 训练 3 个 epoch（Adam，lr 0.01，batch 16）后，验证准确率应达到 75%（小型 CNN 能解决的任务）；"
         f"3 个种子的结果为 {', '.join(f'{a:.0%}' for a in accs)}（随机猜测为 25%）。",
         likely=("fit does not build Adam over model.parameters(), or train_one_epoch does not step; or the model cannot "
                 "see where a colour is (e.g. the channel information pooled away before any convolution).",
                 "fit 没有基于 model.parameters() 构建 Adam，或 train_one_epoch 没有 step；或者模型无法识别颜色"
                 "（例如在任何卷积之前就把通道信息池化掉了）。"))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """With CPU batches from the loader, train_one_epoch, evaluate and fit run on the accelerator with the CPU's results.
    zh: loader 产出 CPU 上的 batch 时，train_one_epoch、evaluate 和 fit 能在加速设备上运行，结果与 CPU 一致。
    """
    loader, _, _ = _loader(8, 4, seed=12)
    m_cpu, m_dev = _net(9), _net(9)
    opt = torch.optim.SGD(m_cpu.parameters(), lr=0.1)
    _run("train_one_epoch on the CPU", "train_one_epoch", ex.train_one_epoch, m_cpu, loader, opt, torch.device("cpu"))
    acc_cpu = _number(_run("evaluate on the CPU", "evaluate", ex.evaluate, m_cpu, loader, torch.device("cpu")), "evaluate")
    likely = ("the batch not moved inside the loop: images, labels = images.to(device), labels.to(device) (the loader "
              "yields CPU tensors).", "没有在循环里移动 batch：images, labels = images.to(device), labels.to(device)"
              "（loader 产出的是 CPU 张量）。")
    with accelerator() as dev:
        m_dev.to(dev)
        opt = torch.optim.SGD(m_dev.parameters(), lr=0.1)
        _run("train_one_epoch on the accelerator", "train_one_epoch", ex.train_one_epoch, m_dev, loader, opt, dev,
             device=likely)
        acc_dev = _number(_run("evaluate on the accelerator", "evaluate", ex.evaluate, m_dev, loader, dev, device=likely),
                          "evaluate")
        w = to_cpu(m_dev[0].weight)
        with seeded(13):
            m = _run("SmallCNN(3, 3)", "SmallCNN", ex.SmallCNN, 3, 3)
        big, _, _ = _loader(4, 2, seed=14, hw=28)
        _run("fit(model, loader, 1, 0.01, device) on the accelerator (28x28 images)", "fit", ex.fit, m, big, 1, 1e-2, dev,
             device=likely)
        p = next(m.parameters())
        assert_on_device(p, dev, "SmallCNN's parameters after fit(..., device)",
                         likely=("fit does not move the model: call model.to(device) before building the optimizer.",
                                 "fit 没有移动模型：在构建优化器之前调用 model.to(device)。"))
    assert_close(w, m_cpu[0].weight, "weights after train_one_epoch on the accelerator vs on the CPU", atol=1e-3, rtol=1e-3)
    expect(abs(acc_dev - acc_cpu) < 1e-6, f"evaluate gave {acc_dev:.4f} on the accelerator and {acc_cpu:.4f} on the CPU.",
           f"evaluate 在加速设备上得到 {acc_dev:.4f}，在 CPU 上得到 {acc_cpu:.4f}。")
