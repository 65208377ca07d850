"""Grader for exercise 16 — CNN transfer learning with torchvision: feature extraction.

Two "pretrained" torchvision families are made here, as in exercise 03: a seeded random init with
perturbed BatchNorm affine weights and real running statistics (forward passes in train mode on
shifted random data). Nothing is downloaded. The reference features come from a copy of each model
whose final Linear is an nn.Identity(), in eval mode; the reference head is trained here with the
plain SGD loop the task states.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import (MobileNet_V3_Small_Weights, ResNet18_Weights, ResNet50_Weights, mobilenet_v3_small,
                                resnet18)

from ptquiz.gradelib import (CheckFailed, accelerator, as_loss, assert_close, assert_on_device, assert_shape, assert_tensor,
                             check, expect, fail, first_line, learner_line, missing_import, pretend_pretrained,
                             run_learner, seeded, to_cpu)

_CACHE = {}
ARCHS = ("resnet18", "mobilenet_v3_small")
WHERE = {"resnet18": "model.fc", "mobilenet_v3_small": "model.classifier[-1]"}
IN_FEATURES = {"resnet18": 512, "mobilenet_v3_small": 1024}
_STATS = ("running_mean", "running_var", "num_batches_tracked")

# ---------------------------------------------------------------------------
# private helpers


NEED = {"replace_head": ("put a new nn.Linear(in_features, num_classes) where the model keeps its final Linear and "
                         "return it", "把新的 nn.Linear(in_features, num_classes) 放到模型存放最后一个 Linear 的位置并返回它"),
        "model": ("map images (B, 3, H, W) to logits (B, num_classes)", "把图像 (B, 3, H, W) 映射为 logits (B, num_classes)"),
        "freeze_backbone": ("set requires_grad=False on every parameter outside the head and True on the head's",
                            "把分类头以外的所有参数设为 requires_grad=False，分类头的参数设为 True"),
        "train_head": ("train the head with SGD through the frozen backbone in eval mode and return the per-step losses",
                       "在 eval 模式的冻结骨干网络之上用 SGD 训练分类头，并返回每步损失"),
        "extract_features": ("return the head's input (N, in_features) for every image, in eval mode, without autograd",
                             "在 eval 模式下、不构建计算图，返回每张图像的分类头输入 (N, in_features)"),
        "train_head_cached": ("extract the features once, train the head on them and return the per-step losses",
                              "只提取一次特征，在特征上训练分类头，并返回每步损失"),
        "preprocess": ("return the float batch those weights expect (their own transforms())",
                       "返回这些权重所期望的浮点 batch（用它们自己的 transforms()）")}


def _known(fn):
    """run_learner's likely mistake for a crash of the learner's `fn`: the import to add, BatchNorm on one image
    in training mode, a loss that needs no gradient."""
    def likely(e):
        text = first_line(e)
        if isinstance(e, NameError):
            return missing_import(e)
        if "more than 1 value per channel when training" in text:
            return ("the backbone ran in training mode (a batch of one image cannot give BatchNorm batch statistics): "
                    f"call model.eval() at the start of {fn}; a frozen backbone always runs in eval mode.",
                    f"骨干网络在训练模式下运行（只有一张图像的 batch 无法给 BatchNorm 提供 batch 统计量）：请在 {fn} 开头"
                    "调用 model.eval()；冻结的骨干网络始终以 eval 模式运行。")
        if "does not require grad and does not have a grad_fn" in text:
            return ("nothing in the loss requires grad: the head's parameters were frozen too (freeze_backbone must "
                    "leave head.requires_grad True), or the logits computed under torch.no_grad().",
                    "损失中没有需要梯度的部分：分类头的参数也被冻结了（freeze_backbone 必须让分类头保持 requires_grad=True），"
                    "或 logits 是在 torch.no_grad() 下计算的。")
        return None
    return likely


def _run(what, fn, call, *args):
    """call(*args) through run_learner, with what the learner's `fn` must do and its likely mistakes."""
    return run_learner(what, NEED[fn], call, *args, known=_known(fn))


def _copy(m, memo=None):
    """A copy of module m with its own parameters, buffers, submodules and hook tables: copy.deepcopy's result at
    a fraction of its cost (deepcopy walks every attribute of every module in Python)."""
    memo = {} if memo is None else memo
    if id(m) in memo:
        return memo[id(m)]
    new = memo[id(m)] = m.__class__.__new__(m.__class__)
    state = {}
    for k, v in m.__dict__.items():
        if k == "_parameters":
            v = {n: p if p is None else memo.setdefault(id(p), nn.Parameter(p.detach().clone(), p.requires_grad))
                 for n, p in v.items()}
        elif k == "_buffers":
            v = {n: b if b is None else memo.setdefault(id(b), b.clone()) for n, b in v.items()}
        elif k == "_modules":
            v = {n: c if c is None else _copy(c, memo) for n, c in v.items()}
        elif isinstance(v, (dict, list, set)):  # hook tables, the non-persistent buffer names
            v = v.copy()
        state[k] = v
    new.__dict__ = state
    return new


def _pretrained(arch):
    """A torchvision model with pretrained-like weights and BatchNorm statistics (cached; copy before use)."""
    if arch not in _CACHE:
        with seeded(ARCHS.index(arch)):
            m = pretend_pretrained(resnet18(weights=None) if arch == "resnet18" else mobilenet_v3_small(weights=None),
                                   passes=2)
        ref = _copy(m)
        _set_head(arch, ref, nn.Identity())
        ref.requires_grad_(False)
        _CACHE[arch] = (m, ref)
    return _CACHE[arch]


