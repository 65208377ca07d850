"""Exercise 29 — image classification with torchvision: transforms, a small CNN, train and evaluate loops.

``make_transforms(mean, std, size) -> (train_transform, eval_transform)`` — two
``torchvision.transforms.v2`` pipelines. Each takes one uint8 image tensor ``(3, size, size)``
(values 0..255) and returns a float32 tensor ``(3, size, size)``.

* ``eval_transform`` is deterministic: scale to [0, 1] (``v2.ToDtype(torch.float32, scale=True)``)
  and normalise per channel with ``mean`` and ``std`` (sequences of 3 floats), i.e. exactly
  ``(x / 255 - mean) / std``. No augmentation.
* ``train_transform`` first applies random augmentation that keeps the size (e.g.
  ``v2.RandomCrop(size, padding=4)`` and ``v2.RandomHorizontalFlip()``), then the same scaling and
  normalisation, so its values stay in ``[(0 - mean) / std, (1 - mean) / std]`` per channel.

``SmallCNN(in_channels=3, num_classes=10)`` — an ``nn.Module`` mapping ``(B, in_channels, H, W)``
to logits ``(B, num_classes)`` for any ``H, W >= 28``: convolutions with ``nn.BatchNorm2d``, and an
adaptive pooling layer (``nn.AdaptiveAvgPool2d``) before the classifier, so the flattened size never
depends on the input size. Any reasonable architecture is accepted.

``train_one_epoch(model, loader, optimizer, device) -> float`` — one pass over ``loader`` (it yields
CPU batches ``(images, labels)``): ``model.train()``; for each batch move images and labels to
``device``, ``optimizer.zero_grad()``, ``F.cross_entropy(model(images), labels)``, ``backward()``,
``optimizer.step()``. Return the mean of the batch losses (a Python float).

``evaluate(model, loader, device) -> float`` — ``model.eval()`` and ``torch.no_grad()``; the
accuracy over the whole loader: (number of correct argmax predictions) / (number of samples), a float
in [0, 1] (the last batch may be smaller: do not average per-batch accuracies).

``fit(model, loader, epochs, lr, device) -> list`` — move the model to ``device``, build
``torch.optim.Adam(model.parameters(), lr=lr)``, call ``train_one_epoch`` ``epochs`` times and return
the list of its results (one mean loss per epoch).
"""
import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision.transforms import v2


def make_transforms(mean, std, size):
    """(train_transform, eval_transform): uint8 (3, size, size) -> float32 (3, size, size), normalised."""
    # TODO: v2.ToDtype(torch.float32, scale=True) then v2.Normalize(mean, std); random crop / flip only in train
    raise NotImplementedError("TODO: write this part")


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        # TODO: Conv2d -> BatchNorm2d -> ReLU blocks, nn.AdaptiveAvgPool2d, then a Linear to num_classes
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W) -> logits (B, num_classes)."""
        raise NotImplementedError("TODO: write this part")


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, device) -> float:
    """One epoch in train mode, each batch moved to device; the mean batch loss."""
    # TODO: model.train(); images, labels = images.to(device), labels.to(device)
    raise NotImplementedError("TODO: write this part")


def evaluate(model: nn.Module, loader, device) -> float:
    """Accuracy over the loader in eval mode without autograd: correct / samples."""
    # TODO: model.eval() and torch.no_grad(); count correct predictions and samples
    raise NotImplementedError("TODO: write this part")


def fit(model: nn.Module, loader, epochs: int, lr: float, device) -> list:
    """Model to device, Adam(lr), train_one_epoch `epochs` times; the per-epoch mean losses."""
    raise NotImplementedError("TODO: write this part")
