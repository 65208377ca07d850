"""Correct alternative: einsum, q pre-scaled, an additive float mask (0 / -inf) built with torch.where,
heads split with unflatten/permute."""
import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0):
        super().__init__()
        self.nhead = nhead
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.p = dropout

    def heads(self, x):
        return x.unflatten(-1, (self.nhead, -1)).permute(0, 2, 1, 3)   # (B, h, T, hd)

    def forward(self, query, key, value, attn_mask=None, is_causal=False, key_padding_mask=None):
        q, k, v = self.heads(self.q_proj(query)), self.heads(self.k_proj(key)), self.heads(self.v_proj(value))
        q = q * q.shape[-1] ** -0.5
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k)
        Tq, Tk = scores.shape[-2:]
        ok = torch.ones_like(scores, dtype=torch.bool)
        if is_causal:
            i = torch.arange(Tq, device=query.device)[:, None]
            j = torch.arange(Tk, device=query.device)[None, :]
            ok = ok & (j <= i)
        if attn_mask is not None:
            ok = ok & (attn_mask[:, None] if attn_mask.dim() == 3 else attn_mask)
        if key_padding_mask is not None:
            ok = ok & key_padding_mask[:, None, None, :]
        bias = torch.where(ok, 0.0, float("-inf"))
        weights = torch.softmax(scores + bias, dim=-1)
        weights = nn.functional.dropout(weights, self.p, self.training)
        out = torch.einsum("bhqk,bhkd->bqhd", weights, v).flatten(2)
        return self.out_proj(out), weights
