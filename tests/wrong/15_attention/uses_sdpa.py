"""Wrong for this exercise: the output comes from F.scaled_dot_product_attention (weights recomputed by hand).
expect-message: attention written by hand
"""
import math

import torch
from torch import nn
from torch.nn.functional import scaled_dot_product_attention


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0):
        super().__init__()
        self.d_model, self.nhead, self.head_dim = d_model, nhead, d_model // nhead
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, attn_mask=None, is_causal=False, key_padding_mask=None):
        B, Tq, _ = query.shape
        Tk = key.shape[1]
        split = lambda x: x.view(B, -1, self.nhead, self.head_dim).transpose(1, 2)
        q, k, v = split(self.q_proj(query)), split(self.k_proj(key)), split(self.v_proj(value))
        allowed = torch.ones(Tq, Tk, dtype=torch.bool, device=query.device)
        if is_causal:
            allowed = allowed.tril()
        if attn_mask is not None:
            allowed = allowed & (attn_mask if attn_mask.dim() == 2 else attn_mask.unsqueeze(1))
        if key_padding_mask is not None:
            allowed = allowed & key_padding_mask[:, None, None, :]
        out = scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        scores = (q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)).masked_fill(~allowed, float("-inf"))
        weights = scores.softmax(dim=-1)
        return self.out_proj(out.transpose(1, 2).reshape(B, Tq, self.d_model)), weights
