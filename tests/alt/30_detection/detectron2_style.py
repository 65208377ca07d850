"""Alt: detectron2's idioms — RPN conv as Sequential(Conv2d, ReLU) like torchvision's Conv2dNormActivation,
cell anchors from area / ratio, `_create_grid_offsets`-style shifts, `pairwise_iou` with torch.where,
Box2BoxTransform's strided (0::4) deltas with a scale clamp, NMS over one precomputed IoU matrix with a
suppression mask (torchvision's CPU kernel), and a label-based Matcher translated to torchvision's codes.
"""
import math

import torch
from torch import nn


class RPNHead(nn.Module):
    def __init__(self, in_channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, 1, 1), nn.ReLU(inplace=True))
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 1)
        for layer in (self.conv[0], self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.constant_(layer.bias, 0)

    def forward(self, x):
        t = self.conv(x)
        return self.cls_logits(t), self.bbox_pred(t)


def base_anchors(sizes, aspect_ratios, dtype=torch.float32, device=None):
    anchors = []
    for aspect_ratio in aspect_ratios:          # ratio-major, as torchvision (detectron2 loops sizes first)
        for size in sizes:
            area = size ** 2.0
            w = math.sqrt(area / aspect_ratio)
            h = aspect_ratio * w
            anchors.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(anchors, dtype=dtype, device=device).round()


def _create_grid_offsets(size, strides, device):
    grid_height, grid_width = size
    shifts_x = torch.arange(0, grid_width * strides[1], step=strides[1], dtype=torch.float32, device=device)
    shifts_y = torch.arange(0, grid_height * strides[0], step=strides[0], dtype=torch.float32, device=device)
    shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
    return shift_x.reshape(-1), shift_y.reshape(-1)


def anchors_for(feature_map, image_size, sizes, aspect_ratios):
    grid = tuple(feature_map.shape[-2:])
    strides = (image_size[0] // grid[0], image_size[1] // grid[1])
    shift_x, shift_y = _create_grid_offsets(grid, strides, feature_map.device)
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
    cell = base_anchors(sizes, aspect_ratios, device=feature_map.device)
    return (shifts.view(-1, 1, 4) + cell.view(1, -1, 4)).reshape(-1, 4).to(feature_map.dtype)


def _area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1, boxes2):
    area1, area2 = _area(boxes1), _area(boxes2)
    width_height = torch.min(boxes1[:, None, 2:], boxes2[:, 2:]) - torch.max(boxes1[:, None, :2], boxes2[:, :2])
    width_height.clamp_(min=0)
    inter = width_height.prod(dim=2)
    return torch.where(inter > 0, inter / (area1[:, None] + area2 - inter),
                       torch.zeros(1, dtype=inter.dtype, device=inter.device))


def encode_boxes(gt_boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0)):
    src_widths = anchors[:, 2] - anchors[:, 0]
    src_heights = anchors[:, 3] - anchors[:, 1]
    src_ctr_x = anchors[:, 0] + 0.5 * src_widths
    src_ctr_y = anchors[:, 1] + 0.5 * src_heights
    target_widths = gt_boxes[:, 2] - gt_boxes[:, 0]
    target_heights = gt_boxes[:, 3] - gt_boxes[:, 1]
    target_ctr_x = gt_boxes[:, 0] + 0.5 * target_widths
    target_ctr_y = gt_boxes[:, 1] + 0.5 * target_heights
    wx, wy, ww, wh = weights
    dx = wx * (target_ctr_x - src_ctr_x) / src_widths
    dy = wy * (target_ctr_y - src_ctr_y) / src_heights
    dw = ww * torch.log(target_widths / src_widths)
    dh = wh * torch.log(target_heights / src_heights)
    return torch.stack((dx, dy, dw, dh), dim=1)


def decode_boxes(deltas, anchors, weights=(1.0, 1.0, 1.0, 1.0), clip=math.log(1000.0 / 16)):
    anchors = anchors.to(deltas.dtype)
    widths = anchors[:, 2] - anchors[:, 0]
    heights = anchors[:, 3] - anchors[:, 1]
    ctr_x = anchors[:, 0] + 0.5 * widths
    ctr_y = anchors[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = torch.clamp(deltas[:, 2::4] / ww, max=clip)
    dh = torch.clamp(deltas[:, 3::4] / wh, max=clip)
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    pred_w = torch.exp(dw) * widths[:, None]
    pred_h = torch.exp(dh) * heights[:, None]
    x1, y1 = pred_ctr_x - 0.5 * pred_w, pred_ctr_y - 0.5 * pred_h
    x2, y2 = pred_ctr_x + 0.5 * pred_w, pred_ctr_y + 0.5 * pred_h
    return torch.stack((x1, y1, x2, y2), dim=-1).view(deltas.shape)


def nms(boxes, scores, iou_threshold):
    order = scores.sort(dim=0, descending=True, stable=True)[1]
    ious = box_iou(boxes, boxes)
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    keep = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep[i] = True
        suppressed |= ious[i] > iou_threshold
    return order[keep[order]]


class _Matcher:
    """detectron2's Matcher: thresholds [-inf, low, high, inf] with labels [0, -1, 1]."""

    def __init__(self, thresholds, labels, allow_low_quality_matches=False):
        self.thresholds = [-float("inf")] + list(thresholds) + [float("inf")]
        self.labels, self.allow_low_quality_matches = labels, allow_low_quality_matches

    def __call__(self, match_quality_matrix):
        matched_vals, matches = match_quality_matrix.max(dim=0)
        match_labels = matches.new_full(matches.size(), 1, dtype=torch.int8)
        for (l, low, high) in zip(self.labels, self.thresholds[:-1], self.thresholds[1:]):
            low_high = (matched_vals >= low) & (matched_vals < high)
            match_labels[low_high] = l
        if self.allow_low_quality_matches:
            highest_quality_foreach_gt, _ = match_quality_matrix.max(dim=1)
            _, pred_inds_with_highest_quality = torch.nonzero(
                match_quality_matrix == highest_quality_foreach_gt[:, None], as_tuple=True)
            match_labels[pred_inds_with_highest_quality] = 1
        return matches, match_labels


def assign_anchors(anchors, gt_boxes, high_threshold=0.7, low_threshold=0.3, allow_low_quality_matches=True):
    matcher = _Matcher([low_threshold, high_threshold], [0, -1, 1], allow_low_quality_matches)
    matches, labels = matcher(box_iou(gt_boxes, anchors))
    out = matches.clone()
    out[labels == 0] = -1       # background
    out[labels == -1] = -2      # ignored
    return out
