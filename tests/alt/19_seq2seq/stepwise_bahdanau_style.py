"""Correct alternative in the style of bentrevett/pytorch-seq2seq and the PyTorch NLP tutorial: separate
Encoder/Decoder modules with sequence-first LSTMs (permutes at the boundary), a decoder that runs one token at a
time (attention from the previous hidden state, context fed into the LSTM input, fc_out over [output; context;
embedded]), -1e10 masking, log_softmax outputs with NLLLoss, einsum/bmm attention, shift via roll, and a greedy
loop that always runs max_len steps."""
import torch
import torch.nn.functional as F
from torch import nn

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def shift_right(tgt, bos_id=BOS_ID):
    out = tgt.roll(1, dims=1).clone()
    out[:, 0] = bos_id
    return out


def sequence_loss(scores, targets, pad_id=PAD_ID):
    criterion = nn.NLLLoss(ignore_index=pad_id)
    logp = F.log_softmax(scores, dim=-1)
    return criterion(logp.view(-1, logp.shape[-1]), targets.view(-1))


def dot_attention(query, keys, src_mask):
    energy = torch.einsum("bth,bsh->bts", query, keys)
    energy = energy.masked_fill(src_mask.unsqueeze(1) == 0, -1e10)
    weights = F.softmax(energy, dim=2)
    return torch.bmm(weights, keys), weights


class Encoder(nn.Module):
    def __init__(self, vocab, emb_dim, hid_dim, pad_id):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb_dim)
        self.rnn = nn.LSTM(emb_dim, hid_dim)               # sequence-first, like the tutorials

    def forward(self, src, src_len):
        embedded = self.embedding(src.permute(1, 0))        # [src len, batch, emb]
        packed = nn.utils.rnn.pack_padded_sequence(embedded, src_len.to("cpu"), enforce_sorted=False)
        packed_outputs, (hidden, cell) = self.rnn(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(packed_outputs, total_length=src.shape[1])
        return outputs.permute(1, 0, 2), (hidden, cell)     # [batch, src len, hid]


class Decoder(nn.Module):
    def __init__(self, vocab, emb_dim, hid_dim):
        super().__init__()
        self.output_dim = vocab
        self.embedding = nn.Embedding(vocab, emb_dim)
        self.rnn = nn.LSTM(emb_dim + hid_dim, hid_dim)
        self.fc_out = nn.Linear(2 * hid_dim + emb_dim, vocab)

    def forward(self, token, hidden, cell, encoder_outputs, mask):
        """One step: token [batch] -> (log-probs [batch, vocab], hidden, cell, attention [batch, src len])."""
        embedded = self.embedding(token.unsqueeze(0))                        # [1, batch, emb]
        query = hidden[-1].unsqueeze(1)                                      # previous hidden [batch, 1, hid]
        context, a = dot_attention(query, encoder_outputs, mask)             # [batch, 1, hid]
        rnn_input = torch.cat((embedded, context.permute(1, 0, 2)), dim=2)
        output, (hidden, cell) = self.rnn(rnn_input, (hidden, cell))
        prediction = self.fc_out(torch.cat((output.squeeze(0), context.squeeze(1), embedded.squeeze(0)), dim=1))
        return F.log_softmax(prediction, dim=1), hidden, cell, a.squeeze(1)


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, emb_dim=32, hidden_size=64, pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.enc = Encoder(src_vocab, emb_dim, hidden_size, pad_id)
        self.dec = Decoder(tgt_vocab, emb_dim, hidden_size)

    def create_mask(self, src):
        return src != self.pad_id

    def encode(self, src):
        return self.enc(src, (src != self.pad_id).sum(1))

    def decode(self, tgt_in, state, enc_out, src_mask):
        hidden, cell = state
        outputs, attentions = [], []
        for t in range(tgt_in.shape[1]):
            out, hidden, cell, a = self.dec(tgt_in[:, t], hidden, cell, enc_out, src_mask)
            outputs.append(out)
            attentions.append(a)
        return torch.stack(outputs, 1), (hidden, cell), torch.stack(attentions, 1)

    def forward(self, src, tgt_in):
        enc_out, state = self.encode(src)
        scores, _, attn = self.decode(tgt_in, state, enc_out, self.create_mask(src))
        return scores, attn

    def greedy_decode(self, src, max_len):
        self.eval()
        with torch.no_grad():
            enc_out, (hidden, cell) = self.encode(src)
            mask = self.create_mask(src)
            token = torch.full((src.shape[0],), self.bos_id, device=src.device)
            finished = torch.zeros_like(token, dtype=torch.bool)
            result = []
            for _ in range(max_len):
                out, hidden, cell, _ = self.dec(token, hidden, cell, enc_out, mask)
                token = out.argmax(1)
                token = torch.where(finished, torch.full_like(token, self.pad_id), token)
                result.append(token)
                finished = finished | (token == self.eos_id)
        return torch.stack(result, dim=1)
