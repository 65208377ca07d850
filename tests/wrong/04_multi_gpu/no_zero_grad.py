"""Wrong: never clears the gradients (no zero_grad), so a second call's backward() adds to the first call's .grad.
expect-message: zero_grad() (or p.grad = None) missing
"""
import datetime

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


def pick_device() -> torch.device:
    """cuda:0 when CUDA is available, else cpu."""
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def get_device(model: nn.Module) -> torch.device:
    """Device of the first parameter, else of the first buffer, else cpu (a Module has no .device)."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def maybe_data_parallel(model: nn.Module) -> nn.Module:
    """nn.DataParallel(model) when more than one GPU is visible, else model itself."""
    if torch.cuda.device_count() > 1:
        return nn.DataParallel(model)
    return model


def setup(rank: int, world_size: int, init_method: str, backend: str = "gloo") -> None:
    """Initialise the default process group for this rank, with a short timeout (<= 60 s)."""
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=30))


def cleanup() -> None:
    """Destroy the default process group."""
    dist.destroy_process_group()


def ddp_train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float,
                   rank: int, world_size: int) -> float:
    """One DDP + SGD step on this rank's shard x.chunk(world_size)[rank]; returns the shard's MSE loss."""
    dev = get_device(model)
    ddp = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    xs = x.chunk(world_size)[rank].to(dev)
    ys = y.chunk(world_size)[rank].to(dev)
    opt = torch.optim.SGD(ddp.parameters(), lr=lr)
    loss = F.mse_loss(ddp(xs), ys)
    loss.backward()
    opt.step()
    return loss.item()
