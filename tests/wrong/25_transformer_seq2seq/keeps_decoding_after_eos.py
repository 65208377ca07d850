"""Wrong: greedy_decode never pads a finished sequence (no masked_fill(done, pad_id)): after its EOS a sample keeps
appending the decoder's argmax, real tokens where only pad_id belongs, until every sample has finished or max_len.
expect-message: a finished sequence must stay finished
"""
import math

import torch
from torch import nn

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """The (max_len, d_model) table of exercise 14 (given): sin on even columns, cos on odd ones."""
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return pe


class TransformerSeq2Seq(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 32, nhead: int = 4,
                 num_encoder_layers: int = 2, num_decoder_layers: int = 2, dim_feedforward: int = 64,
                 dropout: float = 0.1, max_len: int = 64, pad_id: int = PAD_ID, bos_id: int = BOS_ID,
                 eos_id: int = EOS_ID):
        super().__init__()
        self.d_model, self.pad_id, self.bos_id, self.eos_id = d_model, pad_id, bos_id, eos_id
        self.src_embed = nn.Embedding(src_vocab, d_model, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model, padding_idx=pad_id)
        for emb in (self.src_embed, self.tgt_embed):   # std d_model^-0.5: after x sqrt(d_model), unit scale
            nn.init.normal_(emb.weight, mean=0.0, std=d_model ** -0.5)
            emb.weight.data[pad_id].zero_()
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                          dim_feedforward, dropout, batch_first=True)
        self.generator = nn.Linear(d_model, tgt_vocab)

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        """Helper (use it or not): embedding(tokens) * sqrt(d_model) + the first T rows of the table."""
        return embedding(tokens) * math.sqrt(self.d_model) + self.pe[: tokens.shape[1]]

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """src (B, S) -> memory (B, S, d_model), with the source padding masked."""
        return self.transformer.encoder(self._embed(self.src_embed, src), src_key_padding_mask=src == self.pad_id)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_pad: torch.Tensor) -> torch.Tensor:
        """tgt_in (B, T), memory (B, S, d_model), src_pad (B, S) True = padding -> scores (B, T, V)."""
        T = tgt_in.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt_in.device).triu(1)   # True = not allowed
        out = self.transformer.decoder(self._embed(self.tgt_embed, tgt_in), memory, tgt_mask=causal,
                                       tgt_key_padding_mask=tgt_in == self.pad_id,
                                       memory_key_padding_mask=src_pad)
        return self.generator(out)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """src (B, S), tgt_in (B, T) -> scores (B, T, tgt_vocab)."""
        return self.decode(tgt_in, self.encode(src), src == self.pad_id)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int) -> torch.Tensor:
        """src (B, S) -> the generated tokens (B, L), L <= max_len, without the leading BOS; pad_id after each
        sequence's EOS."""
        memory, src_pad = self.encode(src), src == self.pad_id
        ys = torch.full((src.shape[0], 1), self.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            nxt = self.decode(ys, memory, src_pad)[:, -1].argmax(dim=-1)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            done = done | (nxt == self.eos_id)
            if bool(done.all()):
                break
        return ys[:, 1:]
