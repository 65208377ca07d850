"""Exercise 17 — transfer learning with a pretrained recurrent encoder.

You get a "pretrained" recurrent encoder: an ``nn.LSTM`` or an ``nn.GRU`` built with
``batch_first=True`` (1 or more layers, possibly ``bidirectional=True``), and its weights in a
checkpoint saved from a bigger model, so every key carries a prefix: ``"module."`` (saved from a
``DistributedDataParallel`` wrapper), ``"module.encoder."``, ``"backbone."``, ... The grader makes
the encoder and the checkpoint itself; nothing is downloaded. Reuse the encoder in a classifier.

``load_encoder(encoder, checkpoint, prefix)``

* ``checkpoint``: a state dict (``{name: tensor}``). The entries whose key starts with ``prefix`` are
  the encoder's, under the key with the prefix removed (``"module.weight_ih_l0"`` -> ``"weight_ih_l0"``);
  the other entries belong to other parts of the saved model and are ignored.
* Load them into ``encoder`` (in place) **strictly**: when an encoder key has no entry (missing) or an
  entry under the prefix matches no encoder key (unexpected), raise an exception (``RuntimeError``,
  ``KeyError`` or ``ValueError``) whose message names every missing and unexpected key. A wrong
  prefix must fail loudly, never leave the random weights in place.
* Return ``encoder``.

``SequenceClassifier(encoder, num_classes)``, an ``nn.Module``

* ``self.encoder``: the given encoder itself (no copy), frozen: every parameter ``requires_grad=False``.
* ``self.head``: a new ``nn.Linear(H * D, num_classes)``, ``H = encoder.hidden_size`` and ``D = 2`` for a
  bidirectional encoder, else ``1``.
* ``forward(x, lengths)``: ``x`` of shape ``(B, T, input_size)`` (float, padded after each sequence's end
  with anything), ``lengths`` a CPU int64 tensor ``(B,)`` with ``1 <= lengths[b] <= T``, in any order.
  Returns logits ``(B, num_classes)`` = ``self.head(features)``, where ``features`` ``(B, H * D)`` is the
  last layer's hidden state at each sequence's last **real** step, computed from real steps only: the
  forward direction's state after step ``lengths[b] - 1``, concatenated (forward first) with the backward
  direction's state after it has read the sequence from step ``lengths[b] - 1`` back to step 0. Padding
  must change nothing.

``unfreeze_top_layer(model, head_lr, top_lr)``

* Make the parameters of the encoder's top layer ``k = num_layers - 1`` trainable (for
  ``nn.LSTM``/``nn.GRU`` they are named ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
  ``bias_hh_l{k}``, and the same with ``_reverse`` for the backward direction); every lower layer stays
  frozen.
* Return a ``torch.optim.Adam`` with two parameter groups: the head at ``head_lr`` and the top layer at
  the smaller ``top_lr``.
"""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def load_encoder(encoder: nn.Module, checkpoint: dict, prefix: str) -> nn.Module:
    """Load checkpoint[prefix + key] into encoder[key], strictly; return encoder."""
    # TODO: keep the entries whose key starts with prefix, with the prefix cut off (not str.lstrip!)
    # TODO: compare with encoder.state_dict()'s keys; raise naming every missing / unexpected key
    raise NotImplementedError("TODO: write this part")


class SequenceClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_classes: int):
        """encoder: a pretrained batch-first nn.LSTM or nn.GRU; num_classes: size of the new head."""
        # TODO: call super().__init__(); keep the given encoder as self.encoder and freeze it
        # TODO: self.head = nn.Linear(hidden_size * num_directions, num_classes)
        raise NotImplementedError("TODO: write this part")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: (B, T, input_size); lengths: CPU int64 (B,) -> logits (B, num_classes)."""
        # TODO: run the encoder on real steps only (pack_padded_sequence(..., enforce_sorted=False))
        # TODO: h_n is (num_layers * D, B, H); an LSTM returns (h_n, c_n), a GRU h_n alone
        # TODO: the last layer is h_n[-1] (unidirectional) or cat(h_n[-2], h_n[-1]) (forward, backward)
        raise NotImplementedError("TODO: write this part")


def unfreeze_top_layer(model: SequenceClassifier, head_lr: float, top_lr: float) -> torch.optim.Optimizer:
    """Unfreeze the encoder's top layer (both directions); Adam with groups (head, head_lr), (top layer, top_lr)."""
    # TODO: the top layer's parameter names end in _l{k} or _l{k}_reverse, k = num_layers - 1
    raise NotImplementedError("TODO: write this part")
