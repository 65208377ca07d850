"""Grader for exercise 14 — a Transformer encoder classifier."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (CheckFailed, accelerator, assert_all_params_get_grad, assert_close, assert_learns,
                             assert_on_device, assert_shape, check, expect, fail, seeded, to_cpu)

PAD = 0

BATCH_FIRST = ("nn.TransformerEncoderLayer built without batch_first=True: PyTorch then reads a (B, T, D) input as "
               "(T, B, D), so attention runs across the samples of the batch.",
               "构建 nn.TransformerEncoderLayer 时没有传 batch_first=True：PyTorch 会把 (B, T, D) 的输入当成 "
               "(T, B, D)，注意力就在 batch 内的不同样本之间计算了。")


# ---------------------------------------------------------------------------
# private helpers

def _formula(max_len, d):
    """The sinusoidal table, written out element by element in float64."""
    pe = torch.zeros(max_len, d, dtype=torch.float64)
    for pos in range(max_len):
        for j in range(d):
            angle = pos / (10000.0 ** ((j - j % 2) / d))
            pe[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


def _make(ex, vocab=20, d=16, nhead=2, layers=1, classes=3, max_len=32, dropout=0.0, seed=0, train=False):
    with seeded(seed):
        m = ex.EncoderClassifier(vocab, d, nhead, layers, classes, max_len=max_len, pad_id=PAD, dropout=dropout)
    expect(isinstance(m, nn.Module), f"EncoderClassifier(...) should be an nn.Module, got {type(m).__name__}.",
           f"EncoderClassifier(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m.train(train)


def _tokens(lengths, T, vocab=20, seed=0):
    """(B, T) tokens in 1..vocab-1, padded with PAD after each sample's length."""
    g = torch.Generator().manual_seed(seed)
    tok = torch.randint(1, vocab, (len(lengths), T), generator=g)
    for i, n in enumerate(lengths):
        tok[i, n:] = PAD
    return tok


def _lacks_batch_first(m):
    return any(isinstance(l, nn.TransformerEncoderLayer) and not getattr(l.self_attn, "batch_first", True)
               for l in m.modules())


def _forward(m, tokens, what):
    """m(tokens); an exception from a model built without batch_first becomes a clear failure."""
    try:
        return m(tokens)
    except CheckFailed:
        raise
    except Exception as e:  # noqa: BLE001
        if not _lacks_batch_first(m):
            raise
        fail(f"{what}: forward({tuple(tokens.shape)} tokens) raised {type(e).__name__}: {e}.",
             f"{what}：forward（输入形状 {tuple(tokens.shape)}）抛出 {type(e).__name__}: {e}。", likely=BATCH_FIRST)


