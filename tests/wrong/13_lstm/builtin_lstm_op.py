"""Wrong: hands the work to the built-in torch.lstm / torch.lstm_cell ops instead of writing the gates.
expect-message: called the built-in recurrent op
"""
import math

import torch
from torch import nn


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.lstm_cell(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)


class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        k = 1 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-k, k))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-k, k))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))

    def forward(self, x, state=None):
        if state is None:
            z = torch.zeros(x.shape[0], self.hidden_size, device=x.device)
            state = (z, z)
        return lstm_cell(x, *state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=True):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        k = 1 / math.sqrt(hidden_size)
        for l in range(num_layers):
            n_in = input_size if l == 0 else hidden_size
            for name, shape in (("weight_ih", (4 * hidden_size, n_in)), ("weight_hh", (4 * hidden_size, hidden_size)),
                                ("bias_ih", (4 * hidden_size,)), ("bias_hh", (4 * hidden_size,))):
                setattr(self, f"{name}_l{l}", nn.Parameter(torch.empty(shape).uniform_(-k, k)))

    def forward(self, x, state=None):
        if state is None:
            z = torch.zeros(self.num_layers, x.shape[0], self.hidden_size, device=x.device)
            state = (z, z)
        flat = [getattr(self, f"{n}_l{l}") for l in range(self.num_layers)
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        out, h_n, c_n = torch.lstm(x, state, flat, True, self.num_layers, 0.0, self.training, False, True)
        return out, (h_n, c_n)
