"""Correct alternative: nn.ModuleList of Linear layers, functional dropout tied to self.training, zero_grad after the step."""
import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_sizes: list[int], out_dim: int,
                 activation=nn.ReLU, dropout: float = 0.0):
        super().__init__()
        self.out = nn.Linear(hidden_sizes[-1] if hidden_sizes else in_dim, out_dim)  # registered first on purpose
        dims = [in_dim, *hidden_sizes]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.acts = nn.ModuleList(activation() for _ in hidden_sizes)
        self.p = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for lin, act in zip(self.hidden, self.acts):
            x = F.dropout(act(lin(x)), self.p, training=self.training)
        return self.out(x)


def train_step(model, optimizer, x, y, loss_fn) -> float:
    model.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return float(loss.detach())


def train(model, x, y, steps, lr):
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        losses.append(train_step(model, optimizer, x, y, nn.CrossEntropyLoss()))
    return losses
