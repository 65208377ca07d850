"""Correct alternative in the style of PyTorch Lightning: the step returns the loss tensor itself (as a
LightningModule's training_step does; here detached), and the layers are named through an OrderedDict
Sequential, as classic torchvision code (e.g. DenseNet) names its blocks. train() returns the per-step
losses as 0-dim tensors; the grader accepts any real number for a loss.
"""
from collections import OrderedDict

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_sizes: list[int], out_dim: int,
                 activation=nn.ReLU, dropout: float = 0.0):
        super().__init__()
        sizes = [in_dim, *hidden_sizes]
        blocks = OrderedDict()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            blocks[f"fc{i}"] = nn.Linear(a, b)
            blocks[f"act{i}"] = activation()
            blocks[f"drop{i}"] = nn.Dropout(p=dropout)
        blocks["out"] = nn.Linear(sizes[-1], out_dim)
        self.layers = nn.Sequential(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def train_step(model, optimizer, x, y, loss_fn):
    optimizer.zero_grad(set_to_none=True)
    logits = model(x)
    loss = loss_fn(logits, y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def train(model, x, y, steps, lr):
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        losses.append(train_step(model, optimizer, x, y, criterion))
    return losses
