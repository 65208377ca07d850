"""Exercise 12 — an Elman RNN written by hand.

Write ``ElmanRNN``, a multi-layer Elman RNN that gives the same numbers as
``nn.RNN(input_size, hidden_size, num_layers, nonlinearity=..., batch_first=True)``
when both hold the same weights, without calling ``nn.RNN``, ``nn.RNNCell``,
``torch.rnn_tanh`` or any other built-in RNN op. For every layer ``k`` and step ``t``::

    h_t = act(x_t @ weight_ih_lk.T + bias_ih_lk + h_{t-1} @ weight_hh_lk.T + bias_hh_lk)

where ``act`` is ``tanh`` (or ``relu``), ``x_t`` is the input of step ``t`` for layer 0
and the output of layer ``k - 1`` at step ``t`` for the layers above.

API
---
``ElmanRNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", batch_first=True)``

* parameters named exactly like ``nn.RNN``'s, registered directly on the module:
  ``weight_ih_l{k}`` (hidden, in_k), ``weight_hh_l{k}`` (hidden, hidden), ``bias_ih_l{k}`` (hidden,),
  ``bias_hh_l{k}`` (hidden,), where ``in_0 = input_size`` and ``in_k = hidden_size`` for ``k > 0``;
  so ``rnn.load_state_dict(nn.RNN(...).state_dict())`` works; every one of them (biases included)
  initialised like ``nn.RNN``'s: uniform over ``(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``.
* attributes ``input_size``, ``hidden_size``, ``num_layers``, ``nonlinearity`` and ``batch_first``
  holding the arguments, like ``nn.RNN``'s; a ``nonlinearity`` other than ``"tanh"`` or ``"relu"``
  is refused with an error (``nn.RNN`` raises ``ValueError``).
* ``forward(x, h0=None) -> (output, h_n)``: ``x`` is ``(batch, seq, input_size)``;
  ``output`` is ``(batch, seq, hidden_size)`` (the last layer's hidden state at every step);
  ``h0`` and ``h_n`` are ``(num_layers, batch, hidden_size)``. When ``h0`` is not given, start
  from zeros of that shape, on the input's device and dtype. With ``batch_first=False``, ``x`` is
  ``(seq, batch, input_size)`` and ``output`` is ``(seq, batch, hidden_size)``, as in ``nn.RNN``;
  ``h0`` and ``h_n`` keep their shape.

``RNNClassifier(input_size, hidden_size, num_classes, num_layers=1)``

* holds an ``ElmanRNN`` as ``self.rnn`` and an ``nn.Linear(hidden_size, num_classes)`` as ``self.fc``;
* ``forward(x) -> logits`` of shape ``(batch, num_classes)``, computed from the RNN output
  at the LAST time step: ``self.fc(output[:, -1])``. Log-probabilities (a final ``nn.LogSoftmax(dim=1)``,
  as in PyTorch's char-RNN tutorial, for ``nn.NLLLoss``) are accepted too; probabilities (``softmax``) are not.
"""
import math

import torch
from torch import nn


class ElmanRNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", batch_first: bool = True):
        # BEGIN SOLUTION
        # TODO: call super().__init__(); keep input_size, hidden_size, num_layers, nonlinearity, batch_first
        # TODO: as attributes; raise ValueError unless nonlinearity is "tanh" or "relu"
        # TODO: for every layer k register weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}
        # TODO: as nn.Parameter (setattr(self, name, nn.Parameter(...)) works), shaped like nn.RNN's
        # TODO: initialise all of them (biases too) like nn.RNN: uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.nonlinearity, self.batch_first = nonlinearity, batch_first
        for k in range(num_layers):
            in_k = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.empty(hidden_size, in_k)))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.empty(hidden_size)))
            setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.empty(hidden_size)))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        # END SOLUTION

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        """x: (batch, seq, input_size); h0: (num_layers, batch, hidden_size) or None.

        Returns (output (batch, seq, hidden_size), h_n (num_layers, batch, hidden_size)).
        With batch_first=False, x is (seq, batch, input_size) and output (seq, batch, hidden_size).
        """
        # BEGIN SOLUTION
        # TODO: if not batch_first, x is (seq, batch, input_size): transpose it, and transpose output back at the end
        # TODO: if h0 is None, use zeros (num_layers, batch, hidden_size) with device=x.device, dtype=x.dtype
        # TODO: run the layers one after the other; inside a layer, loop over time steps
        # TODO: (mind the orientation: x_t @ W.T, as F.linear(x_t, W, b) does)
        # TODO: stack the last layer's states into output and every layer's final state into h_n
        if not self.batch_first:
            x = x.transpose(0, 1)
        batch, seq, _ = x.shape
        if h0 is None:
            h0 = torch.zeros(self.num_layers, batch, self.hidden_size, device=x.device, dtype=x.dtype)
        act = torch.tanh if self.nonlinearity == "tanh" else torch.relu
        layer_input = x
        finals = []
        for k in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")
            h = h0[k]
            steps = []
            for t in range(seq):
                h = act(nn.functional.linear(layer_input[:, t], w_ih, b_ih) + nn.functional.linear(h, w_hh, b_hh))
                steps.append(h)
            layer_input = torch.stack(steps, dim=1)
            finals.append(h)
        output = layer_input if self.batch_first else layer_input.transpose(0, 1)
        return output, torch.stack(finals, dim=0)
        # END SOLUTION


class RNNClassifier(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_classes: int, num_layers: int = 1):
        # BEGIN SOLUTION
        # TODO: register an ElmanRNN as self.rnn and an nn.Linear(hidden_size, num_classes) as self.fc
        super().__init__()
        self.rnn = ElmanRNN(input_size, hidden_size, num_layers)
        self.fc = nn.Linear(hidden_size, num_classes)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, seq, input_size) -> logits (batch, num_classes), from the last time step."""
        # BEGIN SOLUTION
        # TODO: run the RNN, keep the output at the LAST time step, apply self.fc
        output, _ = self.rnn(x)
        return self.fc(output[:, -1])
        # END SOLUTION
