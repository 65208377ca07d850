"""Exercise 01 — a custom nn.Module.

Write ``MyModule``: an ``nn.Module`` subclass that owns one registered
``nn.Linear(in_features, out_features)`` stored as ``self.linear`` and applies
it in ``forward``. It must work for inputs with any number of leading
dimensions (``(B, in)``, ``(B, T, in)``, ...), like ``nn.Linear`` itself.
"""
import torch
from torch import nn


class MyModule(nn.Module):
    def __init__(self, in_features: int = 10, out_features: int = 5):
        # TODO: call the parent constructor, then register an nn.Linear as self.linear
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        # TODO: apply the registered layer (no reshaping needed: nn.Linear handles leading dims)
        raise NotImplementedError("TODO: write this part")
