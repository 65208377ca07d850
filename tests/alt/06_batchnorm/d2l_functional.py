"""Correct alternative in the style of Dive into Deep Learning (d2l.ai, "Batch Normalization", implementation from
scratch): a functional batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum) that returns the output
and the new moving statistics, keepdim statistics, the variance as ((X - mean) ** 2).mean(), and the module
re-assigning its buffers with the returned tensors. Adapted to nn.BatchNorm1d's contract: the mode comes from
self.training (d2l looks at torch.is_grad_enabled()), momentum weights the new batch, running_var is unbiased,
(N, C, L) input instead of d2l's 4-D images, and nn.BatchNorm1d's names."""
import torch
from torch import nn


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    if not training:
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
        return (X_hat if gamma is None else gamma * X_hat + beta), moving_mean, moving_var
    assert len(X.shape) in (2, 3)
    dims = (0,) if len(X.shape) == 2 else (0, 2)
    mean = X.mean(dim=dims, keepdim=True)
    var = ((X - mean) ** 2).mean(dim=dims, keepdim=True)
    X_hat = (X - mean) / torch.sqrt(var + eps)
    n = X.numel() / X.shape[1]
    moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
    moving_var = (1.0 - momentum) * moving_var + momentum * var * n / (n - 1)
    Y = X_hat if gamma is None else gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0))

    def forward(self, X):
        shape = (1, self.num_features) + (1,) * (X.dim() - 2)
        gamma = None if self.weight is None else self.weight.reshape(shape)
        beta = None if self.bias is None else self.bias.reshape(shape)
        Y, moving_mean, moving_var = batch_norm(
            X, gamma, beta, self.running_mean.reshape(shape), self.running_var.reshape(shape),
            eps=self.eps, momentum=self.momentum, training=self.training)
        if self.training:
            self.running_mean = moving_mean.reshape(-1)
            self.running_var = moving_var.reshape(-1)
            self.num_batches_tracked = self.num_batches_tracked + 1
        return Y
