"""Exercise 02 — parameters and buffers.

A module holds two kinds of tensors:

* **parameters** (``nn.Parameter``): trained by the optimizer; listed by ``parameters()``.
* **buffers** (``self.register_buffer(name, tensor)``): part of the module's state but never trained;
  listed by ``buffers()``, not by ``parameters()``. Like parameters they follow ``.to(device)`` and
  ``.double()``. A *persistent* buffer (the default) is saved in ``state_dict()``; a buffer registered
  with ``persistent=False`` is not (use it for constants rebuilt from the constructor arguments).

A plain tensor attribute (``self.t = torch.ones(3)``) is neither: it stays on the CPU when the model moves
and is never saved.

Write two things:

1. ``SmoothedLinear(in_features, out_features, max_len=32)``, an ``nn.Module`` with

   * ``self.linear = nn.Linear(in_features, out_features)`` — its **only** parameters;
   * persistent buffers ``mean`` and ``std``, shape ``(in_features,)``, starting as zeros and ones
     (input statistics: model state that must be saved with the weights);
   * a non-persistent buffer ``causal_avg``, shape ``(max_len, max_len)``, with row ``t`` equal to
     ``1 / (t + 1)`` in columns ``0..t`` and ``0`` after, i.e.
     ``torch.tril(torch.ones(max_len, max_len)) / torch.arange(1, max_len + 1)[:, None]``;
   * ``fit_stats(x)``: ``x`` is ``(..., in_features)``; set ``mean`` and ``std`` to the per-feature
     ``x.mean`` and ``x.std`` (torch's default, unbiased) over all leading dimensions, without
     recording any gradient; returns nothing;
   * ``forward(x)``: ``x`` is ``(B, T, in_features)`` with ``T <= max_len``; returns
     ``(B, T, out_features)``::

         z = (x - mean) / std                 # standardize each feature
         z = causal_avg[:T, :T] @ z           # step t becomes the mean of steps 0..t
         return linear(z)

2. ``count_trainable(model) -> int``: the number of trainable scalars of any ``nn.Module``: elements of
   the parameters with ``requires_grad=True``; a parameter shared by two layers counts once; buffers
   never count.
"""
import torch
from torch import nn


class SmoothedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, max_len: int = 32):
        # BEGIN SOLUTION
        # TODO: call super().__init__() and create self.linear (the only parameters)
        # TODO: register the persistent buffers `mean` (zeros) and `std` (ones), shape (in_features,)
        # TODO: register the non-persistent buffer `causal_avg` (max_len, max_len) described above
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))
        steps = torch.arange(1, max_len + 1, dtype=torch.float32)
        self.register_buffer("causal_avg", torch.tril(torch.ones(max_len, max_len)) / steps[:, None],
                             persistent=False)
        # END SOLUTION

    def fit_stats(self, x: torch.Tensor) -> None:
        """Set the `mean` and `std` buffers from x (..., in_features), in place."""
        # BEGIN SOLUTION
        # TODO: flatten the leading dims, then copy the per-feature mean and std into the buffers
        # TODO: (inside torch.no_grad(): statistics are not trained)
        with torch.no_grad():
            flat = x.reshape(-1, x.shape[-1])
            self.mean.copy_(flat.mean(dim=0))
            self.std.copy_(flat.std(dim=0))
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, in_features), T <= max_len -> (B, T, out_features)."""
        # BEGIN SOLUTION
        # TODO: standardize with the buffers, average causally with causal_avg[:T, :T], apply self.linear
        t = x.shape[-2]
        z = (x - self.mean) / self.std
        z = self.causal_avg[:t, :t] @ z
        return self.linear(z)
        # END SOLUTION


def count_trainable(model: nn.Module) -> int:
    """Number of elements in the parameters that require grad (shared ones once, buffers never)."""
    # BEGIN SOLUTION
    # TODO: count the elements of the parameters that require grad (never buffers; shared ones once)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    # END SOLUTION
