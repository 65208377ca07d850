"""Correct alternative in the style of the PyTorch DCGAN tutorial plus CycleGAN's set_requires_grad:
D returns (B,) via .view(-1), labels via torch.full(..., device=...), netD.zero_grad(), the real and fake
halves backpropagated separately, errD = errD_real + errD_fake, D frozen during the G step and unfrozen after,
and the loss returned as a 0-dim tensor."""
import math

import torch
import torch.nn as nn

criterion = nn.BCEWithLogitsLoss()
real_label, fake_label = 1.0, 0.0


def make_noise(n, z_dim, device=None):
    return torch.randn(n, z_dim, device=device)


def set_requires_grad(nets, requires_grad=False):
    for net in nets if isinstance(nets, list) else [nets]:
        for param in net.parameters():
            param.requires_grad = requires_grad


class Generator(nn.Module):
    def __init__(self, z_dim, data_shape, hidden=128):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.main = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, hidden), nn.ReLU(True),
            nn.Linear(hidden, math.prod(self.data_shape)), nn.Tanh(),
            nn.Unflatten(1, self.data_shape),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, data_shape, hidden=128):
        super().__init__()
        self.main = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(data_shape), hidden), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, input):
        return self.main(input).view(-1)


def d_step(netD, real_cpu, fake, optimizerD):
    netD.zero_grad()
    b_size = real_cpu.size(0)
    label = torch.full((b_size,), real_label, dtype=torch.float, device=real_cpu.device)
    output = netD(real_cpu).view(-1)
    errD_real = criterion(output, label)
    errD_real.backward()
    label = torch.full((fake.size(0),), fake_label, dtype=torch.float, device=fake.device)
    output = netD(fake.detach()).view(-1)
    errD_fake = criterion(output, label)
    errD_fake.backward()
    errD = errD_real + errD_fake
    optimizerD.step()
    return errD.detach()


def g_step(netD, fake, optimizerG):
    set_requires_grad(netD, False)
    optimizerG.zero_grad()
    label = torch.full((fake.size(0),), real_label, dtype=torch.float, device=fake.device)
    output = netD(fake).view(-1)
    errG = criterion(output, label)
    errG.backward()
    optimizerG.step()
    set_requires_grad(netD, True)
    return errG.detach()
