"""Alternative: gates sliced by index with separate activations, the input projection of all
time steps computed at once in a time-major loop, and x.new_zeros for the default state."""
import math

import torch
from torch import nn


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return _step(x @ weight_ih.t() + bias_ih, h, c, weight_hh, bias_hh)


def _step(x_proj, h, c, weight_hh, bias_hh):
    H = h.shape[-1]
    z = x_proj + h @ weight_hh.t() + bias_hh
    i = torch.sigmoid(z[:, :H])
    f = torch.sigmoid(z[:, H:2 * H])
    g = torch.tanh(z[:, 2 * H:3 * H])
    o = torch.sigmoid(z[:, 3 * H:])
    c = torch.addcmul(f * c, i, g)
    return o * c.tanh(), c


def _uniform(shape, hidden_size):
    std = 1.0 / math.sqrt(hidden_size)
    return nn.Parameter(torch.empty(shape).uniform_(-std, std))


class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = _uniform((4 * hidden_size, input_size), hidden_size)
        self.weight_hh = _uniform((4 * hidden_size, hidden_size), hidden_size)
        self.bias_ih = _uniform((4 * hidden_size,), hidden_size)
        self.bias_hh = _uniform((4 * hidden_size,), hidden_size)

    def forward(self, x, state=None):
        h, c = state if state is not None else (x.new_zeros(len(x), self.hidden_size),) * 2
        return lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size, self.num_layers, self.batch_first = hidden_size, num_layers, batch_first
        for k in range(num_layers):
            n_in = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", _uniform((4 * hidden_size, n_in), hidden_size))
            self.register_parameter(f"weight_hh_l{k}", _uniform((4 * hidden_size, hidden_size), hidden_size))
            self.register_parameter(f"bias_ih_l{k}", _uniform((4 * hidden_size,), hidden_size))
            self.register_parameter(f"bias_hh_l{k}", _uniform((4 * hidden_size,), hidden_size))

    def forward(self, x, state=None):
        xs = x.transpose(0, 1) if self.batch_first else x  # (T, B, in)
        if state is None:
            zeros = x.new_zeros(self.num_layers, xs.shape[1], self.hidden_size)
            state = (zeros, zeros)
        h_n, c_n = [], []
        for k in range(self.num_layers):
            proj = torch.matmul(xs, getattr(self, f"weight_ih_l{k}").t()) + getattr(self, f"bias_ih_l{k}")
            h, c, hs = state[0][k], state[1][k], []
            for t in range(proj.shape[0]):
                h, c = _step(proj[t], h, c, getattr(self, f"weight_hh_l{k}"), getattr(self, f"bias_hh_l{k}"))
                hs.append(h)
            xs = torch.stack(hs)
            h_n.append(h)
            c_n.append(c)
        out = xs.transpose(0, 1) if self.batch_first else xs
        return out, (torch.stack(h_n), torch.stack(c_n))
