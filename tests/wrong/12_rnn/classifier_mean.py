"""Wrong: the classifier averages the outputs over time instead of using the last step.
expect-message: the mean over time, not the last step
"""
import math

import torch
from torch import nn


class ElmanRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", batch_first=True):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.act = torch.tanh if nonlinearity == "tanh" else torch.relu
        k = 1 / math.sqrt(hidden_size)
        for l in range(num_layers):
            n_in = input_size if l == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{l}", nn.Parameter(torch.empty(hidden_size, n_in).uniform_(-k, k)))
            self.register_parameter(f"weight_hh_l{l}", nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-k, k)))
            self.register_parameter(f"bias_ih_l{l}", nn.Parameter(torch.empty(hidden_size).uniform_(-k, k)))
            self.register_parameter(f"bias_hh_l{l}", nn.Parameter(torch.empty(hidden_size).uniform_(-k, k)))

    def forward(self, x, h0=None):
        B, T, _ = x.shape
        if h0 is None:
            h0 = torch.zeros(self.num_layers, B, self.hidden_size, device=x.device)
        seq = x
        last = []
        for l in range(self.num_layers):
            W_ih, W_hh = getattr(self, f"weight_ih_l{l}"), getattr(self, f"weight_hh_l{l}")
            b_ih, b_hh = getattr(self, f"bias_ih_l{l}"), getattr(self, f"bias_hh_l{l}")
            h = h0[l]
            outs = []
            for t in range(T):
                h = self.act(seq[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
                outs.append(h)
            seq = torch.stack(outs, dim=1)
            last.append(h)
        return seq, torch.stack(last)


class RNNClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes, num_layers=1):
        super().__init__()
        self.rnn = ElmanRNN(input_size, hidden_size, num_layers)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out.mean(dim=1))
