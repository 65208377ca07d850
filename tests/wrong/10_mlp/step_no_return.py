"""Wrong: train_step does the update but never returns the loss, so train() collects a list of None.
expect-message: missing `return`
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


def train(model, x, y, steps, lr):
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    return [train_step(model, optimizer, x, y, loss_fn) for _ in range(steps)]
