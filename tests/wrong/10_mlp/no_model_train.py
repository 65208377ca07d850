"""Wrong: train() never calls model.train(), so a model left in eval mode by an earlier evaluation trains with
dropout off (and, in a model with BatchNorm, frozen running statistics).
expect-message: ran a model that arrived in eval mode

Every check on a freshly built MLP passes (a new module starts in training mode); the bug shows only when
train() gets a model that was evaluated first.
"""
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_sizes: list[int], out_dim: int,
                 activation=nn.ReLU, dropout: float = 0.0):
        super().__init__()
        layers = []
        d = in_dim
        for h in hidden_sizes:
            layers += [nn.Linear(d, h), activation(), nn.Dropout(dropout)]
            d = h
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train_step(model, optimizer, x, y, loss_fn) -> float:
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def train(model, x, y, steps, lr):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    return [train_step(model, optimizer, x, y, loss_fn) for _ in range(steps)]
