"""Grader for exercise 30 — object detection building blocks (RPN head, anchors, IoU, box coding, NMS, matching).

Every piece is compared with torchvision's own: ``RPNHead`` (weights copied in), ``AnchorGenerator``,
``ops.box_iou``, the detection ``BoxCoder`` and ``Matcher``, ``ops.nms``. While the learner's code runs, those
built-ins raise (``gradelib.forbid``), so each piece has to be written with plain tensor operations.
"""
import math

import torch
import torch.nn.functional as F
import torchvision
import torchvision.ops.boxes as tv_boxes
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection import rpn as tv_rpn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from ptquiz.gradelib import (CheckFailed, DeviceMismatchError, accelerator, assert_all_params_get_grad, assert_close,
                             assert_on_device, assert_shape, assert_tensor, check, expect, fail, seeded, to_cpu,
                             without_builtins)

BoxCoder, Matcher, TVRPNHead = det_utils.BoxCoder, det_utils.Matcher, tv_rpn.RPNHead
CLIP = math.log(1000.0 / 16)

# ---------------------------------------------------------------------------
# The built-ins being reimplemented raise while the learner's code runs.

_BOX_FUNCS = sorted(n for n, v in vars(tv_boxes).items()
                    if callable(v) and getattr(v, "__module__", None) == "torchvision.ops.boxes")
_BAN = [(tv_boxes, n, f"torchvision.ops.boxes.{n}") for n in _BOX_FUNCS]
_BAN += [(torchvision.ops, n, f"torchvision.ops.{n}") for n in _BOX_FUNCS if hasattr(torchvision.ops, n)]
_BAN += [(AnchorGenerator, a, "AnchorGenerator") for a in ("__init__", "forward", "generate_anchors", "grid_anchors")]
_BAN += [(BoxCoder, a, "BoxCoder") for a in ("__init__", "encode", "encode_single", "decode", "decode_single")]
_BAN += [(det_utils, "encode_boxes", "torchvision.models.detection._utils.encode_boxes")]
_BAN += [(Matcher, a, "Matcher") for a in ("__init__", "__call__", "set_low_quality_matches_")]
_BAN += [(TVRPNHead, a, "torchvision RPNHead") for a in ("__init__", "forward")]
_BAN_OPS = ("nms",)  # torch.ops.torchvision.nms, however it is reached
_TASK = ("write it with plain tensor operations (torchvision's box ops, AnchorGenerator, BoxCoder, Matcher and "
         "RPNHead are what the grader compares you with)",
         "用普通的张量运算自己实现（torchvision 的框操作、AnchorGenerator、BoxCoder、Matcher 和 RPNHead 是评分时的对照）")


def _run(ex, what, fn, *args, likely=None, **kwargs):
    """The learner's fn with the built-ins banned; a crash is reported in the learner's terms."""
    try:
        return without_builtins(ex, what, fn, *args, patches=_BAN, ops=_BAN_OPS, task=_TASK, **kwargs)
    except (NotImplementedError, DeviceMismatchError, CheckFailed):
        raise
    except Exception as e:  # noqa: BLE001 - the learner's code may raise anything
        text = (str(e).strip().splitlines() or [""])[0][:300]
        fail(f"{what} raised {type(e).__name__}: {text}", f"{what} 抛出 {type(e).__name__}：{text}",
             likely=likely or ("see the task for this function's shapes: boxes are (N, 4) in (x1, y1, x2, y2).",
                               "请对照题目中该函数的形状说明：框是 (N, 4)，格式为 (x1, y1, x2, y2)。"))


def _boxes(n, seed, scale=60.0, lo=2.0, hi=30.0):
    with seeded(seed):
        xy = torch.rand(n, 2) * scale
        wh = torch.rand(n, 2) * (hi - lo) + lo
    return torch.cat([xy, xy + wh], dim=1)


def _same(a, b, atol=1e-4):
    return (isinstance(a, torch.Tensor) and a.shape == b.shape
            and torch.allclose(to_cpu(a).double(), b.double(), atol=atol, rtol=1e-4))


def _first_match(got, variants):
    """The likely text of the first (tensor, likely) variant equal to got, else None."""
    for want, likely in variants:
        try:
            if _same(got, want):
                return likely
        except Exception:  # noqa: BLE001 - a diagnosis never hides the failure itself
            continue
    return None


# ---------------------------------------------------------------------------
# RPN head

_HEAD_CRASH = ("the head must be fully convolutional: relu(conv(x)) with a 3x3 conv and padding=1, then two 1x1 convs on "
               "the same features; no view/flatten and no nn.Linear (the seed flattens the whole map into one vector "
               "per image, and its Linear assumes a 7x7 map).",
               "检测头必须是全卷积的：relu(conv(x))，其中 3x3 卷积 padding=1，再在同一特征上接两个 1x1 卷积；"
               "不要 view/flatten，也不要 nn.Linear（原题把整张特征图展平成每张图一个向量，其 Linear 还假定特征图是 7x7）。")


def _convs(mod):
    if isinstance(mod, nn.Conv2d):
        return [mod]
    if isinstance(mod, nn.Module):
        return [m for m in mod.modules() if isinstance(m, nn.Conv2d)]
    return []


