"""Exercise 16 — CNN transfer learning with torchvision: feature extraction.

You get "pretrained" torchvision classifiers (the grader makes their weights itself; nothing is
downloaded: never call ``resnet34(pretrained=True)``, which is the old API and downloads). Reuse
them for a new task with ``num_classes`` classes, training only a new final layer.

``replace_head(model, num_classes) -> nn.Linear`` — replace, in place, the model's final
classification ``nn.Linear`` by a new ``nn.Linear(in_features, num_classes)`` (with a bias) and
return the new layer. Read ``in_features`` from the layer you replace (never hard-code 512: a
resnet18's ``fc`` has 512 inputs, a mobilenet_v3_small's ``classifier[-1]`` has 1024). Support at
least: models with an ``fc`` Linear (ResNet family) and models whose ``classifier`` is an
``nn.Sequential`` ending in a Linear (MobileNet, EfficientNet, VGG, ...) — there replace only that
last Linear and keep the layers before it. Anything else: raise ``ValueError``. It is called on the
model as built (CPU, float32), before any ``.to(device)``, as in the torchvision fine-tuning tutorial.

``freeze_backbone(model, head)`` — feature extraction: every parameter of ``model`` outside
``head`` gets ``requires_grad=False``; the head's parameters ``requires_grad=True``.
``requires_grad=False`` stops gradients, not BatchNorm: in training mode a BatchNorm layer still
normalises with batch statistics and updates ``running_mean``/``running_var``. So every function
below that runs the backbone puts the model in eval mode itself (``model.eval()``; never
``model.train()``: the head is a Linear, which has no train/eval behaviour), whatever mode the model
arrives in; the BatchNorm statistics then never change and dropout is off.

``preprocess(images, weights)`` — ``images``: uint8 ``(B, 3, H, W)``; return the float batch those
torchvision weights expect, using the weights' own preprocessing: ``weights.transforms()`` (e.g.
``ResNet18_Weights.DEFAULT.transforms()``; it is built offline and differs between weights).

All training below is the same plain loop: ``opt = torch.optim.SGD(head.parameters(), lr=lr)``;
for each epoch, the batches ``[0:batch_size], [batch_size:2 * batch_size], ...`` in order (no
shuffling; the last batch may be shorter); ``opt.zero_grad()``, ``loss = F.cross_entropy(logits,
labels_of_batch)``, ``loss.backward()``, ``opt.step()``. Each returns the list of the per-step
losses (Python floats).

``train_head(model, head, images, labels, epochs, batch_size, lr) -> list`` — end to end: the
logits of each step are ``model(batch)`` (the frozen backbone runs in every step, in eval mode).

``extract_features(model, head, images, batch_size) -> Tensor`` — the frozen backbone's
features: the input the head receives, ``(N, head.in_features)``, for every image, computed in
eval mode in batches of ``batch_size`` without building an autograd graph (``torch.no_grad()``).
Each image goes through the backbone exactly once. Leave ``head`` in place inside ``model``.

``train_head_cached(model, head, images, labels, epochs, batch_size, lr) -> list`` — the same
training as ``train_head``, but the backbone runs once per image: extract the features once, then
train the head on them (logits ``head(features_of_batch)``). With the same data, seeds and
settings it must give the same head as ``train_head``, at a fraction of the cost.
"""
import torch
import torch.nn.functional as F
from torch import nn


def replace_head(model: nn.Module, num_classes: int) -> nn.Linear:
    """Replace the final Linear (model.fc, or the last layer of model.classifier) by Linear(in_features, num_classes)."""
    # BEGIN SOLUTION
    # TODO: ResNet: model.fc; MobileNet/EfficientNet/VGG: model.classifier[-1]; read .in_features
    if isinstance(getattr(model, "fc", None), nn.Linear):
        old = model.fc
        model.fc = head = nn.Linear(old.in_features, num_classes)
    elif isinstance(getattr(model, "classifier", None), nn.Sequential) and isinstance(model.classifier[-1], nn.Linear):
        old = model.classifier[-1]
        model.classifier[-1] = head = nn.Linear(old.in_features, num_classes)
    else:
        raise ValueError(f"no final Linear found in {type(model).__name__} (expected .fc or .classifier[-1])")
    return head.to(old.weight.device, old.weight.dtype)
    # END SOLUTION


def freeze_backbone(model: nn.Module, head: nn.Linear) -> None:
    """requires_grad=False for every parameter outside head, True for head's."""
    # BEGIN SOLUTION
    model.requires_grad_(False)
    head.requires_grad_(True)
    # END SOLUTION


def preprocess(images: torch.Tensor, weights) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> the float batch `weights` expect (their own transforms())."""
    # BEGIN SOLUTION
    return weights.transforms()(images)
    # END SOLUTION


def _batches(n, batch_size):
    for i in range(0, n, batch_size):
        yield slice(i, i + batch_size)


def train_head(model: nn.Module, head: nn.Linear, images: torch.Tensor, labels: torch.Tensor,
               epochs: int, batch_size: int, lr: float) -> list:
    """End to end: logits = model(batch), the frozen backbone in eval mode; SGD on the head; per-step losses."""
    # BEGIN SOLUTION
    # TODO: model.eval() (BatchNorm keeps its statistics), SGD over head.parameters(), batches in order
    model.eval()
    opt = torch.optim.SGD(head.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for s in _batches(len(images), batch_size):
            opt.zero_grad()
            loss = F.cross_entropy(model(images[s]), labels[s])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses
    # END SOLUTION


def extract_features(model: nn.Module, head: nn.Linear, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The head's input for every image, (N, head.in_features): eval mode, no autograd, one backbone pass per image."""
    # BEGIN SOLUTION
    # TODO: capture the head's input (a forward hook, or swap the head for nn.Identity() and put it back)
    model.eval()
    feats = []
    hook = head.register_forward_hook(lambda mod, inputs, output: feats.append(inputs[0]))
    try:
        with torch.no_grad():
            for s in _batches(len(images), batch_size):
                model(images[s])
    finally:
        hook.remove()
    return torch.cat(feats)
    # END SOLUTION


def train_head_cached(model: nn.Module, head: nn.Linear, images: torch.Tensor, labels: torch.Tensor,
                      epochs: int, batch_size: int, lr: float) -> list:
    """Like train_head, but on features extracted once (logits = head(features of the batch))."""
    # BEGIN SOLUTION
    feats = extract_features(model, head, images, batch_size)
    opt = torch.optim.SGD(head.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for s in _batches(len(feats), batch_size):
            opt.zero_grad()
            loss = F.cross_entropy(head(feats[s]), labels[s])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses
    # END SOLUTION
