"""Exercise 05 — saving and loading checkpoints.

Saving only ``model.state_dict()`` is enough for inference, but not to resume training: Adam keeps a
running mean and variance of every gradient (and a step count) in ``optimizer.state_dict()``, and without
them the first steps after a restart differ from an uninterrupted run.

Write three functions:

* ``save_checkpoint(path, model, optimizer, epoch)``: write ONE file with ``torch.save`` holding the dict
  ``{"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}`` (state dicts only:
  never pickle the model or optimizer objects themselves).
* ``load_checkpoint(path, model, optimizer=None, map_location="cpu") -> int``: read the file with
  ``torch.load(path, map_location=map_location, weights_only=True)``, load the model state into ``model``
  and, when ``optimizer`` is given, the optimizer state into ``optimizer``; return the saved epoch.
  ``map_location`` lets a checkpoint written on a GPU load on a machine without one (and the reverse);
  ``weights_only=True`` refuses files that would run arbitrary pickled code. Pass it explicitly: it is
  torch's default only from torch 2.6 on (torch 2.2-2.5 default to ``weights_only=False``).
* ``load_for_inference(path, model, device) -> nn.Module``: load the model state of the checkpoint at
  ``path`` into ``model`` (a freshly built instance of the right architecture), move it to ``device``,
  switch it to evaluation mode (Dropout off, BatchNorm uses its running statistics) and return it.
"""
import torch
from torch import nn


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    """Save {"model": ..., "optimizer": ..., "epoch": ...} (state dicts only) to path."""
    # TODO: one torch.save of a dict with the two state dicts and the epoch
    raise NotImplementedError("TODO: write this part")


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    map_location="cpu") -> int:
    """Restore model (and optimizer, if given) from path; return the saved epoch."""
    # TODO: torch.load with map_location and weights_only=True, then load_state_dict on each object
    raise NotImplementedError("TODO: write this part")


def load_for_inference(path, model: nn.Module, device) -> nn.Module:
    """Load the weights from path into model, move it to device, put it in eval mode, return it."""
    # TODO: load the model state (map it to the CPU or straight to device), move the model, call eval()
    raise NotImplementedError("TODO: write this part")
