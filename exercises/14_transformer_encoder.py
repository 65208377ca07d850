"""Exercise 14 — a Transformer encoder classifier.

Build a sequence classifier from ``nn.TransformerEncoderLayer``:

    tokens (B, T) --embedding--> (B, T, d_model) --+ positional encoding-->
    nn.TransformerEncoder (key-padding mask) --mean over REAL tokens--> (B, d_model)
    --nn.Linear--> logits (B, num_classes)

API
---
``sinusoidal_encoding(max_len, d_model) -> Tensor (max_len, d_model)``
    The fixed table of "Attention Is All You Need"::

        PE[pos, 2i]   = sin(pos / 10000 ** (2i / d_model))
        PE[pos, 2i+1] = cos(pos / 10000 ** (2i / d_model))

    (float32; ``d_model`` is even in this exercise).

``EncoderClassifier(vocab_size, d_model, nhead, num_layers, num_classes, max_len=128, pad_id=0, dropout=0.1)``
    ``forward(tokens)``: ``tokens`` is a LongTensor ``(B, T)`` with ``T <= max_len``;
    positions holding ``pad_id`` are padding (every sample has at least one real
    token). Returns logits ``(B, num_classes)``.

Requirements
------------
* Inputs are batch-first ``(B, T, d_model)``: build the layers with ``batch_first=True``.
  Without it PyTorch reads ``(B, T, D)`` as ``(T, B, D)`` and attention mixes the
  samples of a batch.
* The positional table is computed once for ``max_len`` positions and stored with
  ``register_buffer`` (so ``.to(device)`` moves it and the optimizer ignores it);
  ``forward`` adds its first ``T`` rows.
* Padding must not matter: pass ``src_key_padding_mask`` (True = padding, i.e.
  ``tokens == pad_id``; it is then on the tokens' device) and average the encoder
  output over the real tokens only. Appending extra padding must not change the logits.
"""
import math

import torch
from torch import nn


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """Return the (max_len, d_model) sinusoidal positional-encoding table."""
    # TODO: positions 0..max_len-1 as a column; frequencies 1 / 10000 ** (2i / d_model) for even indices 2i
    # TODO: even columns get sin(pos * freq), odd columns cos(pos * freq)
    raise NotImplementedError("TODO: write this part")


class EncoderClassifier(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, num_classes: int,
                 max_len: int = 128, pad_id: int = 0, dropout: float = 0.1):
        super().__init__()
        # TODO: an nn.Embedding, the positional table as a buffer, an nn.TransformerEncoder of
        # TODO: num_layers nn.TransformerEncoderLayer(batch_first=True), and a final nn.Linear
        raise NotImplementedError("TODO: write this part")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: LongTensor (B, T) with pad_id marking padding -> logits (B, num_classes)."""
        # TODO: padding mask (True = padding), embedding (x sqrt(d_model)) + first T rows of the table,
        # TODO: encoder with src_key_padding_mask, mean over real tokens only, then the linear head
        raise NotImplementedError("TODO: write this part")
