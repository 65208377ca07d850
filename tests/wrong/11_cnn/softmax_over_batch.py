"""Wrong: returns log_softmax over dim 0 (the batch) instead of the classes, so each output depends on the other samples.
expect-message: mixes samples
"""
import torch
import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, kernel_size=3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(13 * 13 * 8, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = x.flatten(1)
        x = self.fc2(F.relu(self.fc1(x)))
        return F.log_softmax(x, dim=0)
