"""The seed's bug: a head is created but never called, so forward returns the encoder's per-step output.
expect-message: the head is never applied

Seed question 17 attaches `model.fc = nn.Linear(20, 5)` to an `nn.RNN` and calls only the RNN: the
output stays (B, T, hidden) and, everything being frozen, backward() finds nothing that requires grad.
"""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def load_encoder(encoder: nn.Module, checkpoint: dict, prefix: str) -> nn.Module:
    """Load checkpoint[prefix + key] into encoder[key], strictly; return encoder."""
    state = {k[len(prefix):]: v for k, v in checkpoint.items() if k.startswith(prefix)}
    own = set(encoder.state_dict())
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise RuntimeError(f"checkpoint does not match the encoder under prefix {prefix!r}: "
                           f"missing keys {missing}, unexpected keys {unexpected}")
    encoder.load_state_dict(state, strict=True)
    return encoder


class SequenceClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_classes: int):
        """encoder: a pretrained batch-first nn.LSTM or nn.GRU; num_classes: size of the new head."""
        super().__init__()
        self.encoder = encoder
        self.encoder.requires_grad_(False)
        directions = 2 if encoder.bidirectional else 1
        self.head = nn.Linear(encoder.hidden_size * directions, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: (B, T, input_size); lengths: CPU int64 (B,) -> logits (B, num_classes)."""
        outputs, hidden = self.encoder(x)
        return outputs


def unfreeze_top_layer(model: SequenceClassifier, head_lr: float, top_lr: float) -> torch.optim.Optimizer:
    """Unfreeze the encoder's top layer (both directions); Adam with groups (head, head_lr), (top layer, top_lr)."""
    top = model.encoder.num_layers - 1
    params = [p for name, p in model.encoder.named_parameters()
              if name.endswith(f"_l{top}") or name.endswith(f"_l{top}_reverse")]
    for p in params:
        p.requires_grad_(True)
    return torch.optim.Adam([
        {"params": list(model.head.parameters()), "lr": head_lr},
        {"params": params, "lr": top_lr},
    ])
