"""Wrong: the forward recursion runs over padded steps too (mask not applied in log_partition).
expect-message: mask ignored
"""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def lengths_to_mask(lengths, T: int, device=None) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool mask, True at real tokens, on ``device``."""
    lengths = torch.as_tensor(lengths, dtype=torch.int64).to(device)
    return torch.arange(T, device=device)[None, :] < lengths[:, None]


class CRF(nn.Module):
    def __init__(self, num_tags: int):
        super().__init__()
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B,) score of the given tag paths (helper for neg_log_likelihood; use it or not)."""
        mask = mask.bool()
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)                  # (B, T)
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]                         # (B, T-1)
        steps = torch.where(mask[:, 1:], emit[:, 1:] + trans, torch.zeros_like(trans))
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)           # (B,)
        return self.start_transitions[tags[:, 0]] + emit[:, 0] + steps.sum(1) + self.end_transitions[last]

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B,) log of the sum of exp(score) over all paths: the forward algorithm."""
        mask = mask.bool()
        alpha = self.start_transitions + emissions[:, 0]                              # (B, C)
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1)
            alpha = nxt
        return torch.logsumexp(alpha + self.end_transitions, dim=1)

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scalar: sum over the batch of log_partition - score(tags)."""
        return (self.log_partition(emissions, mask) - self.score(emissions, tags, mask)).sum()

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list:
        """Viterbi: one list of lengths[b] tag ids per sequence."""
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


class BiLSTMCRF(nn.Module):
    def __init__(self, vocab_size: int, num_tags: int, embedding_dim: int = 32, hidden_size: int = 32,
                 pad_idx: int = 0):
        super().__init__()
        self.pad_idx = pad_idx
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.hidden2tag = nn.Linear(2 * hidden_size, num_tags)
        self.crf = CRF(num_tags)

    def forward(self, tokens: torch.Tensor, lengths) -> torch.Tensor:
        """tokens (B, T), lengths (B,) on the CPU -> emissions (B, T, C)."""
        lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return self.hidden2tag(out)

    def loss(self, tokens: torch.Tensor, tags: torch.Tensor, lengths) -> torch.Tensor:
        """Scalar CRF negative log-likelihood, summed over the batch."""
        mask = lengths_to_mask(lengths, tokens.shape[1], tokens.device)
        return self.crf.neg_log_likelihood(self(tokens, lengths), tags, mask)

    def decode(self, tokens: torch.Tensor, lengths) -> list:
        """Best tag path of each sequence (lists of lengths[b] ints)."""
        mask = lengths_to_mask(lengths, tokens.shape[1], tokens.device)
        return self.crf.decode(self(tokens, lengths), mask)
