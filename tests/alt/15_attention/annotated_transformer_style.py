"""Correct alternative in the style of Harvard NLP's "The Annotated Transformer" (MultiHeadedAttention and its
module-level attention() function): a list comprehension projecting and splitting q/k/v with
view(nbatches, -1, h, d_k).transpose(1, 2), masked scores filled with -1e9 instead of -inf (masked_fill(mask == 0,
-1e9)), p_attn returned next to the output, and the heads merged with transpose(1, 2).contiguous().view(...).
The layers carry this exercise's names instead of the original's clones(nn.Linear(d_model, d_model), 4)."""
import math

import torch
from torch import nn


def attention(query, key, value, mask=None, dropout=None):
    "Compute 'Scaled Dot Product Attention'"
    d_k = query.size(-1)
    scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    p_attn = scores.softmax(dim=-1)
    if dropout is not None:
        p_attn = dropout(p_attn)
    return torch.matmul(p_attn, value), p_attn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0):
        "Take in model size and number of heads."
        super().__init__()
        assert d_model % nhead == 0
        self.d_k = d_model // nhead
        self.h = nhead
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.attn = None
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, query, key, value, attn_mask=None, is_causal=False, key_padding_mask=None):
        nbatches, t_q, t_k = query.size(0), query.size(1), key.size(1)
        mask = torch.ones(nbatches, 1, t_q, t_k, dtype=torch.bool, device=query.device)
        if is_causal:
            mask = mask & torch.tril(torch.ones(t_q, t_k, dtype=torch.bool, device=query.device))
        if attn_mask is not None:
            mask = mask & (attn_mask.unsqueeze(1) if attn_mask.dim() == 3 else attn_mask)
        if key_padding_mask is not None:
            mask = mask & key_padding_mask.unsqueeze(1).unsqueeze(2)

        # 1) Do all the linear projections in batch from d_model => h x d_k
        query, key, value = [
            lin(x).view(nbatches, -1, self.h, self.d_k).transpose(1, 2)
            for lin, x in zip((self.q_proj, self.k_proj, self.v_proj), (query, key, value))
        ]

        # 2) Apply attention on all the projected vectors in batch.
        x, self.attn = attention(query, key, value, mask=mask, dropout=self.dropout)

        # 3) "Concat" using a view and apply a final linear.
        x = x.transpose(1, 2).contiguous().view(nbatches, -1, self.h * self.d_k)
        del query
        del key
        del value
        return self.out_proj(x), self.attn
