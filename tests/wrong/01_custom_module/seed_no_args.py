"""The seed's code as written: MyModule() takes no arguments and hard-codes nn.Linear(10, 5).
expect-message: like the stub's signature

It runs for the seed's one example (a (1, 10) input), but MyModule(6, 3) cannot be built.
"""
import torch
import torch.nn as nn


class MyModule(nn.Module):
    def __init__(self):
        super(MyModule, self).__init__()
        self.linear = nn.Linear(in_features=10, out_features=5)

    def forward(self, x):
        return self.linear(x)
