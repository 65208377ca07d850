"""Wrong: flattens the input with view(-1, in_features), so extra leading dims are lost.
expect-message: view(-1
"""
import torch
from torch import nn


class MyModule(nn.Module):
    def __init__(self, in_features: int = 10, out_features: int = 5):
        super().__init__()
        self.in_features = in_features
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.view(-1, self.in_features))