def _set_head(arch, m, layer):
    if arch == "resnet18":
        m.fc = layer
    else:
        m.classifier[-1] = layer


def _first_conv(arch, m):
    return m.conv1 if arch == "resnet18" else m.features[0][0]


def _fresh(arch):
    return _copy(_pretrained(arch)[0])


def _ref_features(arch, x):
    with torch.no_grad():
        return _pretrained(arch)[1](x)


def _head(ex, arch, m, num_classes, seed=0):
    """replace_head on m, checked to have put a Linear(in_features, num_classes) where this family keeps it."""
    with seeded(seed):
        head = _run(f"replace_head({arch}, {num_classes})", "replace_head", ex.replace_head, m, num_classes)
    where = WHERE[arch]
    placed = m.fc if arch == "resnet18" else (m.classifier[-1] if isinstance(m.classifier, nn.Sequential) else None)
    if arch != "resnet18" and not isinstance(m.classifier, nn.Sequential):
        fail(f"replace_head({arch}, {num_classes}) replaced the whole model.classifier by {type(m.classifier).__name__}; "
             "only its last Linear should be replaced.",
             f"replace_head({arch}, {num_classes}) 把整个 model.classifier 换成了 {type(m.classifier).__name__}；"
             "只应替换其中最后一个 Linear。",
             likely=("the whole classifier replaced: mobilenet_v3_small's classifier is Linear(576, 1024), Hardswish, "
                     "Dropout, Linear(1024, 1000), and its first Linear is pretrained too; replace only classifier[-1].",
                     "替换了整个 classifier：mobilenet_v3_small 的 classifier 是 Linear(576, 1024)、Hardswish、Dropout、"
                     "Linear(1024, 1000)，其中第一个 Linear 也是预训练的；只应替换 classifier[-1]。"))
    if not isinstance(placed, nn.Linear) or placed.out_features != num_classes:
        extra = " (a new model.fc was added, but a MobileNetV3 never calls it)" if (
            arch != "resnet18" and isinstance(getattr(m, "fc", None), nn.Module)) else ""
        fail(f"replace_head({arch}, {num_classes}): {where} should be a new nn.Linear(..., {num_classes}); found "
             f"{placed!r}{extra}.",
             f"replace_head({arch}, {num_classes})：{where} 应是新的 nn.Linear(..., {num_classes})；实际为 {placed!r}。",
             likely=("only model.fc handled: a MobileNet/EfficientNet/VGG keeps its final Linear in model.classifier[-1].",
                     "只处理了 model.fc：MobileNet/EfficientNet/VGG 的最后一个 Linear 在 model.classifier[-1]。")
             if arch != "resnet18" else ("the new layer put somewhere else, or sized for the old classes.",
                                         "新层放错了位置，或仍按原来的类别数设置。"))
    want = IN_FEATURES[arch]
    if placed.in_features != want:
        fail(f"replace_head({arch}, {num_classes}): {where} should be nn.Linear({want}, {num_classes}) (the old layer's "
             f"in_features); found nn.Linear({placed.in_features}, {placed.out_features}).",
             f"replace_head({arch}, {num_classes})：{where} 应为 nn.Linear({want}, {num_classes})（旧层的 in_features）；"
             f"实际为 nn.Linear({placed.in_features}, {placed.out_features})。",
             likely=(f"in_features hard-coded as {placed.in_features}: read it from the layer you replace "
                     f"({where}.in_features is {want} here).",
                     f"in_features 写死为 {placed.in_features}：应从被替换的层读取（这里 {where}.in_features 为 {want}）。"))
    expect(placed.bias is not None, f"replace_head({arch}, {num_classes}): the new layer should have a bias.",
           f"replace_head({arch}, {num_classes})：新层应带偏置。")
    expect(head is placed, f"replace_head({arch}, {num_classes}) should return the new layer it put in {where}; "
           f"it returned {type(head).__name__}.",
           f"replace_head({arch}, {num_classes}) 应返回放进 {where} 的新层；实际返回 {type(head).__name__}。",
           likely=("returning the model, or nothing, instead of the new head.", "返回了模型或 None，而不是新的分类头。"))
    return head


def _data(seed, n, c, hw=32):
    with seeded(seed):
        return torch.randn(n, 3, hw, hw) * 1.2 + 0.1, torch.randint(0, c, (n,))


