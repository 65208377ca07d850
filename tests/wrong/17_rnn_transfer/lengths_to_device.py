"""forward moves the lengths to the input's device before packing; on a real GPU pack_padded_sequence refuses that.
expect-message: pack_padded_sequence wants them on the CPU
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
        packed = pack_padded_sequence(x, lengths.to(x.device), batch_first=True, enforce_sorted=False)
        _, h_n = self.encoder(packed)
        if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        if self.encoder.bidirectional:
            features = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            features = h_n[-1]
        return self.head(features)


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
