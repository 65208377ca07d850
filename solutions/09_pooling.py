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


# BEGIN SOLUTION
def _windows(x, kernel_size, stride, padding, fill):
    """(N, C, H, W) -> (N, C, kH*kW, H_out, W_out): every pooling window, padded with `fill`."""
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    xp = F.pad(x, (pw, pw, ph, ph), value=fill)
    cols = F.unfold(xp, (kh, kw), stride=(sh, sw))              # (N, C*kH*kW, L), rows ordered (C, kH, kW)
    h_out = (h + 2 * ph - kh) // sh + 1
    w_out = (w + 2 * pw - kw) // sw + 1
    return cols.reshape(n, c, kh * kw, h_out, w_out)


# END SOLUTION
def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H_out, W_out), the largest value of each window."""
    # BEGIN SOLUTION
    # TODO: stride=None means stride = kernel_size; pad with -inf so that padding never wins
    # TODO: cut the windows out (F.unfold gives (N, C*kH*kW, L)), take the max over each window
    return _windows(x, kernel_size, stride, padding, float("-inf")).max(dim=2).values
    # END SOLUTION


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H_out, W_out), the mean of each window (zero padding counts)."""
    # BEGIN SOLUTION
    # TODO: stride=None means stride = kernel_size; zero padding, and divide every window by kH*kW
    return _windows(x, kernel_size, stride, padding, 0.0).mean(dim=2)
    # END SOLUTION
