"""Correct alternative: assigns new tensors to the registered buffers, einsum for the average, id-based count."""
import torch
import torch.nn.functional as F
from torch import nn


class SmoothedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, max_len: int = 32):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("mean", torch.zeros(in_features), persistent=True)
        self.register_buffer("std", torch.ones(in_features), persistent=True)
        rows = torch.arange(max_len)
        avg = (rows[None, :] <= rows[:, None]).float() / (rows + 1).float().unsqueeze(1)
        self.register_buffer("causal_avg", avg, persistent=False)

    @torch.no_grad()
    def fit_stats(self, x: torch.Tensor) -> None:
        std, mean = torch.std_mean(x.flatten(0, -2), dim=0)
        self.mean = mean  # assigning a tensor to a registered buffer name keeps it a buffer
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.size(1)
        z = (x - self.mean) / self.std
        z = torch.einsum("ts,bsf->btf", self.causal_avg[:t, :t], z)
        return F.linear(z, self.linear.weight, self.linear.bias)


def count_trainable(model: nn.Module) -> int:
    seen = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        if p.requires_grad:
            seen[id(p)] = p.numel()
    return sum(seen.values())
