"""Correct alternative in the style of mmdetection's ResNet backbone (mmdet/models/backbones/resnet.py):
`frozen_stages` and `norm_eval` settings, a `_freeze_stages()` that puts the frozen stem and stages in eval
mode and turns off their gradients, and a `train(mode)` override that calls super().train(mode), re-applies
`_freeze_stages()` and, with norm_eval, puts every BatchNorm in eval mode. Unlike mmdetection's override it
returns self, as the task asks (nn.Module.train returns self).
"""
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class FineTuner(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int, frozen_stages: int = 4, norm_eval: bool = True):
        super(FineTuner, self).__init__()
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.conv1, self.norm1, self.relu, self.maxpool = backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool
        self.res_layers = []
        for i in range(1, 5):
            layer_name = f"layer{i}"
            self.add_module(layer_name, getattr(backbone, layer_name))
            self.res_layers.append(layer_name)
        self.backbone = nn.Sequential(self.conv1, self.norm1, self.relu, self.maxpool,
                                      *[getattr(self, n) for n in self.res_layers],
                                      nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(1))
        self.head = nn.Linear(512, num_classes)
        self._freeze_stages()

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            self.norm1.eval()
            for m in [self.conv1, self.norm1]:
                for param in m.parameters():
                    param.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            m = getattr(self, f"layer{i}")
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        """Convert the model into training mode while keeping the normalization layers frozen."""
        super(FineTuner, self).train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.backbone.modules():
                # trick: eval has an effect on BatchNorm only
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=lr)


def unfreeze_last_block(model: FineTuner, head_lr: float, block_lr: float) -> torch.optim.Optimizer:
    model.frozen_stages = 3
    for param in model.layer4.parameters():
        param.requires_grad = True
    model.train()
    return torch.optim.Adam([
        {"params": [p for p in model.head.parameters()], "lr": head_lr},
        {"params": [p for p in model.layer4.parameters()], "lr": block_lr},
    ])
