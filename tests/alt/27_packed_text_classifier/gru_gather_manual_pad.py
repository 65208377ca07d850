"""Alternative: a GRU; the features are gathered from pad_packed_sequence's output (forward half at
lengths - 1, backward half at position 0) instead of h_n; collate pads by hand with torch.full; the
epoch loss is the plain mean over batches, returned as a 0-dim tensor.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def collate(batch, pad_id=0):
    lengths = torch.tensor([len(t) for t, _ in batch], dtype=torch.long)
    tokens = torch.full((len(batch), int(lengths.max())), pad_id, dtype=torch.long)
    for i, (t, _) in enumerate(batch):
        tokens[i, :len(t)] = t
    labels = torch.tensor([y for _, y in batch], dtype=torch.long)
    return tokens, lengths, labels


class TextClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_classes, num_layers=1, bidirectional=False, pad_id=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = nn.GRU(embed_dim, hidden_size, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
        self.fc = nn.Linear(hidden_size * (1 + int(bidirectional)), num_classes)

    def encode(self, tokens, lengths):
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        H = self.rnn.hidden_size
        rows = torch.arange(out.shape[0], device=out.device)
        fwd = out[rows, (lengths - 1).to(out.device), :H]
        if not self.rnn.bidirectional:
            return fwd
        return torch.cat([fwd, out[:, 0, H:]], dim=1)

    def forward(self, tokens, lengths):
        return self.fc(self.encode(tokens, lengths))


def train_epoch(model, loader, optimizer, device):
    model.train()
    losses = []
    for tokens, lengths, labels in loader:
        logits = model(tokens.to(device), lengths)
        loss = F.cross_entropy(logits, labels.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).mean().cpu()
