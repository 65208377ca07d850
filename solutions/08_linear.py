"""Exercise 08 — Linear (fully connected) layer from scratch.

Write ``Linear(in_features, out_features, bias=True)``, an ``nn.Module`` that
computes ``y = x @ weight.T + bias`` exactly like ``nn.Linear``, without calling
``F.linear`` or ``nn.Linear`` (the grader forbids them while your ``forward`` runs).

* ``self.in_features``, ``self.out_features``: the constructor arguments, kept as
  attributes like ``nn.Linear``'s.
* ``self.weight``: an ``nn.Parameter`` of shape ``(out_features, in_features)``
  (the same layout as ``nn.Linear``, so ``load_state_dict`` from an ``nn.Linear``
  works).
* ``self.bias``: an ``nn.Parameter`` of shape ``(out_features,)``; with
  ``bias=False`` there is no bias parameter and ``self.bias is None``.
* Initialisation as ``nn.Linear``: ``kaiming_uniform_(weight, a=sqrt(5))``,
  i.e. weight ~ U(-1/sqrt(in_features), 1/sqrt(in_features)), and bias ~ the
  same U(-1/sqrt(in_features), 1/sqrt(in_features)). The grader draws many values
  and checks they reach the bound, never pass it, and spread like that uniform:
  another gain (``a=sqrt(6)``), a zero bias or a truncated normal loses the points.
* ``forward(x)``: ``x`` of shape ``(..., in_features)`` with any number of
  leading dimensions (also none: ``(in_features,)``) -> ``(..., out_features)``.
"""
import math

import torch
from torch import nn


class Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        # BEGIN SOLUTION
        # TODO: call super().__init__(); keep in_features and out_features as attributes
        # TODO: weight: nn.Parameter of shape (out_features, in_features)
        # TODO: bias: nn.Parameter of shape (out_features,), or self.register_parameter("bias", None)
        # TODO: initialise both like nn.Linear (see reset_parameters)
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        # END SOLUTION

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation: weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        # BEGIN SOLUTION
        # TODO: nn.init.kaiming_uniform_(weight, a=math.sqrt(5)) gives the weight bound 1/sqrt(in_features)
        # TODO: the bias uses the same bound (nn.init.uniform_)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        # BEGIN SOLUTION
        # TODO: x @ weight.T works for any number of leading dims; add the bias if there is one
        y = x.matmul(self.weight.t())
        if self.bias is not None:
            y = y + self.bias
        return y
        # END SOLUTION
