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
    # BEGIN SOLUTION
    # TODO: compare torch.arange(T) with lengths[:, None], both on `device`
    lengths = torch.as_tensor(lengths, dtype=torch.int64).to(device)
    return torch.arange(T, device=device)[None, :] < lengths[:, None]
    # END SOLUTION


class CRF(nn.Module):
    def __init__(self, num_tags: int):
        super().__init__()
        self.num_tags = num_tags
        # BEGIN SOLUTION
        # TODO: three nn.Parameter: start_transitions (C,), end_transitions (C,), transitions (C, C),
        # TODO: initialised uniform(-0.1, 0.1); transitions[i, j] = score of tag i -> tag j
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        # END SOLUTION

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B,) score of the given tag paths (helper for neg_log_likelihood; use it or not)."""
        # BEGIN SOLUTION
        # TODO: start + emissions of the gold tags + transitions between consecutive gold tags (real steps only)
        # TODO: + end_transitions of each sequence's LAST REAL tag (at index length - 1, not T - 1)
        mask = mask.bool()
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)                  # (B, T)
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]                         # (B, T-1)
        steps = torch.where(mask[:, 1:], emit[:, 1:] + trans, torch.zeros_like(trans))
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)           # (B,)
        return self.start_transitions[tags[:, 0]] + emit[:, 0] + steps.sum(1) + self.end_transitions[last]
        # END SOLUTION

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B,) log of the sum of exp(score) over all paths: the forward algorithm."""
        # BEGIN SOLUTION
        # TODO: alpha = start + emissions[:, 0]; for each t: logsumexp over the previous tag of
        # TODO: alpha[:, :, None] + transitions + emissions[:, t, None, :]; keep the old alpha where mask[:, t] is False
        # TODO: finally logsumexp(alpha + end_transitions)
        mask = mask.bool()
        alpha = self.start_transitions + emissions[:, 0]                              # (B, C)
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        return torch.logsumexp(alpha + self.end_transitions, dim=1)
        # END SOLUTION

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scalar: sum over the batch of log_partition - score(tags)."""
        # BEGIN SOLUTION
        # TODO: reduction = sum over the batch
        return (self.log_partition(emissions, mask) - self.score(emissions, tags, mask)).sum()
        # END SOLUTION

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list:
        """Viterbi: one list of lengths[b] tag ids per sequence."""
        # BEGIN SOLUTION
        # TODO: like log_partition with max instead of logsumexp, remembering the argmax (best previous tag)
        # TODO: at every step; add end_transitions, then backtrack from each sequence's own last real step
        with torch.no_grad():
            mask = mask.bool()
            score = self.start_transitions + emissions[:, 0]
            history = []
            for t in range(1, emissions.shape[1]):
                best, prev = (score.unsqueeze(2) + self.transitions).max(dim=1)       # best previous tag for each tag
                score = torch.where(mask[:, t, None], best + emissions[:, t], score)
                history.append(prev)
            last = (score + self.end_transitions).argmax(dim=1).cpu().tolist()
            history = torch.stack(history, dim=1).cpu() if history else None       # (B, T-1, C)
            lengths = mask.sum(1).cpu().tolist()
        paths = []
        for b, tag in enumerate(last):
            path = [tag]
            for t in range(lengths[b] - 2, -1, -1):
                tag = int(history[b, t, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths
        # END SOLUTION


class BiLSTMCRF(nn.Module):
    def __init__(self, vocab_size: int, num_tags: int, embedding_dim: int = 32, hidden_size: int = 32,
                 pad_idx: int = 0):
        super().__init__()
        self.pad_idx = pad_idx
        # BEGIN SOLUTION
        # TODO: embedding (padding_idx=pad_idx), a batch-first bidirectional nn.LSTM, hidden2tag, crf
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.hidden2tag = nn.Linear(2 * hidden_size, num_tags)
        self.crf = CRF(num_tags)
        # END SOLUTION

    def forward(self, tokens: torch.Tensor, lengths) -> torch.Tensor:
        """tokens (B, T), lengths (B,) on the CPU -> emissions (B, T, C)."""
        # BEGIN SOLUTION
        # TODO: pack_padded_sequence(emb, lengths (CPU int64), batch_first=True, enforce_sorted=False)
        # TODO: pad_packed_sequence(out, batch_first=True, total_length=T), then hidden2tag
        lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return self.hidden2tag(out)
        # END SOLUTION

    def loss(self, tokens: torch.Tensor, tags: torch.Tensor, lengths) -> torch.Tensor:
        """Scalar CRF negative log-likelihood, summed over the batch."""
        # BEGIN SOLUTION
        mask = lengths_to_mask(lengths, tokens.shape[1], tokens.device)
        return self.crf.neg_log_likelihood(self(tokens, lengths), tags, mask)
        # END SOLUTION

    def decode(self, tokens: torch.Tensor, lengths) -> list:
        """Best tag path of each sequence (lists of lengths[b] ints)."""
        # BEGIN SOLUTION
        mask = lengths_to_mask(lengths, tokens.shape[1], tokens.device)
        return self.crf.decode(self(tokens, lengths), mask)
        # END SOLUTION
