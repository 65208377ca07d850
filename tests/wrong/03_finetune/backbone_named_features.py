"""Wrong (naming): the pretrained layers are kept as self.features, the seed's name, not self.backbone as asked.
expect-message: names them self.backbone

Everything else is right, but code written against the task's interface (model.backbone) breaks.
"""
import torch
from torch import nn


class FineTuner(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(*list(backbone.children())[:-1])
        self.features.requires_grad_(False)
        self.head = nn.Linear(512, num_classes)
        self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    layer4 = model.features[-2]
    layer4.requires_grad_(True)
    return torch.optim.Adam([
        {"params": model.head.parameters(), "lr": head_lr},
        {"params": layer4.parameters(), "lr": block_lr},
    ])
