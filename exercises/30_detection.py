"""Exercise 30 — object detection building blocks (Faster R-CNN's RPN side).

Write the pieces of a region proposal network by hand, with torchvision's conventions.
Boxes are float tensors ``(N, 4)`` in ``(x1, y1, x2, y2)`` pixel corners, with width ``x2 - x1``
and height ``y2 - y1`` (no "+1"). **Off limits** while your code runs (the grader makes them
raise): ``torchvision.ops.box_iou`` / ``nms`` / ``batched_nms`` and everything in
``torchvision.ops.boxes``, ``torch.ops.torchvision.nms``, and torchvision's detection
``AnchorGenerator``, ``BoxCoder`` / ``encode_boxes``, ``Matcher`` and ``RPNHead``.
Plain tensor operations are all you need.

``RPNHead(in_channels, num_anchors)`` — an ``nn.Module``, fully convolutional (any ``H x W``):

* ``conv``: ``nn.Conv2d(in_channels, in_channels, 3, padding=1)`` (keeps ``H x W``) followed by
  a ReLU (``conv`` may also be an ``nn.Sequential`` holding that one Conv2d and a ReLU);
* ``cls_logits``: ``nn.Conv2d(in_channels, num_anchors, 1)``, applied to the ReLU'd conv features;
* ``bbox_pred``: ``nn.Conv2d(in_channels, 4 * num_anchors, 1)``, applied to the same features.
* ``forward(x)``: ``x`` is ``(N, C, H, W)``; returns ``(objectness (N, A, H, W), deltas (N, 4A, H, W))``.
  These are torchvision's ``RPNHead`` layer names, so its weights can be copied in.

``base_anchors(sizes, aspect_ratios, dtype=torch.float32, device=None)`` -> ``(len(aspect_ratios) *
len(sizes), 4)``: zero-centred anchors ``(-w/2, -h/2, w/2, h/2)`` with ``aspect_ratio = h / w``,
``h = size * sqrt(ratio)``, ``w = size / sqrt(ratio)``, **rounded with torch.round** (half to even),
ordered ratio-major: for each aspect ratio, for each size (as ``AnchorGenerator.generate_anchors``).

``anchors_for(feature_map, image_size, sizes, aspect_ratios)`` -> ``(H * W * A, 4)``, the anchors of one
``(N, C, H, W)`` feature map for an image of ``image_size = (img_h, img_w)``: integer strides
``img_h // H`` and ``img_w // W``; the base anchors shifted by ``(x * stride_w, y * stride_h)`` (no half-
stride offset); ordered **per location, then per anchor** — location ``(y, x)`` in row-major order, and
for each location all ``A`` base anchors in order — as torchvision's ``AnchorGenerator``. On the feature
map's device and dtype.

``box_iou(boxes1 (N, 4), boxes2 (M, 4))`` -> ``(N, M)`` IoU = intersection / union
(``union = area1 + area2 - intersection``; disjoint boxes give 0).

``encode_boxes(gt_boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0))`` -> ``(N, 4)`` deltas
``(dx, dy, dw, dh)`` of each gt box relative to its anchor (row ``i`` with row ``i``):
``dx = wx * (gx - ax) / aw``, ``dy = wy * (gy - ay) / ah``, ``dw = ww * log(gw / aw)``,
``dh = wh * log(gh / ah)``, with ``(ax, ay, aw, ah)`` the anchor's centre and size.

``decode_boxes(deltas, anchors, weights=(1.0, 1.0, 1.0, 1.0), clip=math.log(1000 / 16))`` -> ``(N, 4)``
boxes: the inverse of ``encode_boxes``; ``dw / ww`` and ``dh / wh`` are clamped **from above** at ``clip``
before ``exp`` (torchvision's ``bbox_xform_clip``; no lower clamp).

``nms(boxes, scores, iou_threshold)`` -> int64 indices of the kept boxes, by decreasing score. A box
is dropped when its IoU with an already kept, higher-scored box is **strictly greater** than
``iou_threshold``. Equal scores: the lower index comes first (a stable sort). Empty input gives an
empty int64 tensor. On the boxes' device.

``assign_anchors(anchors (N, 4), gt_boxes (M, 4), high_threshold=0.7, low_threshold=0.3,
allow_low_quality_matches=True)`` -> int64 ``(N,)``, as torchvision's ``Matcher`` on
``box_iou(gt_boxes, anchors)``: each anchor takes the gt box it overlaps most; if that IoU is
``< low_threshold`` it gets ``-1`` (background), if it is in ``[low, high)`` it gets ``-2`` (ignored),
else (``>= high``) the gt's index. With ``allow_low_quality_matches``, for every gt box the anchors with
its highest IoU (all of them, ties included) get back their own best gt's index, whatever the thresholds.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class RPNHead(nn.Module):
    def __init__(self, in_channels: int, num_anchors: int):
        super().__init__()
        # TODO: conv: 3x3, in_channels -> in_channels, padding=1 (keeps H x W)
        # TODO: cls_logits: 1x1 -> num_anchors; bbox_pred: 1x1 -> 4 * num_anchors (both read the conv features)
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor):
        """(N, C, H, W) -> (objectness (N, A, H, W), deltas (N, 4A, H, W))."""
        # TODO: t = relu(conv(x)); return cls_logits(t), bbox_pred(t)
        raise NotImplementedError("TODO: write this part")


def base_anchors(sizes, aspect_ratios, dtype=torch.float32, device=None) -> torch.Tensor:
    """(len(aspect_ratios) * len(sizes), 4) zero-centred anchors, ratio-major, rounded with torch.round."""
    # TODO: h_ratio = sqrt(ratio), w_ratio = 1 / h_ratio; ws = (w_ratios[:, None] * sizes[None, :]).reshape(-1)
    # TODO: stack (-ws, -hs, ws, hs) / 2 and round
    raise NotImplementedError("TODO: write this part")


def anchors_for(feature_map: torch.Tensor, image_size, sizes, aspect_ratios) -> torch.Tensor:
    """(H * W * A, 4) anchors for one feature map, per location (row-major) then per anchor."""
    # TODO: strides img_h // H, img_w // W; shifts (x*sw, y*sh, x*sw, y*sh) for every location (meshgrid, "ij")
    # TODO: (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4), on feature_map's device
    raise NotImplementedError("TODO: write this part")


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """(N, 4), (M, 4) -> (N, M) intersection over union."""
    # TODO: areas; pairwise intersection corners with broadcasting ([:, None] against [None, :]); clamp at 0
    raise NotImplementedError("TODO: write this part")


def _centres(boxes):
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode_boxes(gt_boxes: torch.Tensor, anchors: torch.Tensor, weights=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """(N, 4) deltas (dx, dy, dw, dh) of gt_boxes[i] relative to anchors[i]."""
    # TODO: centres and sizes of both; dx = wx * (gx - ax) / aw, ..., dw = ww * log(gw / aw), ...
    raise NotImplementedError("TODO: write this part")


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor, weights=(1.0, 1.0, 1.0, 1.0),
                 clip: float = math.log(1000.0 / 16)) -> torch.Tensor:
    """(N, 4) boxes (x1, y1, x2, y2) from deltas (dx, dy, dw, dh) and their anchors."""
    # TODO: undo the weights; clamp dw, dh at max=clip before exp; centre +- half the size
    raise NotImplementedError("TODO: write this part")


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """int64 indices of the kept boxes, by decreasing score (ties: lower index first)."""
    # TODO: order = scores.argsort(descending=True, stable=True); walk it, keeping a box unless an
    # TODO: already kept one overlaps it with IoU > iou_threshold
    raise NotImplementedError("TODO: write this part")


def assign_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, high_threshold: float = 0.7,
                   low_threshold: float = 0.3, allow_low_quality_matches: bool = True) -> torch.Tensor:
    """(N,) int64: each anchor's gt index, -1 (below low_threshold) or -2 (between the thresholds)."""
    # TODO: iou = box_iou(gt_boxes, anchors) (M, N); best gt per anchor = max over dim 0
    # TODO: -1 below low, -2 in [low, high); then, if allowed, re-match every anchor that ties for a gt's best IoU
    raise NotImplementedError("TODO: write this part")
