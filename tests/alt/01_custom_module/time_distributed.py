"""Correct alternative in the style of the PyTorch-forum `TimeDistributed` wrapper (a port of Keras's
TimeDistributed): fold every leading dimension into one batch dimension, apply the layer, unfold again.
The layer is registered with add_module (the spelling nn.Module's own containers use).
"""
import torch
from torch import nn


class MyModule(nn.Module):
    def __init__(self, in_features: int = 10, out_features: int = 5):
        super(MyModule, self).__init__()
        self.add_module("linear", nn.Linear(in_features=in_features, out_features=out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_reshape = x.contiguous().view(-1, x.size(-1))  # (samples * timesteps ..., input_size)
        y = self.linear(x_reshape)
        return y.contiguous().view(*x.shape[:-1], y.size(-1))
