"""Alternative in the d2l.ai style: LeNet with BatchNorm (Sigmoid, AvgPool2d; "Batch Normalization" chapter),
an adaptive pool in front of the dense layers, d2l-style loops (net.train(), X.to(device), an accumulator of
(correct, count)), the torchvision classification-reference train preset (RandomResizedCrop, flip, ToImage),
and torch.optim referred to as torch.optim.
"""
import torch
from torch import nn
from torchvision.transforms import v2


def make_transforms(mean, std, size):
    train = v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True),
        v2.RandomHorizontalFlip(p=0.5),
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=mean, std=std),
    ])
    val = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=mean, std=std)])
    return train, val


class SmallCNN(nn.Module):
    def __init__(self, in_channels=3, num_classes=10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
            nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(),
            nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
            nn.Linear(84, num_classes))

    def forward(self, X):
        return self.net(X)


class Accumulator:
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx):
        return self.data[idx]


def accuracy(y_hat, y):
    return float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())


def train_one_epoch(net, train_iter, trainer, device):
    loss = nn.CrossEntropyLoss()
    net.train()
    metric = Accumulator(2)  # sum of batch losses, number of batches
    for X, y in train_iter:
        trainer.zero_grad()
        X, y = X.to(device), y.to(device)
        l = loss(net(X), y)
        l.backward()
        trainer.step()
        metric.add(l.detach(), 1)
    return metric[0] / metric[1]


def evaluate(net, data_iter, device):
    net.eval()
    metric = Accumulator(2)  # correct predictions, predictions
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def fit(net, train_iter, num_epochs, lr, device):
    net.to(device)
    trainer = torch.optim.Adam(net.parameters(), lr=lr)
    return [train_one_epoch(net, train_iter, trainer, device) for epoch in range(num_epochs)]
