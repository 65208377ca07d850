"""Alternative: backbone = nn.Sequential of the ResNet's children except fc, flatten in forward;
train() puts only the backbone's BatchNorm layers in eval mode; layer4 found by position.
"""
import torch
from torch import nn


class FineTuner(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        self.backbone = nn.Sequential(*list(backbone.children())[:-1])  # ... layer4, avgpool
        for p in self.backbone.parameters():
            p.requires_grad = False
        self.head = nn.Linear(backbone.fc.in_features, num_classes)
        self.train(True)

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.backbone(x), 1))


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=lr)


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    layer4 = model.backbone[-2]
    for p in layer4.parameters():
        p.requires_grad = True
    return torch.optim.Adam([
        {"params": [p for p in layer4.parameters()], "lr": block_lr},
        {"params": [p for p in model.head.parameters()], "lr": head_lr},
    ])
