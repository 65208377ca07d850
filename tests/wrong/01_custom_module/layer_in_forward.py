"""Wrong: creates a fresh nn.Linear inside forward, so every call uses new random weights.
expect-message: inside forward
"""
import torch
from torch import nn


class MyModule(nn.Module):
    def __init__(self, in_features: int = 10, out_features: int = 5):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.Linear(x.shape[-1], self.linear.out_features)(x)
