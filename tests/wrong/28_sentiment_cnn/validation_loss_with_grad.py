"""Wrong: validation_loss without torch.no_grad(): the forward pass builds an autograd graph that is never used.
expect-message: builds a graph
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


def tokenize(text: str) -> list:
    """Lowercase, then split on whitespace."""
    return text.lower().split()


def build_vocab(texts, min_freq: int = 1) -> dict:
    """{"<pad>": 0, "<unk>": 1, then every token seen at least min_freq times: 2, 3, ...}."""
    counts = {}
    for text in texts:
        for tok in tokenize(text):
            counts[tok] = counts.get(tok, 0) + 1
    vocab = {PAD: PAD_ID, UNK: UNK_ID}
    for tok, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if n >= min_freq and tok not in vocab:
            vocab[tok] = len(vocab)
    return vocab


def encode(text: str, vocab: dict) -> list:
    """Token ids of the text; UNK_ID for tokens not in the vocabulary."""
    return [vocab.get(tok, UNK_ID) for tok in tokenize(text)]


def pad_batch(seqs) -> torch.Tensor:
    """Lists of ids -> LongTensor (B, longest), right-padded with PAD_ID."""
    T = max(len(s) for s in seqs)
    out = torch.full((len(seqs), T), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out


class TextCNN(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int = 2, embed_dim: int = 64, num_filters: int = 32,
                 kernel_sizes=(2, 3, 4), dropout: float = 0.5):
        super().__init__()
        self.kernel_sizes = tuple(kernel_sizes)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in self.kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(len(self.kernel_sizes) * num_filters, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), PAD_ID = padding -> logits (B, num_classes)."""
        T = tokens.shape[1]
        real = tokens != PAD_ID                                                   # (B, T)
        x = F.pad(tokens, (0, max(self.kernel_sizes) - 1), value=PAD_ID)
        emb = self.embedding(x).transpose(1, 2)                                   # (B, E, T + kmax - 1)
        pooled = []
        for conv in self.convs:
            h = F.relu(conv(emb))[:, :, :T]                                       # windows starting at 0..T-1
            h = h.masked_fill(~real[:, None, :], float("-inf"))
            pooled.append(h.max(dim=2).values)
        return self.fc(self.dropout(torch.cat(pooled, dim=1)))


def _device(model):
    return next(model.parameters()).device


def validation_loss(model: nn.Module, tokens: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean cross-entropy over (tokens, labels), eval mode, no autograd."""
    model.eval()
    dev = _device(model)
    return F.cross_entropy(model(tokens.to(dev)), labels.to(dev)).item()


def fit(model: nn.Module, train, val, epochs: int = 20, patience: int = 3, lr: float = 1e-2, batch_size: int = 32,
        evaluate=None) -> list:
    """Train with Adam; early stopping on the validation loss; restore the best weights. Returns val losses."""
    if evaluate is None:
        evaluate = lambda m: validation_loss(m, *val)  # noqa: E731
    dev = _device(model)
    tokens, labels = train
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history, best, best_state, bad = [], float("inf"), None, 0
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(tokens)).split(batch_size):
            loss = F.cross_entropy(model(tokens[idx].to(dev)), labels[idx].to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
        val_loss = float(evaluate(model))
        history.append(val_loss)
        if val_loss < best:
            best, best_state, bad = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def predict(model: nn.Module, vocab: dict, texts) -> torch.Tensor:
    """Class probabilities (N, num_classes) for raw texts; eval mode, no autograd."""
    model.eval()
    tokens = pad_batch([encode(t, vocab) for t in texts]).to(_device(model))
    with torch.no_grad():
        return F.softmax(model(tokens), dim=-1)
