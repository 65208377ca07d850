"""Wrong: the count of real tokens is clamped at 2 (meant as a guard against dividing by 0), so a sample with a
single real token is averaged over 2. Longer samples and the padding tests do not show it.
expect-message: not the mean of the encoder output
"""
import math

import torch
from torch import nn


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """Return the (max_len, d_model) sinusoidal positional-encoding table."""
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)                  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)                        # 0, 2, 4, ...
    freq = torch.exp(-math.log(10000.0) * two_i / d_model)                          # 1 / 10000^(2i/d)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])                             # odd d_model: one fewer cos column
    return pe


class EncoderClassifier(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, num_classes: int,
                 max_len: int = 128, pad_id: int = 0, dropout: float = 0.1):
        super().__init__()
        self.pad_id = pad_id
        self.d_model = d_model
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        # A buffer, not a Parameter: it is not trained, but it moves with .to(device) and is saved.
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=4 * d_model, dropout=dropout,
                                           batch_first=True)
        # enable_nested_tensor=False: in eval mode under no_grad, PyTorch would otherwise pack the batch
        # into a nested tensor (a fast path that only exists for some devices/conditions); the plain
        # path gives the same numbers everywhere.
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: LongTensor (B, T) with pad_id marking padding -> logits (B, num_classes)."""
        T = tokens.shape[1]
        pad = tokens == self.pad_id                                    # (B, T), True = padding, on tokens.device
        x = self.embed(tokens) * math.sqrt(self.d_model) + self.pe[:T]
        x = self.encoder(x, src_key_padding_mask=pad)                  # (B, T, d_model)
        keep = (~pad).unsqueeze(-1).to(x.dtype)                        # (B, T, 1), 1 = real token
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=2.0)       # meant as a guard ... but halves 1-token samples
        return self.head(pooled)
