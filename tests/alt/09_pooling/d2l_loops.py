"""Correct alternative: d2l's ``pool2d`` (Dive into Deep Learning, 7.5 "Pooling"), which loops over the output
positions and writes each window's max or mean into a preallocated ``Y``, extended to batches, channels, stride
and padding (-inf padding for the max, zero padding for the mean). ``Y`` is created on ``X``'s device.
"""
import torch
import torch.nn.functional as F


def _pair(v):
    """3 -> (3, 3); (2, 1) -> (2, 1)."""
    return (v, v) if isinstance(v, int) else tuple(v)


def pool2d(X, pool_size, stride, padding, mode='max'):
    p_h, p_w = pool_size
    s_h, s_w = stride
    X = F.pad(X, (padding[1], padding[1], padding[0], padding[0]),
              value=float('-inf') if mode == 'max' else 0.0)
    Y = torch.zeros((X.shape[0], X.shape[1], (X.shape[2] - p_h) // s_h + 1, (X.shape[3] - p_w) // s_w + 1),
                    dtype=X.dtype, device=X.device)
    for i in range(Y.shape[2]):
        for j in range(Y.shape[3]):
            window = X[:, :, i * s_h: i * s_h + p_h, j * s_w: j * s_w + p_w]
            if mode == 'max':
                Y[:, :, i, j] = window.amax(dim=(2, 3))
            elif mode == 'avg':
                Y[:, :, i, j] = window.mean(dim=(2, 3))
    return Y


def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H_out, W_out), the largest value of each window."""
    return pool2d(x, _pair(kernel_size), _pair(kernel_size if stride is None else stride), _pair(padding), 'max')


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H_out, W_out), the mean of each window (zero padding counts)."""
    return pool2d(x, _pair(kernel_size), _pair(kernel_size if stride is None else stride), _pair(padding), 'avg')
