"""Alt: the py-faster-rcnn / tutorial way — functional ReLU, anchors built location by location in Python
loops, IoU from per-coordinate maxima and minima, the classic NMS loop (`order = scores.argsort()`,
`xx1 = max(x1[i], x1[order[1:]])`, keep `ovr <= thresh`), deltas with unbind, and an explicit loop over
gt boxes for the low-quality matches. Float64 Python arithmetic in the anchors.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class RPNHead(nn.Module):
    def __init__(self, in_channels, num_anchors):
        super(RPNHead, self).__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, kernel_size=(1, 1))
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, kernel_size=(1, 1))

    def forward(self, x):
        h = F.relu(self.conv(x), inplace=False)
        objectness = self.cls_logits(h)
        rpn_bbox_pred = self.bbox_pred(h)
        return objectness, rpn_bbox_pred


def base_anchors(sizes, aspect_ratios, dtype=torch.float32, device=None):
    rows = []
    for r in aspect_ratios:
        hr = math.sqrt(r)
        for s in sizes:
            w, h = s / hr, s * hr
            rows.append([-w / 2, -h / 2, w / 2, h / 2])
    return torch.round(torch.tensor(rows, dtype=dtype, device=device))


def anchors_for(feature_map, image_size, sizes, aspect_ratios):
    _, _, H, W = feature_map.shape
    sh, sw = int(image_size[0] // H), int(image_size[1] // W)
    base = base_anchors(sizes, aspect_ratios, dtype=feature_map.dtype, device=feature_map.device)
    out = []
    for y in range(H):
        for x in range(W):
            shift = torch.tensor([x * sw, y * sh, x * sw, y * sh], dtype=feature_map.dtype, device=feature_map.device)
            out.append(base + shift)
    return torch.cat(out, dim=0)


def box_iou(boxes1, boxes2):
    x1 = torch.maximum(boxes1[:, None, 0], boxes2[None, :, 0])
    y1 = torch.maximum(boxes1[:, None, 1], boxes2[None, :, 1])
    x2 = torch.minimum(boxes1[:, None, 2], boxes2[None, :, 2])
    y2 = torch.minimum(boxes1[:, None, 3], boxes2[None, :, 3])
    inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    a1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    a2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    return inter / (a1[:, None] + a2[None, :] - inter)


def encode_boxes(gt_boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0)):
    ax1, ay1, ax2, ay2 = anchors.unbind(1)
    gx1, gy1, gx2, gy2 = gt_boxes.unbind(1)
    aw, ah = ax2 - ax1, ay2 - ay1
    gw, gh = gx2 - gx1, gy2 - gy1
    acx, acy = ax1 + 0.5 * aw, ay1 + 0.5 * ah
    gcx, gcy = gx1 + 0.5 * gw, gy1 + 0.5 * gh
    d = torch.stack([(gcx - acx) / aw, (gcy - acy) / ah, (gw / aw).log(), (gh / ah).log()], 1)
    return d * d.new_tensor(weights)


def decode_boxes(deltas, anchors, weights=(1.0, 1.0, 1.0, 1.0), clip=math.log(1000.0 / 16)):
    d = deltas / deltas.new_tensor(weights)
    dx, dy, dw, dh = d.unbind(1)
    dw, dh = dw.clamp(max=clip), dh.clamp(max=clip)
    ax1, ay1, ax2, ay2 = anchors.to(deltas.dtype).unbind(1)
    aw, ah = ax2 - ax1, ay2 - ay1
    cx, cy = ax1 + 0.5 * aw + dx * aw, ay1 + 0.5 * ah + dy * ah
    w, h = aw * dw.exp(), ah * dh.exp()
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], 1)


def nms(boxes, scores, iou_threshold):
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = scores.argsort(descending=True, stable=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        xx1 = torch.maximum(x1[i], x1[order[1:]])
        yy1 = torch.maximum(y1[i], y1[order[1:]])
        xx2 = torch.minimum(x2[i], x2[order[1:]])
        yy2 = torch.minimum(y2[i], y2[order[1:]])
        inter = (xx2 - xx1).clamp(min=0.0) * (yy2 - yy1).clamp(min=0.0)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][ovr <= iou_threshold]
    return torch.stack(keep) if keep else order.new_empty(0)


def assign_anchors(anchors, gt_boxes, high_threshold=0.7, low_threshold=0.3, allow_low_quality_matches=True):
    iou = box_iou(gt_boxes, anchors)
    max_iou, argmax = iou.max(dim=0)
    labels = torch.where(max_iou >= high_threshold, argmax,
                         torch.where(max_iou < low_threshold, torch.full_like(argmax, -1), torch.full_like(argmax, -2)))
    if allow_low_quality_matches:
        for g in range(iou.shape[0]):
            best = (iou[g] == iou[g].max()).nonzero().flatten()
            labels[best] = argmax[best]
    return labels
