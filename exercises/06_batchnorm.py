"""Exercise 06 — BatchNorm1d from scratch.

Write ``BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True)``, an
``nn.Module`` that behaves exactly like ``nn.BatchNorm1d`` (outputs, gradients
and running statistics), without calling ``F.batch_norm`` / ``torch.batch_norm``
/ ``nn.BatchNorm1d`` (the grader forbids them while your ``forward`` runs).

Input: ``(N, C)`` or ``(N, C, L)`` with ``C == num_features``; the output has
the same shape. Statistics are per channel ``C``: over dim 0 for ``(N, C)``,
over dims 0 and 2 for ``(N, C, L)``.

* Training mode (``model.train()``): normalise with the batch mean and the
  *biased* batch variance, ``y = (x - mean) / sqrt(var + eps)``; then update,
  without tracking gradients,
  ``running = (1 - momentum) * running + momentum * batch_stat``, where
  ``running_var`` takes the *unbiased* batch variance (``n / (n - 1)`` times
  the biased one, ``n`` = values per channel), and add 1 to
  ``num_batches_tracked``.
* Eval mode (``model.eval()``): normalise with ``running_mean`` and
  ``running_var``; change nothing. Tell the modes apart by ``self.training``
  (``model.eval()`` on a model holding the layer only calls ``train(False)``
  on it, never an ``eval()`` you override).
* Keep the arguments as attributes named like ``nn.BatchNorm1d``'s:
  ``num_features``, ``eps``, ``momentum``, ``affine``.
* ``affine=True``: learnable ``weight`` (ones) and ``bias`` (zeros), shape
  ``(C,)``, applied as ``y * weight + bias``. ``affine=False``: no parameters,
  ``self.weight`` and ``self.bias`` are ``None``.
* Buffers, named like ``nn.BatchNorm1d``'s so that ``load_state_dict`` from an
  ``nn.BatchNorm1d`` works and ``.to(device)`` moves them: ``running_mean``
  (zeros, ``(C,)``), ``running_var`` (ones, ``(C,)``) and
  ``num_batches_tracked`` (a 0-dim ``torch.long`` tensor, 0).
"""
import torch
from torch import nn


class BatchNorm1d(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        # TODO: call super().__init__(); keep num_features, eps, momentum and affine as attributes
        # TODO: affine -> nn.Parameter weight (ones) and bias (zeros); else register_parameter(name, None)
        # TODO: register_buffer running_mean (zeros), running_var (ones), num_batches_tracked (long 0)
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C) or (N, C, L) -> same shape, normalised per channel C."""
        # TODO: pick the reduction dims and a broadcast shape for (C,) vectors from x.dim()
        # TODO: training: batch mean / biased var for normalising, update the buffers under no_grad
        # TODO: eval: use running_mean / running_var
        raise NotImplementedError("TODO: write this part")
