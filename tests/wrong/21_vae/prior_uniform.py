"""Wrong: sample draws z with torch.rand (uniform on [0, 1)) instead of torch.randn: not the N(0, I) prior the
VAE was trained to match, so the samples come from one corner of the latent space.
expect-message: instead of torch.randn
"""
import torch
import torch.nn.functional as F
from torch import nn


class VAE(nn.Module):
    def __init__(self, in_dim: int, latent_dim: int, hidden: int = 128):
        # TODO: call super().__init__(); encoder in_dim -> hidden, then two heads: mu and logvar (latent_dim each)
        # TODO: decoder latent_dim -> hidden -> in_dim (it takes z, whose width is latent_dim)
        super().__init__()
        self.latent_dim = latent_dim
        self.enc = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU())
        self.mu_head = nn.Linear(hidden, latent_dim)
        self.logvar_head = nn.Linear(hidden, latent_dim)
        self.dec = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, in_dim))

    def encode(self, x: torch.Tensor):
        """x (B, in_dim) -> (mu, logvar), each (B, latent_dim)."""
        h = self.enc(x)
        return self.mu_head(h), self.logvar_head(h)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Training: mu + eps * exp(logvar / 2), eps ~ N(0, I) fresh and on mu's device. Eval: mu."""
        # TODO: std = exp(logvar / 2) (logvar is the log of the VARIANCE); eps = torch.randn_like(std)
        if not self.training:
            return mu
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> (B, in_dim) logits (this reference returns logits)."""
        return self.dec(z)

    def forward(self, x: torch.Tensor):
        """x (B, in_dim) -> (recon, mu, logvar)."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n draws from the prior, decoded to probabilities (n, in_dim) in [0, 1]."""
        # TODO: z ~ N(0, I) on the model's device (next(self.parameters()).device); sigmoid if decode gives logits
        z = torch.rand(n, self.latent_dim, device=next(self.parameters()).device)
        return torch.sigmoid(self.decode(z))


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample (B,), summed over the latent dimensions."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of (BCE summed over the pixels + KL). `recon` is what decode returns."""
    # TODO: reduction='none' (or 'sum' per sample), .sum(dim=1), add kl_divergence, .mean() over the batch
    bce = F.binary_cross_entropy_with_logits(recon, x, reduction="none").sum(dim=1)
    return (bce + kl_divergence(mu, logvar)).mean()
