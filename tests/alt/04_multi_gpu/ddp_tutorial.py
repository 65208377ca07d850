"""Correct alternative in the style of PyTorch's own DDP tutorial ("Getting Started with Distributed Data
Parallel", intermediate/ddp_tutorial): nn.MSELoss as loss_fn, optimizer.zero_grad() / loss_fn(outputs,
labels).backward() / optimizer.step(), device_ids from the model's device (`[device.index] if device.type !=
"cpu"`), the labels moved with .to(device), and the loss returned as a detached 0-dim tensor."""
import datetime

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.optim as optim
from torch.nn.parallel import DistributedDataParallel as DDP


def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda:0")
    return torch.device("cpu")


def get_device(model):
    try:
        return next(model.parameters()).device
    except StopIteration:
        pass
    try:
        return next(model.buffers()).device
    except StopIteration:
        return torch.device("cpu")


def maybe_data_parallel(model):
    if torch.cuda.device_count() > 1:
        print("Let's use", torch.cuda.device_count(), "GPUs!")
        model = nn.DataParallel(model)
    return model


def setup(rank, world_size, init_method, backend="gloo"):
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=60))


def cleanup():
    dist.destroy_process_group()


def ddp_train_step(model, x, y, lr, rank, world_size):
    device = get_device(model)
    ddp_model = DDP(model, device_ids=[device.index] if device.type != "cpu" else None)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(ddp_model.parameters(), lr=lr)
    inputs = torch.chunk(x, world_size, dim=0)[rank].to(device)
    labels = torch.chunk(y, world_size, dim=0)[rank].to(device)
    optimizer.zero_grad()
    outputs = ddp_model(inputs)
    loss = loss_fn(outputs, labels)
    loss.backward()
    optimizer.step()
    return loss.detach()
