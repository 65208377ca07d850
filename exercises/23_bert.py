"""Exercise 23 — a small BERT: embeddings, encoder, tied masked-LM head and token masking.

``BERT(vocab_size, d_model, nhead, num_layers, dff, max_seq_len, type_vocab_size=2, pad_id=0, dropout=0.1)``
— an ``nn.Module`` with these attributes (the grader reads the names in parentheses):

* Embeddings: token (``tok_emb = nn.Embedding(vocab_size, d_model)``), **learned** position
  (``pos_emb = nn.Embedding(max_seq_len, d_model)``) and segment
  (``seg_emb = nn.Embedding(type_vocab_size, d_model)``); their sum goes through an
  ``nn.LayerNorm(d_model)`` and dropout before the encoder (no sqrt(d_model) scaling).
* Encoder: ``nn.TransformerEncoder`` of ``num_layers`` ``nn.TransformerEncoderLayer(d_model, nhead,
  dim_feedforward=dff, dropout=dropout, activation="gelu", batch_first=True)``.
* Masked-LM head: ``Linear(d_model, d_model)`` → GELU → ``LayerNorm``, then the decoder
  ``decoder = nn.Linear(d_model, vocab_size)`` (with a bias) whose weight **is** ``tok_emb.weight``
  (one shared ``nn.Parameter``, not a copy).

``forward(input_ids, segment_ids=None, attention_mask=None) -> logits (B, T, vocab_size)``

* ``input_ids`` LongTensor ``(B, T)``; ``segment_ids`` ``(B, T)`` in ``0..type_vocab_size-1``
  (``None``: all 0); ``attention_mask`` ``(B, T)``, **1 / True = real token, 0 = padding** (the
  Hugging Face convention; ``None``: ``input_ids != pad_id``). Note that PyTorch's
  ``src_key_padding_mask`` means the opposite (True = padding).
* ``T > max_seq_len`` raises a ``ValueError`` whose message gives ``T`` and ``max_seq_len``
  (``T == max_seq_len`` is allowed).
* Outputs at padding positions are unspecified (the grader only compares real positions).

``mlm_loss(input_ids, labels, segment_ids=None, attention_mask=None) -> scalar``: cross-entropy of
the logits against ``labels`` (``(B, T)``, ``-100`` = not predicted), averaged over the predicted
positions.

``mask_tokens(input_ids, vocab_size, mask_id, special_ids=(), pad_id=0, mlm_prob=0.15) -> (inputs, labels)``

* Candidates are the positions whose token is neither ``pad_id`` nor in ``special_ids``
  (e.g. ``[CLS]``, ``[SEP]``); each candidate is selected with probability ``mlm_prob``.
* Of the selected positions, 80 % become ``mask_id``, 10 % a random token drawn uniformly from
  ``0 .. vocab_size - 1``, and 10 % keep their token.
* ``labels`` holds the original token at selected positions and ``-100`` everywhere else;
  ``inputs`` is a new tensor (``input_ids`` itself is not modified), on ``input_ids``' device.
"""
import torch
import torch.nn.functional as F
from torch import nn


class BERT(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, dff: int, max_seq_len: int,
                 type_vocab_size: int = 2, pad_id: int = 0, dropout: float = 0.1):
        super().__init__()
        # TODO: tok_emb, pos_emb (max_seq_len positions), seg_emb, an embedding LayerNorm and dropout
        # TODO: nn.TransformerEncoder of layers with dim_feedforward=dff, activation="gelu", batch_first=True
        # TODO: MLM head: Linear + GELU + LayerNorm, then decoder = nn.Linear(d_model, vocab_size), decoder.weight = tok_emb.weight
        raise NotImplementedError("TODO: write this part")

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> MLM logits (B, T, vocab_size). attention_mask: 1 = real token, 0 = padding."""
        # TODO: check T <= max_seq_len; default segment ids and attention mask
        # TODO: embeddings -> LayerNorm -> dropout; encoder with src_key_padding_mask = ~attention_mask; MLM head
        raise NotImplementedError("TODO: write this part")

    def mlm_loss(self, input_ids: torch.Tensor, labels: torch.Tensor, segment_ids: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy over the positions whose label is not -100."""
        raise NotImplementedError("TODO: write this part")


def mask_tokens(input_ids: torch.Tensor, vocab_size: int, mask_id: int, special_ids=(), pad_id: int = 0,
                mlm_prob: float = 0.15):
    """BERT's masking: returns (inputs, labels); labels are -100 where nothing is predicted."""
    # TODO: candidates = not pad and not special; select each with probability mlm_prob (on input_ids.device)
    # TODO: labels = original ids where selected, -100 elsewhere; 80 % -> mask_id, 10 % -> random id, 10 % unchanged
    raise NotImplementedError("TODO: write this part")