class _MaskSpy:
    """Records the src_key_padding_mask each nn.TransformerEncoderLayer receives (as bool, True = masked)."""

    def __init__(self, m):
        self.masks, self.layers = [], [l for l in m.modules() if isinstance(l, nn.TransformerEncoderLayer)]
        self.handles = []

    def hook(self, mod, args, kwargs):
        mask = kwargs.get("src_key_padding_mask", args[2] if len(args) > 2 else None)
        if mask is not None and mask.dtype != torch.bool:
            mask = mask < 0  # additive float mask: -inf where masked
        self.masks.append(mask)

    def __enter__(self):
        self.handles = [l.register_forward_pre_hook(self.hook, with_kwargs=True) for l in self.layers]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _padding_diagnosis(spy, tokens):
    pad = tokens == PAD
    if not spy.layers:
        return ("the key-padding mask is missing or inverted (True must mark padding: tokens == pad_id), or the mean "
                "is taken over every position, padding included.",
                "缺少 key-padding mask 或其含义反了（True 必须表示填充：tokens == pad_id），或者对包括填充在内的所有位置取了平均。")
    mask = spy.masks[0] if spy.masks else None
    if mask is None:
        return ("no src_key_padding_mask is passed to the encoder, so real tokens attend to the padding.",
                "没有给编码器传 src_key_padding_mask，真实 token 会注意到填充位置。")
    mask = mask.detach().cpu()
    if tuple(mask.shape) == tuple(pad.shape) and torch.equal(mask, ~pad):
        return ("the key-padding mask has inverted polarity: PyTorch's src_key_padding_mask is True at PADDING "
                "positions (tokens == pad_id), not at real tokens.",
                "key-padding mask 的含义反了：PyTorch 的 src_key_padding_mask 在填充位置（tokens == pad_id）为 True，"
                "而不是在真实 token 处。")
    if tuple(mask.shape) == tuple(pad.shape) and torch.equal(mask, pad):
        return ("the mean is taken over every position, padding included: average only over real tokens "
                "(sum of x * real_mask divided by the number of real tokens).",
                "平均时把填充位置也算进去了：只应对真实 token 取平均（x * 真实掩码 求和，再除以真实 token 数）。")
    return ("the key-padding mask does not mark exactly the padding positions (it must be tokens == pad_id, shape (B, T)), "
            "or the mean includes padding.",
            "key-padding mask 没有恰好标出填充位置（应为 tokens == pad_id，形状 (B, T)），或平均时包含了填充。")


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_logits_shape(ex):
    """Logits are (B, num_classes) for several batch sizes, lengths and model sizes.
    zh: 对不同的 batch 大小、序列长度和模型尺寸，logits 形状都是 (B, num_classes)。
    """
    cases = [  # (d_model, nhead, layers, classes, lengths, T)
        (16, 2, 1, 3, [1], 1),
        (16, 2, 2, 5, [9, 4, 9], 9),
        (32, 2, 1, 2, [3, 1, 4, 2, 4, 4], 4),
        (24, 2, 2, 7, [17, 11], 17),
    ]
    for d, h, n, c, lengths, T in cases:
        m = _make(ex, d=d, nhead=h, layers=n, classes=c, train=True)
        y = _forward(m, _tokens(lengths, T), "shape check")
        assert_shape(y, (len(lengths), c), f"EncoderClassifier(d_model={d}, nhead={h}, num_layers={n}, "
                     f"num_classes={c}) on tokens {(len(lengths), T)}",
                     likely=("returning per-token logits (B, T, C) instead of pooling over the sequence, or pooling "
                             "over the wrong dimension.",
                             "返回了逐 token 的 logits (B, T, C) 而没有对序列做池化，或者池化的维度不对。"))


@check(points=2, category="correctness")
def test_positional_encoding_formula(ex):
    """sinusoidal_encoding(max_len, d_model) equals sin/cos(pos / 10000^(2i/d_model)).
    zh: sinusoidal_encoding(max_len, d_model) 等于 sin/cos(pos / 10000^(2i/d_model))。
    """
    for max_len, d in [(50, 16), (7, 6), (33, 10), (128, 32)]:
        pe = ex.sinusoidal_encoding(max_len, d)
        assert_shape(pe, (max_len, d), f"sinusoidal_encoding({max_len}, {d})",
                     likely=("an extra batch dimension, or max_len and d_model swapped.",
                             "多了一个 batch 维度，或 max_len 与 d_model 写反了。"))
        assert_close(pe.double(), _formula(max_len, d), f"sinusoidal_encoding({max_len}, {d})", atol=1e-4, rtol=1e-4,
                     likely=("sin and cos swapped, the exponent 2i/d_model computed with i instead of 2i, or all "
                             "columns using the same frequency.",
                             "sin 与 cos 写反了，指数 2i/d_model 中用了 i 而不是 2i，或所有列用了同一个频率。"))


@check(points=2, category="correctness")
def test_encoding_is_a_buffer(ex):
    """The model keeps the table for max_len positions as a registered buffer (not a Parameter).
    zh: 模型把 max_len 个位置的编码表保存为已注册的 buffer（而不是 Parameter）。
    """
    max_len, d = 40, 16
    m = _make(ex, d=d, max_len=max_len)
    want = _formula(max_len, d)
    for _, b in m.named_buffers():
        if b.numel() == want.numel() and b.is_floating_point() and torch.allclose(
                b.detach().double().reshape(max_len, d), want, atol=1e-4):
            return
    params = [n for n, p in m.named_parameters() if p.numel() == want.numel()]
    fail(f"EncoderClassifier(max_len={max_len}, d_model={d}): no registered buffer holds the ({max_len}, {d}) "
         f"sinusoidal table; buffers: {[(n, tuple(b.shape)) for n, b in m.named_buffers()]}"
         + (f"; parameters of that size: {params}" if params else "") + ".",
         f"EncoderClassifier(max_len={max_len}, d_model={d})：没有任何已注册的 buffer 保存 ({max_len}, {d}) 的正弦编码表；"
         f"现有 buffer：{[(n, tuple(b.shape)) for n, b in m.named_buffers()]}。",
         likely=("the table kept as a plain attribute (self.pe = ...) or as an nn.Parameter instead of "
                 "self.register_buffer('pe', ...), or computed for a fixed length instead of max_len.",
                 "编码表存成了普通属性（self.pe = ...）或 nn.Parameter，而不是 self.register_buffer('pe', ...)；"
                 "或者按固定长度而不是 max_len 计算。"))


