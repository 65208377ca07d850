"""Exercise 04 — several GPUs: picking a device, DataParallel and DistributedDataParallel.

Write five small functions (and ``cleanup``). Everything must also run on a machine
without a GPU: the grader runs DDP for real on the CPU with the ``gloo`` backend.

``pick_device() -> torch.device``
    ``torch.device("cuda:0")`` when CUDA is available, else ``torch.device("cpu")``.

``get_device(model) -> torch.device``
    The device a module lives on. An ``nn.Module`` has **no** ``.device`` attribute
    (only tensors do): return the device of its first parameter; if it has no
    parameters, the device of its first buffer; for a module with neither, ``cpu``.

``maybe_data_parallel(model) -> nn.Module``
    Return ``nn.DataParallel(model)`` only when more than one GPU is visible
    (``torch.cuda.device_count() > 1``); otherwise return ``model`` itself, unwrapped.
    It does not move the model: call it after ``model.to(pick_device())``.

``setup(rank, world_size, init_method, backend="gloo")`` / ``cleanup()``
    Join / leave the default process group: ``dist.init_process_group(backend,
    init_method=init_method, rank=rank, world_size=world_size, timeout=...)`` with a
    short timeout (at most 60 s, e.g. ``timedelta(seconds=30)``) so that a rank waiting
    for a dead peer fails instead of hanging for the default 30 minutes.
    ``init_method`` is a URL such as ``"file:///tmp/xyz/rdzv"`` or ``"tcp://127.0.0.1:29500"``.
    ``cleanup()`` destroys the default process group.

``ddp_train_step(model, x, y, lr, rank, world_size) -> float``
    Called on every rank, after the process group is initialised, with the same
    ``model`` weights and the same FULL batch ``x`` (N, ...) / ``y`` (N, ...) on every
    rank (N divisible by ``world_size``). It must:

    1. wrap ``model`` in ``DistributedDataParallel`` (no ``device_ids`` for a CPU model;
       ``device_ids=[index]`` for a model on one GPU);
    2. take THIS rank's shard: the ``rank``-th of ``world_size`` equal contiguous
       chunks, ``x.chunk(world_size)[rank]`` (same for ``y``). ``x`` and ``y`` arrive
       on the CPU (as from a DataLoader) even when the model is on a GPU: move the
       shard to the model's device (``get_device(model)``); leave the model where it is;
    3. do one plain SGD step (``torch.optim.SGD(..., lr=lr)``, no momentum) on the
       mean-squared-error loss ``F.mse_loss(pred, y_shard)`` (mean reduction). The
       step is called again and again on the same model: clear the gradients
       (``zero_grad()``) so that each call steps on its own gradients only;
    4. return this rank's loss on its shard, measured before the step, as a Python float.

    DDP averages the gradients over the ranks, so afterwards ``model``'s parameters
    (updated in place) are identical on every rank and equal one single-process SGD
    step on the full batch.
"""
import datetime

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


def pick_device() -> torch.device:
    """cuda:0 when CUDA is available, else cpu."""
    # BEGIN SOLUTION
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    # END SOLUTION


def get_device(model: nn.Module) -> torch.device:
    """Device of the first parameter, else of the first buffer, else cpu (a Module has no .device)."""
    # BEGIN SOLUTION
    # TODO: nn.Module has no .device: look at its parameters(), then its buffers()
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")
    # END SOLUTION


def maybe_data_parallel(model: nn.Module) -> nn.Module:
    """nn.DataParallel(model) when more than one GPU is visible, else model itself."""
    # BEGIN SOLUTION
    if torch.cuda.device_count() > 1:
        return nn.DataParallel(model)
    return model
    # END SOLUTION


def setup(rank: int, world_size: int, init_method: str, backend: str = "gloo") -> None:
    """Initialise the default process group for this rank, with a short timeout (<= 60 s)."""
    # BEGIN SOLUTION
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=30))
    # END SOLUTION


def cleanup() -> None:
    """Destroy the default process group."""
    # BEGIN SOLUTION
    dist.destroy_process_group()
    # END SOLUTION


def ddp_train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float,
                   rank: int, world_size: int) -> float:
    """One DDP + SGD step on this rank's shard x.chunk(world_size)[rank]; returns the shard's MSE loss."""
    # BEGIN SOLUTION
    # TODO: wrap in DDP, take this rank's contiguous chunk, MSE (mean) loss, one SGD step
    dev = get_device(model)
    ddp = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    xs = x.chunk(world_size)[rank].to(dev)
    ys = y.chunk(world_size)[rank].to(dev)
    opt = torch.optim.SGD(ddp.parameters(), lr=lr)
    opt.zero_grad()
    loss = F.mse_loss(ddp(xs), ys)
    loss.backward()
    opt.step()
    return loss.item()
    # END SOLUTION
