"""Exercise 15 — multi-head attention from scratch.

Write ``MultiHeadAttention(d_model, nhead, dropout=0.0)``, an ``nn.Module`` that
computes scaled dot-product attention with ``nhead`` heads **by hand** (matmul,
softmax), without ``F.scaled_dot_product_attention`` or ``nn.MultiheadAttention``.

Layers (exact names; each ``nn.Linear(d_model, d_model)`` with a bias):
``q_proj``, ``k_proj``, ``v_proj`` (input projections) and ``out_proj``.
``d_model`` is divisible by ``nhead``; ``head_dim = d_model // nhead`` (may be odd).

``forward(query, key, value, attn_mask=None, is_causal=False, key_padding_mask=None)``

* ``query``: ``(B, Tq, d_model)``; ``key`` and ``value``: ``(B, Tk, d_model)`` (batch first;
  ``Tq != Tk`` for cross-attention).
* Returns ``(output, weights)``: ``output`` ``(B, Tq, d_model)`` and the attention
  weights ``(B, nhead, Tq, Tk)`` (each row sums to 1 over the keys).
* Mask convention — every boolean mask here says **True = may attend** (the convention of
  ``F.scaled_dot_product_attention``). Careful: ``nn.MultiheadAttention`` uses the
  opposite one, where True means "masked out".

  - ``attn_mask``: bool ``(Tq, Tk)`` or ``(B, Tq, Tk)``; False entries are not attended.
  - ``key_padding_mask``: bool ``(B, Tk)``; True for real keys, False for padding.
  - ``is_causal=True``: query ``i`` may attend to keys ``j <= i`` only (lower-triangular
    ``(Tq, Tk)`` mask, aligned at the top-left like ``F.scaled_dot_product_attention``).

  The masks combine (a key must be allowed by all of them); every query keeps at
  least one key. Masked scores are set to ``-inf`` before the softmax.

Each head: ``softmax(q k^T / sqrt(head_dim)) v``; the heads are concatenated and passed
through ``out_proj``. ``dropout`` applies to the attention weights (training only).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0):
        super().__init__()
        assert d_model % nhead == 0, "d_model must be divisible by nhead"
        self.d_model, self.nhead, self.head_dim = d_model, nhead, d_model // nhead
        # TODO: four nn.Linear(d_model, d_model): q_proj, k_proj, v_proj, out_proj; and an nn.Dropout
        raise NotImplementedError("TODO: write this part")

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """Helper for forward (use it or not): (B, T, d_model) -> (B, nhead, T, head_dim)."""
        # TODO: view as (B, T, nhead, head_dim), then move the head axis before T
        raise NotImplementedError("TODO: write this part")

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attn_mask: torch.Tensor | None = None, is_causal: bool = False,
                key_padding_mask: torch.Tensor | None = None):
        """Returns (output (B, Tq, d_model), weights (B, nhead, Tq, Tk)). Masks: True = may attend."""
        # TODO: project and split the heads; scores = q @ k^T / sqrt(head_dim): (B, nhead, Tq, Tk)
        # TODO: build the "allowed" mask (causal mask on the input's device), fill the rest with -inf
        # TODO: softmax over the keys, dropout, weights @ v, merge the heads, out_proj
        raise NotImplementedError("TODO: write this part")
