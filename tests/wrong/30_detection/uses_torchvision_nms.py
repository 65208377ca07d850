"""Wrong: nms delegates to torchvision.ops.nms.
expect-message: called the built-in
"""
import math

import torch
import torch.nn.functional as F
import torchvision
from torch import nn


class RPNHead(nn.Module):
    def __init__(self, in_channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, kernel_size=1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * num_anchors, kernel_size=1)

    def forward(self, x: torch.Tensor):
        """(N, C, H, W) -> (objectness (N, A, H, W), deltas (N, 4A, H, W))."""
        t = F.relu(self.conv(x))
        return self.cls_logits(t), self.bbox_pred(t)


def base_anchors(sizes, aspect_ratios, dtype=torch.float32, device=None) -> torch.Tensor:
    """(len(aspect_ratios) * len(sizes), 4) zero-centred anchors, ratio-major, rounded with torch.round."""
    scales = torch.as_tensor(sizes, dtype=dtype, device=device)
    ratios = torch.as_tensor(aspect_ratios, dtype=dtype, device=device)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def anchors_for(feature_map: torch.Tensor, image_size, sizes, aspect_ratios) -> torch.Tensor:
    """(H * W * A, 4) anchors for one feature map, per location (row-major) then per anchor."""
    H, W = feature_map.shape[-2:]
    stride_h, stride_w = int(image_size[0]) // H, int(image_size[1]) // W
    device, dtype = feature_map.device, feature_map.dtype
    base = base_anchors(sizes, aspect_ratios, dtype=dtype, device=device)
    shifts_x = torch.arange(W, dtype=torch.int64, device=device) * stride_w
    shifts_y = torch.arange(H, dtype=torch.int64, device=device) * stride_h
    shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
    shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1).to(dtype)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """(N, 4), (M, 4) -> (N, M) intersection over union."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def _centres(boxes):
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode_boxes(gt_boxes: torch.Tensor, anchors: torch.Tensor, weights=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """(N, 4) deltas (dx, dy, dw, dh) of gt_boxes[i] relative to anchors[i]."""
    wx, wy, ww, wh = weights
    ax, ay, aw, ah = _centres(anchors)
    gx, gy, gw, gh = _centres(gt_boxes)
    return torch.stack([wx * (gx - ax) / aw, wy * (gy - ay) / ah,
                        ww * torch.log(gw / aw), wh * torch.log(gh / ah)], dim=1)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor, weights=(1.0, 1.0, 1.0, 1.0),
                 clip: float = math.log(1000.0 / 16)) -> torch.Tensor:
    """(N, 4) boxes (x1, y1, x2, y2) from deltas (dx, dy, dw, dh) and their anchors."""
    wx, wy, ww, wh = weights
    anchors = anchors.to(deltas.dtype)
    ax, ay, aw, ah = _centres(anchors)
    dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
    dw, dh = (deltas[:, 2] / ww).clamp(max=clip), (deltas[:, 3] / wh).clamp(max=clip)
    cx, cy = dx * aw + ax, dy * ah + ay
    w, h = torch.exp(dw) * aw, torch.exp(dh) * ah
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """int64 indices of the kept boxes, by decreasing score (ties: lower index first)."""
    return torchvision.ops.nms(boxes, scores, iou_threshold)
    order = torch.argsort(scores, descending=True, stable=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        iou = box_iou(boxes[i].unsqueeze(0), boxes[order[1:]])[0]
        order = order[1:][iou <= iou_threshold]
    if not keep:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    return torch.stack(keep).to(torch.int64)


def assign_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, high_threshold: float = 0.7,
                   low_threshold: float = 0.3, allow_low_quality_matches: bool = True) -> torch.Tensor:
    """(N,) int64: each anchor's gt index, -1 (below low_threshold) or -2 (between the thresholds)."""
    iou = box_iou(gt_boxes, anchors)
    best_vals, best_gt = iou.max(dim=0)
    matches = best_gt.clone()
    matches[best_vals < low_threshold] = -1
    matches[(best_vals >= low_threshold) & (best_vals < high_threshold)] = -2
    if allow_low_quality_matches:
        best_per_gt = iou.max(dim=1).values
        _, anchor_idx = torch.where(iou == best_per_gt[:, None])
        matches[anchor_idx] = best_gt[anchor_idx]
    return matches
