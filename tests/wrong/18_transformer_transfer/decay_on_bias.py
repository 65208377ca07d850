"""Wrong: weight decay on every parameter, biases and LayerNorm included.
expect-message: should have weight_decay 0.0
"""
import torch
from torch import nn


class TinyEncoderLM(nn.Module):
    """Given: the pretrained language model (token + learned position embeddings, encoder, LM head)."""

    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, dim_feedforward: int,
                 max_len: int = 64, pad_id: int = 0, dropout: float = 0.0):
        super().__init__()
        self.pad_id = pad_id
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.lm_head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) -> next-token logits (B, T, vocab_size)."""
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tok_emb(tokens) + self.pos_emb(pos)
        x = self.encoder(x, src_key_padding_mask=tokens == self.pad_id)
        return self.lm_head(x)


class TransformerClassifier(nn.Module):
    def __init__(self, config: dict, state_dict: dict, num_classes: int):
        """config: TinyEncoderLM's keyword arguments; state_dict: its pretrained weights."""
        super().__init__()
        lm = TinyEncoderLM(**config)
        lm.load_state_dict(state_dict)
        self.pad_id = config.get("pad_id", 0)
        self.tok_emb, self.pos_emb, self.encoder = lm.tok_emb, lm.pos_emb, lm.encoder
        self.head = nn.Linear(config["d_model"], num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), pad_id = padding -> logits (B, num_classes)."""
        pad = tokens == self.pad_id
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.encoder(self.tok_emb(tokens) + self.pos_emb(pos), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


def _blocks(model: TransformerClassifier):
    """Helper (use it or not): [embeddings, layer 0, ..., layer L-1, head] as lists of parameters."""
    emb = list(model.tok_emb.parameters()) + list(model.pos_emb.parameters())
    layers = [list(layer.parameters()) for layer in model.encoder.layers]
    taken = {id(p) for block in [emb] + layers for p in block}
    head = [p for p in model.parameters() if id(p) not in taken]
    return [emb] + layers + [head]


def layerwise_param_groups(model: TransformerClassifier, base_lr: float, decay: float,
                           weight_decay: float) -> list:
    """AdamW groups: head at base_lr, layer i at base_lr * decay ** (L - i), embeddings at base_lr * decay ** (L + 1)."""
    blocks = _blocks(model)
    depth = len(blocks) - 1                        # head = 0, top layer = 1, ..., embeddings = L + 1
    groups = []
    for i, params in enumerate(blocks):
        lr = base_lr * decay ** (depth - i)
        for wd, chosen in ((weight_decay, [p for p in params if p.ndim >= 2]),
                           (weight_decay, [p for p in params if p.ndim < 2])):
            if chosen:
                groups.append({"params": chosen, "lr": lr, "weight_decay": wd})
    return groups


def unfreeze_top(model: TransformerClassifier, k: int) -> None:
    """Only the head and the top k encoder layers (k >= L + 1: everything) keep requires_grad=True."""
    blocks = _blocks(model)
    for i, params in enumerate(blocks):
        train = len(blocks) - 1 - i <= k           # head: distance 0, top layer: 1, ..., embeddings: L + 1
        for p in params:
            p.requires_grad_(train)
