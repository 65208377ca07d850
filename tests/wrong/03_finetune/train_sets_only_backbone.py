"""Wrong: the train() override only puts the backbone in eval mode and never calls super().train(mode).
expect-message: never calls super().train(mode)

The backbone's BatchNorm is safe, but the model itself and its head never change mode: after model.eval(),
model.training is still True (and a head with dropout would keep dropping).
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
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    model.backbone.layer4.requires_grad_(True)
    return torch.optim.Adam([
        {"params": model.head.parameters(), "lr": head_lr},
        {"params": model.backbone.layer4.parameters(), "lr": block_lr},
    ])
