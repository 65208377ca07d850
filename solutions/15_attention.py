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
        # BEGIN SOLUTION
        # TODO: four nn.Linear(d_model, d_model): q_proj, k_proj, v_proj, out_proj; and an nn.Dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        # END SOLUTION

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """Helper for forward (use it or not): (B, T, d_model) -> (B, nhead, T, head_dim)."""
        # BEGIN SOLUTION
        # TODO: view as (B, T, nhead, head_dim), then move the head axis before T
        B, T, _ = x.shape
        return x.view(B, T, self.nhead, self.head_dim).transpose(1, 2)
        # END SOLUTION

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attn_mask: torch.Tensor | None = None, is_causal: bool = False,
                key_padding_mask: torch.Tensor | None = None):
        """Returns (output (B, Tq, d_model), weights (B, nhead, Tq, Tk)). Masks: True = may attend."""
        # BEGIN SOLUTION
        # TODO: project and split the heads; scores = q @ k^T / sqrt(head_dim): (B, nhead, Tq, Tk)
        # TODO: build the "allowed" mask (causal mask on the input's device), fill the rest with -inf
        # TODO: softmax over the keys, dropout, weights @ v, merge the heads, out_proj
        B, Tq, _ = query.shape
        Tk = key.shape[1]
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(key)), self._split(self.v_proj(value))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)          # (B, h, Tq, Tk)

        allowed = None
        if is_causal:
            allowed = torch.ones(Tq, Tk, dtype=torch.bool, device=query.device).tril()
        if attn_mask is not None:
            m = attn_mask if attn_mask.dim() == 2 else attn_mask.unsqueeze(1)  # (Tq, Tk) or (B, 1, Tq, Tk)
            allowed = m if allowed is None else allowed & m
        if key_padding_mask is not None:
            m = key_padding_mask[:, None, None, :]                           # (B, 1, 1, Tk)
            allowed = m if allowed is None else allowed & m
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))

        weights = self.dropout(F.softmax(scores, dim=-1))                    # over the keys
        out = (weights @ v).transpose(1, 2).reshape(B, Tq, self.d_model)   # merge heads
        return self.out_proj(out), weights
        # END SOLUTION