def _make_head(ex, c, a, seed=0):
    with seeded(seed):
        m = _run(ex, f"RPNHead({c}, {a})", ex.RPNHead, c, a, likely=_HEAD_CRASH)
    expect(isinstance(m, nn.Module), f"RPNHead(...) should be an nn.Module, got {type(m).__name__}.",
           f"RPNHead(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _layers(m, c, a):
    """(conv, cls_logits, bbox_pred) Conv2d modules, after checking names and weight shapes."""
    what = f"RPNHead({c}, {a})"
    missing = [n for n in ("conv", "cls_logits", "bbox_pred") if not isinstance(getattr(m, n, None), nn.Module)]
    if missing:
        fail(f"{what} should have the layers conv, cls_logits and bbox_pred (torchvision's RPNHead names); "
             f"missing: {missing}.",
             f"{what} 应有 conv、cls_logits 和 bbox_pred 三个层（torchvision RPNHead 的命名）；缺少：{missing}。",
             likely=("layers named differently (the grader copies torchvision's RPNHead weights in by these names).",
                     "层的名字不同（评分时按这些名字把 torchvision RPNHead 的权重复制进来）。"))
    conv = _convs(m.conv)
    expect(len(conv) == 1, f"{what}.conv should be one nn.Conv2d (or a Sequential holding one Conv2d and a ReLU); "
           f"found {len(conv)} Conv2d layers in it.",
           f"{what}.conv 应是一个 nn.Conv2d（或包含一个 Conv2d 和 ReLU 的 Sequential）；其中找到 {len(conv)} 个 Conv2d。")
    out = []
    for name, mod, cout, k in (("conv", conv[0], c, 3), ("cls_logits", m.cls_logits, a, 1),
                               ("bbox_pred", m.bbox_pred, 4 * a, 1)):
        if isinstance(mod, nn.Linear):
            fail(f"{what}.{name} is an nn.Linear; it should be a {k}x{k} nn.Conv2d({c}, {cout}).",
                 f"{what}.{name} 是 nn.Linear；应为 {k}x{k} 的 nn.Conv2d({c}, {cout})。", likely=_HEAD_CRASH)
        expect(isinstance(mod, nn.Conv2d), f"{what}.{name} should be an nn.Conv2d, got {type(mod).__name__}.",
               f"{what}.{name} 应为 nn.Conv2d，实际是 {type(mod).__name__}。", likely=_HEAD_CRASH)
        want = (cout, c, k, k)
        got = tuple(mod.weight.shape)
        if got != want:
            if name == "bbox_pred" and got[1] == a:
                likely = ("bbox_pred reads the objectness scores (the seed feeds its box layer the RPN's scores, with the "
                          "wrong width); both 1x1 convs read the same conv features, so bbox_pred is "
                          f"Conv2d(in_channels={c}, 4*num_anchors={4 * a}, 1).",
                          "bbox_pred 读入的是目标性得分（原题把 RPN 的得分喂给框回归层，宽度也不对）；两个 1x1 卷积都读同一份"
                          f"卷积特征，因此 bbox_pred 应为 Conv2d(in_channels={c}, 4*num_anchors={4 * a}, 1)。")
            elif got[0] in (2 * a,) and name == "cls_logits":
                likely = ("two logits per anchor (a softmax over object/background); here, as in torchvision, one "
                          "objectness logit per anchor (num_anchors channels).",
                          "每个锚框输出了两个 logit（物体/背景 softmax）；本题与 torchvision 一样每个锚框一个目标性 logit"
                          "（num_anchors 个通道）。")
            else:
                likely = (f"conv: 3x3, {c} -> {c}; cls_logits: 1x1, {c} -> num_anchors; bbox_pred: 1x1, {c} -> "
                          "4 * num_anchors.",
                          f"conv：3x3，{c} -> {c}；cls_logits：1x1，{c} -> num_anchors；bbox_pred：1x1，{c} -> 4 * num_anchors。")
            fail(f"{what}.{name}.weight should have shape {want}, got {got}.",
                 f"{what}.{name}.weight 的形状应为 {want}，实际为 {got}。", likely=likely)
        out.append(mod)
    return out


def _head_out(ex, m, x, what):
    res = _run(ex, what, m, x, likely=_HEAD_CRASH)
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        fail(f"{what} should return a pair (objectness, deltas); got {type(res).__name__}"
             + (f" of length {len(res)}" if isinstance(res, (tuple, list)) else "") + ".",
             f"{what} 应返回 (objectness, deltas) 二元组；实际为 {type(res).__name__}。",
             likely=("returning only one of the two outputs, or feeding one head into the other (the seed chains its "
                     "box layer after the RPN's scores).",
                     "只返回了其中一个输出，或把一个头的输出再送进另一个头（原题把框回归层接在 RPN 得分之后）。"))
    assert_tensor(res[0], f"{what}: objectness")
    assert_tensor(res[1], f"{what}: deltas")
    return res


def _tv_head(c, a, seed):
    """torchvision's RPNHead with non-trivial weights (its own init is std 0.01 with zero biases)."""
    with seeded(seed):
        ref = TVRPNHead(c, a)
        with torch.no_grad():
            for p in ref.parameters():
                p.copy_(torch.randn_like(p) * 0.3)
    return ref


@check(points=2, category="shape")
def test_head_layers(ex):
    """RPNHead has torchvision's layers: conv 3x3 (C -> C), cls_logits 1x1 (C -> A), bbox_pred 1x1 (C -> 4A).
    zh: RPNHead 具有 torchvision 的层：conv 3x3（C -> C）、cls_logits 1x1（C -> A）、bbox_pred 1x1（C -> 4A）。
    """
    for c, a in ((6, 3), (4, 5)):
        _layers(_make_head(ex, c, a), c, a)


@check(points=2, category="shape")
def test_head_output_shapes(ex):
    """Per-location outputs (N, A, H, W) and (N, 4A, H, W) on a 14x14 (the seed's) and a 9x13 feature map.
    zh: 在 14x14（原题的）和 9x13 特征图上按位置输出 (N, A, H, W) 和 (N, 4A, H, W)。
    """
    for n, c, h, w, a in ((2, 8, 14, 14, 9), (1, 5, 9, 13, 3)):
        m = _make_head(ex, c, a)
        with seeded(1):
            x = torch.randn(n, c, h, w)
        what = f"RPNHead({c}, {a}) on a {(n, c, h, w)} feature map"
        obj, deltas = _head_out(ex, m, x, what)
        for t, ch, name in ((obj, a, "objectness"), (deltas, 4 * a, "deltas")):
            got = tuple(t.shape)
            if got == (n, ch, h - 2, w - 2):
                likely = ("the 3x3 conv has no padding, so H x W shrinks by 2 (the seed's 14 -> 12): use padding=1.",
                          "3x3 卷积没有 padding，H x W 缩小 2（原题的 14 -> 12）：应使用 padding=1。")
            elif t.dim() != 4:
                likely = ("scores flattened: the RPN predicts at every location, so keep (N, channels, H, W) (the seed "
                          "flattens the map and outputs 18 numbers per image).",
                          "得分被展平了：RPN 在每个位置上预测，应保持 (N, 通道, H, W)（原题把特征图展平，每张图只输出 18 个数）。")
            else:
                likely = _HEAD_CRASH
            assert_shape(t, (n, ch, h, w), f"{what}: {name}", likely=likely)


@check(points=3, category="correctness")
def test_head_matches_torchvision_rpnhead(ex):
    """With torchvision's RPNHead weights copied in, both outputs equal torchvision's RPNHead (ReLU after conv).
    zh: 复制 torchvision RPNHead 的权重后，两个输出都与 torchvision 的 RPNHead 一致（conv 之后接 ReLU）。
    """
    for i, (n, c, h, w, a) in enumerate(((2, 6, 7, 9, 3), (1, 4, 12, 5, 2))):
        m = _make_head(ex, c, a)
        conv, cls, box = _layers(m, c, a)
        ref = _tv_head(c, a, 10 + i)
        with torch.no_grad():
            for mine, theirs in ((conv, ref.conv[0][0]), (cls, ref.cls_logits), (box, ref.bbox_pred)):
                mine.weight.copy_(theirs.weight)
                if mine.bias is not None:
                    mine.bias.copy_(theirs.bias)
        expect(all(mod.bias is not None for mod in (conv, cls, box)),
               f"RPNHead({c}, {a}): every conv should have a bias, as torchvision's RPNHead.",
               f"RPNHead({c}, {a})：每个卷积都应带偏置，与 torchvision 的 RPNHead 相同。",
               likely=("bias=False on one of the convs.", "某个卷积设置了 bias=False。"))
        with seeded(20 + i):
            x = torch.randn(n, c, h, w)
        what = f"RPNHead({c}, {a}) on {(n, c, h, w)}"
        obj, deltas = _head_out(ex, m, x, what)
        with torch.no_grad():
            (r_obj,), (r_del,) = ref([x])
            t = ref.conv[0][0](x)
            no_relu = (ref.cls_logits(t), ref.bbox_pred(t))
        for got, want, raw, name in ((obj, r_obj, no_relu[0], "objectness"), (deltas, r_del, no_relu[1], "deltas")):
            assert_shape(got, want.shape, f"{what}: {name}")
            likely = _first_match(got, [(raw, ("no ReLU after the 3x3 conv: torchvision's RPNHead computes "
                                               "relu(conv(x)) and feeds it to both 1x1 convs.",
                                               "3x3 卷积之后缺少 ReLU：torchvision 的 RPNHead 先算 relu(conv(x))，"
                                               "再送入两个 1x1 卷积。"))])
            assert_close(got, want, f"{what}: {name} vs torchvision's RPNHead with the same weights",
                         likely=likely or ("both 1x1 convs read the same relu(conv(x)) features; no activation on "
                                           "their outputs (logits and raw deltas).",
                                           "两个 1x1 卷积读的是同一份 relu(conv(x)) 特征；它们的输出（logit 和原始偏移）"
                                           "不再接激活函数。"))


@check(points=2, category="gradient")
def test_gradients_reach_both_heads(ex):
    """A loss on objectness and deltas sends gradients to every parameter (conv and both heads) and the input.
    zh: 对目标性和偏移的损失反向传播后，所有参数（conv 和两个头）以及输入都得到梯度。
    """
    c, a = 5, 3
    m = _make_head(ex, c, a, seed=3)
    with seeded(4):
        x = torch.randn(2, c, 6, 8, requires_grad=True)
        labels = torch.randint(0, 2, (2, a, 6, 8)).float()
        targets = torch.randn(2, 4 * a, 6, 8)
    obj, deltas = _head_out(ex, m, x, f"RPNHead({c}, {a}) on (2, {c}, 6, 8)")
    assert_shape(obj, labels.shape, "objectness")
    assert_shape(deltas, targets.shape, "deltas")
    expect(obj.requires_grad and deltas.requires_grad,
           "objectness and deltas should both require grad (they are computed from the head's parameters).",
           "objectness 和 deltas 都应需要梯度（它们由检测头的参数计算得到）。",
           likely=("an output detached (.detach(), .data, torch.no_grad()).", "某个输出被 detach 了（.detach()、.data、torch.no_grad()）。"))
    loss = F.binary_cross_entropy_with_logits(obj, labels) + F.smooth_l1_loss(deltas, targets)
    loss.backward()
    assert_all_params_get_grad(m, f"RPNHead({c}, {a})")
    expect(x.grad is not None and x.grad.abs().sum() > 0, "no gradient reached the input feature map.",
           "梯度没有传到输入特征图。")


# ---------------------------------------------------------------------------
# anchors

def _tv_base(sizes, ratios):
    return AnchorGenerator(sizes=(tuple(sizes),), aspect_ratios=(tuple(ratios),)).cell_anchors[0]


def _tv_anchors(fm, image_size, sizes, ratios):
    gen = AnchorGenerator(sizes=(tuple(sizes),), aspect_ratios=(tuple(ratios),))
    images = ImageList(torch.zeros(1, 3, *image_size, dtype=fm.dtype), [tuple(image_size)])
    return gen(images, [fm])[0]


def _base_variants(sizes, ratios):
    s = torch.tensor(sizes, dtype=torch.float32)
    r = torch.tensor(ratios, dtype=torch.float32)
    hr = r.sqrt()
    wr = 1 / hr

    def build(wr, hr, size_major=False, rnd=torch.round):
        if size_major:
            ws, hs = (s[:, None] * wr[None, :]).reshape(-1), (s[:, None] * hr[None, :]).reshape(-1)
        else:
            ws, hs = (wr[:, None] * s[None, :]).reshape(-1), (hr[:, None] * s[None, :]).reshape(-1)
        return rnd(torch.stack([-ws, -hs, ws, hs], dim=1) / 2)

    half_up = lambda t: torch.sign(t) * torch.floor(t.abs() + 0.5)  # noqa: E731
    return [
        (build(wr, hr, size_major=True), ("anchors ordered size-major (for each size, each ratio); torchvision's "
                                          "order is for each aspect ratio, for each size.",
                                          "锚框按尺寸优先排列（对每个尺寸遍历比例）；torchvision 的顺序是对每个宽高比遍历尺寸。")),
        (build(hr, wr), ("aspect ratio read as w / h; torchvision's is h / w: h = size * sqrt(ratio), "
                         "w = size / sqrt(ratio).",
                         "把宽高比当成了 w / h；torchvision 的定义是 h / w：h = size * sqrt(ratio)，w = size / sqrt(ratio)。")),
        (build(wr, hr, rnd=lambda t: t), ("corners not rounded: torchvision rounds the base anchors with torch.round.",
                                          "角点没有取整：torchvision 用 torch.round 对基础锚框取整。")),
        (build(wr, hr, rnd=half_up), ("halves rounded away from zero (Python 2 / C style); torch.round, like "
                                      "torchvision, rounds half to even (2.5 -> 2).",
                                      "把 .5 向远离零的方向取整（C 语言风格）；torchvision 使用的 torch.round 是四舍六入五取偶（2.5 -> 2）。")),
        (build(wr, hr, rnd=torch.floor), ("corners floored; torchvision rounds them with torch.round.",
                                          "角点用了向下取整；torchvision 使用 torch.round 取整。")),
    ]


@check(points=2, category="correctness")
def test_base_anchors(ex):
    """base_anchors equals AnchorGenerator's cell anchors: ratio-major order, ratio = h/w, torch.round (half to even).
    zh: base_anchors 与 AnchorGenerator 的基础锚框一致：比例优先的顺序、ratio = h/w、torch.round 取整（五取偶）。
    """
    for sizes, ratios in (((32, 64, 128), (0.5, 1.0, 2.0)), ((5, 11), (0.25, 1.0, 3.0)), ((16,), (0.7, 1.3))):
        call = f"base_anchors({sizes}, {ratios})"
        got = _run(ex, call, ex.base_anchors, sizes, ratios)
        want = _tv_base(sizes, ratios)
        assert_shape(got, want.shape, call, likely=("one anchor per (aspect ratio, size) pair: "
                                                    "(len(aspect_ratios) * len(sizes), 4).",
                                                    "每个 (宽高比, 尺寸) 组合一个锚框：(len(aspect_ratios) * len(sizes), 4)。"))
        assert_close(got, want, f"{call} vs AnchorGenerator's cell anchors", atol=1e-4,
                     likely=_first_match(got, _base_variants(sizes, ratios))
                     or ("zero-centred (-w/2, -h/2, w/2, h/2) with h = size * sqrt(ratio), w = size / sqrt(ratio), "
                         "rounded with torch.round, for each ratio then each size.",
                         "以原点为中心的 (-w/2, -h/2, w/2, h/2)，h = size * sqrt(ratio)，w = size / sqrt(ratio)，"
                         "用 torch.round 取整，先遍历比例再遍历尺寸。"))


def _anchor_variants(fm, image_size, sizes, ratios, want):
    H, W = fm.shape[-2:]
    A = len(sizes) * len(ratios)
    sh, sw = image_size[0] // H, image_size[1] // W
    per_anchor = want.view(H * W, A, 4).transpose(0, 1).reshape(-1, 4)
    col_major = want.view(H, W, A, 4).transpose(0, 1).reshape(-1, 4)
    half = want + torch.tensor([sw / 2, sh / 2, sw / 2, sh / 2])
    base = _tv_base(sizes, ratios)
    ys, xs = torch.meshgrid(torch.arange(H) * (image_size[0] / H), torch.arange(W) * (image_size[1] / W), indexing="ij")
    frac_shifts = torch.stack([xs.reshape(-1), ys.reshape(-1)] * 2, 1)
    float_stride = (frac_shifts[:, None] + base[None]).reshape(-1, 4)
    swapped = (torch.stack([torch.arange(H).repeat_interleave(W) * sh, torch.arange(W).repeat(H) * sw] * 2, 1)[:, None]
               + base[None]).reshape(-1, 4)
    return [
        (per_anchor, ("anchors ordered per anchor, then per location; torchvision's AnchorGenerator orders them per "
                      "location (row-major over (y, x)), then per anchor: (shifts[:, None, :] + base[None, :, :])"
                      ".reshape(-1, 4).",
                      "锚框按“先锚框、后位置”排列；torchvision 的 AnchorGenerator 是先按位置（(y, x) 行优先）、"
                      "再按锚框排列：(shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)。")),
        (col_major, ("locations in column-major order (x outer, y inner); torchvision walks them row-major: "
                     "meshgrid(shifts_y, shifts_x, indexing='ij').",
                     "位置按列优先（x 在外层、y 在内层）遍历；torchvision 是行优先：meshgrid(shifts_y, shifts_x, indexing='ij')。")),
        (swapped, ("x and y shifts swapped: the shift is (x * stride_w, y * stride_h, x * stride_w, y * stride_h).",
                   "x 和 y 的平移弄反了：平移量应为 (x * stride_w, y * stride_h, x * stride_w, y * stride_h)。")),
        (half, ("anchors shifted by half a stride (cell centres); torchvision places them at "
                "(x * stride_w, y * stride_h), no offset.",
                "锚框平移了半个步长（放在格子中心）；torchvision 把它们放在 (x * stride_w, y * stride_h)，没有偏移。")),
        (float_stride, ("a fractional stride img / H; torchvision's stride is the integer img // H.",
                        "步长用了小数 img / H；torchvision 的步长是整数 img // H。")),
    ]


@check(points=3, category="correctness")
def test_anchors_match_anchor_generator(ex):
    """anchors_for equals torchvision's AnchorGenerator (order and values) on two feature-map sizes.
    zh: 在两种特征图尺寸上，anchors_for 与 torchvision 的 AnchorGenerator 一致（顺序和数值）。
    """
    cases = [((1, 3, 5, 7), (40, 70), (16, 32), (0.5, 1.0, 2.0)),
             ((2, 2, 6, 5), (50, 47), (24,), (0.5, 2.0)),
             ((1, 4, 4, 4), (64, 64), (32, 64, 128), (0.5, 1.0, 2.0))]
    for i, (shape, image_size, sizes, ratios) in enumerate(cases):
        with seeded(30 + i):
            fm = torch.randn(*shape)
        call = f"anchors_for(feature map {shape}, image_size={image_size}, sizes={sizes}, aspect_ratios={ratios})"
        got = _run(ex, call, ex.anchors_for, fm, image_size, sizes, ratios)
        want = _tv_anchors(fm, image_size, sizes, ratios)
        assert_shape(got, want.shape, call, likely=("H * W * A rows of (x1, y1, x2, y2): one per location and anchor.",
                                                    "共 H * W * A 行 (x1, y1, x2, y2)：每个位置、每个锚框一行。"))
        likely = _first_match(got, _anchor_variants(fm, image_size, sizes, ratios, want))
        if likely is None:
            mine = _run(ex, "base_anchors", ex.base_anchors, sizes, ratios)
            if not _same(mine, _tv_base(sizes, ratios)):
                likely = ("base_anchors is wrong (see its check): anchors_for shifts those base anchors.",
                          "base_anchors 不对（见它的检查）：anchors_for 平移的就是这些基础锚框。")
        assert_close(got, want, f"{call} vs torchvision's AnchorGenerator", atol=1e-3,
                     likely=likely or ("strides img_h // H and img_w // W, shifts (x*sw, y*sh, x*sw, y*sh) added to "
                                       "each base anchor, per location then per anchor.",
                                       "步长为 img_h // H 和 img_w // W，把平移量 (x*sw, y*sh, x*sw, y*sh) 加到每个基础锚框上，"
                                       "先按位置、再按锚框排列。"))


@check(points=2, category="device")
def test_anchors_on_feature_map_device(ex):
    """anchors_for returns the anchors on the feature map's device and in its dtype, with the CPU's values.
    zh: anchors_for 返回的锚框位于特征图所在的设备上、与其 dtype 相同，数值与 CPU 一致。
    """
    sizes, ratios = (16, 40), (0.5, 1.0)
    with seeded(40):
        fm = torch.randn(1, 3, 4, 6)
    want = _run(ex, "anchors_for on the CPU", ex.anchors_for, fm, (32, 48), sizes, ratios)
    assert_tensor(want, "anchors_for on the CPU")
    got64 = _run(ex, "anchors_for(float64 feature map)", ex.anchors_for, fm.double(), (32, 48), sizes, ratios)
    assert_tensor(got64, "anchors_for(float64 feature map)")
    expect(got64.dtype == torch.float64, f"anchors_for on a float64 feature map should return float64, got {got64.dtype}.",
           f"对 float64 特征图，anchors_for 应返回 float64，实际为 {got64.dtype}。",
           likely=("dtype not taken from the feature map: create with dtype=feature_map.dtype.",
                   "dtype 没有取自特征图：创建张量时应使用 dtype=feature_map.dtype。"))
    with accelerator() as dev:
        got = _run(ex, "anchors_for on the accelerator", ex.anchors_for, fm.to(dev), (32, 48), sizes, ratios,
                   likely=("a tensor (torch.arange, torch.tensor, ...) created without device=feature_map.device.",
                           "创建张量（torch.arange、torch.tensor 等）时没有指定 device=feature_map.device。"))
        assert_on_device(got, dev, "anchors_for output",
                         likely=("the anchors built on the CPU: use device=feature_map.device.",
                                 "锚框在 CPU 上生成：应使用 device=feature_map.device。"))
        got = to_cpu(got)
    assert_close(got, want, "anchors_for on the accelerator vs anchors_for on the CPU", atol=1e-3)


# ---------------------------------------------------------------------------
# IoU

def _iou_variants(b1, b2):
    def iou(b1, b2, plus=0.0, clamp=True, minus=True):
        a1 = (b1[:, 2] - b1[:, 0] + plus) * (b1[:, 3] - b1[:, 1] + plus)
        a2 = (b2[:, 2] - b2[:, 0] + plus) * (b2[:, 3] - b2[:, 1] + plus)
        wh = torch.min(b1[:, None, 2:], b2[None, :, 2:]) - torch.max(b1[:, None, :2], b2[None, :, :2]) + plus
        if clamp:
            wh = wh.clamp(min=0)
        inter = wh[..., 0] * wh[..., 1]
        return inter / (a1[:, None] + a2[None, :] - (inter if minus else 0))

    return [
        (iou(b1, b2, plus=1.0), ("the legacy '+1' pixel convention (width = x2 - x1 + 1); torchvision's boxes have "
                                 "width x2 - x1 (+0).",
                                 "用了旧的“+1”像素约定（宽 = x2 - x1 + 1）；torchvision 的宽是 x2 - x1（+0）。")),
        (iou(b1, b2, clamp=False), ("intersection width/height not clamped at 0: for disjoint boxes both are negative "
                                    "and their product is a positive 'intersection'.",
                                    "交集的宽/高没有截断到 0：两个不相交的框宽高都为负，乘积反而成了正的“交集”。")),
        (iou(b1, b2, minus=False), ("union = area1 + area2 counts the intersection twice; union = area1 + area2 - "
                                    "intersection.",
                                    "并集 = area1 + area2 把交集算了两次；应为 area1 + area2 - 交集。")),
    ]


def _iou_cases():
    special = torch.tensor([[0., 0., 10., 10.], [5., 5., 15., 15.], [20., 20., 30., 40.], [2., 2., 8., 8.],
                            [10., 0., 20., 10.], [0., 0., 10., 10.], [30., 0., 35., 50.]])
    return [(_boxes(7, 50), _boxes(5, 51)), (_boxes(1, 52), _boxes(9, 53, scale=20.0)), (special, special),
            (special[:4], _boxes(3, 54, scale=15.0, hi=12.0)), (torch.zeros(0, 4), _boxes(3, 55))]


@check(points=3, category="correctness")
def test_box_iou_matches_torchvision(ex):
    """box_iou equals ops.box_iou: (N, M), disjoint boxes 0, nested, identical, touching edges, empty input.
    zh: box_iou 与 ops.box_iou 一致：形状 (N, M)，不相交为 0，嵌套、相同、边相接的框，以及空输入。
    """
    for b1, b2 in _iou_cases():
        call = f"box_iou(boxes1 {tuple(b1.shape)}, boxes2 {tuple(b2.shape)})"
        got = _run(ex, call, ex.box_iou, b1, b2, likely=("pairwise: broadcast boxes1[:, None, :] against "
                                                          "boxes2[None, :, :] to get (N, M).",
                                                          "两两计算：把 boxes1[:, None, :] 与 boxes2[None, :, :] 广播得到 (N, M)。"))
        want = tv_boxes.box_iou(b1, b2)
        assert_shape(got, want.shape, call, likely=("the result is (N, M): row i, column j is the IoU of boxes1[i] with "
                                                    "boxes2[j] (not transposed, not elementwise).",
                                                    "结果是 (N, M)：第 i 行第 j 列是 boxes1[i] 与 boxes2[j] 的 IoU（不要转置，也不是逐元素）。"))
        assert_close(got, want, f"{call} vs ops.box_iou", atol=1e-5,
                     likely=_first_match(got, _iou_variants(b1, b2))
                     or ("IoU = intersection / (area1 + area2 - intersection), intersection corners max(x1), max(y1), "
                         "min(x2), min(y2), its width and height clamped at 0.",
                         "IoU = 交集 / (area1 + area2 - 交集)；交集角点为 max(x1)、max(y1)、min(x2)、min(y2)，宽高截断到 0。"))


# ---------------------------------------------------------------------------
# box coding

W_RPN, W_ROI = (1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)


def _pairs(n, seed):
    anchors = _boxes(n, seed, lo=8.0, hi=40.0)
    with seeded(seed + 1):
        gt = anchors + torch.randn(n, 4) * 4.0
    gt[:, 2:] = torch.max(gt[:, 2:], gt[:, :2] + 2.0)
    return gt, anchors


def _encode_variants(gt, anchors, weights):
    coder = BoxCoder(weights)
    wt = torch.tensor(weights)
    aw = anchors[:, 2:] - anchors[:, :2]
    return [
        (gt - anchors, ("deltas as (x1, y1, x2, y2) corner offsets; the RPN regresses (dx, dy, dw, dh): the centre "
                        "shift over the anchor's size and the log of the size ratio.",
                        "把偏移写成了 (x1, y1, x2, y2) 的角点差；RPN 回归的是 (dx, dy, dw, dh)：中心平移除以锚框尺寸，"
                        "以及尺寸比的对数。")),
        ((gt - anchors) / torch.cat([aw, aw], 1), ("deltas as (x1, y1, x2, y2) corner offsets over the anchor size; "
                                                   "the RPN regresses (dx, dy, dw, dh): centre shift / size and "
                                                   "log(size ratio).",
                                                   "把偏移写成了除以锚框尺寸的 (x1, y1, x2, y2) 角点差；RPN 回归的是 "
                                                   "(dx, dy, dw, dh)：中心平移 / 尺寸，以及 log(尺寸比)。")),
        (coder.encode_single(anchors, gt), ("arguments swapped: encode_boxes(gt_boxes, anchors) describes each gt box "
                                            "relative to its anchor (divide by the anchor's width and height).",
                                            "参数顺序弄反了：encode_boxes(gt_boxes, anchors) 描述的是 gt 框相对其锚框的偏移"
                                            "（除以锚框的宽和高）。")),
        (BoxCoder(W_RPN).encode_single(gt, anchors), ("weights ignored: multiply (dx, dy, dw, dh) by (wx, wy, ww, wh).",
                                                      "忽略了 weights：应把 (dx, dy, dw, dh) 分别乘以 (wx, wy, ww, wh)。")),
        (BoxCoder(W_RPN).encode_single(gt, anchors) / wt, ("deltas divided by the weights; encoding multiplies by "
                                                           "them (decoding divides).",
                                                           "偏移除以了 weights；编码时应乘以它们（解码时才除）。")),
    ]


@check(points=2, category="correctness")
def test_encode_matches_boxcoder(ex):
    """encode_boxes equals BoxCoder(weights).encode_single (dx, dy, dw, dh) for RPN (1,1,1,1) and ROI (10,10,5,5) weights.
    zh: encode_boxes 与 BoxCoder(weights).encode_single 一致（dx, dy, dw, dh），权重取 RPN 的 (1,1,1,1) 和 ROI 的 (10,10,5,5)。
    """
    for i, weights in enumerate((W_RPN, W_ROI)):
        gt, anchors = _pairs(9 - 3 * i, 60 + i)
        call = f"encode_boxes(gt_boxes {tuple(gt.shape)}, anchors, weights={weights})"
        got = _run(ex, call, ex.encode_boxes, gt, anchors, weights)
        want = BoxCoder(weights).encode_single(gt, anchors)
        assert_shape(got, want.shape, call, likely=("one (dx, dy, dw, dh) row per (gt box, anchor) pair: (N, 4).",
                                                    "每对 (gt 框, 锚框) 一行 (dx, dy, dw, dh)：(N, 4)。"))
        assert_close(got, want, f"{call} vs BoxCoder.encode_single", atol=1e-4,
                     likely=_first_match(got, _encode_variants(gt, anchors, weights))
                     or ("dx = wx * (gx - ax) / aw, dy = wy * (gy - ay) / ah, dw = ww * log(gw / aw), dh = wh * log(gh / ah) "
                         "with centres x1 + 0.5 * w and widths x2 - x1.",
                         "dx = wx * (gx - ax) / aw，dy = wy * (gy - ay) / ah，dw = ww * log(gw / aw)，dh = wh * log(gh / ah)，"
                         "中心为 x1 + 0.5 * w，宽为 x2 - x1。"))


def _decode_variants(deltas, anchors, weights, clip):
    aw = anchors[:, 2:] - anchors[:, :2]
    wt = torch.tensor(weights)
    coder = BoxCoder(weights, clip)
    return [
        (BoxCoder(weights, float("inf")).decode_single(deltas, anchors),
         ("dw and dh not clamped before exp: torchvision clamps them from above at bbox_xform_clip = log(1000/16) "
          "(the clip argument), so a wild delta cannot blow a box up.",
          "exp 之前没有截断 dw 和 dh：torchvision 用 bbox_xform_clip = log(1000/16)（即 clip 参数）从上方截断，"
          "防止异常偏移让框变得极大。")),
        (BoxCoder(weights, CLIP).decode_single(deltas, anchors) if clip != CLIP else torch.empty(0),
         ("the clip argument ignored (log(1000/16) hard-coded): clamp at the clip passed in.",
          "忽略了 clip 参数（写死了 log(1000/16)）：应按传入的 clip 截断。")),
        (_decode_two_sided(deltas, anchors, weights, clip),
         ("dw/dh clamped from below too; torchvision only clamps from above (max=clip).",
          "dw/dh 也从下方截断了；torchvision 只从上方截断（max=clip）。")),
        (_decode_clip_before(deltas, anchors, weights, clip),
         ("dw/dh clamped before dividing by the weights; torchvision divides by (ww, wh) first, then clamps.",
          "在除以 weights 之前就截断了 dw/dh；torchvision 先除以 (ww, wh) 再截断。")),
        (anchors + deltas, ("deltas added to the corners (x1, y1, x2, y2); they are (dx, dy, dw, dh): centre shift "
                            "times the anchor's size, and exp(dw) times its width.",
                            "把偏移直接加到角点 (x1, y1, x2, y2) 上；偏移是 (dx, dy, dw, dh)：中心平移乘以锚框尺寸，宽乘以 exp(dw)。")),
        (anchors + deltas * torch.cat([aw, aw], 1), ("deltas decoded as (x1, y1, x2, y2) corner offsets; they are "
                                                     "(dx, dy, dw, dh).",
                                                     "把偏移当作 (x1, y1, x2, y2) 角点差来解码；偏移是 (dx, dy, dw, dh)。")),
        (coder.decode_single(deltas * wt * wt, anchors), ("deltas multiplied by the weights; decoding divides by them.",
                                                          "偏移乘以了 weights；解码时应除以它们。")),
        (BoxCoder(W_RPN, clip).decode_single(deltas, anchors), ("weights ignored: divide (dx, dy, dw, dh) by "
                                                                "(wx, wy, ww, wh) first.",
                                                                "忽略了 weights：应先把 (dx, dy, dw, dh) 除以 (wx, wy, ww, wh)。")),
    ]


def _decode_two_sided(deltas, anchors, weights, clip):
    d = deltas / torch.tensor(weights)
    d[:, 2:] = d[:, 2:].clamp(-clip, clip)
    return BoxCoder(W_RPN, float("inf")).decode_single(d, anchors)


def _decode_clip_before(deltas, anchors, weights, clip):
    d = deltas.clone()
    d[:, 2:] = d[:, 2:].clamp(max=clip)
    return BoxCoder(weights, float("inf")).decode_single(d, anchors)


def _check_decode(ex, deltas, anchors, weights, clip, what):
    call = f"decode_boxes(deltas {tuple(deltas.shape)}, anchors, weights={weights}, clip={clip:.4g})"
    got = _run(ex, call, ex.decode_boxes, deltas, anchors, weights, clip)
    want = BoxCoder(weights, clip).decode_single(deltas, anchors)
    assert_shape(got, want.shape, call, likely=("one (x1, y1, x2, y2) box per row of deltas: (N, 4).",
                                                "每行偏移对应一个 (x1, y1, x2, y2) 框：(N, 4)。"))
    assert_close(got, want, f"{call} vs BoxCoder.decode_single{what}", atol=1e-3,
                 likely=_first_match(got, _decode_variants(deltas, anchors, weights, clip))
                 or ("centre = anchor centre + (dx / wx) * anchor size, size = exp(min(dw / ww, clip)) * anchor size, "
                     "corners = centre -+ size / 2.",
                     "中心 = 锚框中心 + (dx / wx) * 锚框尺寸，尺寸 = exp(min(dw / ww, clip)) * 锚框尺寸，角点 = 中心 -+ 尺寸 / 2。"))


@check(points=2, category="correctness")
def test_decode_matches_boxcoder_and_inverts_encode(ex):
    """decode_boxes equals BoxCoder.decode_single, and decode_boxes(encode_boxes(gt, a), a) gives gt back.
    zh: decode_boxes 与 BoxCoder.decode_single 一致，且 decode_boxes(encode_boxes(gt, a), a) 还原出 gt。
    """
    for i, weights in enumerate((W_RPN, W_ROI)):
        _, anchors = _pairs(7 + i, 70 + i)
        with seeded(72 + i):
            deltas = torch.randn(7 + i, 4) * torch.tensor(weights) * 0.3
        _check_decode(ex, deltas, anchors, weights, CLIP, "")
        gt, anchors = _pairs(6, 74 + i)
        enc = BoxCoder(weights).encode_single(gt, anchors)
        back = _run(ex, "decode_boxes(encode_boxes(gt, anchors), anchors)",
                    lambda: ex.decode_boxes(ex.encode_boxes(gt, anchors, weights), anchors, weights, CLIP))
        likely = None if _same(_run(ex, "encode_boxes", ex.encode_boxes, gt, anchors, weights), enc) else (
            "encode_boxes is wrong (see its check).", "encode_boxes 不对（见它的检查）。")
        assert_close(back, gt, f"round trip decode_boxes(encode_boxes(gt, anchors, {weights}), anchors, {weights})",
                     atol=1e-3, likely=likely or ("decode_boxes must undo encode_boxes exactly (same centres, sizes and "
                                                  "weights).", "decode_boxes 必须精确还原 encode_boxes（相同的中心、尺寸和权重）。"))


@check(points=2, category="correctness")
def test_decode_clamps_dw_dh(ex):
    """Large dw/dh are clamped from above at clip (default log(1000/16), after dividing by the weights), as BoxCoder.
    zh: 较大的 dw/dh 在除以权重后从上方截断到 clip（默认 log(1000/16)），与 BoxCoder 相同。
    """
    _, anchors = _pairs(5, 80)
    big = torch.tensor([[0.1, -0.2, 6.0, 0.5], [0.0, 0.3, 0.2, 8.0], [-0.5, 0.1, -6.0, -5.0], [0.2, 0.2, 5.0, 4.5],
                        [0.0, 0.0, 3.0, 3.0]])
    _check_decode(ex, big, anchors, W_RPN, CLIP, " (large dw/dh)")
    _check_decode(ex, big * torch.tensor(W_ROI), anchors, W_ROI, CLIP, " (large dw/dh, ROI weights)")
    _check_decode(ex, big, anchors, W_RPN, 2.0, " (clip=2.0)")


# ---------------------------------------------------------------------------
# NMS

def _nms_variants(boxes, scores, thr):
    n = boxes.shape[0]
    if n == 0:
        return []
    iou = tv_boxes.box_iou(boxes, boxes)
    order = torch.argsort(scores, descending=True, stable=True)

    def walk(order, ge=False, suppressed_suppress=False):
        keep, dead = [], torch.zeros(n, dtype=torch.bool)
        for i in order.tolist():
            if dead[i]:
                if suppressed_suppress:
                    dead |= iou[i] > thr
                continue
            keep.append(i)
            hit = iou[i] >= thr if ge else iou[i] > thr
            dead |= hit  # boxes visited before i are kept or dead already; only later ones change
        return torch.tensor(keep, dtype=torch.int64)

    want = walk(order)
    flipped = torch.argsort(scores, stable=True).flip(0)
    return [
        (walk(order, ge=True), ("a box is dropped when IoU >= iou_threshold; torchvision drops it only when the IoU is "
                                "strictly greater (>), so a box overlapping exactly at the threshold is kept.",
                                "IoU >= iou_threshold 时就丢弃了框；torchvision 只在 IoU 严格大于（>）阈值时丢弃，"
                                "恰好等于阈值的框会保留。")),
        (walk(flipped), ("equal scores ordered higher index first (scores.argsort() then flipped, the numpy idiom); "
                         "torchvision keeps the lower index first: argsort(descending=True, stable=True).",
                         "分数相同时较大的下标排在前面（先 argsort() 再翻转的 numpy 写法）；torchvision 让较小的下标在前："
                         "argsort(descending=True, stable=True)。")),
        (torch.sort(want).values, ("kept indices sorted by index; return them by decreasing score, as ops.nms.",
                                   "保留的下标按下标大小排序了；应像 ops.nms 一样按分数从高到低返回。")),
        (walk(order.flip(0)), ("boxes visited from the lowest score up; NMS keeps the highest-scored box first.",
                               "从最低分的框开始遍历；NMS 应先保留分数最高的框。")),
        (walk(order, suppressed_suppress=True), ("a box that was already suppressed still suppresses others; only "
                                                 "kept boxes suppress.",
                                                 "已被抑制的框仍在抑制其它框；只有被保留的框才能抑制别的框。")),
    ]


def _check_nms(ex, boxes, scores, thr, what):
    call = f"nms(boxes {tuple(boxes.shape)}, scores, iou_threshold={thr}){what}"
    got = _run(ex, call, ex.nms, boxes, scores, thr)
    want = tv_boxes.nms(boxes, scores, thr)
    assert_tensor(got, call)
    expect(not got.dtype.is_floating_point and got.dtype != torch.bool and got.dim() == 1,
           f"{call} should return a 1-D int64 tensor of kept indices, got dtype {got.dtype} and shape {tuple(got.shape)}.",
           f"{call} 应返回一维 int64 的保留下标张量，实际 dtype 为 {got.dtype}，形状为 {tuple(got.shape)}。",
           likely=("returning a keep mask or the kept boxes instead of their indices, or a float tensor built from a "
                   "Python list (torch.tensor(keep) of floats).",
                   "返回了保留掩码或保留的框，而不是它们的下标；或由 Python 列表构造出了浮点张量。"))
    got_l, want_l = to_cpu(got).tolist(), want.tolist()
    if got_l != want_l:
        likely = _iou_first(ex, boxes, boxes, "nms") if boxes.shape[0] else None
        for alt, lk in _nms_variants(boxes, scores, thr) if likely is None else ():
            if alt.tolist() == got_l and alt.tolist() != want_l:
                likely = lk
                break
        fail(f"{call}: expected the kept indices {want_l} (ops.nms), got {got_l}.",
             f"{call}：期望保留下标 {want_l}（ops.nms），实际为 {got_l}。",
             likely=likely or ("sort by decreasing score (stable), keep the top box, drop the remaining boxes whose IoU "
                               "with it is > iou_threshold, repeat.",
                               "按分数从高到低（稳定）排序，保留最高分的框，丢弃与它 IoU > iou_threshold 的其余框，重复。"))


def _iou_first(ex, b1, b2, who):
    """A wrong box_iou explains everything built on it: say so before guessing at other mistakes."""
    try:
        mine = without_builtins(ex, "box_iou", ex.box_iou, b1, b2, patches=_BAN, ops=_BAN_OPS, task=_TASK)
    except Exception:  # noqa: BLE001 - a diagnosis never hides the failure itself
        mine = None
    if _same(mine, tv_boxes.box_iou(b1, b2), atol=1e-5):
        return None
    return (f"box_iou is wrong on these boxes (see its check); if {who} uses it, fix box_iou first.",
            f"box_iou 在这些框上不对（见它的检查）；如果 {who} 用到了它，请先修正 box_iou。")


def _clusters(n, seed):
    with seeded(seed):
        centres = torch.rand(4, 2) * 80
        c = centres[torch.randint(0, 4, (n,))] + torch.randn(n, 2) * 4
        wh = 12 + torch.rand(n, 2) * 10
        scores = torch.rand(n)
    return torch.cat([c - wh / 2, c + wh / 2], 1), scores


@check(points=3, category="correctness")
def test_nms_matches_torchvision(ex):
    """nms keeps the same boxes, in the same order, as ops.nms on clustered boxes at thresholds 0.3, 0.5 and 0.7.
    zh: 在聚集的框上、阈值为 0.3、0.5 和 0.7 时，nms 保留的框及其顺序与 ops.nms 相同。
    """
    for i, (n, thr) in enumerate(((30, 0.3), (40, 0.5), (25, 0.7))):
        boxes, scores = _clusters(n, 90 + i)
        _check_nms(ex, boxes, scores, thr, "")


@check(points=2, category="correctness")
def test_nms_edge_cases(ex):
    """nms edge cases as ops.nms: IoU equal to the threshold is kept, ties keep the lower index, empty input, one box.
    zh: nms 的边界情况与 ops.nms 一致：IoU 等于阈值时保留、分数相同保留较小下标、空输入、单个框。
    """
    at = torch.tensor([[0., 0., 3., 1.], [1., 0., 4., 1.], [10., 10., 12., 12.]])   # IoU(0, 1) is exactly 0.5
    _check_nms(ex, at, torch.tensor([0.9, 0.8, 0.7]), 0.5, " (IoU exactly at the threshold)")
    ties = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.], [0., 0., 10., 10.],
                         [21., 21., 31., 31.]])
    _check_nms(ex, ties, torch.tensor([0.5, 0.5, 0.9, 0.5, 0.9]), 0.5, " (equal scores)")
    _check_nms(ex, torch.zeros(0, 4), torch.zeros(0), 0.5, " (no boxes)")
    _check_nms(ex, torch.tensor([[1., 2., 5., 9.]]), torch.tensor([0.3]), 0.5, " (one box)")


