"""Exercise 21 — a variational autoencoder (VAE).

Data: ``x`` of shape ``(B, in_dim)`` with values in ``[0, 1]`` (e.g. flattened images).

``VAE(in_dim, latent_dim, hidden=128)`` — an ``nn.Module`` with

* ``encode(x) -> (mu, logvar)``: the mean and the **log-variance** of q(z | x), each
  ``(B, latent_dim)`` (two output heads, or one ``Linear(hidden, 2 * latent_dim)`` split in two).
* ``reparameterize(mu, logvar) -> z``: in training mode ``z = mu + eps * exp(logvar / 2)`` with a fresh
  ``eps ~ N(0, I)`` of ``mu``'s shape, on ``mu``'s device, at every call (the gradient then reaches both
  ``mu`` and ``logvar``); in eval mode (``model.eval()``) it returns ``mu`` itself (no noise).
* ``decode(z) -> (B, in_dim)``: either **logits** (no sigmoid; the loss uses BCE with logits) or
  **probabilities** (ending in ``torch.sigmoid``; the loss uses BCE on probabilities). Your choice:
  ``vae_loss`` reads ``decode``'s output the same way.
* ``forward(x) -> (recon, mu, logvar)`` with ``recon = decode(reparameterize(mu, logvar))``.
* ``sample(n) -> (n, in_dim)``: decode ``n`` draws ``z ~ N(0, I)`` (created on the model's device) and
  return **probabilities** in ``[0, 1]`` (apply the sigmoid here if ``decode`` returns logits), without
  building an autograd graph.

``kl_divergence(mu, logvar) -> (B,)`` — the closed form of KL(N(mu, diag(exp(logvar))) || N(0, I)) for
each sample, summed over the latent dimensions: ``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))``.

``vae_loss(recon, x, mu, logvar) -> scalar`` — the negative ELBO with an explicit reduction: for each
sample, the binary cross-entropy **summed over the ``in_dim`` pixels** plus its KL; then the **mean over
the batch**. (Not ``nn.BCELoss()``'s default mean over every pixel; not a sum over the batch.)
"""
import torch
import torch.nn.functional as F
from torch import nn


class VAE(nn.Module):
    def __init__(self, in_dim: int, latent_dim: int, hidden: int = 128):
        # TODO: call super().__init__(); encoder in_dim -> hidden, then two heads: mu and logvar (latent_dim each)
        # TODO: decoder latent_dim -> hidden -> in_dim (it takes z, whose width is latent_dim)
        raise NotImplementedError("TODO: write this part")

    def encode(self, x: torch.Tensor):
        """x (B, in_dim) -> (mu, logvar), each (B, latent_dim)."""
        raise NotImplementedError("TODO: write this part")

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Training: mu + eps * exp(logvar / 2), eps ~ N(0, I) fresh and on mu's device. Eval: mu."""
        # TODO: std = exp(logvar / 2) (logvar is the log of the VARIANCE); eps = torch.randn_like(std)
        raise NotImplementedError("TODO: write this part")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> (B, in_dim) logits (this reference returns logits)."""
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor):
        """x (B, in_dim) -> (recon, mu, logvar)."""
        raise NotImplementedError("TODO: write this part")

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n draws from the prior, decoded to probabilities (n, in_dim) in [0, 1]."""
        # TODO: z ~ N(0, I) on the model's device (next(self.parameters()).device); sigmoid if decode gives logits
        raise NotImplementedError("TODO: write this part")


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample (B,), summed over the latent dimensions."""
    raise NotImplementedError("TODO: write this part")


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of (BCE summed over the pixels + KL). `recon` is what decode returns."""
    # TODO: reduction='none' (or 'sum' per sample), .sum(dim=1), add kl_divergence, .mean() over the batch
    raise NotImplementedError("TODO: write this part")
