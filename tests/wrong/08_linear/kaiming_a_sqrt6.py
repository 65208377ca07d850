"""Wrong: nn.Linear's kaiming formula with a=sqrt(6) instead of a=sqrt(5), for the weight and the bias:
the values stay inside the bound but only reach 0.926 of it (gain sqrt(2/7) instead of sqrt(1/3)).
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
        gain = nn.init.calculate_gain("leaky_relu", math.sqrt(6))
        bound = gain * math.sqrt(3 / self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        y = x.matmul(self.weight.t())
        if self.bias is not None:
            y = y + self.bias
        return y
