"""Wrong: a truncated normal inside the bound (the ViT/timm habit, trunc_normal_) instead of nn.Linear's uniform:
never beyond the bound, but not spread like U(-1/sqrt(in), 1/sqrt(in)).
expect-message: not spread uniformly
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
        bound = 1 / math.sqrt(self.in_features)
        nn.init.trunc_normal_(self.weight, std=bound, a=-bound, b=bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        y = x.matmul(self.weight.t())
        if self.bias is not None:
            y = y + self.bias
        return y
