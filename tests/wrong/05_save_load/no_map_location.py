"""Wrong: torch.load is called without map_location, so a checkpoint written on a GPU cannot load on a CPU.
expect-message: map_location not passed to torch.load
"""
import torch
from torch import nn


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    map_location="cpu") -> int:
    ckpt = torch.load(path, weights_only=True)
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["epoch"]


def load_for_inference(path, model: nn.Module, device) -> nn.Module:
    ckpt = torch.load(path, weights_only=True)
    model.load_state_dict(ckpt["model"])
    model.to(device)
    model.eval()
    return model
