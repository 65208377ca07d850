"""Grader for exercise 03 — partial fine-tuning of a pretrained ResNet.

The "pretrained" resnet18 is made here: a seeded random init with perturbed BatchNorm affine
weights and real running statistics (a few forward passes in train mode on random data).
Nothing is downloaded.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from ptquiz.gradelib import (accelerator, assert_all_params_get_grad, assert_close, assert_learns, assert_on_device,
                             assert_shape, assert_tensor, check, expect, fail, first_line, missing_import,
                             pretend_pretrained, run_learner, seeded, to_cpu)

BLOCKS = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
EARLY = BLOCKS[:-1]
_CACHE = {}


def _pretrained():
    """(template resnet18 with pretrained-like weights, reference feature extractor = it without fc)."""
    if "rn" not in _CACHE:
        with seeded(0):
            rn = pretend_pretrained(resnet18(weights=None), passes=3)
        ref = copy.deepcopy(rn)
        ref.fc = nn.Identity()
        ref.requires_grad_(False)
        ref.eval()
        _CACHE["rn"], _CACHE["ref"] = rn, ref
    return _CACHE["rn"], _CACHE["ref"]


RESNET_LAYERS = "conv1, bn1, relu, maxpool, layer1 ... layer4, avgpool and fc"


def _known(e):
    """run_learner's likely mistake for a crash of the learner's code: the attribute a ResNet does not have,
    the import to add, the order of things in __init__, the features not flattened."""
    text = first_line(e)
    if isinstance(e, NameError):
        return missing_import(e)
    if isinstance(e, AttributeError) and text.startswith("'ResNet' object has no attribute"):
        name = getattr(e, "name", None) or text.rsplit(" ", 1)[-1].strip("'")
        if name in ("features", "classifier"):
            return (f"`.{name}` is VGG/AlexNet's attribute: a ResNet keeps its layers as {RESNET_LAYERS} (no .features "
                    "or .classifier). Replace its fc with nn.Identity() and keep the whole ResNet as the backbone, or "
                    "take nn.Sequential(*list(backbone.children())[:-1]) and flatten its (B, 512, 1, 1) output.",
                    f"`.{name}` 是 VGG/AlexNet 的属性：ResNet 的层是 {RESNET_LAYERS}（没有 .features 或 .classifier）。"
                    "可以把它的 fc 换成 nn.Identity() 并把整个 ResNet 当作骨干网络，也可以用 "
                    "nn.Sequential(*list(backbone.children())[:-1]) 并把其 (B, 512, 1, 1) 输出展平。")
        return (f"a torchvision ResNet has no `.{name}`: its layers are {RESNET_LAYERS}.",
                f"torchvision 的 ResNet 没有 `.{name}`：它的层是 {RESNET_LAYERS}。")
    if isinstance(e, AttributeError) and text.startswith("'Sequential' object has no attribute"):
        return ("the backbone is an nn.Sequential, whose children are named '0', '1', ...: reach layer4 by position "
                "(model.backbone[-2] when avgpool is last) or keep a reference to it (self.layer4 = backbone.layer4 "
                "is the same module), or keep the ResNet itself as the backbone.",
                "骨干网络是 nn.Sequential，其子模块名为 '0'、'1'……：按位置取 layer4（avgpool 在最后时为 "
                "model.backbone[-2]），或保留对它的引用（self.layer4 = backbone.layer4 是同一个模块），或直接把 ResNet "
                "本身作为骨干网络。")
    if "before Module.__init__() call" in text:
        return ("super().__init__() must be the first line of FineTuner.__init__, before any module is assigned.",
                "super().__init__() 必须是 FineTuner.__init__ 的第一行，在给任何模块赋值之前。")
    if isinstance(e, AttributeError) and "object has no attribute" in text and ("backbone" in text or "head" in text):
        return ("self.train() (or another method using self.backbone / self.head) called in __init__ before that "
                "attribute is assigned: call it at the end of __init__.",
                "在 __init__ 中给 self.backbone / self.head 赋值之前就调用了 self.train()（或用到它们的其他方法）："
                "请在 __init__ 的最后调用。")
    if "mat1 and mat2 shapes cannot be multiplied" in text:
        return ("the head got something other than the (B, 512) features: flatten the backbone's (B, 512, 1, 1) "
                "output with torch.flatten(x, 1), and drop the ResNet's own 1000-class fc (replace it with "
                "nn.Identity() or leave it out).",
                "分类头收到的不是 (B, 512) 特征：用 torch.flatten(x, 1) 展平骨干网络的 (B, 512, 1, 1) 输出，并去掉 ResNet "
                "自带的 1000 类 fc（换成 nn.Identity() 或不要它）。")
    if "optimizer got an empty parameter list" in text:
        return ("no parameter requires grad: the head was frozen too (requires_grad_(False) applied to the whole "
                "model instead of the backbone).",
                "没有任何参数需要梯度：分类头也被冻结了（对整个模型而不是骨干网络调用了 requires_grad_(False)）。")
    return None


NEED_BUILD = (f"build from a torchvision resnet18 (layers {RESNET_LAYERS}), reusing its modules",
              f"基于 torchvision 的 resnet18（层为 {RESNET_LAYERS}）构建，并复用它的模块")


def _call(what, need, fn, *args):
    """fn(*args) through run_learner: a crash fails the check saying what it needed and the likely mistake."""
    return run_learner(what, need, fn, *args, known=_known)


def _forward(m, x, what="FineTuner forward"):
    y = _call(f"{what} on input {tuple(x.shape)}", ("map images (B, 3, H, W) to logits (B, num_classes)",
                                                   "把图像 (B, 3, H, W) 映射为 logits (B, num_classes)"), m, x)
    assert_tensor(y, f"{what} on input {tuple(x.shape)}",
                  likely=("forward does not return the logits (a missing `return`).", "forward 没有返回 logits（缺少 `return`）。")
                  if y is None else None)
    return y


def _given():
    """A fresh copy of the pretrained resnet18, in train mode, as torchvision's builders return a model."""
    return copy.deepcopy(_pretrained()[0]).train()


