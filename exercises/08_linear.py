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
        # TODO: call super().__init__(); keep in_features and out_features as attributes
        # TODO: weight: nn.Parameter of shape (out_features, in_features)
        # TODO: bias: nn.Parameter of shape (out_features,), or self.register_parameter("bias", None)
        # TODO: initialise both like nn.Linear (see reset_parameters)
        raise NotImplementedError("TODO: write this part")

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation: weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        # TODO: nn.init.kaiming_uniform_(weight, a=math.sqrt(5)) gives the weight bound 1/sqrt(in_features)
        # TODO: the bias uses the same bound (nn.init.uniform_)
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        # TODO: x @ weight.T works for any number of leading dims; add the bias if there is one
        raise NotImplementedError("TODO: write this part")
