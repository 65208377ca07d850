"""Wrong: heads split with view(B, nhead, T, head_dim) (no transpose), which cuts the sequence into nhead pieces;
merged back with the matching reshape. The shapes are right; a masked check must blame the split, not the mask.
expect-message: view(B, nhead, T, head_dim)
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
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """Helper for forward (use it or not): (B, T, d_model) -> (B, nhead, T, head_dim)."""
        B, T, _ = x.shape
        return x.view(B, self.nhead, T, self.head_dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attn_mask: torch.Tensor | None = None, is_causal: bool = False,
                key_padding_mask: torch.Tensor | None = None):
        """Returns (output (B, Tq, d_model), weights (B, nhead, Tq, Tk)). Masks: True = may attend."""
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
        out = (weights @ v).reshape(B, Tq, self.d_model)   # merge heads
        return self.out_proj(out), weights
