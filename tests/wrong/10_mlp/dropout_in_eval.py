"""Wrong: uses F.dropout(..., training=True), so dropout stays on after model.eval().
expect-message: still active in eval mode
"""
import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_sizes: list[int], out_dim: int,
                 activation=nn.ReLU, dropout: float = 0.0):
        super().__init__()
        self.p = dropout
        self.act = activation()
        dims = [in_dim, *hidden_sizes, out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.dropout(self.act(layer(x)), self.p, training=True)
        return self.layers[-1](x)


def train_step(model, optimizer, x, y, loss_fn) -> float:
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def train(model, x, y, steps, lr):
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    return [train_step(model, optimizer, x, y, loss_fn) for _ in range(steps)]
