"""Optimizer built over model.parameters() / the whole backbone, frozen tensors included.
expect-message: frozen parameters (requires_grad=False)

Training still "works" (Adam skips parameters whose grad is None), but the optimizer carries
11M frozen tensors, and a later unfreeze or weight decay would silently touch them.
"""
import torch
from torch import nn


class FineTuner(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.backbone.requires_grad_(False)
        self.head = nn.Linear(512, num_classes)
        self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lr)


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    model.backbone.layer4.requires_grad_(True)
    return torch.optim.Adam([
        {"params": model.head.parameters(), "lr": head_lr},
        {"params": model.backbone.parameters(), "lr": block_lr},
    ])
