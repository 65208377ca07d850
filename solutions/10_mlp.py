"""Exercise 10 — a configurable multi-layer perceptron (MLP) and its training loop.

Write three things:

``MLP(in_dim, hidden_sizes, out_dim, activation=nn.ReLU, dropout=0.0)``
    An ``nn.Module`` mapping ``(B, in_dim)`` to ``(B, out_dim)`` raw scores (logits).
    It stacks ``len(hidden_sizes) + 1`` ``nn.Linear`` layers:
    ``in_dim -> hidden_sizes[0] -> ... -> hidden_sizes[-1] -> out_dim``.
    After every hidden Linear comes ``activation()`` (a class such as ``nn.ReLU`` or
    ``nn.Tanh``, instantiated once per hidden layer) and then ``nn.Dropout(dropout)``.
    Nothing comes after the last Linear: the output is logits, ready for
    ``nn.CrossEntropyLoss``. An empty ``hidden_sizes`` means a single
    ``nn.Linear(in_dim, out_dim)``. Dropout must be active in ``model.train()`` mode
    and switched off in ``model.eval()`` mode.

``train_step(model, optimizer, x, y, loss_fn) -> float``
    One optimisation step on the batch ``(x, y)``: clear the old gradients, forward,
    compute ``loss_fn(model(x), y)``, backward, ``optimizer.step()``. Return the loss
    as a Python float (the value before the step).

``train(model, x, y, steps, lr) -> list[float]``
    Put the model in training mode, build ``torch.optim.Adam(model.parameters(), lr=lr)``
    and ``nn.CrossEntropyLoss()``, call ``train_step`` ``steps`` times on the full batch
    ``(x, y)`` (``y`` holds class indices) and return the ``steps`` losses.
"""
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_sizes: list[int], out_dim: int,
                 activation=nn.ReLU, dropout: float = 0.0):
        # BEGIN SOLUTION
        # TODO: call super().__init__(), then build the layers from hidden_sizes (any length, even 0)
        # TODO: Linear -> activation() -> Dropout(dropout) for each hidden size, then a final Linear
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden_sizes:
            layers += [nn.Linear(d, h), activation(), nn.Dropout(dropout)]
            d = h
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_dim) -> logits (B, out_dim); no activation after the last layer."""
        # BEGIN SOLUTION
        return self.net(x)
        # END SOLUTION


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               loss_fn) -> float:
    """One step: zero the gradients, forward, loss, backward, optimizer step; return the loss as a float."""
    # BEGIN SOLUTION
    # TODO: gradients accumulate in .grad across backward() calls unless you clear them
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()
    # END SOLUTION


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> list[float]:
    """Full-batch training with Adam(lr) and CrossEntropyLoss; returns the list of `steps` losses."""
    # BEGIN SOLUTION
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    return [train_step(model, optimizer, x, y, loss_fn) for _ in range(steps)]
    # END SOLUTION
