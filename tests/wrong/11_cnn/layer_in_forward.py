"""Wrong: the last Linear is created in forward (sized from the flattened input), so it is re-drawn on every call
and the optimizer, built before the first forward, never trains it.
expect-message: appeared only after the optimizer was built
"""
import torch
import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_channels, 8, kernel_size=3)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x))).flatten(1)
        self.fc = nn.Linear(x.shape[1], self.num_classes)  # no size to work out ... but a new layer every call
        return self.fc(x)
