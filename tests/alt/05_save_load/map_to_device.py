"""Correct alternative: moves the model first and maps the checkpoint straight to the device; train(False)."""
import torch
from torch import nn


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    checkpoint = dict(model=model.state_dict(), optimizer=optimizer.state_dict(), epoch=int(epoch))
    with open(path, "wb") as f:
        torch.save(checkpoint, f)


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    map_location="cpu") -> int:
    with open(path, "rb") as f:
        checkpoint = torch.load(f, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"], strict=True)
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    return int(checkpoint["epoch"])


def load_for_inference(path, model: nn.Module, device) -> nn.Module:
    device = torch.device(device)
    model = model.to(device)
    state = torch.load(path, map_location=device, weights_only=True)["model"]
    model.load_state_dict(state)
    return model.train(False)
