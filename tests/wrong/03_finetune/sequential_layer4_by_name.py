"""Wrong: the backbone is an nn.Sequential of the ResNet's children, but unfreeze_last_block still asks it for
`.layer4` by name (an nn.Sequential names its children '0', '1', ...).
expect-message: reach layer4 by position
"""
import torch
from torch import nn


class FineTuner(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        self.backbone = nn.Sequential(*list(backbone.children())[:-1])
        self.backbone.requires_grad_(False)
        self.head = nn.Linear(512, num_classes)
        self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.backbone(x), 1))


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    model.backbone.layer4.requires_grad_(True)
    return torch.optim.Adam([
        {"params": model.head.parameters(), "lr": head_lr},
        {"params": model.backbone.layer4.parameters(), "lr": block_lr},
    ])
