"""Wrong: the first Conv2d is built for 1 input channel whatever in_channels says, so SimpleCNN(3, 5) crashes on
3-channel images (the crash is about channels, not the flattened size).
expect-message: does not take in_channels input channels
"""
import torch
import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(8 * 13 * 13, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))
