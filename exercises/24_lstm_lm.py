"""Exercise 24 — an LSTM language model trained with truncated BPTT.

Layout: **time first**, like PyTorch's ``word_language_model`` example: token tensors are
``(T, B)`` (``B`` parallel streams), logits ``(T, B, vocab)``, and the LSTM state ``(h, c)``
is ``(num_layers, B, hidden_dim)`` each (``nn.LSTM``'s convention, with ``batch_first=False``).

``batchify(data, batch_size)``: a 1-D token stream ``(N,)`` -> ``(N // batch_size, batch_size)``;
column ``j`` is the contiguous piece ``data[j * n:(j + 1) * n]`` with ``n = N // batch_size``
(the last ``N % batch_size`` tokens are dropped).

``get_batch(source, i, bptt)``: the window starting at row ``i`` of a batchified ``source``:
``L = min(bptt, len(source) - 1 - i)``, ``input = source[i:i + L]`` and
``target = source[i + 1:i + 1 + L]`` (the next token), both ``(L, B)``; the target may also be
returned flattened to ``(L * B,)`` as the example does.

``LSTMLanguageModel(vocab_size, emb_dim, hidden_dim, num_layers=1, dropout=0.0, tie_weights=False)``:
``nn.Embedding(vocab_size, emb_dim)`` -> dropout -> ``nn.LSTM(emb_dim, hidden_dim, num_layers,
dropout=dropout if num_layers > 1 else 0)`` -> dropout -> ``nn.Linear(hidden_dim, vocab_size)``.
With ``tie_weights=True`` the output layer's weight **is** the embedding's weight (one Parameter);
that needs ``emb_dim == hidden_dim``, otherwise raise ``ValueError``.

* ``forward(tokens, hidden=None) -> (logits, hidden)``: ``tokens`` ``(T, B)``; ``hidden=None``
  means ``init_hidden(B)``.
* ``init_hidden(batch_size) -> (h, c)``: zeros ``(num_layers, batch_size, hidden_dim)`` on the
  model's device (and dtype).

``detach_hidden(hidden)``: the same ``(h, c)`` cut from the graph (a new tuple of detached tensors).

``train_step(model, inputs, targets, hidden, optimizer, clip) -> (loss, hidden)``: one truncated-BPTT
step in train mode. Start from ``hidden`` (the state the previous window returned) **detached**, or
from ``init_hidden`` when ``hidden`` is ``None`` or its batch size differs from ``inputs``' (a short
last batch); zero the gradients; mean cross-entropy over all ``L * B`` targets; backward; clip the
gradient norm to ``clip`` (``clip_grad_norm_``) **before** ``optimizer.step()``. Returns the loss as
a Python float and the new state.

``evaluate(model, source, bptt) -> float``: the perplexity ``exp(mean cross-entropy)`` over every
target of ``source`` (windows from ``get_batch``, the state carried from one window to the next,
starting from zeros, each window weighted by its number of targets), in eval mode under
``torch.no_grad()``.

``generate(model, prompt, num_tokens, temperature=None) -> LongTensor (num_tokens,)``: continue the
1-D ``prompt`` (one stream; run the prompt, then feed each new token with the carried state), in
eval mode without autograd, on the model's device. ``temperature=None`` (or ``0``): greedy argmax;
otherwise sample from ``softmax(logits / temperature)``. Returns the new tokens only.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(N,) token stream -> (N // batch_size, batch_size); column j is one contiguous stream."""
    # TODO: drop the last N % batch_size tokens, view as (batch_size, n) rows, transpose to time first
    raise NotImplementedError("TODO: write this part")


def get_batch(source: torch.Tensor, i: int, bptt: int):
    """(input (L, B), target (L, B)) with L = min(bptt, len(source) - 1 - i); target is input shifted by one."""
    # TODO: L = min(bptt, len(source) - 1 - i); input rows i..i+L-1, target rows i+1..i+L
    raise NotImplementedError("TODO: write this part")


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, num_layers: int = 1,
                 dropout: float = 0.0, tie_weights: bool = False):
        super().__init__()
        self.vocab_size, self.hidden_dim, self.num_layers = vocab_size, hidden_dim, num_layers
        # TODO: embedding, dropout, nn.LSTM (time first: batch_first=False), output nn.Linear(hidden_dim, vocab_size)
        # TODO: tie_weights: the Linear's weight = the embedding's weight (ValueError if emb_dim != hidden_dim)
        raise NotImplementedError("TODO: write this part")

    def forward(self, tokens: torch.Tensor, hidden=None):
        """tokens (T, B) -> (logits (T, B, vocab_size), (h, c) each (num_layers, B, hidden_dim))."""
        # TODO: hidden None -> init_hidden(B); embed, dropout, LSTM, dropout, Linear
        raise NotImplementedError("TODO: write this part")

    def init_hidden(self, batch_size: int):
        """(h, c): zeros (num_layers, batch_size, hidden_dim) on the model's device."""
        # TODO: zeros on the device (and dtype) of the model's parameters, not the CPU default
        raise NotImplementedError("TODO: write this part")


def detach_hidden(hidden):
    """(h, c) -> (h.detach(), c.detach()): keep the values, drop the graph of the previous window."""
    # TODO: hidden is a tuple: detach each tensor (a tuple has no .data / .detach())
    raise NotImplementedError("TODO: write this part")


def train_step(model, inputs, targets, hidden, optimizer, clip: float):
    """One truncated-BPTT step on a window. Returns (loss as a float, new hidden)."""
    # TODO: model.train(); fresh init_hidden when hidden is None or its batch size != inputs.size(1)
    # TODO: detach the incoming state; zero_grad; mean cross-entropy over all targets; backward
    # TODO: clip_grad_norm_(model.parameters(), clip) before optimizer.step()
    raise NotImplementedError("TODO: write this part")


def evaluate(model, source: torch.Tensor, bptt: int) -> float:
    """Perplexity exp(mean cross-entropy) over all targets of a batchified source; eval mode, no autograd."""
    # TODO: model.eval(); torch.no_grad(); state from init_hidden, carried across the windows
    # TODO: sum the per-token losses (reduction="sum"), divide by the number of targets, exp
    raise NotImplementedError("TODO: write this part")


def generate(model, prompt: torch.Tensor, num_tokens: int, temperature=None) -> torch.Tensor:
    """Continue a 1-D prompt by num_tokens tokens (greedy when temperature is None or 0); new tokens only."""
    # TODO: eval mode, no_grad; run the prompt as a (P, 1) batch, then feed each new token with the state
    # TODO: greedy: argmax of the last logits; else torch.multinomial(softmax(logits / temperature), 1)
    raise NotImplementedError("TODO: write this part")
