"""Exercise 03 — partial fine-tuning of a pretrained ResNet.

You get a "pretrained" ``torchvision.models.resnet18`` (the grader makes its weights and
BatchNorm statistics itself; nothing is downloaded). Build a classifier that reuses it:

``FineTuner(backbone, num_classes)`` — an ``nn.Module`` with

* ``self.backbone``: every layer of the given ResNet except its final ``fc``
  (conv1, bn1, relu, maxpool, layer1..layer4, avgpool). Reuse the given modules
  themselves (no ``copy.deepcopy``, no fresh ``resnet18()``): they hold the pretrained weights.
  Note: a ResNet has no ``.features`` attribute (that is VGG/AlexNet).
* ``self.head``: a new ``nn.Linear(512, num_classes)``.
* ``forward(x)``: ``x`` of shape ``(B, 3, H, W)`` (any H, W >= 32) -> logits ``(B, num_classes)``.
* The backbone is frozen: its parameters have ``requires_grad=False`` **and** its
  BatchNorm layers keep their running statistics (``running_mean``, ``running_var``,
  ``num_batches_tracked``) even after ``model.train()``; override ``train(mode=True)`` so
  the backbone stays in eval mode (return ``self``, like ``nn.Module.train``).

``make_optimizer(model, lr)`` — a ``torch.optim.Adam`` over the trainable parameters only
(those with ``requires_grad=True``; for a fresh ``FineTuner`` that is the head).

``unfreeze_last_block(model, head_lr, block_lr)`` — make the parameters of the backbone's
last block (``layer4``) trainable, keep everything before it frozen, and return a
``torch.optim.Adam`` with two parameter groups: the head at ``head_lr`` and ``layer4`` at
the smaller ``block_lr``. (layer4's BatchNorm layers may stay in eval mode.)
"""
import torch
from torch import nn


class FineTuner(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int):
        """backbone: a torchvision resnet18 (pretrained); num_classes: size of the new head."""
        # TODO: call super().__init__(); keep every layer of `backbone` except `fc` as self.backbone
        # TODO: freeze it (requires_grad=False), add self.head = nn.Linear(512, num_classes)
        raise NotImplementedError("TODO: write this part")

    def train(self, mode: bool = True):
        """Like nn.Module.train, but the frozen backbone (its BatchNorm layers) stays in eval mode."""
        # TODO: set the mode as usual, then put the backbone back in eval mode; return self
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) -> logits (B, num_classes)."""
        raise NotImplementedError("TODO: write this part")


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam over the parameters that require grad (and only those)."""
    raise NotImplementedError("TODO: write this part")


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    """Unfreeze the backbone's layer4; return Adam with groups (head, head_lr) and (layer4, block_lr)."""
    # TODO: layer4's parameters -> requires_grad=True; two parameter groups with their own lr
    raise NotImplementedError("TODO: write this part")
