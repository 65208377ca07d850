"""Correct alternative in the NumPy "as_strided" style (numpy.lib.stride_tricks.as_strided, as in many
"convolution in pure NumPy" write-ups): pad, view the input as (N, C, H_out, W_out, kH, kW) windows with
Tensor.as_strided, and contract with one einsum. No F.unfold."""
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
    n, c, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    h_out = conv_output_size(h, kh, sh, ph, dh)
    w_out = conv_output_size(w, kw, sw, pw, dw)
    xp = F.pad(x, (pw, pw, ph, ph)).contiguous()
    s0, s1, s2, s3 = xp.stride()
    windows = xp.as_strided((n, c, h_out, w_out, kh, kw), (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw))
    out = torch.einsum("nchwij,ocij->nohw", windows, weight)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class Conv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        fan_in = in_channels * kh * kw
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