def _sgd_reference(head, feats, labels, epochs, bs, lr):
    """The stated loop on a copy of the head: (trained copy, per-step losses)."""
    head = copy.deepcopy(head).requires_grad_(True)
    opt = torch.optim.SGD(head.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for i in range(0, len(feats), bs):
            opt.zero_grad()
            loss = F.cross_entropy(head(feats[i:i + bs]), labels[i:i + bs])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return head, losses


def _state(m, head):
    """Every backbone parameter and buffer (the head's excluded), cloned."""
    skip = {id(t) for t in head.parameters()}
    out = {k: v.detach().clone() for k, v in m.named_parameters() if id(v) not in skip}
    out.update({k: v.detach().clone() for k, v in m.named_buffers()})
    return out


def _short(names, k=3):
    names = list(names)
    return ", ".join(names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "")


def _moved(before, m, head):
    skip = {id(t) for t in head.parameters()}
    now = {k: v for k, v in [*m.named_parameters(), *m.named_buffers()] if id(v) not in skip}
    changed = [k for k, v in before.items() if k not in now or not torch.equal(now[k].detach(), v)]
    stats = [k for k in changed if k.rsplit(".", 1)[-1] in _STATS]
    return [k for k in changed if k not in stats], stats


EVAL_LIKELY = ("{fn} does not put the model in eval mode: after model.train() (the usual habit, and the seed's), every "
               "BatchNorm layer normalises with the batch's statistics and updates running_mean/running_var "
               "(requires_grad=False does not stop that), and dropout is on. Call model.eval() at the start of {fn}.",
               "{fn} 没有把模型切到 eval 模式：调用过 model.train()（常见习惯，也是原题的做法）后，每个 BatchNorm 层都用 "
               "batch 统计量归一化并更新 running_mean/running_var（requires_grad=False 挡不住），dropout 也是开着的。"
               "请在 {fn} 开头调用 model.eval()。")


def _eval_likely(fn):
    return EVAL_LIKELY[0].format(fn=fn), EVAL_LIKELY[1].format(fn=fn)


def _fail_if_moved(before, m, head, fn):
    weights, stats = _moved(before, m, head)
    if stats:
        fail(f"{fn}: BatchNorm running statistics of the frozen backbone changed ({_short(stats)}); feature extraction "
             "must leave them exactly as pretrained.",
             f"{fn}：冻结骨干网络中 BatchNorm 的运行统计量发生了变化（{_short(stats)}）；特征提取必须让它们保持预训练时的值。",
             likely=_eval_likely(fn))
    if weights:
        fail(f"{fn}: frozen backbone weights changed ({_short(weights)}); only the head may train.",
             f"{fn}：冻结的骨干网络权重发生了变化（{_short(weights)}）；只有分类头可以训练。",
             likely=("the optimizer given more than head.parameters(), or the backbone not frozen.",
                     "优化器拿到的不只是 head.parameters()，或骨干网络没有冻结。"))


class _Counter:
    """Counts the images entering the backbone's first conv, and whether autograd was on each time."""

    def __init__(self, conv):
        self.sizes, self.grad = [], []
        self.handle = conv.register_forward_pre_hook(self._hook)

    def _hook(self, mod, inputs):
        self.sizes.append(int(inputs[0].shape[0]))
        self.grad.append(torch.is_grad_enabled())

    def remove(self):
        self.handle.remove()


def _loss(v, what):
    """One per-step loss as a float (gradelib.as_loss: a tensor still attached to the graph is refused)."""
    return as_loss(v, what, likely=("each step's loss should be one number: loss.item().", "每一步的损失应是一个数：loss.item()。"),
                   attached=("{what} is the loss tensor itself, still attached to the autograd graph (grad_fn {grad_fn}); "
                             "every loss kept in the list then keeps its step's whole graph alive.",
                             "{what} 是仍连在自动求导计算图上的损失张量本身（grad_fn {grad_fn}）；列表里保存的每个损失都会让"
                             "那一步的整张计算图一直留在内存里。"),
                   attached_likely=("losses.append(loss) instead of losses.append(loss.item()) (or float(loss), "
                                    "loss.detach()): the PyTorch FAQ's \"don't accumulate history across your training "
                                    "loop\".",
                                    "写成了 losses.append(loss)，而不是 losses.append(loss.item())（或 float(loss)、"
                                    "loss.detach()）：即 PyTorch FAQ 中的“不要在训练循环中累积历史”。"))


def _losses(got, n, what):
    """The n per-step losses the learner returned (a list, tuple, 1-D tensor or array of numbers) as a tensor."""
    if isinstance(got, torch.Tensor) and got.dim() == 1:
        got = list(got)
    ok = isinstance(got, (list, tuple)) or (hasattr(got, "__len__") and hasattr(got, "__getitem__")
                                            and not isinstance(got, (str, bytes, dict, torch.Tensor)))
    count = len(got) if ok else "?"
    expect(ok and count == n,
           f"{what} should return the list of per-step losses ({n} steps); got {type(got).__name__}"
           + (f" of length {count}" if ok else "") + ".",
           f"{what} 应返回每一步损失的列表（共 {n} 步）；实际为 {type(got).__name__}"
           + (f"，长度 {count}" if ok else "") + "。",
           likely=("returning nothing, only the last loss, or one loss per epoch.", "没有返回值、只返回最后的损失，或每个 epoch 只记一个。"))
    return torch.tensor([_loss(v, f"{what}: the loss of step {i + 1}") for i, v in enumerate(got)])


class _EfficientNetLike(nn.Module):
    """The EfficientNet / MobileNetV2 layout, small: classifier = Sequential(Dropout, Linear); no .fc."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(8, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class _SqueezeNetLike(nn.Module):
    """The SqueezeNet layout, small: the classifier ends in a 1x1 convolution and pooling; no Linear anywhere."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(8, 10, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


FIXED_INDEX = ("the classifier's last Linear found by a fixed index or by testing another position: it is classifier[3] "
               "in MobileNetV3, classifier[6] in VGG, classifier[1] in EfficientNet and MobileNetV2; test and replace "
               "model.classifier[-1].",
               "用固定下标或检查了别的位置来找 classifier 的最后一个 Linear：它在 MobileNetV3 中是 classifier[3]，在 VGG 中是 "
               "classifier[6]，在 EfficientNet 和 MobileNetV2 中是 classifier[1]；应检查并替换 model.classifier[-1]。")


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_replace_head_resnet(ex):
    """replace_head(resnet18, C) puts nn.Linear(512, C) in model.fc and returns it; logits are (B, C).
    zh: replace_head(resnet18, C) 把 nn.Linear(512, C) 放进 model.fc 并返回它；logits 形状为 (B, C)。
    """
    c = 5
    m = _fresh("resnet18")
    _head(ex, "resnet18", m, c)
    for b, hw in ((2, 32), (3, 48)):
        x, _ = _data(b, b, c, hw)
        with torch.no_grad():
            y = _run("the model after replace_head", "model", m.eval(), x)
        assert_shape(y, (b, c), f"resnet18 after replace_head(model, {c}) on input {tuple(x.shape)}")


@check(points=2, category="shape")
def test_replace_head_mobilenet(ex):
    """replace_head(mobilenet_v3_small, C) replaces only classifier[-1] by nn.Linear(1024, C); logits are (B, C).
    zh: replace_head(mobilenet_v3_small, C) 只把 classifier[-1] 换成 nn.Linear(1024, C)；logits 形状为 (B, C)。
    """
    c = 7
    m = _fresh("mobilenet_v3_small")
    before = list(m.classifier)[:-1]
    _head(ex, "mobilenet_v3_small", m, c)
    kept = list(m.classifier)[:-1]
    if len(kept) != len(before) or any(a is not b for a, b in zip(kept, before)):
        fail(f"replace_head(mobilenet_v3_small, {c}) should keep classifier[0..2] (the pretrained Linear(576, 1024), "
             f"Hardswish, Dropout) and replace only classifier[-1]; the classifier is now {list(m.classifier)}.",
             f"replace_head(mobilenet_v3_small, {c}) 应保留 classifier[0..2]（预训练的 Linear(576, 1024)、Hardswish、"
             f"Dropout），只替换 classifier[-1]；现在的 classifier 为 {list(m.classifier)}。",
             likely=("the whole classifier replaced instead of its last Linear.", "替换了整个 classifier，而不是其中最后一个 Linear。"))
    for b, hw in ((2, 32), (3, 40)):
        x, _ = _data(10 + b, b, c, hw)
        with torch.no_grad():
            y = _run("the model after replace_head", "model", m.eval(), x)
        assert_shape(y, (b, c), f"mobilenet_v3_small after replace_head(model, {c}) on input {tuple(x.shape)}")


@check(points=2, category="correctness")
def test_replace_head_other_layouts(ex):
    """An EfficientNet-style classifier (Dropout, Linear) gets only its Linear replaced; a model with no final Linear
    (SqueezeNet's layout) raises ValueError.
    zh: EfficientNet 式的 classifier（Dropout、Linear）只替换其中的 Linear；没有最后一个 Linear 的模型（SqueezeNet 的结构）
    抛出 ValueError。
    """
    c = 4
    with seeded(15):
        m = _EfficientNetLike()
    dropout = m.classifier[0]
    with seeded(16):
        head = run_learner(f"replace_head(an EfficientNet-style model, {c})", NEED["replace_head"], ex.replace_head, m, c,
                           known=lambda e: FIXED_INDEX if isinstance(e, (IndexError, AttributeError, ValueError))
                           else _known("replace_head")(e))
    kept = list(m.classifier) if isinstance(m.classifier, nn.Sequential) else None
    placed = kept[-1] if kept else None
    if kept is None or len(kept) != 2 or kept[0] is not dropout or not isinstance(placed, nn.Linear) \
            or (placed.in_features, placed.out_features) != (8, c) or placed.bias is None:
        fail(f"replace_head(model, {c}) on an EfficientNet-style model (classifier = Dropout(0.2), Linear(8, 10)) should "
             f"keep the Dropout and put nn.Linear(8, {c}) in classifier[-1]; the classifier is now "
             f"{list(m.classifier) if kept is not None else m.classifier!r}.",
             f"对 EfficientNet 式的模型（classifier = Dropout(0.2)、Linear(8, 10)），replace_head(model, {c}) 应保留 Dropout，"
             f"并把 nn.Linear(8, {c}) 放进 classifier[-1]；现在的 classifier 为 "
             f"{list(m.classifier) if kept is not None else m.classifier!r}。", likely=FIXED_INDEX)
    expect(head is placed, f"replace_head(an EfficientNet-style model, {c}) should return the new layer it put in "
           f"model.classifier[-1]; it returned {type(head).__name__}.",
           f"replace_head(EfficientNet 式的模型, {c}) 应返回放进 model.classifier[-1] 的新层；实际返回 {type(head).__name__}。")
    x, _ = _data(17, 2, c, 12)
    with torch.no_grad():
        y = _run("the EfficientNet-style model after replace_head", "model", m.eval(), x)
    assert_shape(y, (2, c), f"the EfficientNet-style model after replace_head(model, {c})")

    m = _SqueezeNetLike()
    what = "replace_head on a model whose classifier ends in Conv2d(8, 10, 1), ReLU, AdaptiveAvgPool2d (SqueezeNet's " \
           "layout: no final Linear)"
    zh = "对 classifier 以 Conv2d(8, 10, 1)、ReLU、AdaptiveAvgPool2d 结尾的模型（SqueezeNet 的结构：没有最后一个 Linear）调用 replace_head"
    try:
        ex.replace_head(m, c)
    except (CheckFailed, NotImplementedError):
        raise
    except ValueError:
        return
    except Exception as e:  # noqa: BLE001 - the learner's code may raise anything
        fail(f"{what} raised {type(e).__name__}: {first_line(e)}{learner_line(e)}; it should raise ValueError.",
             f"{zh}，抛出了 {type(e).__name__}：{first_line(e)}{learner_line(e)}；应抛出 ValueError。",
             likely=("the last layer assumed to be a Linear (its .in_features read) without checking: test "
                     "isinstance(..., nn.Linear) and raise ValueError(...) for any other layout.",
                     "没有检查就假定最后一层是 Linear（直接读取 .in_features）：应先用 isinstance(..., nn.Linear) 判断，"
                     "其他结构一律 raise ValueError(...)。"))
    fail(f"{what} returned without an error; it should raise ValueError.",
         f"{zh}，没有报错就返回了；应抛出 ValueError。",
         likely=("a fallback that puts a new layer somewhere (or returns None) instead of raise ValueError(...): a model "
                 "the function cannot handle must fail loudly.",
                 "用了兜底分支（随便放一个新层，或返回 None），而不是 raise ValueError(...)：处理不了的模型必须明确报错。"))


@check(points=2, category="correctness")
def test_head_reads_pretrained_features(ex):
    """In eval mode the new model's logits are the new head applied to the pretrained features (both families).
    zh: eval 模式下，新模型的 logits 等于新分类头作用在预训练特征上的结果（两种模型都是）。
    """
    for arch, c in (("resnet18", 4), ("mobilenet_v3_small", 6)):
        m = _fresh(arch)
        head = _head(ex, arch, m, c, seed=3)
        x, _ = _data(20, 3, c)
        with torch.no_grad():
            y = _run("the model after replace_head", "model", m.eval(), x)
            want = head(_ref_features(arch, x))
        assert_close(y, want, f"{arch} logits after replace_head", atol=1e-4,
                     likely=("a pretrained layer dropped or replaced along with the head.",
                             "替换分类头时连带删除或替换了预训练的层。"))


@check(points=2, category="gradient")
def test_freeze_backbone(ex):
    """freeze_backbone: only the head requires grad; after backward only the head has a gradient, and it is right.
    zh: freeze_backbone 之后只有分类头需要梯度；backward 之后只有分类头有梯度，且梯度正确。
    """
    for arch, c in (("mobilenet_v3_small", 3), ("resnet18", 5)):
        m = _fresh(arch)
        head = _head(ex, arch, m, c, seed=4)
        _run(f"freeze_backbone({arch}, head)", "freeze_backbone", ex.freeze_backbone, m, head)
        hp = {id(p) for p in head.parameters()}
        frozen_head = [n for n, p in m.named_parameters() if id(p) in hp and not p.requires_grad]
        expect(not frozen_head, f"{arch}: after freeze_backbone the head's parameters should require grad; "
               f"{_short(frozen_head)} do not.",
               f"{arch}：freeze_backbone 之后分类头的参数应需要梯度；{_short(frozen_head)} 不需要。",
               likely=("freezing by name (e.g. every parameter whose name lacks 'fc'): a MobileNet's head is "
                       "'classifier.3'. Freeze everything, then call head.requires_grad_(True).",
                       "按名字冻结（例如名字里没有 'fc' 的参数）：MobileNet 的分类头叫 'classifier.3'。"
                       "先冻结全部，再调用 head.requires_grad_(True)。"))
        trainable = [n for n, p in m.named_parameters() if id(p) not in hp and p.requires_grad]
        expect(not trainable, f"{arch}: after freeze_backbone, backbone parameters should have requires_grad=False; "
               f"{_short(trainable)} still require grad.",
               f"{arch}：freeze_backbone 之后骨干网络参数应为 requires_grad=False；{_short(trainable)} 仍需要梯度。",
               likely=("only part of the backbone frozen (e.g. model.features but not the rest of model.classifier), "
                       "or the freezing done before replace_head on the old head only.",
                       "只冻结了骨干网络的一部分（例如冻结了 model.features，却漏了 model.classifier 的其余部分），"
                       "或冻结的范围不对。"))
        x, y = _data(21, 4, c)
        F.cross_entropy(m.eval()(x), y).backward()
        got = [n for n, p in m.named_parameters() if id(p) not in hp and p.grad is not None]
        expect(not got, f"{arch}: backbone parameters got gradients ({_short(got)}).",
               f"{arch}：骨干网络参数得到了梯度（{_short(got)}）。")
        ref = copy.deepcopy(head)
        F.cross_entropy(ref(_ref_features(arch, x)), y).backward()
        for name in ("weight", "bias"):
            g = getattr(head, name).grad
            expect(g is not None, f"{arch}: head.{name} got no gradient.", f"{arch}：head.{name} 没有得到梯度。")
            assert_close(g, getattr(ref, name).grad, f"{arch}: gradient of head.{name}", atol=1e-5)


@check(points=2, category="training")
def test_train_head_leaves_backbone_untouched(ex):
    """train_head after model.train(): every backbone weight and BatchNorm statistic stays as pretrained; the head moves.
    zh: 即使先调用了 model.train()，train_head 之后骨干网络的所有权重和 BatchNorm 统计量都保持预训练值，分类头发生变化。
    """
    m = _fresh("resnet18")
    head = _head(ex, "resnet18", m, 3, seed=5)
    _run("freeze_backbone(resnet18, head)", "freeze_backbone", ex.freeze_backbone, m, head)
    before = _state(m, head)
    w0 = head.weight.detach().clone()
    x, y = _data(22, 8, 3)
    m.train()  # what a training script usually does first
    _run("train_head(model, head, images, labels, epochs=2, batch_size=4, lr=0.1)", "train_head",
         ex.train_head, m, head, x, y, 2, 4, 0.1)
    _fail_if_moved(before, m, head, "train_head")
    expect(not torch.equal(head.weight.detach(), w0), "train_head: the head's weight did not change.",
           "train_head：分类头的权重没有变化。",
           likely=("the optimizer not built over head.parameters(), or opt.step() missing.",
                   "优化器没有基于 head.parameters() 构建，或缺少 opt.step()。"))


@check(points=3, category="correctness")
def test_train_head_matches_reference(ex):
    """train_head gives the head (and per-step losses) of SGD on the pretrained eval-mode features, batches in order.
    zh: train_head 得到的分类头（和每步损失）与在预训练 eval 特征上按顺序分批做 SGD 的结果一致。
    """
    arch, c, n, bs, epochs, lr = "mobilenet_v3_small", 4, 10, 4, 2, 0.2
    m = _fresh(arch)
    head = _head(ex, arch, m, c, seed=6)
    _run(f"freeze_backbone({arch}, head)", "freeze_backbone", ex.freeze_backbone, m, head)
    x, y = _data(23, n, c)
    ref, ref_losses = _sgd_reference(head, _ref_features(arch, x), y, epochs, bs, lr)
    before = _state(m, head)
    m.train()
    with seeded(7):
        got = _run(f"train_head(model, head, images, labels, epochs={epochs}, batch_size={bs}, lr={lr})", "train_head",
                   ex.train_head, m, head, x, y, epochs, bs, lr)
    losses = _losses(got, epochs * -(-n // bs), "train_head")
    _, stats = _moved(before, m, head)
    likely = _eval_likely("train_head") if stats or not torch.allclose(losses[0], torch.tensor(ref_losses[0]), atol=1e-4) \
        else ("not the stated loop: torch.optim.SGD(head.parameters(), lr=lr), batches [0:bs], [bs:2bs], ... in order "
              "(no shuffling), F.cross_entropy (mean), zero_grad / backward / step once per batch.",
              "与题目规定的循环不同：torch.optim.SGD(head.parameters(), lr=lr)，按顺序取 [0:bs]、[bs:2bs]……（不打乱），"
              "F.cross_entropy（平均），每个 batch 一次 zero_grad / backward / step。")
    assert_close(losses, torch.tensor(ref_losses), "train_head: per-step losses", atol=1e-4, likely=likely)
    assert_close(head.weight, ref.weight, "train_head: trained head.weight", atol=1e-4, likely=likely)
    assert_close(head.bias, ref.bias, "train_head: trained head.bias", atol=1e-4, likely=likely)


@check(points=2, category="correctness")
def test_extract_features_values(ex):
    """extract_features equals the pretrained eval-mode features (N, in_features) for both families; the head stays in place.
    zh: extract_features 等于预训练模型在 eval 模式下的特征 (N, in_features)（两种模型）；分类头仍在原处。
    """
    for arch, c, n, bs in (("resnet18", 3, 7, 3), ("mobilenet_v3_small", 5, 6, 4)):
        m = _fresh(arch)
        head = _head(ex, arch, m, c, seed=8)
        _run(f"freeze_backbone({arch}, head)", "freeze_backbone", ex.freeze_backbone, m, head)
        x, _ = _data(24, n, c)
        before = _state(m, head)
        m.train()
        feats = _run(f"extract_features({arch}, head, images, batch_size={bs})", "extract_features",
                     ex.extract_features, m, head, x, bs)
        assert_shape(feats, (n, IN_FEATURES[arch]), f"extract_features on {arch}, {n} images",
                     likely=("returning the logits (the head applied) or the backbone's unflattened map, instead of "
                             "the head's input.", "返回了 logits（已经过分类头）或未展平的特征图，而不是分类头的输入。"))
        _, stats = _moved(before, m, head)
        want = _ref_features(arch, x)
        if not torch.allclose(feats.detach(), want, atol=1e-4, rtol=1e-4) and stats:
            assert_close(feats, want, f"extract_features on {arch}", atol=1e-4, likely=_eval_likely("extract_features"))
        assert_close(feats, want, f"extract_features on {arch}", atol=1e-4,
                     likely=("the features taken at the wrong place (before classifier[0..2], or after the head).",
                             "特征取的位置不对（在 classifier[0..2] 之前，或在分类头之后）。"))
        _fail_if_moved(before, m, head, "extract_features")
        placed = m.fc if arch == "resnet18" else m.classifier[-1]
        expect(placed is head, f"After extract_features, {WHERE[arch]} should be the head again; found {placed!r}.",
               f"extract_features 之后，{WHERE[arch]} 应恢复为分类头；实际为 {placed!r}。",
               likely=("the head swapped for nn.Identity() and not put back.", "把分类头换成了 nn.Identity() 却没有换回来。"))


@check(points=2, category="gradient")
def test_extract_features_builds_no_graph(ex):
    """extract_features runs the backbone with autograd off and returns features that carry no graph.
    zh: extract_features 在关闭 autograd 的情况下运行骨干网络，返回的特征不带计算图。
    """
    arch = "resnet18"
    m = _fresh(arch)
    head = _head(ex, arch, m, 2, seed=9)
    _run(f"freeze_backbone({arch}, head)", "freeze_backbone", ex.freeze_backbone, m, head)
    head.requires_grad_(True)
    x, _ = _data(25, 5, 2)
    count = _Counter(_first_conv(arch, m))
    try:
        feats = _run("extract_features(resnet18, head, images, batch_size=5)", "extract_features",
                     ex.extract_features, m, head, x, 5)
    finally:
        count.remove()
    assert_tensor(feats, "extract_features output")
    likely = ("extract_features not run under torch.no_grad(): the cached features keep the graph (and memory) of "
              "every forward pass.",
              "extract_features 没有在 torch.no_grad() 下运行：缓存的特征保留了每次前向的计算图（和内存）。")
    expect(count.sizes, "extract_features never ran the model's backbone.", "extract_features 根本没有运行骨干网络。")
    expect(not any(count.grad), "extract_features ran the backbone with autograd on; feature caching needs no autograd graph.",
           "extract_features 在开启 autograd 的情况下运行了骨干网络；缓存特征不需要计算图。", likely=likely)
    expect(feats.grad_fn is None and not feats.requires_grad,
           f"extract_features returned features attached to an autograd graph (grad_fn={type(feats.grad_fn).__name__}).",
           f"extract_features 返回的特征带有计算图（grad_fn={type(feats.grad_fn).__name__}）。", likely=likely)


@check(points=2, category="correctness")
def test_cached_runs_backbone_once_per_image(ex):
    """train_head_cached over 3 epochs sends each image through the backbone once, in batches of batch_size.
    zh: train_head_cached 训练 3 个 epoch，每张图像只经过骨干网络一次，按 batch_size 分批。
    """
    arch, n, bs = "mobilenet_v3_small", 9, 4
    m = _fresh(arch)
    head = _head(ex, arch, m, 3, seed=10)
    _run(f"freeze_backbone({arch}, head)", "freeze_backbone", ex.freeze_backbone, m, head)
    x, y = _data(26, n, 3)
    count = _Counter(_first_conv(arch, m))
    try:
        _run(f"train_head_cached(model, head, images, labels, epochs=3, batch_size={bs}, lr=0.1)", "train_head_cached",
             ex.train_head_cached, m, head, x, y, 3, bs, 0.1)
    finally:
        count.remove()
    seen = sum(count.sizes)
    expect(seen == n, f"train_head_cached with {n} images and 3 epochs ran the backbone on {seen} images; feature "
           f"caching runs it on each image once ({n}).",
           f"train_head_cached（{n} 张图像，3 个 epoch）让骨干网络处理了 {seen} 张图像；缓存特征应让每张图像只处理一次（{n} 张）。",
           likely=("the features extracted again in every epoch (or the full model called per step): extract them once "
                   "before the epoch loop and train the head on them."
                   if seen >= 2 * n else "some images skipped, or a batch sent twice.",
                   "每个 epoch 都重新提取特征（或每步都调用整个模型）：应在 epoch 循环之前提取一次，然后在特征上训练分类头。"
                   if seen >= 2 * n else "漏掉了一些图像，或某个 batch 被送入两次。"))
    big = [s for s in count.sizes if s > bs]
    expect(not big, f"train_head_cached(batch_size={bs}) sent batches of {big} images through the backbone; use batches "
           f"of at most {bs}.",
           f"train_head_cached(batch_size={bs}) 向骨干网络送入了 {big} 张图像的 batch；每批最多 {bs} 张。",
           likely=("all images in one forward pass: fine for a toy, out of memory on a real dataset.",
                   "一次前向处理了全部图像：玩具数据可以，真实数据集会耗尽内存。"))


@check(points=3, category="correctness")
def test_cached_equals_end_to_end(ex):
    """train_head_cached gives the same head and losses as train_head (same data, seeds and settings).
    zh: train_head_cached 得到的分类头和损失与 train_head 相同（相同的数据、种子和设置）。
    """
    arch, c, n, bs, epochs, lr = "resnet18", 3, 10, 4, 3, 0.1
    x, y = _data(27, n, c)
    steps = epochs * -(-n // bs)
    runs = {}
    for fn in ("train_head", "train_head_cached"):
        m = _fresh(arch)
        head = _head(ex, arch, m, c, seed=11)
        _run(f"freeze_backbone({arch}, head)", "freeze_backbone", ex.freeze_backbone, m, head)
        if fn == "train_head":
            _, ref_losses = _sgd_reference(head, _ref_features(arch, x), y, epochs, bs, lr)
        before = _state(m, head)
        m.train()
        with seeded(12):
            got = _run(f"{fn}(model, head, images, labels, epochs={epochs}, batch_size={bs}, lr={lr})", fn,
                       getattr(ex, fn), m, head, x, y, epochs, bs, lr)
        runs[fn] = (head, _losses(got, steps, fn), _moved(before, m, head)[1])
    (h1, l1, _), (h2, l2, stats2) = runs["train_head"], runs["train_head_cached"]
    if torch.allclose(l1, l2, atol=1e-4) and torch.allclose(h1.weight, h2.weight, atol=1e-4) \
            and torch.allclose(h1.bias, h2.bias, atol=1e-4):
        return
    ref_losses = torch.tensor(ref_losses)
    bad_e2e = not torch.allclose(l1, ref_losses, atol=1e-4)
    bad_cached = not torch.allclose(l2, ref_losses, atol=1e-4)
    if bad_cached or not bad_e2e:
        likely = _eval_likely("extract_features") if stats2 else (
            "the cached loop differs from train_head's: the same SGD(head.parameters(), lr), the same batches in the "
            "same order, F.cross_entropy on head(features of the batch); features computed in eval mode.",
            "缓存版的循环与 train_head 不同：应使用同样的 SGD(head.parameters(), lr)、同样顺序的同样 batch，"
            "对 head(该 batch 的特征) 计算 F.cross_entropy；特征在 eval 模式下计算。")
        what = "train_head_cached (its losses also differ from SGD on the pretrained eval-mode features)" if bad_cached \
            else "train_head_cached"
    else:
        likely = _eval_likely("train_head") if runs["train_head"][2] else (
            "train_head is the one that differs from SGD on the pretrained eval-mode features: not the stated loop.",
            "与在预训练 eval 特征上做 SGD 不一致的是 train_head：它不是题目规定的循环。")
        what = "train_head (the cached run matches SGD on the pretrained eval-mode features; train_head does not)"
    assert_close(l2, l1, f"per-step losses, train_head_cached vs train_head: {what}", atol=1e-4, likely=likely)
    assert_close(h2.weight, h1.weight, f"head.weight, train_head_cached vs train_head: {what}", atol=1e-4, likely=likely)
    assert_close(h2.bias, h1.bias, f"head.bias, train_head_cached vs train_head: {what}", atol=1e-4, likely=likely)


@check(points=2, category="correctness")
def test_preprocess_uses_weights_transforms(ex):
    """preprocess(images, weights) equals weights.transforms()(images), for weights with different resize sizes.
    zh: preprocess(images, weights) 等于 weights.transforms()(images)，对 resize 尺寸不同的权重都成立。
    """
    for w, hw in ((ResNet18_Weights.DEFAULT, (60, 80)), (ResNet50_Weights.IMAGENET1K_V2, (72, 64)),
                  (MobileNet_V3_Small_Weights.DEFAULT, (50, 50))):
        with seeded(13):
            imgs = torch.randint(0, 256, (2, 3) + hw, dtype=torch.uint8)
        want = w.transforms()(imgs)
        got = _run(f"preprocess(images, {w})", "preprocess", ex.preprocess, imgs.clone(), w)
        t = w.transforms()
        likely = (f"preprocessing written by hand: these weights resize to {t.resize_size} with "
                  f"{t.interpolation.value} interpolation, centre-crop {t.crop_size}, scale to [0, 1] and normalise with "
                  "the ImageNet mean/std. Each weights enum carries its own recipe: use weights.transforms().",
                  f"手写了预处理：这些权重先 resize 到 {t.resize_size}（{t.interpolation.value} 插值），中心裁剪 {t.crop_size}，"
                  "缩放到 [0, 1]，再用 ImageNet 的均值/方差归一化。每个权重枚举都带有自己的预处理：请使用 weights.transforms()。")
        assert_shape(got, tuple(want.shape), f"preprocess(uint8 images {tuple(imgs.shape)}, {w})", likely=likely)
        assert_close(got, want, f"preprocess(images, {w}) vs {w}.transforms()", atol=1e-4, likely=likely)


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator, train_head_cached runs there (features on the images' device) and gives the CPU's head.
    zh: 在加速设备上，train_head_cached 能运行（特征与图像在同一设备上），得到与 CPU 上相同的分类头。
    """
    arch, c, n, bs, epochs, lr = "mobilenet_v3_small", 3, 6, 4, 2, 0.1
    x, y = _data(28, n, c)
    m = _fresh(arch)
    head = _head(ex, arch, m, c, seed=14)
    _run(f"freeze_backbone({arch}, head)", "freeze_backbone", ex.freeze_backbone, m, head)
    ref, _ = _sgd_reference(head, _ref_features(arch, x), y, epochs, bs, lr)
    with accelerator() as dev:
        m.to(dev)
        feats = _run("extract_features on the accelerator", "extract_features", ex.extract_features, m, head,
                     x.to(dev), bs)
        assert_on_device(feats, dev, "extract_features output",
                         likely=("features collected into a tensor made without device= (torch.empty(N, D)), or "
                                 "moved with .cpu().", "用没有指定 device= 的张量（torch.empty(N, D)）收集特征，或调用了 .cpu()。"))
        _run("train_head_cached on the accelerator", "train_head_cached", ex.train_head_cached, m, head, x.to(dev),
             y.to(dev), epochs, bs, lr)
        assert_on_device(head.weight, dev, "head.weight after train_head_cached")
        w = to_cpu(head.weight)
    # loose tolerance: on real CUDA, cuDNN convolutions may run in TF32 by default
    assert_close(w, ref.weight, "head.weight trained on the accelerator vs SGD on the CPU features", atol=5e-3, rtol=1e-2)
