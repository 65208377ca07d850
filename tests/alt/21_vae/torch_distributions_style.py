"""Correct alternative written with torch.distributions: one Linear(hidden, 2 * latent) head split with chunk,
q = Normal(mu, scale) with rsample(), the KL from torch.distributions.kl_divergence, logits out of the decoder,
SiLU activations, and the prior built on the parameters' device for sampling."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence as kl


class VAE(nn.Module):
    def __init__(self, in_dim, latent_dim, hidden=128):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, in_dim))

    def encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def reparameterize(self, mu, logvar):
        if not self.training:
            return mu
        return Normal(mu, (0.5 * logvar).exp()).rsample()

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    @torch.inference_mode()
    def sample(self, n):
        p = next(self.parameters())
        prior = Normal(torch.zeros(self.latent_dim, device=p.device), torch.ones(self.latent_dim, device=p.device))
        return self.decode(prior.sample((n,))).sigmoid()


def kl_divergence(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    return kl(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def vae_loss(recon, x, mu, logvar):
    rec = F.binary_cross_entropy_with_logits(recon, x, reduction="sum") / x.shape[0]
    return rec + kl_divergence(mu, logvar).mean()