@check(points=3, category="correctness")
def test_batch_independence(ex):
    """In eval mode, changing one sample of the batch never changes another sample's logits.
    zh: eval 模式下，修改 batch 中的一个样本，不会改变其他样本的 logits。
    """
    # B == T on purpose: a model without batch_first then runs (instead of raising) and mixes samples.
    m = _make(ex, d=16, nhead=2, layers=2, classes=4).eval()
    tok = _tokens([5, 3, 5, 2, 4], 5, seed=1)
    y = _forward(m, tok, "batch independence")
    for j, seed in [(1, 7), (3, 8)]:
        tok2 = tok.clone()
        tok2[j] = _tokens([4], 5, seed=seed)[0]
        y2 = _forward(m, tok2, "batch independence")
        others = [i for i in range(len(tok)) if i != j]
        diff = (y2[others] - y[others]).abs().max().item()
        if diff > 1e-4:
            fail(f"Changing sample {j} of a batch of 5 changed the logits of the other samples (largest change "
                 f"{diff:.3g}); in eval mode each sample's logits must depend only on its own tokens.",
                 f"修改 5 个样本中的第 {j} 个，其他样本的 logits 也变了（最大变化 {diff:.3g}）；eval 模式下每个样本的 "
                 f"logits 只能依赖它自己的 token。",
                 likely=BATCH_FIRST if _lacks_batch_first(m) else
                 ("the encoder sees the batch on the wrong axis (batch_first=True missing, or a transpose too many), "
                  "or a normalisation across the batch.",
                  "编码器把 batch 放在了错误的维度上（缺少 batch_first=True，或多做了一次转置），或者在 batch 维度上做了归一化。"))


@check(points=3, category="correctness")
def test_padding_invariance(ex):
    """Appending extra padding tokens never changes the logits (eval mode).
    zh: 在末尾追加额外的填充 token 不会改变 logits（eval 模式）。
    """
    m = _make(ex, d=16, nhead=2, layers=2, classes=3).eval()
    tok = _tokens([6, 2, 4], 6, seed=2)  # sample 0 has no padding at all
    with _MaskSpy(m) as spy:
        y = _forward(m, tok, "padding invariance")
    for extra in (1, 5):
        longer = torch.cat([tok, torch.full((3, extra), PAD)], dim=1)
        y2 = _forward(m, longer, "padding invariance")
        assert_shape(y2, tuple(y.shape), f"logits for tokens {tuple(longer.shape)}")
        if not torch.allclose(y2, y, atol=1e-4, rtol=1e-4) or not torch.isfinite(y2).all():
            diff = (y2 - y).abs().max().item()
            fail(f"Appending {extra} padding token(s) (pad_id={PAD}) to every sample changed the logits (largest "
                 f"change {diff:.3g}); padding must not influence the result.",
                 f"在每个样本末尾追加 {extra} 个填充 token（pad_id={PAD}）后 logits 变了（最大变化 {diff:.3g}）；"
                 f"填充不应影响结果。",
                 likely=_padding_diagnosis(spy, tok))


