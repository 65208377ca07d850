"""Exercise 25 in the style of the official PyTorch "Language Translation with nn.Transformer and
torchtext" tutorial: TokenEmbedding / PositionalEncoding helper modules, a create_mask() helper with a
float -inf causal mask, xavier_uniform_ over every matrix, and forward() through the full
nn.Transformer call (encode/decode through its encoder/decoder for greedy decoding), batch first, with
the tutorial's all-False bool src_mask passed to the encoder and a batched greedy loop (learner e)."""
import math

import torch
from torch import nn, Tensor

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return pe


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size: int, dropout: float, maxlen: int = 5000):
        super(PositionalEncoding, self).__init__()
        pos_embedding = sinusoidal_encoding(maxlen, emb_size).unsqueeze(0)  # (1, maxlen, E): batch first
        self.dropout = nn.Dropout(dropout)
        self.register_buffer('pos_embedding', pos_embedding)

    def forward(self, token_embedding: Tensor):
        return self.dropout(token_embedding + self.pos_embedding[:, :token_embedding.size(1), :])


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, emb_size):
        super(TokenEmbedding, self).__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens: Tensor):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


def generate_square_subsequent_mask(sz, device):
    mask = (torch.triu(torch.ones((sz, sz), device=device)) == 1).transpose(0, 1)
    mask = mask.float().masked_fill(mask == 0, float('-inf')).masked_fill(mask == 1, float(0.0))
    return mask


def create_mask(src, tgt, pad_idx):
    src_seq_len = src.shape[1]
    tgt_seq_len = tgt.shape[1]
    tgt_mask = generate_square_subsequent_mask(tgt_seq_len, src.device)
    src_mask = torch.zeros((src_seq_len, src_seq_len), device=src.device).type(torch.bool)
    src_padding_mask = (src == pad_idx)
    tgt_padding_mask = (tgt == pad_idx)
    return src_mask, tgt_mask, src_padding_mask, tgt_padding_mask


class TransformerSeq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, d_model=32, nhead=4, num_encoder_layers=2,
                 num_decoder_layers=2, dim_feedforward=64, dropout=0.1, max_len=64,
                 pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID):
        super().__init__()
        self.d_model, self.pad_id, self.bos_id, self.eos_id = d_model, pad_id, bos_id, eos_id
        self.transformer = nn.Transformer(d_model=d_model, nhead=nhead,
                                          num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers,
                                          dim_feedforward=dim_feedforward, dropout=dropout,
                                          batch_first=True)
        self.generator = nn.Linear(d_model, tgt_vocab)
        self.src_tok_emb = TokenEmbedding(src_vocab, d_model)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab, d_model)
        self.positional_encoding = PositionalEncoding(d_model, dropout=dropout, maxlen=max_len)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _embed(self, embedding, tokens):
        return self.positional_encoding(embedding(tokens))

    def encode(self, src):
        src_mask = torch.zeros((src.shape[1], src.shape[1]), device=src.device).type(torch.bool)
        return self.transformer.encoder(self._embed(self.src_tok_emb, src), mask=src_mask,
                                        src_key_padding_mask=(src == self.pad_id))

    def decode(self, tgt_in, memory, src_pad):
        tgt_mask = generate_square_subsequent_mask(tgt_in.size(1), tgt_in.device)
        outs = self.transformer.decoder(self._embed(self.tgt_tok_emb, tgt_in), memory,
                                        tgt_mask=tgt_mask,
                                        tgt_key_padding_mask=(tgt_in == self.pad_id),
                                        memory_key_padding_mask=src_pad)
        return self.generator(outs)

    def forward(self, src, tgt_in):
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_in, self.pad_id)
        src_emb = self._embed(self.src_tok_emb, src)
        tgt_emb = self._embed(self.tgt_tok_emb, tgt_in)
        outs = self.transformer(src_emb, tgt_emb, src_mask=src_mask, tgt_mask=tgt_mask,
                                memory_mask=None, src_key_padding_mask=src_padding_mask,
                                tgt_key_padding_mask=tgt_padding_mask,
                                memory_key_padding_mask=src_padding_mask)
        return self.generator(outs)

    @torch.no_grad()
    def greedy_decode(self, src, max_len):
        src_pad = src == self.pad_id
        memory = self.encode(src)
        ys = torch.full((src.size(0), 1), self.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
        for i in range(max_len):
            prob = self.decode(ys, memory, src_pad)[:, -1]
            next_word = prob.argmax(dim=1)
            next_word = next_word.masked_fill(done, self.pad_id)
            ys = torch.cat([ys, next_word.unsqueeze(1)], dim=1)
            done = done | (next_word == self.eos_id)
            if done.all():
                break
        return ys[:, 1:]
