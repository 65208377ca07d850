"""Wrong: RNNClassifier builds a one-layer ElmanRNN whatever num_layers says.
expect-message: num_layers not passed on
"""
import math

import torch
from torch import nn


class ElmanRNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", batch_first: bool = True):
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

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
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


class RNNClassifier(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_classes: int, num_layers: int = 1):
        super().__init__()
        self.rnn = ElmanRNN(input_size, hidden_size)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(x)
        return self.fc(output[:, -1])
