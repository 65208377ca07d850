"""Exercise 18 — transfer learning from a pretrained Transformer language model.

``TinyEncoderLM`` below is **given** (do not change it): a small Transformer-encoder language
model. The grader "pretrains" one itself and hands you its ``config`` (the keyword arguments of
``TinyEncoderLM``) and its ``state_dict``; nothing is downloaded. Reuse it for classification.

``TransformerClassifier(config, state_dict, num_classes)`` — an ``nn.Module``:

* Build ``TinyEncoderLM(**config)`` and load ``state_dict`` into it (strictly), then keep its
  token embedding, position embedding and encoder (the modules themselves, not copies) and
  **drop its LM head** (``lm_head`` predicts tokens; the classifier must not hold it).
* ``self.head``: a new ``nn.Linear(d_model, num_classes)``. Other attribute names are yours.
* ``forward(tokens)``: ``tokens`` LongTensor ``(B, T)`` with ``T <= max_len``; positions holding
  ``config["pad_id"]`` are padding (every sample has at least one real token). Embeddings as in
  ``TinyEncoderLM.forward``, the encoder with ``src_key_padding_mask`` (True = padding), then the
  **mean of the encoder output over the real tokens** of each sequence, then ``head``.
  Returns logits ``(B, num_classes)`` — one row per sequence, not per token.
* A fresh classifier has every parameter trainable.

``layerwise_param_groups(model, base_lr, decay, weight_decay) -> list[dict]`` — parameter groups
for ``torch.optim.AdamW`` with layer-wise learning-rate decay. With ``L`` encoder layers:

* the head (every parameter that did not come from the pretrained LM) at ``base_lr``;
* encoder layer ``i`` (0 = the lowest, ``L - 1`` = the top) at ``base_lr * decay ** (L - i)``;
* the embeddings (token and position) at ``base_lr * decay ** (L + 1)``, the lowest rate.
* ``"weight_decay"``: ``weight_decay`` for weight matrices (every parameter with ``ndim >= 2``,
  embeddings included) and ``0.0`` for biases and LayerNorm parameters (``ndim < 2``).

Every parameter of ``model`` is in exactly one group; each group dict has ``"params"``,
``"lr"`` and ``"weight_decay"``. How many groups you make is up to you.

``unfreeze_top(model, k)`` — gradual unfreezing: afterwards exactly these parameters have
``requires_grad=True``: the head's and those of the top ``k`` encoder layers (layers
``L - k .. L - 1``); ``k >= L + 1`` also unfreezes the embeddings (everything trainable). All other
parameters get ``requires_grad=False``. ``k = 0`` trains the head only. Training calls it with
``k = 0, 1, 2, ...`` as the epochs go by, on one AdamW built once from the groups above
(frozen parameters get no gradient, so AdamW leaves them alone).
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
        # BEGIN SOLUTION
        # TODO: lm = TinyEncoderLM(**config); lm.load_state_dict(state_dict)
        # TODO: keep lm.tok_emb, lm.pos_emb, lm.encoder (not lm.lm_head); self.head = nn.Linear(d_model, num_classes)
        lm = TinyEncoderLM(**config)
        lm.load_state_dict(state_dict)
        self.pad_id = config.get("pad_id", 0)
        self.tok_emb, self.pos_emb, self.encoder = lm.tok_emb, lm.pos_emb, lm.encoder
        self.head = nn.Linear(config["d_model"], num_classes)
        # END SOLUTION

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), pad_id = padding -> logits (B, num_classes)."""
        # BEGIN SOLUTION
        # TODO: embeddings as in TinyEncoderLM.forward, encoder with src_key_padding_mask (True = padding)
        # TODO: mean over the real tokens only (B, d_model), then self.head
        pad = tokens == self.pad_id
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.encoder(self.tok_emb(tokens) + self.pos_emb(pos), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)
        # END SOLUTION


def _blocks(model: TransformerClassifier):
    """Helper (use it or not): [embeddings, layer 0, ..., layer L-1, head] as lists of parameters."""
    # BEGIN SOLUTION
    emb = list(model.tok_emb.parameters()) + list(model.pos_emb.parameters())
    layers = [list(layer.parameters()) for layer in model.encoder.layers]
    taken = {id(p) for block in [emb] + layers for p in block}
    head = [p for p in model.parameters() if id(p) not in taken]
    return [emb] + layers + [head]
    # END SOLUTION


def layerwise_param_groups(model: TransformerClassifier, base_lr: float, decay: float,
                           weight_decay: float) -> list:
    """AdamW groups: head at base_lr, layer i at base_lr * decay ** (L - i), embeddings at base_lr * decay ** (L + 1)."""
    # BEGIN SOLUTION
    # TODO: one lr per block (embeddings, layers bottom to top, head); within a block split
    # TODO: weight matrices (ndim >= 2, decayed) from biases / LayerNorm parameters (weight_decay 0.0)
    blocks = _blocks(model)
    depth = len(blocks) - 1                        # head = 0, top layer = 1, ..., embeddings = L + 1
    groups = []
    for i, params in enumerate(blocks):
        lr = base_lr * decay ** (depth - i)
        for wd, chosen in ((weight_decay, [p for p in params if p.ndim >= 2]),
                           (0.0, [p for p in params if p.ndim < 2])):
            if chosen:
                groups.append({"params": chosen, "lr": lr, "weight_decay": wd})
    return groups
    # END SOLUTION


def unfreeze_top(model: TransformerClassifier, k: int) -> None:
    """Only the head and the top k encoder layers (k >= L + 1: everything) keep requires_grad=True."""
    # BEGIN SOLUTION
    # TODO: freeze everything, then unfreeze the head and the last k layers (and the embeddings when k > L)
    blocks = _blocks(model)
    for i, params in enumerate(blocks):
        train = len(blocks) - 1 - i <= k           # head: distance 0, top layer: 1, ..., embeddings: L + 1
        for p in params:
            p.requires_grad_(train)
    # END SOLUTION
