"""Exercise 13 — an LSTM written by hand.

Write an LSTM that gives the same numbers as ``nn.LSTMCell`` / ``nn.LSTM(batch_first=True)``
when both hold the same weights, without calling ``nn.LSTM``, ``nn.LSTMCell``,
``torch.lstm`` or any other built-in recurrent op. One step, with the four gates stacked in
PyTorch's order i, f, g, o (rows ``[0:H]``, ``[H:2H]``, ``[2H:3H]``, ``[3H:4H]``)::

    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh      # (batch, 4H)
    i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    c' = f * c + i * g
    h' = o * tanh(c')

API
---
``lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh) -> (h', c')``: one step;
``x`` (batch, in), ``h`` and ``c`` (batch, H). A helper for the two classes below.

``LSTMCell(input_size, hidden_size)``: parameters named like ``nn.LSTMCell``'s:
``weight_ih`` (4H, in), ``weight_hh`` (4H, H), ``bias_ih`` (4H,), ``bias_hh`` (4H,).
``forward(x, state=None) -> (h', c')`` with ``x`` (batch, in) and ``state`` a pair ``(h, c)``
of (batch, H) tensors, or ``None`` for zeros on the input's device.

``LSTM(input_size, hidden_size, num_layers=1, batch_first=True)``: parameters registered
directly on the module and named like ``nn.LSTM``'s: ``weight_ih_l{k}`` (4H, in_k),
``weight_hh_l{k}`` (4H, H), ``bias_ih_l{k}`` (4H,), ``bias_hh_l{k}`` (4H,), with ``in_0 = input_size``
and ``in_k = hidden_size`` above; so ``load_state_dict(nn.LSTM(...).state_dict())`` works.
``forward(x, state=None) -> (output, (h_n, c_n))`` with ``x`` (batch, seq, input_size),
``output`` (batch, seq, H) from the last layer, ``state`` / ``(h_n, c_n)`` each
(num_layers, batch, H). ``state=None`` means zeros on the input's device (pass ``None``,
not ``(None, None)``). With ``batch_first=False``, ``x`` and ``output`` are time-major,
(seq, batch, ...), as in ``nn.LSTM``; the states keep their (num_layers, batch, H) shape.

Both classes keep their constructor's arguments as attributes, like ``nn.LSTMCell`` /
``nn.LSTM``: ``input_size``, ``hidden_size`` (and ``num_layers``, ``batch_first`` on ``LSTM``).
Every weight and bias starts as ``nn.LSTM``'s do: uniform(-1/sqrt(H), 1/sqrt(H)).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step. x: (batch, in); h, c: (batch, H). Returns (h', c'), each (batch, H)."""
    # BEGIN SOLUTION
    # TODO: gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh), then split in 4: i, f, g, o
    # TODO: sigmoid for i, f, o and tanh for g; c' = f * c + i * g; h' = o * tanh(c')
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c
    # END SOLUTION


class LSTMCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        # BEGIN SOLUTION
        # TODO: register weight_ih (4H, in), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,) as nn.Parameter,
        # TODO: initialised uniform(-1/sqrt(H), 1/sqrt(H)) like nn.LSTMCell; keep input_size, hidden_size as attributes
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        # END SOLUTION

    def forward(self, x: torch.Tensor, state=None):
        """x: (batch, input_size); state: (h, c), each (batch, hidden_size), or None. Returns (h', c')."""
        # BEGIN SOLUTION
        # TODO: when state is None, h = c = zeros (batch, hidden_size) on x's device; then one lstm_cell step
        if state is None:
            h = c = torch.zeros(x.shape[0], self.hidden_size, device=x.device, dtype=x.dtype)
        else:
            h, c = state
        return lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        # END SOLUTION


class LSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True):
        # BEGIN SOLUTION
        # TODO: for every layer k register weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}
        # TODO: directly on the module (setattr), shaped like nn.LSTM's, initialised like LSTMCell;
        # TODO: keep input_size, hidden_size, num_layers, batch_first as attributes
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        for k in range(num_layers):
            in_k = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.empty(4 * hidden_size, in_k)))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size)))
            setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.empty(4 * hidden_size)))
            setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.empty(4 * hidden_size)))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        # END SOLUTION

    def forward(self, x: torch.Tensor, state=None):
        """x: (batch, seq, input_size); state: (h0, c0), each (num_layers, batch, hidden_size), or None.

        Returns (output (batch, seq, hidden_size), (h_n, c_n)), h_n and c_n (num_layers, batch, hidden_size).
        """
        # BEGIN SOLUTION
        # TODO: batch_first=False: x is (seq, batch, in); transpose it first, and the output back at the end
        # TODO: state None -> zeros (num_layers, batch, hidden_size) on x's device, for both h0 and c0
        # TODO: layers outside, time steps inside; carry BOTH h and c from one step to the next
        # TODO: layer k > 0 reads layer k-1's outputs; stack outputs on dim 1 and final states on dim 0
        if not self.batch_first:
            x = x.transpose(0, 1)
        batch, seq, _ = x.shape
        if state is None:
            h0 = c0 = torch.zeros(self.num_layers, batch, self.hidden_size, device=x.device, dtype=x.dtype)
        else:
            h0, c0 = state
        layer_input, h_n, c_n = x, [], []
        for k in range(self.num_layers):
            weights = [getattr(self, f"{name}_l{k}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = h0[k], c0[k]
            steps = []
            for t in range(seq):
                h, c = lstm_cell(layer_input[:, t], h, c, *weights)
                steps.append(h)
            layer_input = torch.stack(steps, dim=1)
            h_n.append(h)
            c_n.append(c)
        output = layer_input if self.batch_first else layer_input.transpose(0, 1)
        return output, (torch.stack(h_n), torch.stack(c_n))
        # END SOLUTION
