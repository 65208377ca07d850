"""Alternative in the style of PyTorch's char-RNN classification tutorial ("NLP From Scratch: Classifying Names
with a Character-Level RNN", pytorch.org/tutorials/intermediate/char_rnn_classification_tutorial.html): the
recurrence is the tutorial's hand-made cell, hidden = tanh(i2h(input) + h2h(hidden)), stepped over a time-major
(seq, batch, input) tensor with `for i in range(line_tensor.size(0))`; parameters reset the way nn.RNN's
reset_parameters() does; and the classifier ends in nn.LogSoftmax(dim=1) (for nn.NLLLoss), reading the last
hidden state like the tutorial's self.h2o(hidden[0]) -- hidden[-1] here, the same with the tutorial's one layer.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import init


class ElmanRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", batch_first=True):
        super(ElmanRNN, self).__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError("Unknown nonlinearity '{}'. Select from 'tanh' or 'relu'.".format(nonlinearity))
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.nonlinearity = nonlinearity
        self.batch_first = batch_first
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size
            self.register_parameter("weight_ih_l{}".format(layer), nn.Parameter(torch.empty(hidden_size, layer_input_size)))
            self.register_parameter("weight_hh_l{}".format(layer), nn.Parameter(torch.empty(hidden_size, hidden_size)))
            self.register_parameter("bias_ih_l{}".format(layer), nn.Parameter(torch.empty(hidden_size)))
            self.register_parameter("bias_hh_l{}".format(layer), nn.Parameter(torch.empty(hidden_size)))
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def cell(self, layer, input, hidden):
        i2h = F.linear(input, getattr(self, "weight_ih_l{}".format(layer)), getattr(self, "bias_ih_l{}".format(layer)))
        h2h = F.linear(hidden, getattr(self, "weight_hh_l{}".format(layer)), getattr(self, "bias_hh_l{}".format(layer)))
        return torch.tanh(i2h + h2h) if self.nonlinearity == "tanh" else F.relu(i2h + h2h)

    def forward(self, input, hx=None):
        line_tensor = input.transpose(0, 1) if self.batch_first else input  # (seq, batch, input_size)
        if hx is None:
            hx = line_tensor.new_zeros(self.num_layers, line_tensor.size(1), self.hidden_size)
        h_n = []
        for layer in range(self.num_layers):
            hidden = hx[layer]
            outputs = []
            for i in range(line_tensor.size(0)):
                hidden = self.cell(layer, line_tensor[i], hidden)
                outputs.append(hidden)
            line_tensor = torch.stack(outputs)
            h_n.append(hidden)
        output = line_tensor.transpose(0, 1) if self.batch_first else line_tensor
        return output, torch.stack(h_n)


class RNNClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes, num_layers=1):
        super(RNNClassifier, self).__init__()
        self.rnn = ElmanRNN(input_size, hidden_size, num_layers)
        self.fc = nn.Linear(hidden_size, num_classes)  # the tutorial's h2o
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.fc(hidden[-1])
        output = self.softmax(output)
        return output
