"""Correct alternative in the style of the PyTorch tutorial "Language Translation with nn.Transformer":
sequence-first nn.Transformer (permutes at the boundary), a PositionalEncoding module with a (maxlen, 1, emb)
buffer and dropout, TokenEmbedding * sqrt(emb_size), xavier_uniform_ over every matrix, a float -inf causal mask
from generate_square_subsequent_mask, masks built by create_mask and given to nn.Transformer.forward in its
positional order (which is right for nn.Transformer itself), log_softmax scores, and a greedy loop that always
runs max_len steps."""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def sinusoidal_encoding(max_len, d_model):
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return pe


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size: int, dropout: float, maxlen: int = 5000):
        super().__init__()
        den = torch.exp(- torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(-2)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer('pos_embedding', pos_embedding)

    def forward(self, token_embedding: Tensor):
        return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, emb_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens: Tensor):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class TransformerSeq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                 dim_feedforward=64, dropout=0.1, max_len=64, pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.transformer = nn.Transformer(d_model=d_model, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                          dropout=dropout)
        self.generator = nn.Linear(d_model, tgt_vocab)
        self.src_tok_emb = TokenEmbedding(src_vocab, d_model)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab, d_model)
        self.positional_encoding = PositionalEncoding(d_model, dropout=dropout, maxlen=max_len)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def create_mask(self, src, tgt):            # src (S, N), tgt (T, N), as in the tutorial
        tgt_seq_len = tgt.shape[0]
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt_seq_len, device=tgt.device)
        src_mask = torch.zeros((src.shape[0], src.shape[0]), device=src.device).type(torch.bool)
        src_padding_mask = (src == self.pad_id).transpose(0, 1)
        tgt_padding_mask = (tgt == self.pad_id).transpose(0, 1)
        return src_mask, tgt_mask, src_padding_mask, tgt_padding_mask

    def forward(self, src, tgt_in):
        src, trg = src.transpose(0, 1), tgt_in.transpose(0, 1)
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = self.create_mask(src, trg)
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                src_padding_mask, tgt_padding_mask, src_padding_mask)
        return F.log_softmax(self.generator(outs), dim=-1).transpose(0, 1)

    def encode(self, src: Tensor, src_mask: Tensor, src_padding_mask):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask,
                                        src_key_padding_mask=src_padding_mask)

    def decode(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor, memory_padding_mask):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory, tgt_mask,
                                        memory_key_padding_mask=memory_padding_mask)

    def greedy_decode(self, src, max_len):
        src = src.transpose(0, 1)                                  # (S, N)
        num_tokens = src.shape[0]
        src_mask = torch.zeros(num_tokens, num_tokens, dtype=torch.bool, device=src.device)
        src_padding_mask = (src == self.pad_id).transpose(0, 1)
        with torch.no_grad():
            memory = self.encode(src, src_mask, src_padding_mask)
            ys = torch.full((1, src.shape[1]), self.bos_id, dtype=torch.long, device=src.device)
            finished = torch.zeros(src.shape[1], dtype=torch.bool, device=src.device)
            for _ in range(max_len):
                tgt_mask = nn.Transformer.generate_square_subsequent_mask(ys.size(0), device=src.device)
                out = self.decode(ys, memory, tgt_mask, src_padding_mask)
                prob = self.generator(out[-1])
                next_word = torch.max(prob, dim=1).indices
                next_word[finished] = self.pad_id
                finished |= next_word == self.eos_id
                ys = torch.cat([ys, next_word.unsqueeze(0)], dim=0)
        return ys[1:].transpose(0, 1)
