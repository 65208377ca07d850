"""Wrong: d_step returns the loss tensor (with the discriminator's graph) instead of loss.item().
expect-message: still attached to the autograd graph
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def make_noise(n: int, z_dim: int, device=None) -> torch.Tensor:
    """(n, z_dim) samples of N(0, I) on `device`."""
    return torch.randn(n, z_dim, device=device)


class Generator(nn.Module):
    def __init__(self, z_dim: int, data_shape: tuple, hidden: int = 128):
        """z (B, z_dim) -> samples (B, *data_shape) in [-1, 1]."""
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, math.prod(self.data_shape)), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


class Discriminator(nn.Module):
    def __init__(self, data_shape: tuple, hidden: int = 128):
        """x (B, *data_shape) -> logits (B, 1) (no sigmoid)."""
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(data_shape), hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def d_step(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, opt_d: torch.optim.Optimizer) -> float:
    """One discriminator update on real (label 1) and fake.detach() (label 0); returns the loss."""
    opt_d.zero_grad()
    real_logits = D(real)
    fake_logits = D(fake.detach())
    loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    loss.backward()
    opt_d.step()
    return loss


def g_step(D: nn.Module, fake: torch.Tensor, opt_g: torch.optim.Optimizer) -> float:
    """One generator update with the non-saturating loss BCE-with-logits(D(fake), 1); returns the loss."""
    opt_g.zero_grad()
    logits = D(fake)
    loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    loss.backward()
    opt_g.step()
    return loss.item()
