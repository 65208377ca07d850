"""Wrong: the length guard is off by one (P + T >= max_len), so a sequence that exactly fills max_len is refused.
expect-message: off-by-one
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, nhead: int, max_len: int = 256):
        super().__init__()
        assert d_model % nhead == 0, "d_model must be divisible by nhead"
        self.d_model, self.nhead, self.head_dim, self.max_len = d_model, nhead, d_model // nhead, max_len
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.register_buffer("mask", torch.ones(max_len, max_len, dtype=torch.bool).tril(), persistent=False)

    def forward(self, x: torch.Tensor, cache=None):
        """x: (B, T, d_model); cache: None or (k, v), each (B, nhead, P, head_dim).

        Returns (y (B, T, d_model), (k, v)) with k, v each (B, nhead, P + T, head_dim).
        """
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split(self.d_model, dim=-1)
        q, k, v = (t.view(B, T, self.nhead, self.head_dim).transpose(1, 2) for t in (q, k, v))
        P = 0
        if cache is not None:
            past_k, past_v = cache
            P = past_k.shape[2]
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        if P + T >= self.max_len:  # off by one: refuses a full window
            raise ValueError(f"sequence of {P + T} positions is longer than max_len={self.max_len}")
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)         # (B, h, T, P+T)
        allowed = self.mask[P:P + T, :P + T]                                 # rows P..P+T-1
        scores = scores.masked_fill(~allowed, float("-inf"))
        att = F.softmax(scores, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.d_model)
        return self.proj(y), (k, v)
