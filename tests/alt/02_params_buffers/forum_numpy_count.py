"""Correct alternative in the PyTorch-forum style ("How do I check the number of parameters of a model?",
discuss.pytorch.org, and the Stack Overflow answer that quotes it): count_trainable filters the parameters
with requires_grad and sums np.prod(p.size()), so it returns a numpy integer, not a Python int.
The module itself is written the old-tutorial way: super(Class, self), .data updates, view(-1, F), torch.matmul.
"""
import numpy as np
import torch
from torch import nn


class SmoothedLinear(nn.Module):
    def __init__(self, in_features, out_features, max_len=32):
        super(SmoothedLinear, self).__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))
        avg = torch.tril(torch.ones(max_len, max_len))
        avg = avg / avg.sum(dim=1, keepdim=True)      # row t sums t + 1 ones
        self.register_buffer("causal_avg", avg, persistent=False)

    def fit_stats(self, x):
        flat = x.detach().view(-1, x.size(-1))
        self.mean.data.copy_(flat.mean(0))
        self.std.data.copy_(flat.std(0))

    def forward(self, x):
        T = x.size(1)
        z = (x - self.mean) / self.std
        z = torch.matmul(self.causal_avg[:T, :T], z)
        return self.linear(z)


def count_trainable(model):
    model_parameters = filter(lambda p: p.requires_grad, model.parameters())
    params = sum([np.prod(p.size()) for p in model_parameters])
    return params
