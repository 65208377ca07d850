"""Exercise 07 — Conv2d from scratch (im2col with ``F.unfold``).

Implement a 2-D convolution yourself, the way real libraries lower it to a matrix
multiply ("im2col"), and a module around it. You may use ``F.unfold`` (it cuts the
sliding patches out for you), ``F.pad``, matmul/einsum and reshapes. You may NOT use
``F.conv2d``, ``torch.conv2d``, ``torch.convolution`` or ``nn.Conv2d``: the grader
makes them raise while your code runs.

API (``stride``, ``padding`` and ``dilation`` are an int or an ``(h, w)`` pair):

* ``conv_output_size(size, kernel, stride=1, padding=0, dilation=1) -> int``:
  the output length along one spatial axis, as ``F.conv2d`` computes it.
* ``conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1)``:
  ``x`` is ``(N, C_in, H, W)``, ``weight`` is ``(C_out, C_in, kH, kW)``, ``bias`` is
  ``(C_out,)`` or ``None``; returns ``(N, C_out, H_out, W_out)`` with the same numbers,
  and the same gradients for ``x``, ``weight`` and ``bias``, as ``F.conv2d``.
  No Python loops over pixels: the grader counts the torch operations it runs on a
  small and on a larger image (the count must not grow with the image; a loop over
  the kernel taps, channels or batch is fine) and runs it on a realistic image batch
  under a time limit.
* ``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
  bias=True)``: an ``nn.Module`` that registers ``weight`` ``(out, in, kH, kW)`` and
  ``bias`` ``(out,)`` as parameters (``bias`` registered as ``None`` when
  ``bias=False``), initialises them like ``nn.Conv2d`` (uniform in
  ``±1/sqrt(in*kH*kW)``) and calls your ``conv2d`` in ``forward``.
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
    # BEGIN SOLUTION
    # TODO: a dilated kernel spans dilation * (kernel - 1) + 1 input pixels
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    # END SOLUTION


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias=None, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """x: (N, C_in, H, W), weight: (C_out, C_in, kH, kW), bias: (C_out,) or None -> (N, C_out, H_out, W_out)."""
    # BEGIN SOLUTION
    # TODO: cols = F.unfold(...) gives (N, C_in*kH*kW, L): one column per output pixel
    # TODO: multiply by the weight flattened to (C_out, C_in*kH*kW), add the bias, reshape L to (H_out, W_out)
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
    # END SOLUTION


class Conv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True):
        super().__init__()
        # BEGIN SOLUTION
        # TODO: register self.weight (out, in, kH, kW) and self.bias (out,) as nn.Parameter,
        # TODO: or self.register_parameter("bias", None) when bias=False; keep stride/padding/dilation
        # TODO: initialise both uniformly in +-1/sqrt(in_channels*kH*kW), like nn.Conv2d
        kh, kw = _pair(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        bound = 1.0 / math.sqrt(in_channels * kh * kw)           # nn.Conv2d's default init range
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> (N, out_channels, H_out, W_out)."""
        # BEGIN SOLUTION
        # TODO: call your conv2d with the registered parameters
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        # END SOLUTION
