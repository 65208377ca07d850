"""Exercise 25 — a Transformer seq2seq model on ``nn.Transformer``.

Token ids: ``PAD_ID = 0``, ``BOS_ID = 1``, ``EOS_ID = 2`` (also constructor arguments).
Sources ``src`` ``(B, S)`` and decoder inputs ``tgt_in`` ``(B, T)`` are batch-first LongTensors,
right-padded with ``pad_id`` (every source has a real token; ``tgt_in`` starts with BOS). ``S`` and
``T`` differ in general.

``TransformerSeq2Seq(src_vocab, tgt_vocab, d_model=32, nhead=4, num_encoder_layers=2,
num_decoder_layers=2, dim_feedforward=64, dropout=0.1, max_len=64, pad_id=0, bos_id=1, eos_id=2)``

* Embeddings: ``nn.Embedding`` for the source and for the target, each multiplied by
  ``sqrt(d_model)``, plus the sinusoidal table ``sinusoidal_encoding(max_len, d_model)`` (given
  below; keep it in a buffer so it moves with ``.to(device)``). Initialise the embedding weights
  with std ``d_model ** -0.5`` (fairseq's choice; the PyTorch translation tutorial's
  ``xavier_uniform_`` over every matrix does the same job): with the default N(0, 1), the scaled
  token embedding is about ``sqrt(2 * d_model)`` times larger than the positional signal, and the
  model is slow to learn where a token is.
* One ``nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
  dropout, batch_first=True)`` and a final ``nn.Linear(d_model, tgt_vocab)``. Every layer you
  create must be used.
* Masks, passed to ``nn.Transformer`` **by keyword** (its decoder's third positional slot is
  ``tgt_mask`` but a decoder *layer*'s fourth is ``memory_mask``: keywords can't be misplaced):

  - ``tgt_mask``: causal ``(T, T)``; position ``t`` sees positions ``<= t`` only. PyTorch's
    convention: boolean True (or ``-inf``) = **not allowed**, e.g.
    ``nn.Transformer.generate_square_subsequent_mask(T, device=...)`` or
    ``torch.ones(T, T, dtype=torch.bool, device=...).triu(1)``. Build it on the input's device.
  - ``src_key_padding_mask`` and ``memory_key_padding_mask``: ``src == pad_id`` (True = padding);
    ``tgt_key_padding_mask``: ``tgt_in == pad_id``.

* ``forward(src, tgt_in) -> scores (B, T, tgt_vocab)`` (logits or log-probabilities). Scores at
  padded target positions are never compared.
* ``greedy_decode(src, max_len) -> LongTensor (B, L)``, ``L <= max_len``: encode once, then
  repeatedly decode the tokens so far (starting from BOS) and append the argmax of the last
  position. After a sequence's EOS every position holds ``pad_id``; you may stop early once every
  sequence has finished.
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
        # TODO: two nn.Embedding, the positional table as a buffer, nn.Transformer(..., batch_first=True),
        # TODO: and the final nn.Linear(d_model, tgt_vocab)
        raise NotImplementedError("TODO: write this part")

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        """Helper (use it or not): embedding(tokens) * sqrt(d_model) + the first T rows of the table."""
        raise NotImplementedError("TODO: write this part")

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """src (B, S) -> memory (B, S, d_model), with the source padding masked."""
        # TODO: self.transformer.encoder(embedded source, src_key_padding_mask=src == pad_id)
        raise NotImplementedError("TODO: write this part")

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_pad: torch.Tensor) -> torch.Tensor:
        """tgt_in (B, T), memory (B, S, d_model), src_pad (B, S) True = padding -> scores (B, T, V)."""
        # TODO: causal (T, T) mask on tgt_in's device; self.transformer.decoder(..., tgt_mask=...,
        # TODO: tgt_key_padding_mask=..., memory_key_padding_mask=...) by keyword; then the final Linear
        raise NotImplementedError("TODO: write this part")

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """src (B, S), tgt_in (B, T) -> scores (B, T, tgt_vocab)."""
        # TODO: encode, then decode with the source padding as memory_key_padding_mask
        raise NotImplementedError("TODO: write this part")

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int) -> torch.Tensor:
        """src (B, S) -> the generated tokens (B, L), L <= max_len, without the leading BOS; pad_id after each
        sequence's EOS."""
        # TODO: encode once; ys = a (B, 1) BOS column on src's device; each step decode ys, argmax of the
        # TODO: last position, pad_id where finished, append; stop when every sequence has produced EOS
        raise NotImplementedError("TODO: write this part")