# ---------------------------------------------------------------------------
# anchor assignment

def _grid_anchors():
    fm = torch.zeros(1, 1, 6, 6)
    return _tv_anchors(fm, (48, 48), (12, 24), (0.5, 1.0, 2.0))


def _matcher(anchors, gt, high, low, allow):
    return Matcher(high, low, allow)(tv_boxes.box_iou(gt, anchors))


def _assign_variants(anchors, gt, high, low, allow):
    """Known wrong assignments, each differing from Matcher in one respect (low-quality matches kept as asked)."""
    iou = tv_boxes.box_iou(gt, anchors)
    vals, best = iou.max(dim=0)

    def label(ge_high=True, swap=False, ge_low=True):
        m = best.clone()
        below = vals < low if ge_low else vals <= low
        between = ~below & ((vals < high) if ge_high else (vals <= high))
        m[below], m[between] = (-2, -1) if swap else (-1, -2)
        return m

    def low_quality(m, mode="ties"):
        m = m.clone()
        for j in range(iou.shape[0]):
            top = torch.where(iou[j] == iou[j].max())[0]
            if mode == "argmax":
                top = iou[j].argmax().view(1)
            m[top] = j if mode == "gt_picks" else best[top]
        return m

    lq = low_quality if allow else (lambda m, mode="ties": m)
    v = [(lq(label(swap=True)), ("-1 and -2 swapped: -1 is background (IoU < low_threshold), -2 is ignored (between "
                                 "the thresholds).",
                                 "-1 和 -2 弄反了：-1 是背景（IoU < low_threshold），-2 是忽略（介于两个阈值之间）。")),
         (lq(label(ge_high=False)), ("an IoU equal to high_threshold counted as in-between; it is a match (>= high).",
                                     "IoU 恰好等于 high_threshold 时被当成了“介于之间”；应算作匹配（>= high）。")),
         (lq(label(ge_low=False)), ("an IoU equal to low_threshold counted as background; it is ignored (-2): "
                                    "background is IoU < low only.",
                                    "IoU 恰好等于 low_threshold 时被当成了背景；应为忽略（-2）：只有 IoU < low 才是背景。"))]
    if allow:
        v += [(label(), ("low-quality matches missing: with allow_low_quality_matches, the best anchor(s) of every gt "
                         "box are positive even below the thresholds (torchvision's Matcher(..., "
                         "allow_low_quality_matches=True)).",
                         "缺少低质量匹配：allow_low_quality_matches 为 True 时，每个 gt 框 IoU 最高的锚框即使低于阈值也是"
                         "正样本（torchvision 的 Matcher(..., allow_low_quality_matches=True)）。")),
              (low_quality(label(), "argmax"), ("only one best anchor per gt box (argmax); torchvision makes every "
                                                "anchor that ties for the gt's highest IoU positive: "
                                                "torch.where(iou == iou.max(dim=1).values[:, None]).",
                                                "每个 gt 框只取了一个最佳锚框（argmax）；torchvision 会把与该 gt 的最高 IoU "
                                                "并列的所有锚框都设为正样本：torch.where(iou == iou.max(dim=1).values[:, None])。")),
              (low_quality(label(), "gt_picks"), ("a re-matched anchor given the gt that picked it; torchvision gives "
                                                  "it back its own best gt (the argmax over gt boxes of its IoU column).",
                                                  "重新匹配的锚框被分给了选中它的 gt；torchvision 让它恢复自己的最佳 gt"
                                                  "（它那一列 IoU 在 gt 上的 argmax）。"))]
    else:
        v.append((low_quality(label()), ("low-quality matches added although allow_low_quality_matches=False.",
                                         "allow_low_quality_matches=False 时仍然加入了低质量匹配。")))
    want = _matcher(anchors, gt, high, low, allow)
    return [(t, lk) for t, lk in v if not torch.equal(t, want)]


