"""Exercise 19 — an LSTM encoder-decoder (Seq2Seq) with dot-product attention.

Token ids: ``PAD_ID = 0``, ``BOS_ID = 1``, ``EOS_ID = 2`` (also constructor arguments).
Every tensor is batch-first. Sources ``src`` ``(B, S)`` and targets ``(B, T)`` are right-padded
with ``pad_id``; every source has at least one real token. A target row is
``y_0 ... y_k EOS PAD ... PAD``.

API
---
``shift_right(tgt, bos_id=BOS_ID) -> (B, T)``
    The decoder input for teacher forcing: ``[BOS, y_0, ..., y_{T-2}]`` (the targets shifted
    one step right, BOS in front, the last target dropped).

``sequence_loss(scores, targets, pad_id=PAD_ID) -> scalar``
    Mean cross-entropy over the **non-pad** target tokens of ``scores (B, T, V)`` (logits or
    log-probabilities), i.e. ``F.cross_entropy`` with ``ignore_index=pad_id``.

``dot_attention(query, keys, src_mask) -> (context, weights)``
    Luong "dot" attention, unscaled: ``weights = softmax(query @ keys^T)`` over the source
    axis, with ``query (B, T, H)``, ``keys (B, S, H)`` and ``src_mask (B, S)`` bool,
    **True = real source token**; padded positions get weight exactly 0 (scores set to
    ``-inf`` before the softmax). ``context = weights @ keys``: ``(B, T, H)``; ``weights (B, T, S)``.

``Seq2Seq(src_vocab, tgt_vocab, emb_dim=32, hidden_size=64, pad_id=0, bos_id=1, eos_id=2)``
    ``nn.Embedding`` + one-layer ``nn.LSTM(batch_first=True)`` encoder; ``nn.Embedding`` +
    one-layer ``nn.LSTM(batch_first=True)`` decoder; dot attention of the decoder outputs over
    the encoder outputs; the logits come from a final ``nn.Linear(..., tgt_vocab)``.

    * ``encode(src) -> (enc_out (B, S, H), (h, c))``, ``h`` and ``c`` ``(1, B, H)``. Padding must
      not reach the final state: pack the embedded source
      (``pack_padded_sequence(..., lengths on the CPU, batch_first=True, enforce_sorted=False)``).
    * ``decode(tgt_in, state, enc_out, src_mask) -> (scores (B, T, V), state, weights (B, T, S))``:
      runs the decoder from ``state`` over the embedded ``tgt_in`` (teacher forcing); step ``t``
      may only use ``tgt_in[:, :t+1]``.
    * ``forward(src, tgt_in) -> (scores (B, T, V), weights (B, T, S))``: the decoder **starts
      from the encoder's final** ``(h, c)``, and attends with ``src_mask = src != pad_id``.
    * ``greedy_decode(src, max_len) -> LongTensor (B, L)``, ``L <= max_len``: batched greedy
      decoding from BOS, carrying the decoder state; each step's token is the argmax of the
      scores. A sequence that has produced EOS is finished: every later position holds
      ``pad_id``. You may stop early once every sequence has finished. Tensors you create go on
      ``src``'s device.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def shift_right(tgt: torch.Tensor, bos_id: int = BOS_ID) -> torch.Tensor:
    """(B, T) targets -> (B, T) decoder inputs [BOS, y_0, ..., y_{T-2}]."""
    # TODO: a (B, 1) column of bos_id in front of tgt[:, :-1]
    raise NotImplementedError("TODO: write this part")


def sequence_loss(scores: torch.Tensor, targets: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    """Mean cross-entropy of scores (B, T, V) against targets (B, T), pad positions ignored."""
    # TODO: flatten to (B*T, V) and (B*T,), cross-entropy that ignores pad_id
    raise NotImplementedError("TODO: write this part")


def dot_attention(query: torch.Tensor, keys: torch.Tensor, src_mask: torch.Tensor):
    """query (B, T, H), keys (B, S, H), src_mask (B, S) True = real -> (context (B, T, H), weights (B, T, S))."""
    # TODO: scores = query @ keys^T (B, T, S); -inf where the source is padding; softmax over S
    raise NotImplementedError("TODO: write this part")


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, emb_dim: int = 32, hidden_size: int = 64,
                 pad_id: int = PAD_ID, bos_id: int = BOS_ID, eos_id: int = EOS_ID):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        # TODO: source and target nn.Embedding, encoder and decoder nn.LSTM(emb_dim, hidden_size, batch_first=True),
        # TODO: a layer combining [decoder output; context], and the final nn.Linear(..., tgt_vocab)
        raise NotImplementedError("TODO: write this part")

    def encode(self, src: torch.Tensor):
        """src (B, S) -> (enc_out (B, S, H), (h, c) each (1, B, H)); padding never reaches (h, c)."""
        # TODO: lengths = number of non-pad tokens (on the CPU); pack, run the LSTM, unpack to length S
        raise NotImplementedError("TODO: write this part")

    def decode(self, tgt_in: torch.Tensor, state, enc_out: torch.Tensor, src_mask: torch.Tensor):
        """tgt_in (B, T) from state (h, c) -> (scores (B, T, V), new state, weights (B, T, S))."""
        # TODO: embed tgt_in, run the decoder LSTM from state, attend over enc_out with src_mask,
        # TODO: combine the decoder outputs with the contexts, final Linear
        raise NotImplementedError("TODO: write this part")

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor):
        """Teacher forcing: src (B, S), tgt_in (B, T) -> (scores (B, T, V), weights (B, T, S))."""
        # TODO: encode, then decode from the encoder's final (h, c) with src_mask = src != pad_id
        raise NotImplementedError("TODO: write this part")

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int) -> torch.Tensor:
        """src (B, S) -> generated tokens (B, L), L <= max_len; pad_id after each sequence's EOS."""
        # TODO: encode once; start from a (B, 1) column of BOS on src's device and the encoder's state
        # TODO: each step: decode one token, argmax, pad_id where already finished, mark EOS as finished
        raise NotImplementedError("TODO: write this part")
