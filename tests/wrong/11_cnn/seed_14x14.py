"""Wrong (the seed's bug): sizes the flatten as 14*14*C, but a 3x3 conv without padding plus 2x2 pooling gives 13x13.
expect-message: 26 -> 13
"""
import torch
import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.output_channels = 10
        self.conv1 = nn.Conv2d(in_channels, self.output_channels, kernel_size=3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(14 * 14 * self.output_channels, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = x.view(-1, 14 * 14 * self.output_channels)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
