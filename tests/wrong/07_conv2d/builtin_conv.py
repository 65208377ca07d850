"""Wrong (the seed's answer): hands the work to the built-in F.conv2d instead of implementing it.
expect-message: called the built-in convolution
"""
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
    return F.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)


class Conv2d(nn.Conv2d):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                         bias=bias)
