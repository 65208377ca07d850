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
    # TODO: gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh), then split in 4: i, f, g, o
    # TODO: sigmoid for i, f, o and tanh for g; c' = f * c + i * g; h' = o * tanh(c')
    raise NotImplementedError("TODO: write this part")


class LSTMCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        # TODO: register weight_ih (4H, in), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,) as nn.Parameter,
        # TODO: initialised uniform(-1/sqrt(H), 1/sqrt(H)) like nn.LSTMCell; keep input_size, hidden_size as attributes
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor, state=None):
        """x: (batch, input_size); state: (h, c), each (batch, hidden_size), or None. Returns (h', c')."""
        # TODO: when state is None, h = c = zeros (batch, hidden_size) on x's device; then one lstm_cell step
        raise NotImplementedError("TODO: write this part")


class LSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True):
        # TODO: for every layer k register weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}
        # TODO: directly on the module (setattr), shaped like nn.LSTM's, initialised like LSTMCell;
        # TODO: keep input_size, hidden_size, num_layers, batch_first as attributes
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor, state=None):
        """x: (batch, seq, input_size); state: (h0, c0), each (num_layers, batch, hidden_size), or None.

        Returns (output (batch, seq, hidden_size), (h_n, c_n)), h_n and c_n (num_layers, batch, hidden_size).
        """
        # TODO: batch_first=False: x is (seq, batch, in); transpose it first, and the output back at the end
        # TODO: state None -> zeros (num_layers, batch, hidden_size) on x's device, for both h0 and c0
        # TODO: layers outside, time steps inside; carry BOTH h and c from one step to the next
        # TODO: layer k > 0 reads layer k-1's outputs; stack outputs on dim 1 and final states on dim 0
        raise NotImplementedError("TODO: write this part")
