"""Correct alternative: sequence-first layers with explicit transposes, a (1, max_len, d) buffer built with pow,
no embedding scaling, and pooling with masked_fill + a length count."""
import torch
from torch import nn


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    pos = torch.arange(max_len).float()[:, None]
    i = torch.arange(d_model)
    denom = torch.pow(10000.0, (i - i % 2).float() / d_model)    # 2i / d for both columns of a pair
    angles = pos / denom
    return torch.where(i % 2 == 0, torch.sin(angles), torch.cos(angles))


class EncoderClassifier(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, num_classes: int,
                 max_len: int = 128, pad_id: int = 0, dropout: float = 0.1):
        super().__init__()
        self.pad_id = pad_id
        self.tok = nn.Embedding(vocab_size, d_model)
        self.register_buffer("pos_table", sinusoidal_encoding(max_len, d_model).unsqueeze(0))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2 * d_model, dropout=dropout)
            for _ in range(num_layers))                           # (T, B, D) layers: we transpose ourselves
        self.norm = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        is_pad = tokens.eq(self.pad_id)
        x = self.tok(tokens) + self.pos_table[:, : tokens.size(1)]
        x = x.transpose(0, 1)                                     # (T, B, D)
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=is_pad)
        x = self.norm(x.transpose(0, 1))                          # (B, T, D)
        summed = x.masked_fill(is_pad.unsqueeze(-1), 0.0).sum(1)
        count = (~is_pad).sum(1, keepdim=True)
        return self.fc(summed / count)
