"""Correct, written with einsum and a mask built in forward on x's device (folded heads via
unflatten, an additive -inf mask from triu(diagonal=P+1), torch.baddbmm-free), like many forum answers.
"""
import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, nhead, max_len=256):
        super().__init__()
        self.h, self.d = nhead, d_model
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x, cache=None):
        B, T, d = x.shape
        qkv = self.qkv(x).unflatten(-1, (3, self.h, d // self.h))      # (B, T, 3, h, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)                 # each (B, h, T, hd)
        if cache is not None:
            k, v = torch.cat((cache[0], k), 2), torch.cat((cache[1], v), 2)
        P = k.shape[2] - T
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * (d // self.h) ** -0.5
        future = torch.full((T, P + T), float("-inf"), device=x.device).triu(diagonal=P + 1)
        att = (scores + future).softmax(dim=-1)
        y = torch.einsum("bhqk,bhkd->bqhd", att, v).flatten(2)
        return self.proj(y), (k, v)
