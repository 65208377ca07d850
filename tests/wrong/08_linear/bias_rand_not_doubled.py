"""Wrong: the bias drawn as (torch.rand(n) - 0.5) * bound, which forgets the factor 2: U(-bound/2, bound/2).
expect-message: the range is too narrow
"""
import math

import torch
from torch import nn


class Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation: weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            self.bias.data = (torch.rand(self.out_features) - 0.5) * bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        y = x.matmul(self.weight.t())
        if self.bias is not None:
            y = y + self.bias
        return y