@check(points=2, category="correctness")
def test_order_sensitivity(ex):
    """Reordering the real tokens changes the logits: the positional encoding is used.
    zh: 打乱真实 token 的顺序会改变 logits：说明用上了位置编码。
    """
    m = _make(ex, vocab=30, d=16, nhead=2, layers=1, classes=3, seed=3).eval()
    tok = torch.tensor([[5, 9, 2, 17, 11, 23, 8], [4, 12, 29, 6, PAD, PAD, PAD]])
    perm = tok.clone()
    perm[0, :7] = tok[0, :7].flip(0)
    perm[1, :4] = tok[1, torch.tensor([2, 0, 3, 1])]
    y, y2 = _forward(m, tok, "order sensitivity"), _forward(m, perm, "order sensitivity")
    diff = (y2 - y).abs().amax(dim=1)
    if diff.min().item() < 1e-5:
        fail(f"Reordering the real tokens of a sample left its logits unchanged (changes per sample: "
             f"{[round(v, 6) for v in diff.tolist()]}); the model cannot tell 'a b c' from 'c b a'.",
             f"打乱样本中真实 token 的顺序后 logits 不变（各样本的变化：{[round(v, 6) for v in diff.tolist()]}）；"
             f"模型分不清 'a b c' 和 'c b a'。",
             likely=("the positional encoding is never added to the embeddings in forward (self-attention plus a mean "
                     "is blind to order without it).",
                     "forward 中没有把位置编码加到词向量上（没有位置编码时，自注意力加平均池化对顺序完全不敏感）。"))


@check(points=2, category="gradient")
def test_every_parameter_gets_a_gradient(ex):
    """After backward(), every parameter (embedding, encoder layers, head) has a finite, non-zero gradient.
    zh: backward() 之后，每个参数（词嵌入、编码器层、分类头）都有有限且非零的梯度。
    """
    m = _make(ex, d=16, nhead=2, layers=2, classes=3, train=True)
    tok = _tokens([7, 3, 5, 7], 7, seed=4)
    y = _forward(m, tok, "gradient check")
    F.cross_entropy(y, torch.tensor([0, 1, 2, 1])).backward()
    assert_all_params_get_grad(m, "EncoderClassifier")


@check(points=2, category="training")
def test_learns_tiny_task(ex):
    """Adam (lr 1e-2, 30 steps) lowers the loss on a tiny task: is token 1 before token 2?
    zh: 在一个小任务（token 1 是否出现在 token 2 之前）上，Adam（lr 1e-2，30 步）能降低损失。
    """
    g = torch.Generator().manual_seed(5)
    lengths = [int(v) for v in torch.randint(3, 9, (24,), generator=g)]
    tok = _tokens(lengths, 8, vocab=10, seed=5)
    tok[tok == 1] = 3
    tok[tok == 2] = 4
    labels = torch.zeros(24, dtype=torch.long)
    for i, n in enumerate(lengths):
        a, b = torch.randperm(n, generator=g)[:2].tolist()
        tok[i, a], tok[i, b] = 1, 2
        labels[i] = int(a < b)
    m = _make(ex, vocab=10, d=16, nhead=2, layers=1, classes=2, dropout=0.0, seed=6, train=True)
    with seeded(6):
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        losses = []
        for _ in range(30):
            loss = F.cross_entropy(_forward(m, tok, "training"), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert_learns(losses, "EncoderClassifier on the 'is 1 before 2' task")


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """Moved with .to(device), it runs there (padding mask included) and matches the CPU logits.
    zh: 用 .to(device) 移动后，模型（包括填充掩码）能在该设备上运行，结果与 CPU 一致。
    """
    m = _make(ex, d=16, nhead=2, layers=2, classes=3, max_len=24).eval()
    tok = _tokens([6, 2, 5], 6, seed=7)
    ref = _forward(m, tok, "CPU run").detach()
    with accelerator() as dev:
        m.to(dev)
        y = _forward(m, tok.to(dev), "accelerator run")
        assert_on_device(y, dev, "EncoderClassifier logits",
                         likely=("the positional table kept as a plain attribute instead of a buffer, or the padding "
                                 "mask built with torch.tensor(...)/torch.zeros(...) without device=tokens.device.",
                                 "位置编码表存成普通属性而不是 buffer，或填充掩码用 torch.tensor(...)/torch.zeros(...) "
                                 "创建而没有指定 device=tokens.device。"))
        y = to_cpu(y)
    assert_close(y, ref, "logits on the accelerator", atol=1e-4)