def _check_assign(ex, anchors, gt, high, low, allow, what):
    call = (f"assign_anchors(anchors {tuple(anchors.shape)}, gt_boxes {tuple(gt.shape)}, {high}, {low}, "
            f"allow_low_quality_matches={allow}){what}")
    got = _run(ex, call, ex.assign_anchors, anchors, gt, high, low, allow)
    want = _matcher(anchors, gt, high, low, allow)
    assert_tensor(got, call)
    expect(not got.dtype.is_floating_point and got.dtype != torch.bool,
           f"{call} should return integer gt indices (int64), got dtype {got.dtype}.",
           f"{call} 应返回整数的 gt 下标（int64），实际 dtype 为 {got.dtype}。")
    assert_shape(got, want.shape, call, likely=("one entry per anchor: the max over the gt axis (dim 0 of "
                                                "box_iou(gt_boxes, anchors)).",
                                                "每个锚框一个值：在 gt 维度（box_iou(gt_boxes, anchors) 的第 0 维）上取 max。"))
    got = to_cpu(got).long()
    if not torch.equal(got, want):
        bad = (got != want).nonzero().flatten().tolist()
        likely = _iou_first(ex, gt, anchors, "assign_anchors") or _first_match(
            got, _assign_variants(anchors, gt, high, low, allow))
        fail(f"{call}: differs from torchvision's Matcher at anchors {bad[:6]}: expected {want[bad[:6]].tolist()}, "
             f"got {got[bad[:6]].tolist()}.",
             f"{call}：与 torchvision 的 Matcher 在锚框 {bad[:6]} 处不同：期望 {want[bad[:6]].tolist()}，"
             f"实际为 {got[bad[:6]].tolist()}。",
             likely=likely or ("best gt per anchor = iou.max(dim=0); -1 below low, -2 in [low, high), else the gt index; "
                               "then the low-quality matches.",
                               "每个锚框的最佳 gt = iou.max(dim=0)；低于 low 为 -1，[low, high) 为 -2，否则为 gt 下标；"
                               "然后再加入低质量匹配。"))


