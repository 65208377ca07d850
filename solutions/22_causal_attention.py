"""Exercise 22 — GPT-style causal self-attention with a KV cache.

Write ``CausalSelfAttention(d_model, nhead, max_len=256)``, an ``nn.Module`` for decoder-only
(GPT-style) self-attention, computed **by hand** (matmul, masking, softmax): no
``F.scaled_dot_product_attention``, no ``nn.MultiheadAttention``.

Layers (the only parameters; the grader finds them by shape):

* ``qkv = nn.Linear(d_model, 3 * d_model)`` — one fused projection. Its output splits along the
  last dim into ``q, k, v`` **in that order**, ``d_model`` features each (nanoGPT's ``c_attn``):
  ``q, k, v = self.qkv(x).split(d_model, dim=-1)``.
* ``proj = nn.Linear(d_model, d_model)`` — the output projection.

Heads: ``head_dim = d_model // nhead`` (may be odd); ``(B, T, d_model) -> (B, nhead, T, head_dim)``
by ``view(B, T, nhead, head_dim).transpose(1, 2)``. Scores are ``q @ k^T / sqrt(head_dim)``.

``forward(x, cache=None) -> (y, (k, v))``

* ``x``: ``(B, T, d_model)``, batch first; ``y``: ``(B, T, d_model)``.
* ``cache``: ``None`` or the ``(k, v)`` pair a previous call returned for the ``P`` positions
  before ``x``; each ``(B, nhead, P, head_dim)``: keys and values as projected and split into
  heads (no scaling applied).
* The returned cache holds the keys and values of all ``P + T`` positions, the new ones appended
  on the time axis: each ``(B, nhead, P + T, head_dim)``. It is returned with or without an
  incoming cache.
* Causal: the new token ``i`` (absolute position ``P + i``) attends to the keys ``0 .. P + i``.
  With a cache the scores are ``(B, nhead, T, P + T)``, so the mask is offset by ``P`` (rows
  ``P .. P+T-1`` of the ``(P+T) x (P+T)`` lower-triangular mask), not aligned at the top left.
* The mask is either a buffer registered with ``persistent=False`` (it moves with ``.to(device)``
  and stays out of the ``state_dict``; ``max_len`` bounds ``P + T``) or built in ``forward`` on
  ``x``'s device. ``state_dict()`` holds the two layers' weights and biases only.

Feeding a sequence token by token (or in chunks) with the cache gives the same outputs as one
call on the whole sequence.
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
        # BEGIN SOLUTION
        # TODO: qkv = nn.Linear(d_model, 3 * d_model); proj = nn.Linear(d_model, d_model)
        # TODO: a (max_len, max_len) lower-triangular bool mask, register_buffer(..., persistent=False)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.register_buffer("mask", torch.ones(max_len, max_len, dtype=torch.bool).tril(), persistent=False)
        # END SOLUTION

    def forward(self, x: torch.Tensor, cache=None):
        """x: (B, T, d_model); cache: None or (k, v), each (B, nhead, P, head_dim).

        Returns (y (B, T, d_model), (k, v)) with k, v each (B, nhead, P + T, head_dim).
        """
        # BEGIN SOLUTION
        # TODO: q, k, v = self.qkv(x).split(d_model, dim=-1); split each into heads (B, nhead, T, head_dim)
        # TODO: with a cache, prepend its keys and values on the time axis (dim=2); P = past length
        # TODO: scores (B, nhead, T, P+T) / sqrt(head_dim); new token i sees keys 0..P+i (offset mask)
        # TODO: softmax over the keys, @ v, merge the heads back to (B, T, d_model), proj
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split(self.d_model, dim=-1)
        q, k, v = (t.view(B, T, self.nhead, self.head_dim).transpose(1, 2) for t in (q, k, v))
        P = 0
        if cache is not None:
            past_k, past_v = cache
            P = past_k.shape[2]
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        if P + T > self.max_len:
            raise ValueError(f"sequence of {P + T} positions is longer than max_len={self.max_len}")
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)         # (B, h, T, P+T)
        allowed = self.mask[P:P + T, :P + T]                                 # rows P..P+T-1
        scores = scores.masked_fill(~allowed, float("-inf"))
        att = F.softmax(scores, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.d_model)
        return self.proj(y), (k, v)
        # END SOLUTION
