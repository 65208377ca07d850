"""Wrong: count_trainable counts every parameter, frozen ones (requires_grad=False) included.
expect-message: frozen parameters (requires_grad=False)
"""
import torch
from torch import nn


class SmoothedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, max_len: int = 32):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))
        steps = torch.arange(1, max_len + 1, dtype=torch.float32)
        self.register_buffer("causal_avg", torch.tril(torch.ones(max_len, max_len)) / steps[:, None],
                             persistent=False)

    def fit_stats(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            flat = x.reshape(-1, x.shape[-1])
            self.mean.copy_(flat.mean(dim=0))
            self.std.copy_(flat.std(dim=0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-2]
        z = (x - self.mean) / self.std
        return self.linear(self.causal_avg[:t, :t] @ z)


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