@check(points=3, category="correctness")
def test_assignment_matches_matcher(ex):
    """assign_anchors equals torchvision's Matcher on box_iou(gt, anchors), with and without low-quality matches.
    zh: assign_anchors 与 torchvision 的 Matcher（作用于 box_iou(gt, anchors)）一致，包括有无低质量匹配两种情况。
    """
    anchors = _grid_anchors()
    for i, (k, high, low, allow) in enumerate(((4, 0.7, 0.3, True), (3, 0.6, 0.4, False), (5, 0.5, 0.2, True))):
        gt = _boxes(k, 100 + i, scale=30.0, lo=6.0, hi=26.0)
        _check_assign(ex, anchors, gt, high, low, allow, "")
    # exact thresholds: IoU 0.5 (= high) is a match, IoU 0.25 (= low) is ignored (-2), below low is background
    # (anchor 0 with gt 0: 2 / 4; anchor 1 with gt 1: 5 / 20; anchor 2: far below; anchor 3: between)
    anchors = torch.tensor([[1., 0., 4., 1.], [20., 0., 25., 4.], [0., 0., 30., 30.], [20., 0., 25., 3.]])
    gt = torch.tensor([[0., 0., 3., 1.], [20., 0., 25., 1.]])
    _check_assign(ex, anchors, gt, 0.5, 0.25, False, " (IoU exactly at the thresholds)")


