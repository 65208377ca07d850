"""Wrong (the seed's bug): the decoder starts from a zeros state, not from the encoder's final (h, c).
expect-message: decoder never sees the encoder's
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def shift_right(tgt: torch.Tensor, bos_id: int = BOS_ID) -> torch.Tensor:
    """(B, T) targets -> (B, T) decoder inputs [BOS, y_0, ..., y_{T-2}]."""
    bos = torch.full_like(tgt[:, :1], bos_id)
    return torch.cat([bos, tgt[:, :-1]], dim=1)


def sequence_loss(scores: torch.Tensor, targets: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    """Mean cross-entropy of scores (B, T, V) against targets (B, T), pad positions ignored."""
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1), ignore_index=pad_id)


def dot_attention(query: torch.Tensor, keys: torch.Tensor, src_mask: torch.Tensor):
    """query (B, T, H), keys (B, S, H), src_mask (B, S) True = real -> (context (B, T, H), weights (B, T, S))."""
    scores = query @ keys.transpose(1, 2)
    scores = scores.masked_fill(~src_mask[:, None, :], float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ keys, weights


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, emb_dim: int = 32, hidden_size: int = 64,
                 pad_id: int = PAD_ID, bos_id: int = BOS_ID, eos_id: int = EOS_ID):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.src_embed = nn.Embedding(src_vocab, emb_dim, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab, emb_dim, padding_idx=pad_id)
        self.encoder = nn.LSTM(emb_dim, hidden_size, batch_first=True)
        self.decoder = nn.LSTM(emb_dim, hidden_size, batch_first=True)
        self.combine = nn.Linear(2 * hidden_size, hidden_size)   # Luong: tanh(W_c [h_t; context_t])
        self.out = nn.Linear(hidden_size, tgt_vocab)

    def encode(self, src: torch.Tensor):
        """src (B, S) -> (enc_out (B, S, H), (h, c) each (1, B, H)); padding never reaches (h, c)."""
        lengths = (src != self.pad_id).sum(dim=1).cpu()
        packed = pack_padded_sequence(self.src_embed(src), lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = self.encoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        return out, (h, c)

    def decode(self, tgt_in: torch.Tensor, state, enc_out: torch.Tensor, src_mask: torch.Tensor):
        """tgt_in (B, T) from state (h, c) -> (scores (B, T, V), new state, weights (B, T, S))."""
        dec_out, state = self.decoder(self.tgt_embed(tgt_in), state)
        context, weights = dot_attention(dec_out, enc_out, src_mask)
        scores = self.out(torch.tanh(self.combine(torch.cat([dec_out, context], dim=-1))))
        return scores, state, weights

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor):
        """Teacher forcing: src (B, S), tgt_in (B, T) -> (scores (B, T, V), weights (B, T, S))."""
        enc_out, state = self.encode(src)
        h0 = torch.zeros_like(state[0])                                   # as in the seed: hidden_decoder = zeros
        scores, _, weights = self.decode(tgt_in, (h0, torch.zeros_like(h0)), enc_out, src != self.pad_id)
        return scores, weights

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int) -> torch.Tensor:
        """src (B, S) -> generated tokens (B, L), L <= max_len; pad_id after each sequence's EOS."""
        enc_out, state = self.encode(src)
        state = (torch.zeros_like(state[0]), torch.zeros_like(state[1]))
        src_mask = src != self.pad_id
        token = torch.full((src.shape[0], 1), self.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        steps = []
        for _ in range(max_len):
            scores, state, _ = self.decode(token, state, enc_out, src_mask)
            nxt = scores[:, -1].argmax(dim=-1).masked_fill(done, self.pad_id)
            steps.append(nxt)
            done = done | (nxt == self.eos_id)
            if bool(done.all()):
                break
            token = nxt.unsqueeze(1)
        return torch.stack(steps, dim=1)
