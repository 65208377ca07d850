"""Wrong: train_one_epoch sums the loss tensors instead of loss.item(): every batch's graph stays alive and a tensor is returned.
expect-message: still part of the autograd graph
"""
import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision.transforms import v2


def make_transforms(mean, std, size):
    """(train_transform, eval_transform): uint8 (3, size, size) -> float32 (3, size, size), normalised."""
    normalise = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    train = v2.Compose([v2.RandomCrop(size, padding=4), v2.RandomHorizontalFlip(), *normalise])
    return train, v2.Compose(normalise)


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W) -> logits (B, num_classes)."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(self.pool(x).flatten(1))


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, device) -> float:
    """One epoch in train mode, each batch moved to device; the mean batch loss."""
    model.train()
    total, batches = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss
        batches += 1
    return total / batches


def evaluate(model: nn.Module, loader, device) -> float:
    """Accuracy over the loader in eval mode without autograd: correct / samples."""
    model.eval()
    correct, seen = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            seen += labels.numel()
    return correct / seen


def fit(model: nn.Module, loader, epochs: int, lr: float, device) -> list:
    """Model to device, Adam(lr), train_one_epoch `epochs` times; the per-epoch mean losses."""
    model.to(device)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    return [train_one_epoch(model, loader, optimizer, device) for _ in range(epochs)]
