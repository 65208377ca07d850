"""Correct alternative in the style of PyTorch's own tutorial "Language Modeling with nn.Transformer"
(pytorch/tutorials, beginner_source/transformer_tutorial.py): a PositionalEncoding module holding a
(max_len, 1, d_model) buffer and its own dropout, sequence-first layers (the tutorial's default, so the
batch is transposed to (T, B) here), embedding scaled by sqrt(d_model); pooled with a masked mean for the
classifier head this exercise asks for.
"""
import math

import torch
from torch import nn
from torch.nn import TransformerEncoder, TransformerEncoderLayer


class PositionalEncoding(nn.Module):

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)

        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer('pe', pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Arguments:
            x: Tensor, shape ``[seq_len, batch_size, embedding_dim]``
        """
        x = x + self.pe[:x.size(0)]
        return self.dropout(x)


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    return PositionalEncoding(d_model, 0.0, max_len).pe[:, 0]


class EncoderClassifier(nn.Module):

    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, num_classes: int,
                 max_len: int = 128, pad_id: int = 0, dropout: float = 0.1):
        super().__init__()
        self.model_type = 'Transformer'
        self.pad_id = pad_id
        self.pos_encoder = PositionalEncoding(d_model, dropout, max_len)
        encoder_layers = TransformerEncoderLayer(d_model, nhead, 4 * d_model, dropout)
        self.transformer_encoder = TransformerEncoder(encoder_layers, num_layers, enable_nested_tensor=False)
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.d_model = d_model
        self.linear = nn.Linear(d_model, num_classes)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        """
        Arguments:
            src: Tensor, shape ``[batch_size, seq_len]``

        Returns:
            output Tensor of shape ``[batch_size, num_classes]``
        """
        padding_mask = src == self.pad_id                       # [batch_size, seq_len]
        src = self.embedding(src.t()) * math.sqrt(self.d_model)  # [seq_len, batch_size, d_model]
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, src_key_padding_mask=padding_mask)
        keep = (~padding_mask).t().unsqueeze(-1).float()         # [seq_len, batch_size, 1]
        output = (output * keep).sum(0) / keep.sum(0)
        output = self.linear(output)
        return output
