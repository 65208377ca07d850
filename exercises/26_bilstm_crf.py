"""Exercise 26 — sequence labelling with a BiLSTM-CRF.

Notation: ``B`` batch, ``T`` padded length, ``C`` number of tags. Everything is **batch first**.
A batch is ``tokens`` (B, T) int64, right-padded with ``pad_idx``, and ``lengths`` (B,): an int64
**CPU** tensor (or a list), every length >= 1, in **any order** (not sorted). The mask is
``mask[b, t] = t < lengths[b]`` (bool, True at real tokens; ``mask[:, 0]`` is always True).

``CRF(num_tags)`` — a linear-chain CRF, an ``nn.Module`` with three ``nn.Parameter``:
``start_transitions`` (C,), ``end_transitions`` (C,) and ``transitions`` (C, C), where
**``transitions[i, j]`` is the score of moving from tag i (at step t-1) to tag j (at step t)**
(pytorch-crf's convention; the PyTorch BiLSTM-CRF tutorial stores the transpose). The score of a
path ``y_0 .. y_{L-1}`` through ``emissions`` (T, C) of a sequence of length ``L`` is::

    start_transitions[y_0] + sum_{t<L} emissions[t, y_t]
        + sum_{1<=t<L} transitions[y_{t-1}, y_t] + end_transitions[y_{L-1}]

* ``log_partition(emissions (B, T, C), mask (B, T)) -> (B,)``: ``log sum_y exp(score(y))`` over all
  ``C**L`` paths of each sequence, by the forward algorithm (``torch.logsumexp``), not by enumeration.
* ``neg_log_likelihood(emissions, tags (B, T) int64, mask) -> scalar``: ``log_partition - score(tags)``
  **summed over the batch** (reduction = sum, pytorch-crf's default). Tags at padded positions are
  arbitrary valid ids and must not matter.
* ``decode(emissions, mask) -> list[list[int]]``: the Viterbi path of each sequence, the list for
  sequence ``b`` holding ``lengths[b]`` tag ids.

Positions where the mask is False never influence any of the three (emissions or tags there are junk).

``BiLSTMCRF(vocab_size, num_tags, embedding_dim=32, hidden_size=32, pad_idx=0)`` with
``embedding`` (``nn.Embedding``, ``padding_idx=pad_idx``), ``lstm`` (``nn.LSTM(embedding_dim,
hidden_size, batch_first=True, bidirectional=True)``), ``hidden2tag`` (``nn.Linear(2 * hidden_size,
num_tags)``) and ``crf`` (a ``CRF(num_tags)``):

* ``forward(tokens, lengths) -> emissions (B, T, C)``: embed, ``pack_padded_sequence(...,
  batch_first=True, enforce_sorted=False)`` so the backward direction starts at each sequence's last
  real token (never reads padding), ``pad_packed_sequence(..., total_length=T)``, ``hidden2tag``.
* ``loss(tokens, tags, lengths) -> scalar``: ``crf.neg_log_likelihood`` of the emissions (sum over batch).
* ``decode(tokens, lengths) -> list[list[int]]``: ``crf.decode`` of the emissions.

The mask is built on the tokens' device; ``lengths`` stays on the CPU for packing.
"""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def lengths_to_mask(lengths, T: int, device=None) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool mask, True at real tokens, on ``device``."""
    # TODO: compare torch.arange(T) with lengths[:, None], both on `device`
    raise NotImplementedError("TODO: write this part")


class CRF(nn.Module):
    def __init__(self, num_tags: int):
        super().__init__()
        self.num_tags = num_tags
        # TODO: three nn.Parameter: start_transitions (C,), end_transitions (C,), transitions (C, C),
        # TODO: initialised uniform(-0.1, 0.1); transitions[i, j] = score of tag i -> tag j
        raise NotImplementedError("TODO: write this part")

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B,) score of the given tag paths (helper for neg_log_likelihood; use it or not)."""
        # TODO: start + emissions of the gold tags + transitions between consecutive gold tags (real steps only)
        # TODO: + end_transitions of each sequence's LAST REAL tag (at index length - 1, not T - 1)
        raise NotImplementedError("TODO: write this part")

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B,) log of the sum of exp(score) over all paths: the forward algorithm."""
        # TODO: alpha = start + emissions[:, 0]; for each t: logsumexp over the previous tag of
        # TODO: alpha[:, :, None] + transitions + emissions[:, t, None, :]; keep the old alpha where mask[:, t] is False
        # TODO: finally logsumexp(alpha + end_transitions)
        raise NotImplementedError("TODO: write this part")

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scalar: sum over the batch of log_partition - score(tags)."""
        # TODO: reduction = sum over the batch
        raise NotImplementedError("TODO: write this part")

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list:
        """Viterbi: one list of lengths[b] tag ids per sequence."""
        # TODO: like log_partition with max instead of logsumexp, remembering the argmax (best previous tag)
        # TODO: at every step; add end_transitions, then backtrack from each sequence's own last real step
        raise NotImplementedError("TODO: write this part")


class BiLSTMCRF(nn.Module):
    def __init__(self, vocab_size: int, num_tags: int, embedding_dim: int = 32, hidden_size: int = 32,
                 pad_idx: int = 0):
        super().__init__()
        self.pad_idx = pad_idx
        # TODO: embedding (padding_idx=pad_idx), a batch-first bidirectional nn.LSTM, hidden2tag, crf
        raise NotImplementedError("TODO: write this part")

    def forward(self, tokens: torch.Tensor, lengths) -> torch.Tensor:
        """tokens (B, T), lengths (B,) on the CPU -> emissions (B, T, C)."""
        # TODO: pack_padded_sequence(emb, lengths (CPU int64), batch_first=True, enforce_sorted=False)
        # TODO: pad_packed_sequence(out, batch_first=True, total_length=T), then hidden2tag
        raise NotImplementedError("TODO: write this part")

    def loss(self, tokens: torch.Tensor, tags: torch.Tensor, lengths) -> torch.Tensor:
        """Scalar CRF negative log-likelihood, summed over the batch."""
        raise NotImplementedError("TODO: write this part")

    def decode(self, tokens: torch.Tensor, lengths) -> list:
        """Best tag path of each sequence (lists of lengths[b] ints)."""
        raise NotImplementedError("TODO: write this part")
