"""Correct alternative in the style of eriklindernoren/PyTorch-GAN (implementations/gan/gan.py):
`block()` helpers with BatchNorm1d(out, 0.8), sizes from int(np.prod(img_shape)), img.view(B, *img_shape),
a module-level BCEWithLogitsLoss, labels from Tensor.new_ones / new_zeros, and d_loss = (real + fake) / 2."""
import numpy as np
import torch
import torch.nn as nn

adversarial_loss = nn.BCEWithLogitsLoss()


def make_noise(n, z_dim, device=None):
    return torch.normal(0.0, 1.0, size=(n, z_dim), device=device)


class Generator(nn.Module):
    def __init__(self, z_dim, data_shape, hidden=128):
        super(Generator, self).__init__()
        self.img_shape = data_shape

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(z_dim, hidden, normalize=False),
            *block(hidden, 2 * hidden),
            nn.Linear(2 * hidden, int(np.prod(data_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, data_shape, hidden=128):
        super(Discriminator, self).__init__()
        self.model = nn.Sequential(
            nn.Linear(int(np.prod(data_shape)), 2 * hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(2 * hidden, hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        return self.model(img_flat)


def d_step(D, real, fake, opt_d):
    valid = real.new_ones(real.size(0), 1)
    fake_label = real.new_zeros(real.size(0), 1)
    opt_d.zero_grad()
    real_loss = adversarial_loss(D(real), valid)
    fake_loss = adversarial_loss(D(fake.detach()), fake_label)
    d_loss = (real_loss + fake_loss) / 2
    d_loss.backward()
    opt_d.step()
    return d_loss.item()


def g_step(D, fake, opt_g):
    valid = fake.new_ones(fake.size(0), 1)
    opt_g.zero_grad()
    g_loss = adversarial_loss(D(fake), valid)
    g_loss.backward()
    opt_g.step()
    return g_loss.item()
