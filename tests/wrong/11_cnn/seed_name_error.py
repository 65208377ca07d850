"""Wrong (the seed's bug): forward uses the constructor argument `channels` as a bare name -> NameError.
expect-message: constructor argument
"""
import torch
import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, channels: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(13 * 13 * channels, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = x.view(-1, 13 * 13 * channels)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
