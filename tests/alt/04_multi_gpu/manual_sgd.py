"""Correct alternative: itertools.chain for the device, directly imported DataParallel and cuda
helpers, slicing instead of chunk, and a hand-written SGD update instead of torch.optim."""
from datetime import timedelta
from itertools import chain

import torch
import torch.distributed as dist
from torch import nn
from torch.cuda import device_count, is_available
from torch.nn import DataParallel
from torch.nn.parallel import DistributedDataParallel


def pick_device() -> torch.device:
    return torch.device("cuda", 0) if is_available() else torch.device("cpu")


def get_device(model: nn.Module) -> torch.device:
    t = next(chain(model.parameters(), model.buffers()), None)
    return t.device if t is not None else torch.device("cpu")


def maybe_data_parallel(model: nn.Module) -> nn.Module:
    return DataParallel(model) if is_available() and device_count() >= 2 else model


def setup(rank: int, world_size: int, init_method: str, backend: str = "gloo") -> None:
    dist.init_process_group(backend=backend, init_method=init_method, world_size=world_size, rank=rank,
                            timeout=timedelta(seconds=20))


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def ddp_train_step(model, x, y, lr, rank, world_size):
    dev = get_device(model)
    ddp = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    n = x.shape[0] // world_size
    xs, ys = x[rank * n:(rank + 1) * n].to(dev), y[rank * n:(rank + 1) * n].to(dev)
    for p in ddp.parameters():
        p.grad = None
    loss = ((ddp(xs) - ys) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    return float(loss)
