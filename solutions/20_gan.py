"""Exercise 20 — a GAN: generator, discriminator (logits) and the two training steps.

``make_noise(n, z_dim, device=None)`` — standard normal noise of shape ``(n, z_dim)`` created on
``device`` (a flat vector per sample: these networks are MLPs, not DCGAN's ``(n, z_dim, 1, 1)``).

``Generator(z_dim, data_shape, hidden=128)`` — an ``nn.Module`` (an MLP is enough) whose
``forward(z)`` maps ``z`` ``(B, z_dim)`` to samples ``(B, *data_shape)`` in ``[-1, 1]`` (end with
``nn.Tanh()``; reshape the flat output to ``data_shape``). ``data_shape`` is a tuple such as
``(2,)`` (points in the plane) or ``(1, 28, 28)`` (images).

``Discriminator(data_shape, hidden=128)`` — an ``nn.Module`` whose ``forward(x)`` maps
``x`` ``(B, *data_shape)`` (e.g. a generator's output) to **logits** ``(B, 1)``: no sigmoid at the
end; the loss applies it (``BCEWithLogitsLoss`` is exact where ``log(sigmoid(x))`` overflows).

``d_step(D, real, fake, opt_d) -> float`` — one discriminator update. ``fake`` is ``G(z)`` as the
caller made it (it still carries the generator's graph, and the caller passes the same tensor to
``g_step`` afterwards). Clear the discriminator's gradients (the G step left some on it), compute
``BCEWithLogits(D(real), 1) + BCEWithLogits(D(fake.detach()), 0)`` (each a mean over the batch;
their average is accepted too), backpropagate, ``opt_d.step()``; return the loss as a float. The
generator must get no gradient here.

``g_step(D, fake, opt_g) -> float`` — one generator update with the non-saturating loss
``BCEWithLogits(D(fake), 1)`` (mean over the batch) on a fresh pass through the (just updated)
discriminator: clear the generator's gradients, backpropagate into the generator through ``fake``,
``opt_g.step()``; return the loss as a float. The discriminator must not change (``opt_g`` holds
only the generator's parameters; the discriminator's parameters stay trainable).

A training iteration (what the grader runs)::

    fake = G(make_noise(B, z_dim, device))
    d_loss = d_step(D, real, fake, opt_d)
    g_loss = g_step(D, fake, opt_g)
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def make_noise(n: int, z_dim: int, device=None) -> torch.Tensor:
    """(n, z_dim) samples of N(0, I) on `device`."""
    # BEGIN SOLUTION
    return torch.randn(n, z_dim, device=device)
    # END SOLUTION


class Generator(nn.Module):
    def __init__(self, z_dim: int, data_shape: tuple, hidden: int = 128):
        """z (B, z_dim) -> samples (B, *data_shape) in [-1, 1]."""
        # BEGIN SOLUTION
        # TODO: call super().__init__(); an MLP z_dim -> hidden -> ... -> prod(data_shape), ending in nn.Tanh()
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, math.prod(self.data_shape)), nn.Tanh(),
        )
        # END SOLUTION

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        # TODO: run the MLP on the flat noise, then reshape to (B, *data_shape)
        return self.net(z).view(z.shape[0], *self.data_shape)
        # END SOLUTION


class Discriminator(nn.Module):
    def __init__(self, data_shape: tuple, hidden: int = 128):
        """x (B, *data_shape) -> logits (B, 1) (no sigmoid)."""
        # BEGIN SOLUTION
        # TODO: call super().__init__(); flatten, then an MLP prod(data_shape) -> hidden -> ... -> 1 (no sigmoid)
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(data_shape), hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        return self.net(x)
        # END SOLUTION


def d_step(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, opt_d: torch.optim.Optimizer) -> float:
    """One discriminator update on real (label 1) and fake.detach() (label 0); returns the loss."""
    # BEGIN SOLUTION
    # TODO: zero the discriminator's gradients first (the G step left some on it)
    # TODO: detach fake, so that this loss never reaches (or frees) the generator's graph
    # TODO: BCE with logits: real -> ones_like, fake -> zeros_like; backward; opt_d.step()
    opt_d.zero_grad()
    real_logits = D(real)
    fake_logits = D(fake.detach())
    loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    loss.backward()
    opt_d.step()
    return loss.item()
    # END SOLUTION


def g_step(D: nn.Module, fake: torch.Tensor, opt_g: torch.optim.Optimizer) -> float:
    """One generator update with the non-saturating loss BCE-with-logits(D(fake), 1); returns the loss."""
    # BEGIN SOLUTION
    # TODO: zero the generator's gradients; a fresh D(fake) (no detach: the gradient must reach G)
    # TODO: the non-saturating loss labels the fakes as real (ones_like); backward; opt_g.step()
    opt_g.zero_grad()
    logits = D(fake)
    loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    loss.backward()
    opt_g.step()
    return loss.item()
    # END SOLUTION
