"""Correct alternative: the classic LeNet-5 written the d2l way (Dive into Deep Learning, 6.6 "LeNet").

Sigmoid activations and average pooling, as in LeCun et al. (1998) and the textbook: a padded 5x5 conv keeps
28x28, AvgPool2d(2) halves it to 14, a second 5x5 conv takes it to 10 and pooling to 5, then three dense layers
(120 -> 84 -> classes). Sigmoid networks learn more slowly than ReLU ones, but they learn.
"""
import torch
from torch import nn


class SimpleCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
