"""Wrong: the defaults of the stub's signature are swapped, so MyModule() maps 5 features to 10 instead of 10 to 5.
expect-message: MyModule() should default to in_features=10, out_features=5
"""
import torch
from torch import nn


class MyModule(nn.Module):
    def __init__(self, in_features: int = 5, out_features: int = 10):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)
