"""Wrong (too slow): a textbook loop over every output pixel, correct but far too slow on a real image batch.
expect-message: took longer than
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
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    xp = F.pad(x, (pw, pw, ph, ph))
    h_out = conv_output_size(h, kh, sh, ph, dh)
    w_out = conv_output_size(w, kw, sw, pw, dw)
    out = x.new_zeros(n, c_out, h_out, w_out)
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    patch = xp[b, :, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
                    out[b, o, i, j] = (patch * weight[o]).sum() + (bias[o] if bias is not None else 0)
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
