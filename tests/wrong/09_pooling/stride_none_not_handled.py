"""Wrong: stride=None is passed straight to _pair, so every call that leaves stride out crashes (TypeError).
expect-message: stride=None not handled
"""
import torch
import torch.nn.functional as F


def _pair(v):
    """3 -> (3, 3); (2, 1) -> (2, 1)."""
    return (v, v) if isinstance(v, int) else tuple(v)


def _windows(x, kernel_size, stride, padding, fill):
    """(N, C, H, W) -> (N, C, kH*kW, H_out, W_out): every pooling window, padded with `fill`."""
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(stride)
    xp = F.pad(x, (pw, pw, ph, ph), value=fill)
    cols = F.unfold(xp, (kh, kw), stride=(sh, sw))              # (N, C*kH*kW, L), rows ordered (C, kH, kW)
    h_out = (h + 2 * ph - kh) // sh + 1
    w_out = (w + 2 * pw - kw) // sw + 1
    return cols.reshape(n, c, kh * kw, h_out, w_out)


def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H_out, W_out), the largest value of each window."""
    return _windows(x, kernel_size, stride, padding, float("-inf")).max(dim=2).values


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H_out, W_out), the mean of each window (zero padding counts)."""
    return _windows(x, kernel_size, stride, padding, 0.0).mean(dim=2)
