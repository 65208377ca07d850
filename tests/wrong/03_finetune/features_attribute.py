"""Seed's code as written: `pretrained_model.features` — a ResNet has no .features attribute (that is VGG/AlexNet).
expect-message: is VGG/AlexNet's attribute
"""
import torch
from torch import nn


class FineTuner(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        self.features = backbone.features
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.fc.parameters(), lr=lr)


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=head_lr)
