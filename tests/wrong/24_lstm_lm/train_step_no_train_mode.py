"""Wrong: train_step never calls model.train(), so after evaluate() the model trains with dropout off.
expect-message: model.train() missing
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(N,) token stream -> (N // batch_size, batch_size); column j is one contiguous stream."""
    n = data.size(0) // batch_size
    return data[:n * batch_size].view(batch_size, n).t().contiguous()


def get_batch(source: torch.Tensor, i: int, bptt: int):
    """(input (L, B), target (L, B)) with L = min(bptt, len(source) - 1 - i); target is input shifted by one."""
    L = min(bptt, len(source) - 1 - i)
    return source[i:i + L], source[i + 1:i + 1 + L]


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, num_layers: int = 1,
                 dropout: float = 0.0, tie_weights: bool = False):
        super().__init__()
        self.vocab_size, self.hidden_dim, self.num_layers = vocab_size, hidden_dim, num_layers
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, num_layers, dropout=dropout if num_layers > 1 else 0.0)
        self.fc = nn.Linear(hidden_dim, vocab_size)
        if tie_weights:
            if emb_dim != hidden_dim:
                raise ValueError("tie_weights needs emb_dim == hidden_dim")
            self.fc.weight = self.embedding.weight

    def forward(self, tokens: torch.Tensor, hidden=None):
        """tokens (T, B) -> (logits (T, B, vocab_size), (h, c) each (num_layers, B, hidden_dim))."""
        if hidden is None:
            hidden = self.init_hidden(tokens.size(1))
        out, hidden = self.lstm(self.drop(self.embedding(tokens)), hidden)
        return self.fc(self.drop(out)), hidden

    def init_hidden(self, batch_size: int):
        """(h, c): zeros (num_layers, batch_size, hidden_dim) on the model's device."""
        weight = next(self.parameters())
        shape = (self.num_layers, batch_size, self.hidden_dim)
        return (weight.new_zeros(shape), weight.new_zeros(shape))


def detach_hidden(hidden):
    """(h, c) -> (h.detach(), c.detach()): keep the values, drop the graph of the previous window."""
    return tuple(t.detach() for t in hidden)


def train_step(model, inputs, targets, hidden, optimizer, clip: float):
    """One truncated-BPTT step on a window. Returns (loss as a float, new hidden)."""
    if hidden is None or hidden[0].size(1) != inputs.size(1):
        hidden = model.init_hidden(inputs.size(1))
    hidden = detach_hidden(hidden)
    optimizer.zero_grad()
    logits, hidden = model(inputs, hidden)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item(), hidden


def evaluate(model, source: torch.Tensor, bptt: int) -> float:
    """Perplexity exp(mean cross-entropy) over all targets of a batchified source; eval mode, no autograd."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        hidden = model.init_hidden(source.size(1))
        for i in range(0, source.size(0) - 1, bptt):
            inputs, targets = get_batch(source, i, bptt)
            logits, hidden = model(inputs, hidden)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum").item()
            count += targets.numel()
    return math.exp(total / count)


def generate(model, prompt: torch.Tensor, num_tokens: int, temperature=None) -> torch.Tensor:
    """Continue a 1-D prompt by num_tokens tokens (greedy when temperature is None or 0); new tokens only."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        logits, hidden = model(prompt.to(device).view(-1, 1))
        for _ in range(num_tokens):
            last = logits[-1, 0]
            if not temperature:
                token = last.argmax()
            else:
                token = torch.multinomial(F.softmax(last / temperature, dim=-1), 1)[0]
            out.append(token)
            logits, hidden = model(token.view(1, 1), hidden)
    return torch.stack(out) if out else torch.zeros(0, dtype=torch.long, device=device)
