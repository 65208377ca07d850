"""Wrong: train_head keeps each step's loss tensor (losses.append(loss)), graph and all, instead of loss.item().
expect-message: still attached to the autograd graph
"""
import torch
import torch.nn.functional as F
from torch import nn


def replace_head(model: nn.Module, num_classes: int) -> nn.Linear:
    """Replace the final Linear (model.fc, or the last layer of model.classifier) by Linear(in_features, num_classes)."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        old = model.fc
        model.fc = head = nn.Linear(old.in_features, num_classes)
    elif isinstance(getattr(model, "classifier", None), nn.Sequential) and isinstance(model.classifier[-1], nn.Linear):
        old = model.classifier[-1]
        model.classifier[-1] = head = nn.Linear(old.in_features, num_classes)
    else:
        raise ValueError(f"no final Linear found in {type(model).__name__} (expected .fc or .classifier[-1])")
    return head.to(old.weight.device, old.weight.dtype)


def freeze_backbone(model: nn.Module, head: nn.Linear) -> None:
    """requires_grad=False for every parameter outside head, True for head's."""
    model.requires_grad_(False)
    head.requires_grad_(True)


def preprocess(images: torch.Tensor, weights) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> the float batch `weights` expect (their own transforms())."""
    return weights.transforms()(images)


def _batches(n, batch_size):
    for i in range(0, n, batch_size):
        yield slice(i, i + batch_size)


def train_head(model: nn.Module, head: nn.Linear, images: torch.Tensor, labels: torch.Tensor,
               epochs: int, batch_size: int, lr: float) -> list:
    """End to end: logits = model(batch), the frozen backbone in eval mode; SGD on the head; per-step losses."""
    model.eval()
    opt = torch.optim.SGD(head.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for s in _batches(len(images), batch_size):
            opt.zero_grad()
            loss = F.cross_entropy(model(images[s]), labels[s])
            loss.backward()
            opt.step()
            losses.append(loss)
    return losses


def extract_features(model: nn.Module, head: nn.Linear, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The head's input for every image, (N, head.in_features): eval mode, no autograd, one backbone pass per image."""
    model.eval()
    feats = []
    hook = head.register_forward_hook(lambda mod, inputs, output: feats.append(inputs[0]))
    try:
        with torch.no_grad():
            for s in _batches(len(images), batch_size):
                model(images[s])
    finally:
        hook.remove()
    return torch.cat(feats)


def train_head_cached(model: nn.Module, head: nn.Linear, images: torch.Tensor, labels: torch.Tensor,
                      epochs: int, batch_size: int, lr: float) -> list:
    """Like train_head, but on features extracted once (logits = head(features of the batch))."""
    feats = extract_features(model, head, images, batch_size)
    opt = torch.optim.SGD(head.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for s in _batches(len(feats), batch_size):
            opt.zero_grad()
            loss = F.cross_entropy(head(feats[s]), labels[s])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses
