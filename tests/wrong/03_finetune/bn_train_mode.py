"""Seed's bug: backbone frozen with requires_grad=False only; model.train() puts its BatchNorm back in training mode.
expect-message: BatchNorm running statistics of the frozen backbone changed

The backbone is set to eval() once in __init__, but train() is not overridden, so the usual
model.train() at the start of training flips every BatchNorm layer back to training mode:
running_mean/running_var drift and the features are normalised with batch statistics.
"""
import torch
from torch import nn


class FineTuner(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        backbone.fc = nn.Identity()
        self.backbone = backbone
        for p in self.backbone.parameters():
            p.requires_grad = False
        self.backbone.eval()
        self.head = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=lr)


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    for p in model.backbone.layer4.parameters():
        p.requires_grad = True
    return torch.optim.Adam([
        {"params": model.head.parameters(), "lr": head_lr},
        {"params": model.backbone.layer4.parameters(), "lr": block_lr},
    ])
