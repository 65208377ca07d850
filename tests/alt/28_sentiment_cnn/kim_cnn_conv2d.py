"""Alt: the Kim-CNN of Shawn1993/cnn-text-classification-pytorch (Conv2d(1, Co, (K, D)) over the embedded
text, F.max_pool1d over the whole time axis), a collections.Counter vocabulary via most_common, numpy
int64 ids from encode, and early stopping like the PyTorch transfer-learning tutorial
(best_model_wts = copy.deepcopy(model.state_dict())); predict under torch.inference_mode().
"""
import copy
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


def tokenize(text):
    return text.lower().split()


def build_vocab(texts, min_freq=1):
    counter = Counter(tok for text in texts for tok in tokenize(text))
    itos = [PAD, UNK] + [tok for tok, n in counter.most_common() if n >= min_freq]
    return {tok: i for i, tok in enumerate(itos)}


def encode(text, vocab):
    return np.array([vocab.get(tok, UNK_ID) for tok in tokenize(text)], dtype=np.int64)


def pad_batch(seqs):
    return nn.utils.rnn.pad_sequence([torch.as_tensor(np.asarray(s, dtype=np.int64)) for s in seqs],
                                     batch_first=True, padding_value=PAD_ID)


class TextCNN(nn.Module):
    def __init__(self, vocab_size, num_classes=2, embed_dim=64, num_filters=32, kernel_sizes=(2, 3, 4), dropout=0.5):
        super().__init__()
        V, D, C, Co, Ks = vocab_size, embed_dim, num_classes, num_filters, list(kernel_sizes)
        self.Ks = Ks
        self.embed = nn.Embedding(V, D, padding_idx=PAD_ID)
        self.convs1 = nn.ModuleList([nn.Conv2d(1, Co, (K, D)) for K in Ks])
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(len(Ks) * Co, C)

    def forward(self, x):
        T = x.size(1)
        keep = (x != PAD_ID).unsqueeze(1)                             # (N, 1, T): windows starting at real tokens
        x = F.pad(x, (0, max(self.Ks) - 1), value=PAD_ID)
        x = self.embed(x).unsqueeze(1)                                # (N, 1, W, D)
        x = [F.relu(conv(x)).squeeze(3)[:, :, :T] for conv in self.convs1]   # [(N, Co, T), ...]
        x = [i.masked_fill(~keep, float("-inf")) for i in x]
        x = [F.max_pool1d(i, i.size(2)).squeeze(2) for i in x]       # [(N, Co), ...]
        x = torch.cat(x, 1)
        return self.fc1(self.dropout(x))


def validation_loss(model, tokens, labels):
    device = next(model.parameters()).device
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(tokens), 64):
            logits = model(tokens[i:i + 64].to(device))
            total += F.cross_entropy(logits, labels[i:i + 64].to(device), reduction="sum").item()
            n += len(logits)
    return total / n


def fit(model, train, val, epochs=20, patience=3, lr=1e-2, batch_size=32, evaluate=None):
    device = next(model.parameters()).device
    evaluate = evaluate or (lambda m: validation_loss(m, *val))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*train), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    best_model_wts = copy.deepcopy(model.state_dict())
    best_loss, epochs_no_improve, history = np.inf, 0, []
    for epoch in range(epochs):
        model.train()
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
        epoch_loss = evaluate(model)
        history.append(epoch_loss)
        if epoch_loss < best_loss:
            best_loss = epoch_loss
            best_model_wts = copy.deepcopy(model.state_dict())
            epochs_no_improve = 0
        else:
            epochs_no_improve += 1
            if epochs_no_improve == patience:
                print(f"early stopping after epoch {epoch}")
                break
    model.load_state_dict(best_model_wts)
    return history


def predict(model, vocab, texts):
    model.eval()
    batch = pad_batch([encode(t, vocab) for t in texts]).to(next(model.parameters()).device)
    with torch.inference_mode():
        return F.softmax(model(batch), dim=1)
