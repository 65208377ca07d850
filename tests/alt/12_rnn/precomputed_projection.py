"""Alternative: time-major loop with the input projection of all steps done at once, x.new_zeros for
the default state, and the classifier reading h_n[-1] (the same thing as output[:, -1])."""
import math

import torch
from torch import nn


class ElmanRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", batch_first=True):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.nonlinearity, self.batch_first = nonlinearity, batch_first
        self.act = {"tanh": torch.tanh, "relu": torch.relu}[nonlinearity]  # KeyError for anything else
        std = 1.0 / math.sqrt(hidden_size)
        for k in range(num_layers):
            shapes = {"weight_ih": (hidden_size, input_size if k == 0 else hidden_size),
                      "weight_hh": (hidden_size, hidden_size), "bias_ih": (hidden_size,), "bias_hh": (hidden_size,)}
            for name, shape in shapes.items():
                self.register_parameter(f"{name}_l{k}", nn.Parameter(torch.rand(shape) * 2 * std - std))

    def forward(self, x, h0=None):
        xs = x.transpose(0, 1) if self.batch_first else x  # (T, B, in)
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, xs.shape[1], self.hidden_size)
        h_n = []
        for k in range(self.num_layers):
            p = lambda n: getattr(self, f"{n}_l{k}")  # noqa: E731
            proj = torch.matmul(xs, p("weight_ih").t()) + p("bias_ih") + p("bias_hh")  # (T, B, H)
            h, hs = h0[k], []
            for t in range(proj.shape[0]):
                h = self.act(torch.addmm(proj[t], h, p("weight_hh").t()))
                hs.append(h)
            xs = torch.stack(hs)
            h_n.append(h)
        out = xs.transpose(0, 1) if self.batch_first else xs
        return out, torch.stack(h_n)


class RNNClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes, num_layers=1):
        super().__init__()
        self.rnn = ElmanRNN(input_size, hidden_size, num_layers)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        _, h_n = self.rnn(x)
        return self.fc(h_n[-1])
