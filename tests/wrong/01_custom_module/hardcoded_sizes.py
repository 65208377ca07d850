"""Wrong: keeps the stub's signature but ignores its arguments, always building nn.Linear(10, 5).
expect-message: sizes hard-coded
"""
import torch
from torch import nn


class MyModule(nn.Module):
    def __init__(self, in_features: int = 10, out_features: int = 5):
        super().__init__()
        self.linear = nn.Linear(10, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)
