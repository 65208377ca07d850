"""Correct alternative in the style of PyTorch's own torch/nn/modules/rnn.py (RNNBase / RNNCellBase): parameter
names kept in _flat_weights_names and registered with register_parameter, reset_parameters() drawing every weight
from init.uniform_(-stdv, stdv) with stdv = 1/sqrt(hidden_size), hx defaulting to zeros made with
torch.zeros(..., dtype=input.dtype, device=input.device), and a time-major loop over input.unbind(0)."""
import math

import torch
from torch import Tensor, nn
from torch.nn import init


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    gates = torch.mm(x, weight_ih.t()) + bias_ih + torch.mm(h, weight_hh.t()) + bias_hh
    ingate, forgetgate, cellgate, outgate = gates.chunk(4, 1)
    ingate, forgetgate = torch.sigmoid(ingate), torch.sigmoid(forgetgate)
    cellgate, outgate = torch.tanh(cellgate), torch.sigmoid(outgate)
    cy = (forgetgate * c) + (ingate * cellgate)
    hy = outgate * torch.tanh(cy)
    return hy, cy


class LSTMCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty((4 * hidden_size, input_size)))
        self.weight_hh = nn.Parameter(torch.empty((4 * hidden_size, hidden_size)))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def forward(self, input: Tensor, hx=None):
        if hx is None:
            zeros = torch.zeros(input.size(0), self.hidden_size, dtype=input.dtype, device=input.device)
            hx = (zeros, zeros)
        return lstm_cell(input, hx[0], hx[1], self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        gate_size = 4 * hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size
            w_ih = nn.Parameter(torch.empty((gate_size, layer_input_size)))
            w_hh = nn.Parameter(torch.empty((gate_size, hidden_size)))
            b_ih = nn.Parameter(torch.empty(gate_size))
            b_hh = nn.Parameter(torch.empty(gate_size))
            param_names = [f"weight_ih_l{layer}", f"weight_hh_l{layer}", f"bias_ih_l{layer}", f"bias_hh_l{layer}"]
            for name, param in zip(param_names, (w_ih, w_hh, b_ih, b_hh)):
                self.register_parameter(name, param)
            self._flat_weights_names.extend(param_names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def forward(self, input: Tensor, hx=None):
        if self.batch_first:
            input = input.transpose(0, 1)  # the loop runs time-major: (seq, batch, feature)
        max_batch_size = input.size(1)
        if hx is None:
            zeros = torch.zeros(self.num_layers, max_batch_size, self.hidden_size,
                                dtype=input.dtype, device=input.device)
            hx = (zeros, zeros)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            w = [getattr(self, n) for n in self._flat_weights_names[4 * layer:4 * layer + 4]]
            h, c = hx[0][layer], hx[1][layer]
            outputs = []
            for x_t in input.unbind(0):
                h, c = lstm_cell(x_t, h, c, *w)
                outputs.append(h)
            input = torch.stack(outputs, 0)
            h_n.append(h)
            c_n.append(c)
        output = input.transpose(0, 1) if self.batch_first else input
        return output, (torch.stack(h_n, 0), torch.stack(c_n, 0))
