"""Wrong (forbidden by the prompt): loops in Python over the output pixels, each step an einsum vectorised
over the batch and the channels. Exact, and the (8, 16, 96, 96) batch of the speed check still finishes in
about 2 s of its 10, but the work grows with the image: one Python step per output pixel.
expect-message: loop over the output pixels
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    c_out, _, kh, kw = weight.shape
    h_out = conv_output_size(x.shape[2], kh, sh, ph, dh)
    w_out = conv_output_size(x.shape[3], kw, sw, pw, dw)
    xp = F.pad(x, (pw, pw, ph, ph))
    rows = []
    for i in range(h_out):
        row = []
        for j in range(w_out):
            patch = xp[:, :, i * sh: i * sh + dh * (kh - 1) + 1: dh, j * sw: j * sw + dw * (kw - 1) + 1: dw]
            row.append(torch.einsum("nchw,ochw->no", patch, weight))
        rows.append(torch.stack(row, dim=-1))
    out = torch.stack(rows, dim=-2)
    if bias is not None:
        out = out + bias[:, None, None]
    return out


class Conv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        bound = 1 / math.sqrt(in_channels * kh * kw)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