@check(points=2, category="correctness")
def test_best_anchor_of_each_box_is_positive(ex):
    """With allow_low_quality_matches, every gt box's best anchors (ties included) are positive, as Matcher's.
    zh: allow_low_quality_matches 为 True 时，每个 gt 框 IoU 最高的锚框（包括并列的）都是正样本，与 Matcher 一致。
    """
    # gt 0 is small: its best IoU (with two identical anchors 0 and 1) is far below low_threshold.
    # gt 1's best anchor is 3; anchor 2 is gt 2's best but overlaps gt 1 more, so it goes to gt 1 (its own best).
    anchors = torch.tensor([[0., 0., 16., 16.], [0., 0., 16., 16.], [40., 40., 60., 60.], [38., 38., 62., 62.],
                            [100., 100., 116., 116.], [0., 100., 32., 132.]])
    gt = torch.tensor([[2., 2., 6., 6.], [39., 39., 61., 61.], [50., 50., 75., 75.]])
    _check_assign(ex, anchors, gt, 0.7, 0.3, True, " (hand-made: small box, tied anchors, shared anchor)")
    gt2 = _boxes(4, 110, scale=36.0, lo=3.0, hi=8.0)    # small boxes: most best IoUs are below 0.3
    _check_assign(ex, _grid_anchors(), gt2, 0.7, 0.3, True, " (small gt boxes)")