def _build(ex, num_classes, seed=1, rn=None):
    """A FineTuner over a fresh copy of the pretrained resnet18, and handles on that resnet's blocks."""
    rn = _given() if rn is None else rn
    parts = {n: getattr(rn, n) for n in BLOCKS}
    with seeded(seed):
        m = _call(f"FineTuner(resnet18, {num_classes})", NEED_BUILD, ex.FineTuner, rn, num_classes)
    expect(isinstance(m, nn.Module), f"FineTuner(...) should be an nn.Module, got {type(m).__name__}.",
           f"FineTuner(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    inside = list(m.modules())
    missing = [n for n, mod in parts.items() if not any(mod is x for x in inside)]
    if missing:
        fail(f"FineTuner should reuse the given resnet's own modules as its backbone; {missing} of the given model "
             "are not inside it.",
             f"FineTuner 应直接复用传入 resnet 的模块作为骨干网络；传入模型的 {missing} 不在其中。",
             likely=("the backbone was copied (copy.deepcopy) or rebuilt with a fresh resnet18(), which loses the "
                     "pretrained weights; or its BatchNorm layers swapped for new ones (e.g. FrozenBatchNorm2d), which "
                     "this exercise does not ask for: keep them and keep them in eval mode.",
                     "骨干网络被复制（copy.deepcopy）或用新的 resnet18() 重建了，预训练权重因此丢失；或者把其中的 BatchNorm "
                     "换成了新层（如 FrozenBatchNorm2d），本题不要求这样做：保留它们并让它们保持 eval 模式。"))
    head = getattr(m, "head", None)
    if not isinstance(head, nn.Linear) or (head.in_features, head.out_features) != (512, num_classes):
        fail(f"FineTuner(resnet, {num_classes}) should have self.head = nn.Linear(512, {num_classes}); found {head!r}.",
             f"FineTuner(resnet, {num_classes}) 应有 self.head = nn.Linear(512, {num_classes})；实际为 {head!r}。",
             likely=("the new head is missing, named differently, or sized for the 1000 ImageNet classes.",
                     "缺少新的分类头、名字不对，或尺寸按 ImageNet 的 1000 类设置。"))
    return m, parts


NEED_OPT = ("return a torch.optim.Adam over the model's trainable parameters",
            "返回一个只包含模型可训练参数的 torch.optim.Adam")
NEED_UNFREEZE = ("unfreeze the backbone's layer4 and return Adam with the groups (head, head_lr) and (layer4, block_lr)",
                 "解冻骨干网络的 layer4，并返回参数组为 (head, head_lr) 与 (layer4, block_lr) 的 Adam")


def _mode(m, call, what):
    """m.train() / m.eval() / m.train(False) through run_learner."""
    return _call(what, ("switch the model's mode and return the model", "切换模型的模式并返回模型"), call)


def _drift(parts):
    """The likely mistake when, right after FineTuner(...), the backbone no longer holds the pretrained values
    (None when it does): so that a check comparing with the pretrained features blames the construction."""
    if "state" not in _CACHE:
        _CACHE["state"] = _state({n: getattr(_pretrained()[0], n) for n in BLOCKS}, BLOCKS)
    weights, stats = _split(_changed(_CACHE["state"], parts, BLOCKS))
    if stats:
        return (f"building the model already changed the backbone's BatchNorm running statistics ({_short(stats)}): "
                "a forward in __init__ while the given resnet is still in training mode (e.g. to measure the feature "
                "size; read backbone.fc.in_features instead).",
                f"构建模型时就改变了骨干网络 BatchNorm 的运行统计量（{_short(stats)}）：在 __init__ 中、传入的 resnet "
                "仍处于训练模式时做了前向（例如为了得到特征维度；应改用 backbone.fc.in_features）。")
    if weights:
        return (f"building the model changed pretrained weights ({_short(weights)}): an initialisation loop that "
                "reaches the backbone (initialise the head only).",
                f"构建模型时改变了预训练权重（{_short(weights)}）：初始化循环作用到了骨干网络（只应初始化分类头）。")
    return None


def _data(seed, b, c, hw=32):
    with seeded(seed):
        return torch.randn(b, 3, hw, hw), torch.randint(0, c, (b,))


def _expected(m, x):
    """Logits of the pretrained features (BatchNorm with running stats) through the learner's head."""
    with torch.no_grad():
        return F.linear(_pretrained()[1](x), m.head.weight, m.head.bias)


def _state(parts, names):
    return {f"{n}.{k}": v.detach().clone() for n in names for k, v in parts[n].state_dict().items()}


def _changed(before, parts, names):
    now = _state(parts, names)
    return [k for k, v in before.items() if k not in now or not torch.equal(now[k], v)]


def _split(keys):
    stats = [k for k in keys if k.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")]
    return [k for k in keys if k not in stats], stats


def _named(parts, names):
    return {id(p): f"{n}.{k}" for n in names for k, p in parts[n].named_parameters()}


def _short(names, k=3):
    names = list(names)
    return ", ".join(names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "")


def _fail_if_moved(before, parts, names, what_en, what_zh):
    changed = _changed(before, parts, names)
    weights, stats = _split(changed)
    if stats:
        fail(f"{what_en}: BatchNorm running statistics of the frozen backbone changed ({_short(stats)}); they should "
             "stay exactly as pretrained.",
             f"{what_zh}：冻结骨干网络中 BatchNorm 的运行统计量发生了变化（{_short(stats)}）；它们应保持预训练时的值不变。",
             likely=("requires_grad=False does not stop BatchNorm from updating running_mean/running_var: model.train() "
                     "put the backbone's BatchNorm layers in training mode. Override train() to keep the backbone in "
                     "eval mode.",
                     "requires_grad=False 并不能阻止 BatchNorm 更新 running_mean/running_var：model.train() 让骨干网络的 "
                     "BatchNorm 层进入了训练模式。请重写 train()，让骨干网络保持 eval 模式。"))
    if weights:
        fail(f"{what_en}: frozen backbone weights changed ({_short(weights)}); they should stay exactly as pretrained.",
             f"{what_zh}：冻结的骨干网络权重发生了变化（{_short(weights)}）；它们应保持预训练时的值不变。",
             likely=("the backbone was not frozen (requires_grad_(False) missing) and the optimizer updated it.",
                     "骨干网络没有冻结（缺少 requires_grad_(False)），优化器更新了它。"))


@check(points=2, category="shape")
def test_output_shape(ex):
    """Logits are (batch, num_classes) for several batch sizes, image sizes and class counts.
    zh: 对不同的 batch 大小、图像尺寸和类别数，输出 logits 形状都是 (batch, num_classes)。
    """
    for c, b, hw in ((3, 1, 32), (3, 5, 32), (7, 2, 48)):
        m, _ = _build(ex, c)
        m.eval()
        x, _ = _data(c + b, b, c, hw)
        with torch.no_grad():
            y = _forward(m, x)
        assert_shape(y, (b, c), f"FineTuner(resnet, {c}) on input {tuple(x.shape)}",
                     likely=("the features not flattened to (B, 512) before the head, or the old 1000-class fc kept.",
                             "特征在进入分类头前没有展平为 (B, 512)，或保留了原来的 1000 类 fc。"))


@check(points=2, category="correctness")
def test_uses_pretrained_features(ex):
    """In eval mode, logits equal head(pretrained resnet18 features without fc).
    zh: eval 模式下，logits 等于 head(去掉 fc 的预训练 resnet18 特征)。
    """
    m, parts = _build(ex, 4)
    drift = _drift(parts)
    m.eval()
    x, _ = _data(3, 3, 4)
    with torch.no_grad():
        y = _forward(m, x)
    assert_close(y, _expected(m, x), "eval-mode logits", atol=1e-4,
                 likely=drift or ("a layer of the backbone skipped or applied twice (e.g. avgpool), the old fc kept in front of the "
                         "head, or an extra activation.",
                         "骨干网络的某层被跳过或重复使用（如 avgpool），原来的 fc 留在了分类头前面，或多加了激活函数。"))


@check(points=2, category="correctness")
def test_train_mode_keeps_backbone_in_eval(ex):
    """After model.train(), the backbone's BatchNorm still uses its running statistics (same logits as eval).
    zh: 调用 model.train() 之后，骨干网络的 BatchNorm 仍使用运行统计量（logits 与 eval 模式相同）。
    """
    m, parts = _build(ex, 3)
    drift = _drift(parts)
    m.eval()
    m.train()
    x, _ = _data(5, 4, 3)
    with torch.no_grad():
        y = _forward(m, x)
    want = _expected(m, x)
    bn_training = [f"{n}.{k}" if k else n for n in BLOCKS for k, mod in parts[n].named_modules()
                   if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.training]
    if bn_training and not torch.allclose(y, want, atol=1e-4, rtol=1e-4):
        fail(f"After model.train(), the frozen backbone's BatchNorm layers should stay in eval mode; "
             f"{_short(bn_training)} are in training mode, so they normalise with each batch's statistics and update "
             "their running statistics (the logits differ from the eval-mode ones).",
             f"调用 model.train() 之后，冻结骨干网络的 BatchNorm 层应保持 eval 模式；{_short(bn_training)} 处于训练模式，"
             "因此会用每个 batch 的统计量做归一化，并更新运行统计量（logits 与 eval 模式下不同）。",
             likely=("model.train() recursively switches every submodule to training mode; override train() to call "
                     "self.backbone.eval() afterwards (calling it once in __init__ is not enough).",
                     "model.train() 会递归地把所有子模块切换到训练模式；请重写 train()，在其后调用 self.backbone.eval()"
                     "（只在 __init__ 里调用一次是不够的）。"))
    assert_close(y, want, "train-mode logits", atol=1e-4,
                 likely=drift or ("the backbone behaves differently in train mode (batch statistics, dropout).",
                         "骨干网络在训练模式下表现不同（使用 batch 统计量、dropout 等）。"))


@check(points=2, category="correctness")
def test_train_eval_switch_model_and_head(ex):
    """model.eval() / model.train() switch the model itself and its head, and return the model (like nn.Module's).
    zh: model.eval() / model.train() 会切换模型本身及其分类头的模式，并返回模型（与 nn.Module 一致）。
    """
    rn = _given()
    m, _ = _build(ex, 3, rn=rn)
    given = {id(x) for x in rn.modules()}
    # the model itself, and every module that neither is part of the given resnet nor wraps part of it (the head)
    outside = [(f"model.{n}" if n else "the model itself", mod) for n, mod in m.named_modules()
               if mod is m or not any(id(x) in given for x in mod.modules())]
    eval_overridden = type(m).eval is not nn.Module.eval
    for call, mode, what in ((m.eval, False, "model.eval()"), (m.train, True, "model.train()")):
        for _, mod in outside:  # start from the other mode, whatever the model did before
            mod.training = not mode
        got = _mode(m, call, what)
        wrong = [n for n, mod in outside if mod.training != mode]
        state = "training" if mode else "eval"
        if wrong and m.training != mode:
            eval_only = False
            if not mode and eval_overridden:
                for _, mod in outside:
                    mod.training = True
                _mode(m, lambda: m.train(False), "model.train(False)")
                eval_only = not m.training
            if eval_only:
                likely = ("eval() overridden without calling super().eval(): model.train(False) works, model.eval() "
                          "does not. nn.Module.eval() already calls train(False), so the train() override is enough.",
                          "重写了 eval() 却没有调用 super().eval()：model.train(False) 有效，model.eval() 却无效。"
                          "nn.Module.eval() 本身就会调用 train(False)，重写 train() 就够了。")
            else:
                for _, mod in outside:  # does train(True) move the model at all?
                    mod.training = False
                _mode(m, lambda: m.train(True), "model.train(True)")
                if not m.training:
                    likely = ("the train(mode) override never calls super().train(mode): it sets the backbone only, so "
                              "the model and its head never change mode. Start it with super().train(mode).",
                              "重写的 train(mode) 从不调用 super().train(mode)：它只设置了骨干网络，模型本身和分类头的模式"
                              "永远不变。请在开头调用 super().train(mode)。")
                else:
                    likely = ("train(mode) ignores its mode argument (super().train() called without mode, or with "
                              "True), so model.eval(), which calls train(False), leaves the model in training mode.",
                              "train(mode) 忽略了 mode 参数（调用 super().train() 时没有传 mode，或传了 True），所以调用 "
                              "train(False) 的 model.eval() 让模型仍处于训练模式。")
            fail(f"After {what}, {_short(wrong)} should be in {state} mode and are not.",
                 f"调用 {what} 之后，{_short(wrong)} 应处于 {state} 模式，但并没有。", likely=likely)
        if wrong:
            fail(f"After {what}, the model itself is in {state} mode but these submodules are not: {_short(wrong)}.",
                 f"调用 {what} 之后，模型本身处于 {state} 模式，但这些子模块不是：{_short(wrong)}。",
                 likely=("self.training = mode set by hand instead of super().train(mode), which also switches every "
                         "submodule (the head included).",
                         "手动设置了 self.training = mode，而不是调用 super().train(mode)；后者会同时切换所有子模块（包括分类头）。"))
        if got is not m:
            own = "eval() override" if not mode and eval_overridden else "train() override"
            fail(f"{what} returned {got!r:.60} instead of the model itself; nn.Module's train() and eval() return self, "
                 "so `model = model.eval()` or `FineTuner(...).train()` keep working.",
                 f"{what} 返回了 {got!r:.60}，而不是模型本身；nn.Module 的 train() 和 eval() 返回 self，"
                 "所以 `model = model.eval()` 或 `FineTuner(...).train()` 才能正常工作。",
                 likely=(f"the {own} doesn't end with `return self` (model.eval() returns whatever train(False) returns).",
                         f"重写的 {own.split()[0]} 没有以 `return self` 结尾（model.eval() 返回的就是 train(False) 的返回值）。"))


@check(points=2, category="correctness")
def test_fresh_model_keeps_bn_stats(ex):
    """Built from a resnet in train mode (as torchvision returns it), the backbone's BatchNorm stats never move, first forward included.
    zh: 用处于训练模式的 resnet（torchvision 返回的就是这样）构建后，骨干网络的 BatchNorm 统计量从不改变，包括第一次前向。
    """
    m, parts = _build(ex, 4)
    drift = _drift(parts)
    if drift:
        fail("FineTuner(resnet18, 4) itself changed the pretrained backbone; it should stay exactly as pretrained.",
             "FineTuner(resnet18, 4) 在构建时就改变了预训练的骨干网络；它应保持预训练时的值不变。", likely=drift)
    x, _ = _data(12, 4, 4)
    y = _forward(m, x, "the first forward of a fresh FineTuner")
    weights, stats = _split(_changed(_CACHE["state"], parts, BLOCKS))
    if stats:
        fail("The first forward of a freshly built FineTuner (before any model.train() or model.eval()) changed the "
             f"backbone's BatchNorm running statistics ({_short(stats)}).",
             f"新建的 FineTuner 在第一次前向（尚未调用 model.train() 或 model.eval()）时就改变了骨干网络 BatchNorm 的运行统计量"
             f"（{_short(stats)}）。",
             likely=("torchvision returns its models in training mode, and __init__ leaves the backbone that way until "
                     "the first model.train()/model.eval(): end __init__ with self.train() (your override then puts the "
                     "backbone in eval mode) or self.backbone.eval().",
                     "torchvision 返回的模型处于训练模式，而 __init__ 让骨干网络一直保持这样，直到第一次调用 "
                     "model.train()/model.eval()：请在 __init__ 末尾调用 self.train()（你的重写会把骨干网络切到 eval 模式）"
                     "或 self.backbone.eval()。"))
    assert_close(y, _expected(m, x), "logits of the first forward of a fresh FineTuner", atol=1e-4,
                 likely=("in a fresh model the backbone's BatchNorm layers normalise with each batch's statistics: end "
                         "__init__ with self.train() or self.backbone.eval().",
                         "新建模型中骨干网络的 BatchNorm 层用每个 batch 的统计量做归一化：请在 __init__ 末尾调用 self.train() "
                         "或 self.backbone.eval()。"))


@check(points=2, category="correctness")
def test_backbone_attribute(ex):
    """self.backbone is the given ResNet without its fc: in eval mode, model.backbone(x) gives the 512 pretrained features.
    zh: self.backbone 是去掉 fc 的给定 ResNet：eval 模式下 model.backbone(x) 给出 512 维预训练特征。
    """
    m, parts = _build(ex, 3)
    drift = _drift(parts)
    bb = getattr(m, "backbone", None)
    if not isinstance(bb, nn.Module):
        holders = [n for n, c in m.named_children() if n != "head" and any(x is parts["layer1"] for x in c.modules())]
        fail(f"FineTuner should keep the pretrained layers as self.backbone (an nn.Module); found {bb!r:.60}.",
             f"FineTuner 应把预训练的层保存为 self.backbone（一个 nn.Module）；实际为 {bb!r:.60}。",
             likely=(f"the layers kept as self.{holders[0]}; the task (and code that uses the model) names them "
                     "self.backbone." if holders else "the pretrained layers not stored as an attribute of the model.",
                     f"这些层保存在 self.{holders[0]} 中；题目（以及使用该模型的代码）要求命名为 self.backbone。"
                     if holders else "预训练的层没有作为模型的属性保存。"))
    m.eval()
    x, _ = _data(13, 3, 3, hw=40)
    with torch.no_grad():
        f = _call(f"model.backbone on input {tuple(x.shape)}", ("map images (B, 3, H, W) to the (B, 512) features (or "
                  "(B, 512, 1, 1) before flattening)", "把图像 (B, 3, H, W) 映射为 (B, 512) 特征（或展平前的 (B, 512, 1, 1)）"),
                  bb, x)
        want = _pretrained()[1](x)
    assert_tensor(f, f"model.backbone on input {tuple(x.shape)}")
    if f.dim() == 2 and f.shape[1] == 1000:
        fail(f"model.backbone should stop before the ResNet's fc; on input {tuple(x.shape)} it gives {tuple(f.shape)}, "
             "the 1000 ImageNet class scores.",
             f"model.backbone 应在 ResNet 的 fc 之前结束；对输入 {tuple(x.shape)} 它给出 {tuple(f.shape)}，即 1000 个 ImageNet 类别分数。",
             likely=("the old fc kept inside the backbone: replace it with nn.Identity() or leave it out.",
                     "原来的 fc 留在了骨干网络里：把它换成 nn.Identity() 或去掉它。"))
    if f.dim() == 4 and f.shape[:2] == (3, 512):
        f = f.mean(dim=(2, 3))  # (B, 512, 1, 1) from avgpool; a backbone that leaves avgpool to forward is fine too
    assert_close(f.reshape(f.shape[0], -1) if f.dim() > 1 else f, want, f"model.backbone(x) on input {tuple(x.shape)}",
                 atol=1e-4, likely=drift or ("self.backbone misses a layer of the ResNet or holds an extra one.",
                                    "self.backbone 缺少 ResNet 的某一层，或多了一层。"))


@check(points=2, category="gradient")
def test_backbone_gets_no_gradient(ex):
    """After loss.backward() in train mode, every backbone parameter is frozen and has grad None.
    zh: 训练模式下 loss.backward() 之后，骨干网络的每个参数都已冻结，梯度为 None。
    """
    m, parts = _build(ex, 3)
    m.train()
    x, y = _data(6, 3, 3)
    F.cross_entropy(_forward(m, x), y).backward()
    names = _named(parts, BLOCKS)
    trainable = [n for n in BLOCKS for k, p in parts[n].named_parameters() if p.requires_grad]
    got = [names[id(p)] for n in BLOCKS for p in parts[n].parameters() if p.grad is not None]
    if trainable or got:
        bad = [f"{n}.{k}" for n in BLOCKS for k, p in parts[n].named_parameters() if p.requires_grad or p.grad is not None]
        fail(f"Backbone parameters should have requires_grad=False and grad None after backward(); "
             f"{_short(bad)} still require grad or received a gradient.",
             f"backward() 之后，骨干网络参数应为 requires_grad=False 且梯度为 None；{_short(bad)} 仍需要梯度或收到了梯度。",
             likely=("the backbone was never frozen: call self.backbone.requires_grad_(False) (leaving it out of the "
                     "optimizer still spends time and memory computing its gradients).",
                     "骨干网络没有冻结：调用 self.backbone.requires_grad_(False)（只是不交给优化器，仍会浪费时间和内存计算梯度）。"))


@check(points=2, category="gradient")
def test_head_gradient(ex):
    """The head's weight and bias get the gradient autograd gives on the pretrained features.
    zh: 分类头的权重和偏置得到的梯度，与在预训练特征上用 autograd 计算的梯度一致。
    """
    m, parts = _build(ex, 4)
    drift = _drift(parts)
    m.eval()
    x, y = _data(7, 5, 4)
    F.cross_entropy(_forward(m, x), y).backward()
    assert_all_params_get_grad(m.head, "the head")
    w = m.head.weight.detach().clone().requires_grad_()
    b = m.head.bias.detach().clone().requires_grad_()
    F.cross_entropy(F.linear(_pretrained()[1](x), w, b), y).backward()
    assert_close(m.head.weight.grad, w.grad, "gradient of head.weight", atol=1e-5, likely=drift)
    assert_close(m.head.bias.grad, b.grad, "gradient of head.bias", atol=1e-5, likely=drift)


@check(points=2, category="correctness")
def test_optimizer_holds_only_trainable(ex):
    """make_optimizer(model, lr) holds exactly the trainable parameters (the head), at lr.
    zh: make_optimizer(model, lr) 恰好只包含可训练参数（分类头），学习率为 lr。
    """
    m, parts = _build(ex, 3)
    opt = _call("make_optimizer(model, 0.02)", NEED_OPT, ex.make_optimizer, m, 0.02)
    expect(isinstance(opt, torch.optim.Optimizer), f"make_optimizer should return a torch.optim.Optimizer, got {type(opt).__name__}.",
           f"make_optimizer 应返回 torch.optim.Optimizer，实际是 {type(opt).__name__}。")
    held = [p for g in opt.param_groups for p in g["params"]]
    ids = {id(p) for p in held}
    names = {id(p): n for n, p in m.named_parameters()}
    frozen = [names.get(id(p), "?") for p in held if not p.requires_grad]
    if frozen:
        fail(f"The optimizer holds {len(frozen)} frozen parameters (requires_grad=False), e.g. {_short(frozen)}; it should "
             "hold only the trainable ones.",
             f"优化器中有 {len(frozen)} 个冻结参数（requires_grad=False），例如 {_short(frozen)}；它应只包含可训练参数。",
             likely=("model.parameters() passed to the optimizer without filtering on p.requires_grad.",
                     "把 model.parameters() 直接交给了优化器，没有按 p.requires_grad 过滤。"))
    backbone = _named(parts, BLOCKS)
    inb = [backbone[id(p)] for p in held if id(p) in backbone]
    if inb:
        fail(f"The optimizer holds backbone parameters ({_short(inb)}); for a fresh FineTuner only the head should be "
             "trainable.",
             f"优化器中有骨干网络参数（{_short(inb)}）；对新建的 FineTuner，只有分类头应可训练。",
             likely=("the backbone was not frozen (requires_grad_(False) missing).", "骨干网络没有冻结（缺少 requires_grad_(False)）。"))
    missing = [f"head.{n}" for n, p in m.head.named_parameters() if id(p) not in ids]
    expect(not missing, f"The optimizer should hold the head's parameters; {missing} are missing.",
           f"优化器应包含分类头的参数；缺少 {missing}。",
           likely=("the optimizer built before the head was created, or over the wrong module.",
                   "在创建分类头之前就构建了优化器，或传入了错误的模块。"))
    foreign = [p for p in held if id(p) not in names]
    expect(not foreign, f"The optimizer holds {len(foreign)} tensors that are not parameters of the model.",
           f"优化器中有 {len(foreign)} 个不属于该模型的张量。")
    lrs = sorted({g["lr"] for g in opt.param_groups})
    expect(all(abs(v - 0.02) < 1e-12 for v in lrs), f"make_optimizer(model, lr=0.02) should use lr 0.02; its groups have lr {lrs}.",
           f"make_optimizer(model, lr=0.02) 应使用学习率 0.02；各参数组的学习率为 {lrs}。")


@check(points=2, category="training")
def test_backbone_unchanged_by_training(ex):
    """Three optimizer steps in model.train() mode leave every backbone weight and BatchNorm buffer unchanged.
    zh: 在 model.train() 模式下走 3 步优化后，骨干网络的所有权重和 BatchNorm 缓冲区保持不变。
    """
    m, parts = _build(ex, 3)
    before = _state(parts, BLOCKS)
    head_before = m.head.weight.detach().clone()
    m.train()
    opt = _call("make_optimizer(model, 0.01)", NEED_OPT, ex.make_optimizer, m, 1e-2)
    x, y = _data(8, 4, 3)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(_forward(m, x), y).backward()
        opt.step()
    _fail_if_moved(before, parts, BLOCKS, "After 3 training steps", "训练 3 步之后")
    expect(not torch.equal(m.head.weight.detach(), head_before),
           "After 3 training steps the head's weight should have changed; it did not.",
           "训练 3 步之后分类头的权重应发生变化，但没有。",
           likely=("make_optimizer does not hold the head's parameters.", "make_optimizer 没有包含分类头的参数。"))


@check(points=2, category="training")
def test_loss_decreases(ex):
    """Training the head with make_optimizer(model, 1e-2) lowers the loss on a tiny synthetic task.
    zh: 用 make_optimizer(model, 1e-2) 训练分类头，能在一个很小的合成任务上降低损失。
    """
    m, _ = _build(ex, 4)
    m.train()
    opt = _call("make_optimizer(model, 0.01)", NEED_OPT, ex.make_optimizer, m, 1e-2)
    x, y = _data(9, 6, 4)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = F.cross_entropy(_forward(m, x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert_learns(losses, "training the head for 15 steps")


@check(points=2, category="correctness")
def test_unfreeze_param_groups(ex):
    """unfreeze_last_block: layer4 trainable, earlier layers frozen; groups head at head_lr, layer4 at block_lr.
    zh: unfreeze_last_block：layer4 可训练、之前的层仍冻结；参数组为 head（head_lr）和 layer4（block_lr）。
    """
    m, parts = _build(ex, 5)
    opt = _call("unfreeze_last_block(model, 0.01, 0.001)", NEED_UNFREEZE, ex.unfreeze_last_block, m, 1e-2, 1e-3)
    expect(isinstance(opt, torch.optim.Optimizer),
           f"unfreeze_last_block should return a torch.optim.Optimizer, got {type(opt).__name__}.",
           f"unfreeze_last_block 应返回 torch.optim.Optimizer，实际是 {type(opt).__name__}。")
    still = [f"layer4.{k}" for k, p in parts["layer4"].named_parameters() if not p.requires_grad]
    expect(not still, f"After unfreeze_last_block, layer4's parameters should require grad; {_short(still)} do not.",
           f"unfreeze_last_block 之后，layer4 的参数应需要梯度；{_short(still)} 仍不需要。",
           likely=("requires_grad_(True) not called on the backbone's layer4.", "没有对骨干网络的 layer4 调用 requires_grad_(True)。"))
    early = [f"{n}.{k}" for n in EARLY for k, p in parts[n].named_parameters() if p.requires_grad]
    expect(not early, f"Only layer4 should be unfrozen; earlier layers require grad too: {_short(early)}.",
           f"只应解冻 layer4；之前的层也需要梯度了：{_short(early)}。",
           likely=("the whole backbone unfrozen, or never frozen in FineTuner.__init__.",
                   "解冻了整个骨干网络，或在 FineTuner.__init__ 中根本没有冻结。"))
    group = {id(p): g for g in opt.param_groups for p in g["params"]}
    names = {id(p): n for n, p in m.named_parameters()}
    frozen = [names.get(id(p), "?") for g in opt.param_groups for p in g["params"] if not p.requires_grad]
    expect(not frozen, f"The optimizer holds {len(frozen)} frozen parameters (requires_grad=False), e.g. {_short(frozen)}; "
           "it should hold only the head and layer4.",
           f"优化器中有 {len(frozen)} 个冻结参数（requires_grad=False），例如 {_short(frozen)}；它应只包含分类头和 layer4。",
           likely=("a group built from the whole backbone (model.backbone.parameters()) instead of layer4 only.",
                   "参数组用整个骨干网络（model.backbone.parameters()）构建，而不是只用 layer4。"))
    head = list(m.head.parameters())
    l4 = list(parts["layer4"].parameters())
    absent = [f"head.{n}" for n, p in m.head.named_parameters() if id(p) not in group] + \
             [f"layer4.{n}" for n, p in parts["layer4"].named_parameters() if id(p) not in group]
    expect(not absent, f"The optimizer should hold the head and every layer4 parameter; missing {_short(absent)}.",
           f"优化器应包含分类头和 layer4 的全部参数；缺少 {_short(absent)}。")
    head_lr = sorted({group[id(p)]["lr"] for p in head})
    l4_lr = sorted({group[id(p)]["lr"] for p in l4})
    ok = len(head_lr) == 1 and len(l4_lr) == 1 and abs(head_lr[0] - 1e-2) < 1e-12 and abs(l4_lr[0] - 1e-3) < 1e-12
    expect(ok, f"unfreeze_last_block(model, head_lr=0.01, block_lr=0.001): layer4 should train at the lower learning rate "
           f"0.001 and the head at 0.01; saw layer4 lr {l4_lr} and head lr {head_lr}.",
           f"unfreeze_last_block(model, head_lr=0.01, block_lr=0.001)：layer4 应使用较低的学习率 0.001，分类头使用 0.01；"
           f"实际 layer4 学习率为 {l4_lr}，分类头为 {head_lr}。",
           likely=("one parameter group (or the same lr) for both: give the optimizer a list of two dicts "
                   "[{'params': head, 'lr': head_lr}, {'params': layer4, 'lr': block_lr}].",
                   "两者用了同一个参数组（或同一学习率）：应传给优化器两个字典的列表 "
                   "[{'params': head, 'lr': head_lr}, {'params': layer4, 'lr': block_lr}]。"))


@check(points=2, category="training")
def test_unfreeze_trains_only_layer4(ex):
    """After unfreeze_last_block, training steps update layer4 (and the head) but nothing before layer4.
    zh: unfreeze_last_block 之后，训练会更新 layer4（和分类头），但不改变 layer4 之前的任何东西。
    """
    m, parts = _build(ex, 3)
    opt = _call("unfreeze_last_block(model, 0.01, 0.001)", NEED_UNFREEZE, ex.unfreeze_last_block, m, 1e-2, 1e-3)
    m.train()
    before = _state(parts, EARLY)
    l4_before = {k: p.detach().clone() for k, p in parts["layer4"].named_parameters()}
    x, y = _data(10, 4, 3)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(_forward(m, x), y).backward()
        if _ == 0:
            assert_all_params_get_grad(parts["layer4"], "layer4 (unfrozen)",
                                       likely=("layer4 left frozen, or the backbone run under torch.no_grad().",
                                               "layer4 仍被冻结，或骨干网络在 torch.no_grad() 下运行。"))
            early = [f"{n}.{k}" for n in EARLY for k, p in parts[n].named_parameters() if p.grad is not None]
            expect(not early, f"Layers before layer4 should get no gradient; {_short(early)} did.",
                   f"layer4 之前的层不应得到梯度；{_short(early)} 得到了梯度。",
                   likely=("the whole backbone unfrozen instead of layer4 only.", "解冻了整个骨干网络，而不是只解冻 layer4。"))
        opt.step()
    same = [f"layer4.{k}" for k, p in parts["layer4"].named_parameters() if torch.equal(p.detach(), l4_before[k])]
    expect(not same, f"After 3 steps layer4's parameters should have changed; {_short(same)} did not.",
           f"训练 3 步之后 layer4 的参数应发生变化；{_short(same)} 没有变。",
           likely=("layer4's parameters are not in the optimizer.", "layer4 的参数不在优化器中。"))
    _fail_if_moved(before, parts, EARLY, "After 3 steps with layer4 unfrozen", "解冻 layer4 并训练 3 步之后")


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """Moved with .to(device), it gives the CPU's logits there, and an optimizer step runs on the device.
    zh: 用 .to(device) 移动后，在该设备上得到与 CPU 相同的 logits，并且优化器能在该设备上完成一步更新。
    """
    m, _ = _build(ex, 3)
    m.eval()
    x, y = _data(11, 2, 3)
    with torch.no_grad():
        ref = m(x)
    head_before = m.head.weight.detach().clone()
    with accelerator() as dev:
        m.to(dev)
        with torch.no_grad():
            out = m(x.to(dev))
        assert_on_device(out, dev, "FineTuner output")
        out = to_cpu(out)
        m.train()
        opt = ex.make_optimizer(m, 1e-2)
        opt.zero_grad()
        F.cross_entropy(m(x.to(dev)), y.to(dev)).backward()
        opt.step()
        assert_on_device(m.head.weight, dev, "head.weight after an optimizer step")
        w = to_cpu(m.head.weight)
    # loose tolerance: on real CUDA, cuDNN convolutions may run in TF32 by default
    assert_close(out, ref, "logits on the accelerator", atol=5e-3, rtol=1e-2)
    expect(not torch.equal(w, head_before), "An optimizer step on the accelerator should change head.weight; it did not.",
           "在加速设备上走一步优化后 head.weight 应发生变化，但没有。")
