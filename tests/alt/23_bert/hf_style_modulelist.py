"""Correct alternative, Hugging Face style: a `position_ids` buffer, LayerNorm eps 1e-12, BERT's normal(0, 0.02)
init, layers in an nn.ModuleList called one by one (each may take the fused fast path in eval mode) with
`attention_mask == 0` as the padding mask, a bias-free decoder plus a separate bias Parameter, and the original
BERT masking: an exact count round(n * mlm_prob) per sequence picked with randperm, then one uniform draw per
picked token for the 80 / 10 / 10 split."""
import torch
import torch.nn.functional as F
from torch import nn


class BERT(nn.Module):
    def __init__(self, vocab_size, d_model, nhead, num_layers, dff, max_seq_len, type_vocab_size=2, pad_id=0,
                 dropout=0.1):
        super().__init__()
        self.max_seq_len, self.pad_id, self.vocab_size = max_seq_len, pad_id, vocab_size
        self.tok_emb = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.pos_emb = nn.Embedding(max_seq_len, d_model)
        self.seg_emb = nn.Embedding(type_vocab_size, d_model)
        self.register_buffer("position_ids", torch.arange(max_seq_len).expand((1, -1)), persistent=False)
        self.LayerNorm = nn.LayerNorm(d_model, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, nhead, dff, dropout, activation=F.gelu, batch_first=True,
                                       layer_norm_eps=1e-12)
            for _ in range(num_layers))
        self.dense = nn.Linear(d_model, d_model)
        self.head_norm = nn.LayerNorm(d_model, eps=1e-12)
        self.decoder = nn.Linear(d_model, vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.apply(self._init_weights)
        self.decoder.weight = self.tok_emb.weight

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def forward(self, input_ids, segment_ids=None, attention_mask=None):
        seq_length = input_ids.size(1)
        if seq_length > self.max_seq_len:
            raise ValueError(f"input length {seq_length} is longer than max_seq_len ({self.max_seq_len})")
        if segment_ids is None:
            segment_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = (input_ids != self.pad_id).long()
        position_ids = self.position_ids[:, :seq_length]
        h = self.tok_emb(input_ids) + self.seg_emb(segment_ids) + self.pos_emb(position_ids)
        h = self.dropout(self.LayerNorm(h))
        pad_mask = attention_mask == 0
        for layer in self.layers:
            h = layer(h, src_key_padding_mask=pad_mask)
        h = self.head_norm(F.gelu(self.dense(h)))
        return self.decoder(h) + self.bias

    def mlm_loss(self, input_ids, labels, segment_ids=None, attention_mask=None):
        scores = self(input_ids, segment_ids, attention_mask)
        return nn.CrossEntropyLoss()(scores.view(-1, self.vocab_size), labels.view(-1))


def mask_tokens(input_ids, vocab_size, mask_id, special_ids=(), pad_id=0, mlm_prob=0.15):
    inputs = input_ids.clone()
    labels = torch.full_like(input_ids, -100)
    special = torch.tensor(sorted(set(int(s) for s in special_ids) | {int(pad_id)}), device=input_ids.device)
    is_cand = ~torch.isin(input_ids, special)
    for b in range(input_ids.size(0)):
        cand = is_cand[b].nonzero().flatten()
        num_to_predict = max(1, int(round(len(cand) * mlm_prob))) if len(cand) else 0
        picked = cand[torch.randperm(len(cand), device=input_ids.device)[:num_to_predict]]
        labels[b, picked] = input_ids[b, picked]
        r = torch.rand(len(picked), device=input_ids.device)
        row = inputs[b]
        row[picked[r < 0.8]] = mask_id
        rnd = picked[(r >= 0.8) & (r < 0.9)]
        row[rnd] = torch.randint(vocab_size, (len(rnd),), device=input_ids.device, dtype=row.dtype)
    return inputs, labels
