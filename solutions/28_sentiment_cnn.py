"""Exercise 28 — sentiment analysis end to end with a convolutional text classifier.

From raw text to probabilities, in five pieces.

Text
----
``tokenize(text) -> list[str]``: ``text.lower().split()`` (lowercase, split on whitespace; punctuation
stays attached). Texts are never empty.

``build_vocab(texts, min_freq=1) -> dict[str, int]``: ``PAD = "<pad>"`` gets id ``PAD_ID = 0`` and
``UNK = "<unk>"`` gets id ``UNK_ID = 1``; then every token that occurs at least ``min_freq`` times in
``texts`` (counted after ``tokenize``), with ids 2, 3, ... (any order; ids contiguous, no gaps).

``encode(text, vocab) -> list[int]``: the ids of ``tokenize(text)``, ``UNK_ID`` for unknown tokens.

``pad_batch(seqs) -> LongTensor (B, T)``: right-pads lists of ids with ``PAD_ID`` to the longest one.

Model
-----
``TextCNN(vocab_size, num_classes=2, embed_dim=64, num_filters=32, kernel_sizes=(2, 3, 4), dropout=0.5)``
(Kim, 2014): ``nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)``; one convolution per width
``k`` in ``kernel_sizes`` with ``num_filters`` output channels and ReLU; **max-over-time pooling that
padding can never win**; dropout; ``nn.Linear(len(kernel_sizes) * num_filters, num_classes)``.
``forward(tokens (B, T)) -> logits (B, num_classes)``; ``T`` may be smaller than the widest kernel.
Rule for the windows: each window *starts* at a token; the windows that start at a real token count
(right of the text they see ``<pad>``, whose embedding is zero), the windows that start at
``<pad>`` are masked to ``-inf`` before the max. So the logits never change when more ``<pad>``
columns are appended, and a text's logits are the same alone as in a batch.

Training
--------
``validation_loss(model, tokens, labels) -> float``: mean cross-entropy, in eval mode, without autograd.

``fit(model, train, val, epochs=20, patience=3, lr=1e-2, batch_size=32, evaluate=None) -> list[float]``:
``train`` and ``val`` are ``(tokens (N, T), labels (N,))`` pairs on the CPU. Each epoch: ``model.train()``,
one pass over shuffled mini-batches (moved to the model's device) with Adam and cross-entropy, then
``val_loss = evaluate(model)`` (default: ``validation_loss(model, *val)``). An epoch *improves* when its
``val_loss`` is strictly below the best so far; then a **copy** of the weights is kept. Training stops
after ``patience`` epochs in a row without improvement, or after ``epochs`` epochs. Before returning,
the best epoch's weights are loaded back into ``model``. Returns the list of validation losses, one
per epoch run. ``evaluate`` may put the model in eval mode: training must switch it back.

``predict(model, vocab, texts) -> FloatTensor (N, num_classes)``: class probabilities (rows sum to 1),
in eval mode and without autograd, the batch moved to the model's device.

Labels: 0 = negative, 1 = positive.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


def tokenize(text: str) -> list:
    """Lowercase, then split on whitespace."""
    # BEGIN SOLUTION
    return text.lower().split()
    # END SOLUTION


def build_vocab(texts, min_freq: int = 1) -> dict:
    """{"<pad>": 0, "<unk>": 1, then every token seen at least min_freq times: 2, 3, ...}."""
    # BEGIN SOLUTION
    # TODO: count tokens (after tokenize); keep those with count >= min_freq
    counts = {}
    for text in texts:
        for tok in tokenize(text):
            counts[tok] = counts.get(tok, 0) + 1
    vocab = {PAD: PAD_ID, UNK: UNK_ID}
    for tok, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if n >= min_freq and tok not in vocab:
            vocab[tok] = len(vocab)
    return vocab
    # END SOLUTION


def encode(text: str, vocab: dict) -> list:
    """Token ids of the text; UNK_ID for tokens not in the vocabulary."""
    # BEGIN SOLUTION
    return [vocab.get(tok, UNK_ID) for tok in tokenize(text)]
    # END SOLUTION


def pad_batch(seqs) -> torch.Tensor:
    """Lists of ids -> LongTensor (B, longest), right-padded with PAD_ID."""
    # BEGIN SOLUTION
    T = max(len(s) for s in seqs)
    out = torch.full((len(seqs), T), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out
    # END SOLUTION


class TextCNN(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int = 2, embed_dim: int = 64, num_filters: int = 32,
                 kernel_sizes=(2, 3, 4), dropout: float = 0.5):
        super().__init__()
        self.kernel_sizes = tuple(kernel_sizes)
        # BEGIN SOLUTION
        # TODO: embedding with padding_idx=PAD_ID, one nn.Conv1d(embed_dim, num_filters, k) per width, dropout, fc
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in self.kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(len(self.kernel_sizes) * num_filters, num_classes)
        # END SOLUTION

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), PAD_ID = padding -> logits (B, num_classes)."""
        # BEGIN SOLUTION
        # TODO: right-pad the ids with max(kernel_sizes) - 1 PAD_ID columns, so every real token starts a window
        # TODO: per width: relu(conv), keep the first T window starts, masked_fill(-inf) where the start is <pad>,
        # TODO: max over time; concatenate, dropout, fc
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
        # END SOLUTION


def _device(model):
    return next(model.parameters()).device


def validation_loss(model: nn.Module, tokens: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean cross-entropy over (tokens, labels), eval mode, no autograd."""
    # BEGIN SOLUTION
    model.eval()
    dev = _device(model)
    with torch.no_grad():
        return F.cross_entropy(model(tokens.to(dev)), labels.to(dev)).item()
    # END SOLUTION


def fit(model: nn.Module, train, val, epochs: int = 20, patience: int = 3, lr: float = 1e-2, batch_size: int = 32,
        evaluate=None) -> list:
    """Train with Adam; early stopping on the validation loss; restore the best weights. Returns val losses."""
    # BEGIN SOLUTION
    # TODO: each epoch: model.train(), shuffled mini-batches on the model's device, then evaluate(model)
    # TODO: strictly better -> best_state = copy.deepcopy(model.state_dict()) (a COPY: state_dict() is live)
    # TODO: stop after `patience` epochs without improvement; load_state_dict(best_state) before returning
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
    # END SOLUTION


def predict(model: nn.Module, vocab: dict, texts) -> torch.Tensor:
    """Class probabilities (N, num_classes) for raw texts; eval mode, no autograd."""
    # BEGIN SOLUTION
    model.eval()
    tokens = pad_batch([encode(t, vocab) for t in texts]).to(_device(model))
    with torch.no_grad():
        return F.softmax(model(tokens), dim=-1)
    # END SOLUTION