# ---------------------------------------------------------------------------

@check(points=2, category="device")
def test_box_ops_on_accelerator(ex):
    """box_iou, encode/decode, nms (empty input too) and assign_anchors run on the boxes' device with the CPU's results.
    zh: box_iou、编码/解码、nms（包括空输入）和 assign_anchors 都在框所在的设备上运行，结果与 CPU 一致。
    """
    b1, b2 = _boxes(5, 120), _boxes(4, 121)
    gt, anchors = _pairs(6, 122)
    boxes, scores = _clusters(20, 123)
    grid = _grid_anchors()
    gts = _boxes(3, 124, scale=30.0, lo=6.0, hi=26.0)
    cpu_likely = ("a tensor created without device= (torch.tensor(keep), torch.zeros(...), torch.as_tensor(weights)), "
                  "or .cpu()/.numpy() inside the function.",
                  "创建张量时没有指定 device=（torch.tensor(keep)、torch.zeros(...)、torch.as_tensor(weights)），"
                  "或在函数内部调用了 .cpu()/.numpy()。")
    calls = (("box_iou", ex.box_iou, (b1, b2)), ("encode_boxes", ex.encode_boxes, (gt, anchors, W_ROI)),
             ("decode_boxes", ex.decode_boxes, (gt - anchors, anchors, W_RPN, CLIP)),
             ("nms", ex.nms, (boxes, scores, 0.5)), ("nms (no boxes)", ex.nms, (torch.zeros(0, 4), torch.zeros(0), 0.5)),
             ("assign_anchors", ex.assign_anchors, (grid, gts, 0.7, 0.3, True)))
    on_cpu = {name: _run(ex, f"{name} on the CPU", fn, *args) for name, fn, args in calls}
    with accelerator() as dev:
        for name, fn, args in calls:
            moved = [a.to(dev) if isinstance(a, torch.Tensor) else a for a in args]
            out = _run(ex, f"{name} on the accelerator", fn, *moved, likely=cpu_likely)
            assert_on_device(out, dev, f"{name} output", likely=cpu_likely)
            out = to_cpu(out)
            want = on_cpu[name]
            assert_tensor(want, f"{name} on the CPU")
            if want.dtype.is_floating_point:
                assert_close(out, want, f"{name} on the accelerator vs on the CPU", atol=1e-4)
            else:
                expect(out.tolist() == want.tolist(),
                       f"{name} on the accelerator gives {out.tolist()[:12]}..., on the CPU {want.tolist()[:12]}....",
                       f"{name} 在加速设备上得到 {out.tolist()[:12]}...，在 CPU 上为 {want.tolist()[:12]}...。")
