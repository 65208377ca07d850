"""Alternative in the style of bentrevett/pytorch-sentiment-analysis (packed bidirectional LSTM):
hidden = cat(hidden[-2, :, :], hidden[-1, :, :]), lengths passed with .to('cpu'), dropout on the embedding
and on the hidden state (0 by default), labels stacked from a list, loss averaged over samples with
a running epoch_loss / len(dataset)-style count, one summary print per epoch.
"""
import torch
import torch.nn as nn


def collate(batch, pad_id=0):
    batch_ids = [item[0] for item in batch]
    batch_ids = nn.utils.rnn.pad_sequence(batch_ids, padding_value=pad_id, batch_first=True)
    batch_length = torch.tensor([len(item[0]) for item in batch])
    batch_label = torch.stack([torch.tensor(item[1]) for item in batch])
    return batch_ids, batch_length, batch_label


class TextClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_classes, num_layers=1, bidirectional=False,
                 pad_id=0, dropout_rate=0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = nn.LSTM(embed_dim, hidden_size, num_layers, bidirectional=bidirectional,
                           dropout=dropout_rate if num_layers > 1 else 0.0, batch_first=True)
        self.fc = nn.Linear(hidden_size * 2 if bidirectional else hidden_size, num_classes)
        self.dropout = nn.Dropout(dropout_rate)

    def encode(self, ids, length):
        embedded = self.dropout(self.embedding(ids))
        packed_embedded = nn.utils.rnn.pack_padded_sequence(embedded, length.to("cpu"), batch_first=True,
                                                            enforce_sorted=False)
        packed_output, (hidden, cell) = self.rnn(packed_embedded)
        if self.rnn.bidirectional:
            hidden = self.dropout(torch.cat([hidden[-2, :, :], hidden[-1, :, :]], dim=-1))
        else:
            hidden = self.dropout(hidden[-1])
        return hidden

    def forward(self, ids, length):
        return self.fc(self.encode(ids, length))


def train_epoch(model, data_loader, optimizer, device):
    criterion = nn.CrossEntropyLoss()
    model.train()
    epoch_losses, sizes = [], []
    for ids, length, label in data_loader:
        ids = ids.to(device)
        label = label.to(device)
        prediction = model(ids, length)
        loss = criterion(prediction, label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        epoch_losses.append(loss.item() * len(label))
        sizes.append(len(label))
    epoch_loss = sum(epoch_losses) / sum(sizes)
    print(f"train_loss: {epoch_loss:.3f}")
    return epoch_loss
