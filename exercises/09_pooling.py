"""Exercise 09 — max and average pooling from scratch.

Implement the two pooling functions yourself, with ``F.unfold`` (or other tensor ops such
as ``F.pad``, ``Tensor.unfold``, ``amax``, ``mean``). You may NOT use ``F.max_pool2d``,
``F.avg_pool2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` or any other built-in pooling: the
grader makes them raise while your code runs.

API (``kernel_size``, ``stride`` and ``padding`` are an int or an ``(h, w)`` pair;
``x`` is ``(N, C, H, W)``; each channel is pooled on its own):

* ``max_pool2d(x, kernel_size, stride=None, padding=0)`` -> ``(N, C, H_out, W_out)``, the
  same numbers and the same gradient as ``F.max_pool2d``: the gradient of each window goes
  to its largest element only. Padding never wins the max: pad with ``-inf``, not 0.
* ``avg_pool2d(x, kernel_size, stride=None, padding=0)`` -> ``(N, C, H_out, W_out)``, like
  ``F.avg_pool2d`` with its defaults: zero padding that *counts* in the average
  (``count_include_pad=True``), so every window is divided by ``kH * kW``.

In both, ``stride=None`` means ``stride = kernel_size`` (non-overlapping windows), and
``H_out = (H + 2*padding - kH) // stride + 1`` (windows that do not fit are dropped).
"""
import torch
import torch.nn.functional as F


def _pair(v):
    """3 -> (3, 3); (2, 1) -> (2, 1)."""
    return (v, v) if isinstance(v, int) else tuple(v)


def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H_out, W_out), the largest value of each window."""
    # TODO: stride=None means stride = kernel_size; pad with -inf so that padding never wins
    # TODO: cut the windows out (F.unfold gives (N, C*kH*kW, L)), take the max over each window
    raise NotImplementedError("TODO: write this part")


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H_out, W_out), the mean of each window (zero padding counts)."""
    # TODO: stride=None means stride = kernel_size; zero padding, and divide every window by kH*kW
    raise NotImplementedError("TODO: write this part")
