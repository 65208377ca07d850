"""Alternative, PyTorch-forum / DDP-docs style: torch's own consume_prefix_in_state_dict_if_present strips the
prefix; the features are gathered from pad_packed_sequence's output (forward half at lengths - 1, backward
half at step 0); the top layer is found with a regex; nn.Module.load_state_dict's own error is the strict error.
"""
import re
from collections import OrderedDict

import torch
import torch.nn as nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def load_encoder(encoder, checkpoint, prefix):
    state = OrderedDict((k, v) for k, v in checkpoint.items() if k.startswith(prefix))
    consume_prefix_in_state_dict_if_present(state, prefix)
    encoder.load_state_dict(state)  # strict by default: lists missing and unexpected keys
    return encoder


class SequenceClassifier(nn.Module):
    def __init__(self, encoder, num_classes):
        super(SequenceClassifier, self).__init__()
        self.encoder = encoder
        for param in self.encoder.parameters():
            param.requires_grad = False
        self.num_directions = 2 if encoder.bidirectional else 1
        self.head = nn.Linear(encoder.hidden_size * self.num_directions, num_classes)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        packed_out, _ = self.encoder(packed)
        out, _ = pad_packed_sequence(packed_out, batch_first=True)   # (B, max_len, H * D), zeros after the end
        H = self.encoder.hidden_size
        idx = (lengths - 1).to(out.device)
        rows = torch.arange(out.size(0), device=out.device)
        last = out[rows, idx, :H]                                    # forward direction at the last real step
        if self.num_directions == 2:
            last = torch.cat([last, out[:, 0, H:]], dim=1)           # backward direction after reading back to 0
        return self.head(last)


def unfreeze_top_layer(model, head_lr, top_lr):
    top = model.encoder.num_layers - 1
    pattern = re.compile(rf"(weight|bias)_(ih|hh)_l{top}(_reverse)?")
    top_params = []
    for name, param in model.encoder.named_parameters():
        if pattern.fullmatch(name):
            param.requires_grad = True
            top_params.append(param)
    return torch.optim.Adam([
        {"params": model.head.parameters(), "lr": head_lr},
        {"params": top_params, "lr": top_lr},
    ])
