"""Wrong: like the seed, always builds exactly one hidden layer (hidden_sizes[0]) and ignores the rest of the list.
expect-message: hidden_sizes
"""
import torch
from torch import nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_sizes: list[int], out_dim: int,
                 activation=nn.ReLU, dropout: float = 0.0):
        super().__init__()
        hidden_dim = hidden_sizes[0] if hidden_sizes else 64
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.act = activation()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


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
