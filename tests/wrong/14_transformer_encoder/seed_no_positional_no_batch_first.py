"""Wrong (the seed's model): encoder layers in a ModuleList without batch_first=True AND no positional encoding
added in forward. The missing batch_first mixes the samples of a batch, which used to hide the missing positional
encoding from a batched order test; comparing orderings one sample at a time names it.
expect-message: positional encoding is never added
"""
import math

import torch
from torch import nn


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """Return the (max_len, d_model) sinusoidal positional-encoding table."""
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)
    freq = torch.exp(-math.log(10000.0) * two_i / d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class EncoderClassifier(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, num_classes: int,
                 max_len: int = 128, pad_id: int = 0, dropout: float = 0.1):
        super().__init__()
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model))
        self.encoders = nn.ModuleList([nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead, dropout=dropout)
                                       for _ in range(num_layers)])
        self.decoder = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens == self.pad_id
        memory = self.embed(tokens)                      # self.pe is never added
        for encoder_layer in self.encoders:
            memory = encoder_layer(memory)               # (B, T, D) read as (T, B, D); no padding mask
        keep = (~pad).unsqueeze(-1).float()
        return self.decoder((memory * keep).sum(1) / keep.sum(1))
