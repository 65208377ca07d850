"""Grader for exercise 14 — a Transformer encoder classifier."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (CheckFailed, accelerator, assert_all_params_get_grad, assert_close, assert_learns,
                             assert_on_device, assert_shape, check, expect, fail, lacks_batch_first, run_learner, seeded,
                             to_cpu)

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
        m = run_learner(f"EncoderClassifier({vocab}, {d}, {nhead}, {layers}, {classes}, max_len={max_len}, "
                        f"pad_id={PAD}, dropout={dropout})", ("build the model", "构建出模型"), ex.EncoderClassifier,
                        vocab, d, nhead, layers, classes, max_len=max_len, pad_id=PAD, dropout=dropout,
                        known=(("must be divisible", ("d_model must be divisible by nhead; use the constructor's "
                                                      "arguments as given.", "d_model 必须能被 nhead 整除；按给定的构造参数使用。")),))
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


def _forward(m, tokens, what):
    """m(tokens); a crash says what the check needed (and blames batch_first only when the layers lack it)."""
    return run_learner(f"{what}: forward({tuple(tokens.shape)} tokens)",
                       ("map (B, T) tokens to logits (B, num_classes)", "把 (B, T) 的 tokens 映射为 logits (B, num_classes)"),
                       m, tokens, known=lambda e: BATCH_FIRST if lacks_batch_first(m) else None)


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
        pe = run_learner(f"sinusoidal_encoding({max_len}, {d})", ("return the (max_len, d_model) table",
                                                                   "返回 (max_len, d_model) 的编码表"),
                         ex.sinusoidal_encoding, max_len, d)
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
                 likely=BATCH_FIRST if lacks_batch_first(m) else
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


def _copies(seq):
    """One sample as a batch of T identical rows (B == T): each row must give that sample's logits. A model built
    without batch_first then still runs (mask shapes agree) but attends across the copies only, never across the
    positions of the sample, so the test stays about token order and not about batch mixing."""
    return seq.unsqueeze(0).repeat(seq.shape[0], 1)


@check(points=2, category="correctness")
def test_order_sensitivity(ex):
    """Reordering the real tokens of a sample changes its logits (one sample at a time): the positional encoding is used.
    zh: 打乱一个样本中真实 token 的顺序会改变它的 logits（逐个样本测试）：说明用上了位置编码。
    """
    m = _make(ex, vocab=30, d=16, nhead=2, layers=1, classes=3, seed=3).eval()
    cases = [  # (tokens, the same real tokens reordered)
        (torch.tensor([5, 9, 2, 17, 11, 23, 8]), torch.tensor([8, 23, 11, 17, 2, 9, 5])),
        (torch.tensor([4, 12, 29, 6, PAD, PAD, PAD]), torch.tensor([29, 4, 6, 12, PAD, PAD, PAD])),
    ]
    changes = []
    for seq, perm in cases:
        y = _forward(m, _copies(seq), "order sensitivity")
        y2 = _forward(m, _copies(perm), "order sensitivity")
        assert_shape(y, (len(seq), 3), f"logits for tokens {(len(seq), len(seq))}")
        assert_shape(y2, (len(seq), 3), f"logits for tokens {(len(seq), len(seq))}")
        changes.append((y2[0] - y[0]).abs().max().item())
    if min(changes) < 1e-5:
        note_en = note_zh = ""
        if lacks_batch_first(m):
            note_en = (" (Separately, the layers lack batch_first=True, which mixes the samples of a batch: see the "
                       "batch-independence check. This check runs one sample at a time, so that is not the cause here.)")
            note_zh = "（另外，编码器层缺少 batch_first=True，会混合 batch 中的样本：见 batch 独立性检查。本项检查每次只用一个样本，所以这不是这里的原因。）"
        fail(f"Reordering the real tokens of a sample left its logits unchanged (change per sample, each run on its "
             f"own: {[round(v, 6) for v in changes]}); the model cannot tell 'a b c' from 'c b a'.{note_en}",
             f"打乱样本中真实 token 的顺序后 logits 不变（各样本单独运行时的变化：{[round(v, 6) for v in changes]}）；"
             f"模型分不清 'a b c' 和 'c b a'。{note_zh}",
             likely=("the positional encoding is never added to the embeddings in forward (self-attention plus a mean "
                     "is blind to order without it).",
                     "forward 中没有把位置编码加到词向量上（没有位置编码时，自注意力加平均池化对顺序完全不敏感）。"))


class _Recorder:
    """Records, during one forward, every submodule's (B, T, D) / (T, B, D) output (token level, as (B, T, D)),
    every (B, D) input or output (pooled candidates), and every (B, T, C) / (T, B, C) output (per-token logits)."""

    def __init__(self, m, B, T, D, C):
        self.m, self.B, self.T, self.D, self.C = m, B, T, D, C
        self.tokens, self.pooled, self.per_token = [], [], []

    def _seq(self, t, width):
        if isinstance(t, torch.Tensor) and t.dim() == 3 and t.is_floating_point():
            if tuple(t.shape) == (self.B, self.T, width):
                return t.detach().double()
            if tuple(t.shape) == (self.T, self.B, width):
                return t.detach().double().transpose(0, 1)
        return None

    def hook(self, mod, args, out):
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for t in outs:
            x = self._seq(t, self.D)
            if x is not None:
                self.tokens.append(x)
            x = self._seq(t, self.C)
            if x is not None and self.C != self.D:
                self.per_token.append(x)
        for t in list(args[:1]) + list(outs[:1]):
            if isinstance(t, torch.Tensor) and tuple(t.shape) == (self.B, self.D) and t.is_floating_point():
                self.pooled.append(t.detach().double())

    def __enter__(self):
        self.handles = [mod.register_forward_hook(self.hook) for mod in self.m.modules() if mod is not self.m]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _masked_mean(x, real):
    keep = real.unsqueeze(-1).double()
    return (x * keep).sum(1) / keep.sum(1)


def _close(a, b):
    return tuple(a.shape) == tuple(b.shape) and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def _pooling_diagnosis(p, x, real):
    """What the pooled vector p (B, D) is, given the last token-level output x (B, T, D) and the real-token mask."""
    keep = real.unsqueeze(-1).double()
    s, n, T = (x * keep).sum(1), keep.sum(1), x.shape[1]
    named = [
        (s * n, ("the pooled vector is the masked sum MULTIPLIED by the number of real tokens: divide by the count "
                 "instead ((x * keep).sum(1) / keep.sum(1)).",
                 "池化向量是带掩码的和再乘以真实 token 数：应当除以这个数（(x * keep).sum(1) / keep.sum(1)）。")),
        (s, ("the pooled vector is the masked SUM of the real tokens: divide it by the number of real tokens.",
             "池化向量是真实 token 的带掩码求和：还要除以真实 token 的个数。")),
        (s / T, ("the masked sum is divided by the padded length T instead of each sample's number of real tokens.",
                 "带掩码的和除以了填充后的长度 T，而不是每个样本的真实 token 数。")),
        (x.mean(1), ("the mean is taken over every position, padding included: average only over the real tokens.",
                     "平均时把填充位置也算进去了：只应对真实 token 取平均。")),
        (x.masked_fill(~real.unsqueeze(-1), -math.inf).amax(1), ("max pooling over the real tokens: the exercise asks "
                                                                 "for their mean.",
                                                                 "对真实 token 做了最大池化：本题要求取平均。")),
        (x[:, 0], ("the first token's vector is used instead of the mean over the real tokens.",
                   "用了第一个 token 的向量，而不是对真实 token 取平均。")),
    ]
    return next((lk for want, lk in named if _close(p, want)), None)


@check(points=2, category="correctness")
def test_pooled_vector_is_masked_mean(ex):
    """The vector given to the head is the mean of the encoder output over each sample's real tokens.
    zh: 送入分类头的向量，是编码器输出在每个样本真实 token 上的平均。
    """
    B, T, D, C = 3, 6, 16, 4
    m = _make(ex, d=D, nhead=2, layers=2, classes=C, seed=8).eval()
    lengths = [6, 1, 4]  # a single real token too: the count must be exactly 1 there
    tok = _tokens(lengths, T, seed=9)
    real = tok != PAD
    with _Recorder(m, B, T, D, C) as rec:
        y = _forward(m, tok, "pooling check")
    assert_shape(y, (B, C), f"logits for tokens {(B, T)}")
    for x in rec.tokens:
        want = _masked_mean(x, real)
        if any(_close(p, want) for p in rec.pooled):
            return
    for z in rec.per_token:  # the head applied to every token, then averaged: the same numbers (it is linear)
        if _close(y.detach().double(), _masked_mean(z, real)):
            return
    if not rec.tokens:
        fail(f"No layer of the model returned a (B, T, d_model) = {(B, T, D)} tensor (or (T, B, d_model)) for tokens "
             f"{(B, T)}, so the encoder output could not be found.",
             f"对于形状 {(B, T)} 的 tokens，模型中没有任何层返回 (B, T, d_model) = {(B, T, D)}（或 (T, B, d_model)）的张量，"
             f"因此找不到编码器输出。",
             likely=("the encoder applied through a function instead of the nn.TransformerEncoder / "
                     "nn.TransformerEncoderLayer modules built in __init__.",
                     "编码器是通过函数而不是 __init__ 中构建的 nn.TransformerEncoder / nn.TransformerEncoderLayer 模块调用的。"))
    x = rec.tokens[-1]
    got = rec.pooled[-1] if rec.pooled else None
    want = _masked_mean(x, real)
    likely = _pooling_diagnosis(got, x, real) if got is not None else None
    i = 0 if got is None else int(((got - want).abs().amax(1)).argmax())  # the sample that differs most
    seen = "no (B, d_model) vector reached the head" if got is None else (
        f"sample {i} ({lengths[i]} real token{'s' if lengths[i] != 1 else ''} of {T}): expected {[round(v, 4) for v in want[i, :3].tolist()]} ..., "
        f"got {[round(v, 4) for v in got[i, :3].tolist()]} ...")
    seen_zh = "没有 (B, d_model) 的向量送入分类头" if got is None else (
        f"样本 {i}（{T} 个位置中有 {lengths[i]} 个真实 token）：期望 {[round(v, 4) for v in want[i, :3].tolist()]} ...，"
        f"实际 {[round(v, 4) for v in got[i, :3].tolist()]} ...")
    fail(f"The pooled vector is not the mean of the encoder output over each sample's real tokens ({seen}).",
         f"池化向量不是编码器输出在每个样本真实 token 上的平均（{seen_zh}）。",
         likely=likely or ("pooling other than a masked mean: sum(x * keep, 1) / keep.sum(1) with keep = real-token "
                           "mask, then the head.",
                           "池化方式不是带掩码的平均：应为 sum(x * keep, 1) / keep.sum(1)（keep 为真实 token 掩码），再接分类头。"))


@check(points=1, category="correctness")
def test_dropout_argument_is_used(ex):
    """The dropout argument reaches the model's dropout: in train mode, dropout=0.0 is deterministic and dropout=0.5 is not.
    zh: dropout 参数传到了模型的 dropout 上：train 模式下 dropout=0.0 结果确定，dropout=0.5 则不确定。
    """
    tok = _tokens([5, 3, 5, 4], 5, seed=11)
    for p in (0.0, 0.5):
        m = _make(ex, d=16, nhead=2, layers=1, classes=3, dropout=p, seed=12, train=True)
        with seeded(13):
            a = _forward(m, tok, f"dropout={p}, train mode")
            b = _forward(m, tok, f"dropout={p}, train mode")
        assert_shape(a, (4, 3), f"logits for tokens {tuple(tok.shape)}")
        assert_shape(b, (4, 3), f"logits for tokens {tuple(tok.shape)}")
        diff = (a - b).abs().max().item()
        if p == 0.0 and diff > 1e-6:
            fail(f"Built with dropout=0.0, two train-mode forward passes on the same tokens gave different logits "
                 f"(largest difference {diff:.3g}): some dropout in the model does not follow the dropout argument.",
                 f"用 dropout=0.0 构建后，train 模式下对同样的 tokens 前向两次得到了不同的 logits（最大差 {diff:.3g}）："
                 f"模型中有 dropout 没有使用 dropout 参数。",
                 likely=("nn.TransformerEncoderLayer(...) built without dropout=dropout (its own default is 0.1), or a "
                         "dropout with a fixed rate elsewhere in the model.",
                         "构建 nn.TransformerEncoderLayer(...) 时没有传 dropout=dropout（它自己的默认值是 0.1），"
                         "或模型其他地方用了固定比率的 dropout。"))
        if p == 0.5 and diff <= 1e-6:
            fail("Built with dropout=0.5, two train-mode forward passes on the same tokens gave identical logits: the "
                 "dropout argument never reaches a dropout layer.",
                 "用 dropout=0.5 构建后，train 模式下对同样的 tokens 前向两次得到了完全相同的 logits：dropout 参数没有传到任何 "
                 "dropout 层。",
                 likely=("dropout not passed to nn.TransformerEncoderLayer(..., dropout=dropout), or 0.0 hard-coded.",
                         "没有把 dropout 传给 nn.TransformerEncoderLayer(..., dropout=dropout)，或写死为 0.0。"))


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
