"""Correct alternative, Hugging Face style: the whole LM kept as `backbone` with `lm_head = nn.Identity()`,
masked_fill pooling with a length count, and name-based groups (regex on `encoder.layers.N`, no decay for names
containing "bias" or "norm"), one group per parameter; unfreezing by parsing names too."""
import re

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
        super().__init__()
        backbone = TinyEncoderLM(**config)
        missing, unexpected = backbone.load_state_dict(state_dict, strict=True)
        backbone.lm_head = nn.Identity()        # the LM now returns hidden states (B, T, d_model)
        self.backbone = backbone
        self.num_layers = config["num_layers"]
        self.head = nn.Linear(config["d_model"], num_classes)

    def forward(self, tokens):
        hidden = self.backbone(tokens)
        is_pad = tokens.eq(self.backbone.pad_id).unsqueeze(-1)
        summed = hidden.masked_fill(is_pad, 0.0).sum(1)
        lengths = (~is_pad).sum(1)
        return self.head(summed / lengths)


def _depth(name, num_layers):
    """0 = head, 1 = top layer, ..., num_layers + 1 = embeddings."""
    m = re.match(r"backbone\.encoder\.layers\.(\d+)\.", name)
    if m:
        return num_layers - int(m.group(1))
    if name.startswith(("backbone.tok_emb", "backbone.pos_emb")):
        return num_layers + 1
    return 0


def layerwise_param_groups(model, base_lr, decay, weight_decay):
    no_decay = ("bias", "norm")
    groups = []
    for name, p in model.named_parameters():
        groups.append({
            "params": [p],
            "lr": base_lr * decay ** _depth(name, model.num_layers),
            "weight_decay": 0.0 if any(nd in name for nd in no_decay) else weight_decay,
        })
    return groups


def unfreeze_top(model, k):
    for name, p in model.named_parameters():
        p.requires_grad = _depth(name, model.num_layers) <= k
