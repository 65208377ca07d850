"""Exercise 27 — text classification with packed sequences.

A batch of token sequences of different lengths is padded to one length; the recurrent layer must read
only the real tokens. Build the three pieces of such a pipeline.

``collate(batch, pad_id=0)`` — a ``collate_fn`` for ``torch.utils.data.DataLoader``
(use it as ``functools.partial(collate, pad_id=...)``):

* ``batch``: a list of ``(tokens, label)`` pairs, ``tokens`` a 1-D int64 tensor of length ``>= 1``,
  ``label`` an int.
* Returns ``(tokens, lengths, labels)``, in the batch's order (do not sort): ``tokens`` ``(B, T_max)``
  int64, each row padded after its end with ``pad_id`` (``torch.nn.utils.rnn.pad_sequence``);
  ``lengths`` ``(B,)`` an int64 tensor **on the CPU**; ``labels`` ``(B,)`` int64.

``TextClassifier(vocab_size, embed_dim, hidden_size, num_classes, num_layers=1, bidirectional=False, pad_id=0)``,
an ``nn.Module`` with

* ``self.embedding``: ``nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)`` (the padding row is zero
  and never trained);
* ``self.rnn``: an ``nn.LSTM`` or ``nn.GRU`` (``embed_dim`` -> ``hidden_size``, ``num_layers``,
  ``bidirectional``) with ``batch_first=True``;
* ``self.fc``: ``nn.Linear(hidden_size * D, num_classes)``, ``D = 2`` if bidirectional else ``1``;
* ``encode(tokens, lengths) -> (B, hidden_size * D)``: the **last layer's final hidden state** of each
  sequence, over its real tokens only: pack with ``pack_padded_sequence(..., batch_first=True,
  enforce_sorted=False)`` (lengths come in any order and stay on the CPU, even when ``tokens`` is on a
  GPU). When bidirectional, concatenate the forward state, then the backward one (the layout of the
  RNN's output: the forward direction's output at the last real token, the backward's at token 0).
* ``forward(tokens, lengths) -> logits (B, num_classes)``: ``self.fc(self.encode(tokens, lengths))``.

``train_epoch(model, loader, optimizer, device) -> float``: one epoch over ``loader`` (which yields
``collate``'s triples): ``model.train()``; move ``tokens`` and ``labels`` to ``device`` but keep
``lengths`` on the CPU; cross-entropy, backward, step for every batch. Return the epoch's mean loss
(over batches or over samples) as a Python float. Print at most one line per epoch (or nothing).
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence


def collate(batch, pad_id: int = 0):
    """[(tokens (L,), label), ...] -> (tokens (B, T_max), lengths (B,) CPU int64, labels (B,))."""
    # BEGIN SOLUTION
    # TODO: pad_sequence(..., batch_first=True, padding_value=pad_id); lengths and labels as int64 tensors
    seqs = [torch.as_tensor(tokens, dtype=torch.int64) for tokens, _ in batch]
    tokens = pad_sequence(seqs, batch_first=True, padding_value=pad_id)
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64)
    return tokens, lengths, labels
    # END SOLUTION


class TextClassifier(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int,
                 num_layers: int = 1, bidirectional: bool = False, pad_id: int = 0):
        # BEGIN SOLUTION
        # TODO: super().__init__(); self.embedding with padding_idx=pad_id; self.rnn (batch_first=True); self.fc
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)
        # END SOLUTION

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) int64, lengths (B,) CPU int64 -> the last layer's final hidden state (B, hidden_size * D)."""
        # BEGIN SOLUTION
        # TODO: embed, pack (enforce_sorted=False, lengths on the CPU), run the RNN
        # TODO: h_n is (num_layers * D, B, H); keep the last layer: h_n[-1], or cat(h_n[-2], h_n[-1]) if bidirectional
        packed = pack_padded_sequence(self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        if self.rnn.bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=1)
        return h_n[-1]
        # END SOLUTION

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), lengths (B,) on the CPU -> logits (B, num_classes)."""
        # BEGIN SOLUTION
        return self.fc(self.encode(tokens, lengths))
        # END SOLUTION


def train_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, device) -> float:
    """One training epoch; returns the mean loss. tokens and labels go to device, lengths stay on the CPU."""
    # BEGIN SOLUTION
    # TODO: model.train(); for each (tokens, lengths, labels): move tokens and labels (not lengths) to device,
    # TODO: zero_grad, cross-entropy, backward, step; return the mean of the losses as a float
    model.train()
    total, count = 0.0, 0
    for tokens, lengths, labels in loader:
        tokens, labels = tokens.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tokens, lengths), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        count += len(labels)
    return total / count
    # END SOLUTION
