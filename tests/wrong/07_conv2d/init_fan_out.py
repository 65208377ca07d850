"""Wrong: the init bound from the fan-out (out_channels*kH*kW, the mode="fan_out" habit of torchvision's ResNet
init) instead of nn.Conv2d's fan-in: inside the right bound, but too narrow whenever out_channels > in_channels.
expect-message: the range is too narrow
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def _pair(v):
    """3 -> (3, 3); (2, 1) -> (2, 1)."""
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one axis: input ``size``, ``kernel`` taps, and ints for the rest."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias=None, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """x: (N, C_in, H, W), weight: (C_out, C_in, kH, kW), bias: (C_out,) or None -> (N, C_out, H_out, W_out)."""
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    out = weight.reshape(c_out, -1) @ cols                      # (N, C_out, L)
    if bias is not None:
        out = out + bias.reshape(1, c_out, 1)
    h_out = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    w_out = conv_output_size(w, kw, stride[1], padding[1], dilation[1])
    return out.reshape(n, c_out, h_out, w_out)


class Conv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        bound = 1.0 / math.sqrt(out_channels * kh * kw)          # fan_out, the torchvision ResNet habit
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> (N, out_channels, H_out, W_out)."""
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
