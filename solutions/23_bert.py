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
        # BEGIN SOLUTION
        # TODO: tok_emb, pos_emb (max_seq_len positions), seg_emb, an embedding LayerNorm and dropout
        # TODO: nn.TransformerEncoder of layers with dim_feedforward=dff, activation="gelu", batch_first=True
        # TODO: MLM head: Linear + GELU + LayerNorm, then decoder = nn.Linear(d_model, vocab_size), decoder.weight = tok_emb.weight
        self.max_seq_len, self.pad_id = max_seq_len, pad_id
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_seq_len, d_model)
        self.seg_emb = nn.Embedding(type_vocab_size, d_model)
        self.emb_norm = nn.LayerNorm(d_model)
        self.emb_drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=dff, dropout=dropout,
                                           activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.transform = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.LayerNorm(d_model))
        self.decoder = nn.Linear(d_model, vocab_size)
        self.decoder.weight = self.tok_emb.weight          # tied: one Parameter
        # END SOLUTION

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> MLM logits (B, T, vocab_size). attention_mask: 1 = real token, 0 = padding."""
        # BEGIN SOLUTION
        # TODO: check T <= max_seq_len; default segment ids and attention mask
        # TODO: embeddings -> LayerNorm -> dropout; encoder with src_key_padding_mask = ~attention_mask; MLM head
        B, T = input_ids.shape
        if T > self.max_seq_len:
            raise ValueError(f"sequence length {T} exceeds max_seq_len={self.max_seq_len}")
        if segment_ids is None:
            segment_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = input_ids != self.pad_id
        pos = torch.arange(T, device=input_ids.device)
        x = self.tok_emb(input_ids) + self.pos_emb(pos) + self.seg_emb(segment_ids)
        x = self.emb_drop(self.emb_norm(x))
        x = self.encoder(x, src_key_padding_mask=~attention_mask.bool())
        return self.decoder(self.transform(x))
        # END SOLUTION

    def mlm_loss(self, input_ids: torch.Tensor, labels: torch.Tensor, segment_ids: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy over the positions whose label is not -100."""
        # BEGIN SOLUTION
        logits = self(input_ids, segment_ids, attention_mask)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        # END SOLUTION


def mask_tokens(input_ids: torch.Tensor, vocab_size: int, mask_id: int, special_ids=(), pad_id: int = 0,
                mlm_prob: float = 0.15):
    """BERT's masking: returns (inputs, labels); labels are -100 where nothing is predicted."""
    # BEGIN SOLUTION
    # TODO: candidates = not pad and not special; select each with probability mlm_prob (on input_ids.device)
    # TODO: labels = original ids where selected, -100 elsewhere; 80 % -> mask_id, 10 % -> random id, 10 % unchanged
    device = input_ids.device
    special = torch.tensor(sorted({int(s) for s in special_ids} | {int(pad_id)}), device=device)
    candidate = ~torch.isin(input_ids, special)
    prob = torch.full(input_ids.shape, float(mlm_prob), device=device)
    selected = torch.bernoulli(prob).bool() & candidate
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    inputs = input_ids.clone()
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8, device=device)).bool() & selected
    inputs[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5, device=device)).bool() & selected & ~to_mask
    random_ids = torch.randint(vocab_size, input_ids.shape, device=device, dtype=input_ids.dtype)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels
    # END SOLUTION
