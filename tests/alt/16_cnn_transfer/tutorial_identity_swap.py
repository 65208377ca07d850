"""Alternative in the style of the PyTorch "Finetuning Torchvision Models" tutorial: set_parameter_requires_grad,
num_ftrs = model.fc.in_features, DataLoader(TensorDataset) loops, nn.CrossEntropyLoss, and features taken by
swapping the head for nn.Identity() (put back afterwards).
"""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def replace_head(model, num_classes):
    if hasattr(model, "fc") and isinstance(model.fc, nn.Linear):
        num_ftrs = model.fc.in_features
        model.fc = nn.Linear(num_ftrs, num_classes)
        return model.fc
    if hasattr(model, "classifier") and isinstance(model.classifier, nn.Sequential) \
            and isinstance(model.classifier[-1], nn.Linear):
        num_ftrs = model.classifier[-1].in_features
        model.classifier[-1] = nn.Linear(num_ftrs, num_classes)
        return model.classifier[-1]
    raise ValueError("unsupported model")


def set_parameter_requires_grad(model, feature_extracting):
    if feature_extracting:
        for param in model.parameters():
            param.requires_grad = False


def freeze_backbone(model, head):
    set_parameter_requires_grad(model, True)
    for param in head.parameters():
        param.requires_grad = True


def preprocess(images, weights):
    transform = weights.transforms()
    return transform(images)


def _fit(head, forward, dataset, epochs, batch_size, lr):
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(head.parameters(), lr=lr)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    history = []
    for epoch in range(epochs):
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = criterion(forward(inputs), targets)
            loss.backward()
            optimizer.step()
            history.append(loss.item())
    return history


def train_head(model, head, images, labels, epochs, batch_size, lr):
    model.eval()
    return _fit(head, model, TensorDataset(images, labels), epochs, batch_size, lr)


def _swap(model, head, new):
    if getattr(model, "fc", None) is head:
        model.fc = new
    else:
        model.classifier[-1] = new


def extract_features(model, head, images, batch_size):
    model.eval()
    _swap(model, head, nn.Identity())
    try:
        with torch.no_grad():
            out = [model(xb) for (xb,) in DataLoader(TensorDataset(images), batch_size=batch_size)]
    finally:
        _swap(model, model.fc if isinstance(getattr(model, "fc", None), nn.Identity) else model.classifier[-1], head)
    return torch.cat(out, dim=0)


def train_head_cached(model, head, images, labels, epochs, batch_size, lr):
    features = extract_features(model, head, images, batch_size)
    return _fit(head, head, TensorDataset(features, labels), epochs, batch_size, lr)
