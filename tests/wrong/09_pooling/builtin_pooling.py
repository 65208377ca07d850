"""Wrong (the seed's answer): builds nn.MaxPool2d / nn.AvgPool2d instead of implementing pooling.
expect-message: called the built-in pooling
"""
import torch
from torch import nn


def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    return nn.MaxPool2d(kernel_size, stride, padding)(x)


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    return nn.AvgPool2d(kernel_size, stride, padding)(x)
