"""Wrong: mask_tokens draws the random replacement ids with torch.randint(...) and no device=, so on a GPU they stay
on the CPU and `inputs[to_random] = random_ids[to_random]` indexes a CPU tensor with a device mask (CUDA refuses).
expect-message: indexed with a mask or index on the gpu stand-in device
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

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> MLM logits (B, T, vocab_size). attention_mask: 1 = real token, 0 = padding."""
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

    def mlm_loss(self, input_ids: torch.Tensor, labels: torch.Tensor, segment_ids: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy over the positions whose label is not -100."""
        logits = self(input_ids, segment_ids, attention_mask)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def mask_tokens(input_ids: torch.Tensor, vocab_size: int, mask_id: int, special_ids=(), pad_id: int = 0,
                mlm_prob: float = 0.15):
    """BERT's masking: returns (inputs, labels); labels are -100 where nothing is predicted."""
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
    random_ids = torch.randint(vocab_size, input_ids.shape, dtype=input_ids.dtype)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels
