"""Wrong: train_epoch never calls optimizer.zero_grad(), so each batch's gradient is added to the previous ones and every
step after the first moves the weights by the sum of all the gradients so far.
expect-message: zero_grad() missing
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence


def collate(batch, pad_id: int = 0):
    """[(tokens (L,), label), ...] -> (tokens (B, T_max), lengths (B,) CPU int64, labels (B,))."""
    seqs = [torch.as_tensor(tokens, dtype=torch.int64) for tokens, _ in batch]
    tokens = pad_sequence(seqs, batch_first=True, padding_value=pad_id)
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64)
    return tokens, lengths, labels


class TextClassifier(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int,
                 num_layers: int = 1, bidirectional: bool = False, pad_id: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) int64, lengths (B,) CPU int64 -> the last layer's final hidden state (B, hidden_size * D)."""
        packed = pack_padded_sequence(self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        if self.rnn.bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=1)
        return h_n[-1]

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), lengths (B,) on the CPU -> logits (B, num_classes)."""
        return self.fc(self.encode(tokens, lengths))


def train_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, device) -> float:
    """One training epoch; returns the mean loss. tokens and labels go to device, lengths stay on the CPU."""
    model.train()
    total, count = 0.0, 0
    for tokens, lengths, labels in loader:
        tokens, labels = tokens.to(device), labels.to(device)
        loss = F.cross_entropy(model(tokens, lengths), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        count += len(labels)
    return total / count
