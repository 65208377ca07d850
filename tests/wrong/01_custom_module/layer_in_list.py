"""Wrong: the layer is kept in a plain Python list, so it is never registered.
expect-message: registered
"""
import torch
from torch import nn


class MyModule(nn.Module):
    def __init__(self, in_features: int = 10, out_features: int = 5):
        super().__init__()
        self.layers = [nn.Linear(in_features, out_features)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[0](x)
