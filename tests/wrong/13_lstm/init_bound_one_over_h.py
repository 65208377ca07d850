"""Wrong: the init bound is 1/hidden_size (the square root forgotten) instead of 1/sqrt(hidden_size).
expect-message: 1/hidden_size used instead
"""
import math

import torch
from torch import nn


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def _init(module, hidden_size):
    k = 1 / hidden_size
    for p in module.parameters():
        nn.init.uniform_(p, -k, k)


class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        _init(self, hidden_size)

    def forward(self, x, state=None):
        if state is None:
            z = torch.zeros(x.size(0), self.hidden_size, device=x.device, dtype=x.dtype)
            state = (z, z)
        h, c = state
        return lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        for l in range(num_layers):
            n_in = input_size if l == 0 else hidden_size
            setattr(self, f"weight_ih_l{l}", nn.Parameter(torch.empty(4 * hidden_size, n_in)))
            setattr(self, f"weight_hh_l{l}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size)))
            setattr(self, f"bias_ih_l{l}", nn.Parameter(torch.empty(4 * hidden_size)))
            setattr(self, f"bias_hh_l{l}", nn.Parameter(torch.empty(4 * hidden_size)))
        _init(self, hidden_size)

    def forward(self, x, state=None):
        if not self.batch_first:
            x = x.transpose(0, 1)
        B, T, _ = x.shape
        if state is None:
            z = torch.zeros(self.num_layers, B, self.hidden_size, device=x.device, dtype=x.dtype)
            state = (z, z)
        h0, c0 = state
        seq, hs, cs = x, [], []
        for l in range(self.num_layers):
            params = [getattr(self, f"{n}_l{l}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = h0[l], c0[l]
            outs = []
            for t in range(T):
                h, c = lstm_cell(seq[:, t], h, c, *params)
                outs.append(h)
            seq = torch.stack(outs, dim=1)
            hs.append(h)
            cs.append(c)
        if not self.batch_first:
            seq = seq.transpose(0, 1)
        return seq, (torch.stack(hs), torch.stack(cs))
