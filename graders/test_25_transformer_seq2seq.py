"""Grader for exercise 25 — a Transformer seq2seq model on nn.Transformer.

In eval mode without autograd, nn.TransformerEncoder may take a fused fast path that returns zeros
(or nested tensors) at padded positions: the checks compare scores at real target positions only,
and the mask diagnoses run with autograd on (the plain path).
"""
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, assert_all_params_get_grad, assert_close, assert_greedy_decode, assert_shape,
                             assert_tensor, check, copy_task_batch, end_some_at_first_step, expect, fail, favour_eos,
                             greedy_mismatch, lacks_batch_first, log_probs, padded_ids, passes_over_seeds, prefix_change,
                             run_learner, seeded, seq2seq_on_device, shift_right_ids)


PAD, BOS, EOS = 0, 1, 2

BATCH_FIRST = ("nn.Transformer (or its layers) built without batch_first=True: PyTorch then reads (B, T, D) as "
               "(T, B, D), so attention runs across the samples of the batch, and a source and a target of different "
               "lengths look like different batch sizes.",
               "构建 nn.Transformer（或其中的层）时没有传 batch_first=True：PyTorch 会把 (B, T, D) 当成 (T, B, D)，"
               "注意力就在 batch 内的不同样本之间计算，而长度不同的源序列和目标序列看起来像是 batch 大小不同。")
MEMORY_SLOT = ("the causal mask reached the decoder's memory_mask (cross-attention) instead of tgt_mask: the "
               "decoder was called positionally, e.g. layer(x, memory, src_mask, tgt_mask) as in the source, where "
               "the 3rd slot is tgt_mask and the 4th memory_mask; pass tgt_mask=..., memory_key_padding_mask=... by "
               "keyword.",
               "因果掩码进了解码器的 memory_mask（交叉注意力），而不是 tgt_mask：解码器是按位置传参调用的，例如原题的 "
               "layer(x, memory, src_mask, tgt_mask)，其中第 3 个位置是 tgt_mask、第 4 个是 memory_mask；"
               "应按关键字传 tgt_mask=...、memory_key_padding_mask=...。")


# ---------------------------------------------------------------------------
# private helpers

def _make(ex, src_vocab=11, tgt_vocab=9, d=16, nhead=2, enc=1, dec=1, ff=32, seed=0, train=False, max_len=32):
    with seeded(seed):
        m = ex.TransformerSeq2Seq(src_vocab, tgt_vocab, d_model=d, nhead=nhead, num_encoder_layers=enc,
                                  num_decoder_layers=dec, dim_feedforward=ff, dropout=0.0, max_len=max_len,
                                  pad_id=PAD, bos_id=BOS, eos_id=EOS)
    expect(isinstance(m, nn.Module), f"TransformerSeq2Seq(...) should be an nn.Module, got {type(m).__name__}.",
           f"TransformerSeq2Seq(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m.train(train)


def _src(lengths, S, vocab=11, seed=0):
    return padded_ids(lengths, S, vocab, PAD, seed)


def _tgt_in(lengths, T, vocab=9, seed=0):
    """(B, T) decoder inputs: BOS, lengths[i] - 1 real ids, then PAD (all PAD when lengths[i] is 0)."""
    y = padded_ids(lengths, T, vocab, PAD, seed + 1000)
    y[torch.as_tensor(lengths) > 0, 0] = BOS
    return y


def _shift(tgt):
    return shift_right_ids(tgt, BOS)


class _Spy:
    """Records the masks each nn.TransformerEncoderLayer / nn.TransformerDecoderLayer receives."""

    DEC = ("tgt", "memory", "tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask")
    ENC = ("src", "src_mask", "src_key_padding_mask")

    def __init__(self, m):
        self.m, self.dec, self.enc, self.handles = m, [], [], []

    def _hook(self, names, store):
        def hook(mod, args, kwargs):
            rec = dict(zip(names, args))
            rec.update({k: v for k, v in kwargs.items() if k in names})
            store.append(rec)
        return hook

    def __enter__(self):
        for l in self.m.modules():
            if isinstance(l, nn.TransformerDecoderLayer):
                self.handles.append(l.register_forward_pre_hook(self._hook(self.DEC, self.dec), with_kwargs=True))
            elif isinstance(l, nn.TransformerEncoderLayer):
                self.handles.append(l.register_forward_pre_hook(self._hook(self.ENC, self.enc), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _blocked(mask):
    """A PyTorch attention mask as bool, True = not allowed (bool: True; float: -inf or very negative)."""
    if mask is None:
        return None
    mask = mask.detach().cpu()
    return mask if mask.dtype == torch.bool else mask < -1e4


def _spy_run(m, src, tgt_in):
    """One forward with autograd on (no fused fast path) under the spy; returns the spy (or None on error)."""
    try:
        with _Spy(m) as spy, torch.enable_grad():
            m(src, tgt_in)
        return spy
    except Exception:  # noqa: BLE001
        return None


def _causal_diagnosis(m, src, tgt_in):
    if lacks_batch_first(m):
        return BATCH_FIRST
    spy = _spy_run(m, src, tgt_in)
    if spy is None or not spy.dec:
        return ("no causal tgt_mask reaches the decoder: build one (T, T) mask where position t may only attend to "
                "positions <= t, and pass it as tgt_mask=....",
                "没有因果 tgt_mask 传到解码器：构造一个 (T, T) 掩码，让位置 t 只能注意 <= t 的位置，并以 tgt_mask=... 传入。")
    T = tgt_in.shape[1]
    rec = spy.dec[0]
    tm, mm = _blocked(rec.get("tgt_mask")), _blocked(rec.get("memory_mask"))
    want = torch.ones(T, T, dtype=torch.bool).triu(1)
    if tm is None and mm is not None and tuple(mm.shape[-2:]) == (T, T):
        return MEMORY_SLOT
    if tm is None:
        return ("no causal mask: the decoder's self-attention gets no tgt_mask, so every position sees the whole target "
                "(the seed's bug); pass tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, device=...).",
                "没有因果掩码：解码器的自注意力没有拿到 tgt_mask，每个位置都能看到整个目标序列（原题的错误）；"
                "应传 tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, device=...)。")
    raw = rec.get("tgt_mask")
    if raw is not None and raw.is_floating_point() and not bool((raw < -1e4).any()):
        return ("a float tgt_mask is ADDED to the attention scores: 1.0 above the diagonal does not block anything. Use "
                "-inf there (nn.Transformer.generate_square_subsequent_mask) or a bool mask (True = not allowed).",
                "浮点型 tgt_mask 是加到注意力分数上的：对角线以上为 1.0 并不能屏蔽任何位置。应在那里用 -inf"
                "（nn.Transformer.generate_square_subsequent_mask），或用布尔掩码（True 表示不允许）。")
    if tuple(tm.shape[-2:]) == (T, T) and not torch.equal(tm.reshape(-1, T, T)[0], want):
        return ("the causal mask has the wrong orientation: in nn.Transformer True (or -inf) means NOT allowed, so the "
                "blocked entries are those above the diagonal, torch.ones(T, T, dtype=torch.bool).triu(1) (tril is the "
                "convention of F.scaled_dot_product_attention, where True = allowed).",
                "因果掩码方向不对：在 nn.Transformer 中 True（或 -inf）表示不允许，需要屏蔽的是对角线以上的位置，即 "
                "torch.ones(T, T, dtype=torch.bool).triu(1)（tril 是 F.scaled_dot_product_attention 的约定，"
                "那里 True 表示允许）。")
    return ("something besides the decoder's self-attention lets a position see later target tokens.",
            "除解码器自注意力外，还有别的地方让某个位置看到了后面的目标 token。")


def _nan_diagnosis(m, src, tgt_in):
    """NaN comes from a position whose every key is masked: a causal mask the wrong way round, or a padding mask."""
    likely = _causal_diagnosis(m, src.cpu(), tgt_in.cpu())
    if "orientation" in likely[0]:
        return likely
    for side in ("target", "source"):
        likely = _padding_diagnosis(m, src.cpu(), tgt_in.cpu(), side)
        if "inverted" in likely[0]:
            return likely
    return ("some position has every key masked (softmax over only -inf gives NaN): the causal mask must leave the "
            "diagonal allowed, and padding masks are True at padding only.",
            "某个位置的所有键都被屏蔽了（对全是 -inf 的分数做 softmax 得到 NaN）：因果掩码必须允许对角线，"
            "填充掩码只在填充处为 True。")


def _forward(m, src, tgt_in, what="forward(src, tgt_in)"):
    """m(src, tgt_in) as a (B, T, V) tensor; crashes explained when the cause is known."""
    y = run_learner(f"{what} with src {tuple(src.shape)}, tgt_in {tuple(tgt_in.shape)}",
                    ("return the scores (B, T, tgt_vocab)", "返回分数 (B, T, tgt_vocab)"), m, src, tgt_in,
                    known=partial(_crash_likely, m, src, tgt_in))
    assert_tensor(y, f"{what}: scores",
                  likely=("forward should return only the scores (B, T, V).", "forward 应只返回分数 (B, T, V)。"))
    if y.dim() == 3 and tuple(y.shape[:2]) == tuple(tgt_in.shape):
        real = _real(tgt_in).to(y.device)
        if not bool(torch.isfinite(y.detach()[real]).all()):
            fail(f"{what} with src {tuple(src.shape)}, tgt_in {tuple(tgt_in.shape)}: the scores at real target "
                 f"positions contain NaN/inf.",
                 f"{what}（src {tuple(src.shape)}，tgt_in {tuple(tgt_in.shape)}）：真实目标位置上的分数中有 NaN/inf。",
                 likely=_nan_diagnosis(m, src, tgt_in))
    return y


def _crash_likely(m, src, tgt_in, e):
    if lacks_batch_first(m):
        return BATCH_FIRST
    if src.shape[1] != tgt_in.shape[1] and "mask" in str(e):
        return MEMORY_SLOT
    return None


def _real(tgt_in):
    return tgt_in != PAD


def _max_real_diff(a, b, real):
    """Largest log-prob difference at real target positions (B, T) (fast paths may differ at padding)."""
    d = (log_probs(a) - log_probs(b)).abs().amax(-1)
    d = torch.where(torch.isnan(d), torch.full_like(d, float("inf")), d)
    return d[real].max().item() if real.any() else 0.0


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_scores_shape(ex):
    """forward(src, tgt_in) gives (B, T, tgt_vocab) for several sizes, with source length != target length.
    zh: forward(src, tgt_in) 对不同尺寸（源序列长度 != 目标长度）都返回 (B, T, tgt_vocab)。
    """
    cases = [  # (src lengths, S, tgt lengths, T, src_vocab, tgt_vocab, d, nhead, enc, dec)
        ([1], 1, [1], 1, 7, 5, 8, 2, 1, 1),
        ([5, 2, 4], 5, [3, 1, 2], 3, 11, 9, 16, 4, 2, 1),
        ([2, 3], 3, [6, 4], 6, 6, 13, 12, 3, 1, 2),
    ]
    for sl, S, tl, T, sv, tv, d, h, ne, nd in cases:
        m = _make(ex, sv, tv, d, h, ne, nd, ff=2 * d, train=True)
        y = _forward(m, _src(sl, S, sv), _tgt_in(tl, T, tv))
        assert_shape(y, (len(sl), T, tv), f"TransformerSeq2Seq(d_model={d}, nhead={h}) on src {(len(sl), S)}, "
                     f"tgt_in {(len(tl), T)}",
                     likely=BATCH_FIRST if lacks_batch_first(m) else
                     ("the final nn.Linear(d_model, tgt_vocab) missing, or the output left sequence-first.",
                      "缺少最后的 nn.Linear(d_model, tgt_vocab)，或输出仍是序列在前的布局。"))


@check(points=3, category="correctness")
def test_causal(ex):
    """Future target tokens never change earlier scores (source length == and != target length).
    zh: 后面的目标 token 绝不会改变前面位置的分数（源序列长度等于和不等于目标长度两种情况）。
    """
    for i, (sl, S, T, t) in enumerate([([5, 3], 5, 5, 1), ([4, 2, 3], 4, 6, 3)]):
        m = _make(ex, seed=10 + i).eval()
        src = _src(sl, S, seed=20 + i)
        tgt_in = _tgt_in([T] * len(sl), T, seed=20 + i)
        with seeded(30 + i):
            tail = torch.randint(3, 9, (len(sl), T - t - 1))
        diff = prefix_change(lambda y: _forward(m, src, y), tgt_in, t, tail)
        if not diff < 1e-5:
            fail(f"Changing target tokens {t + 1}..{T - 1} changed the scores at positions 0..{t} (largest change "
                 f"{diff:.3g}; source length {S}, target length {T}): position t must only see tgt_in[:, :t+1].",
                 f"修改第 {t + 1}..{T - 1} 个目标 token 后，位置 0..{t} 的分数变了（最大变化 {diff:.3g}；源序列长度 {S}，"
                 f"目标长度 {T}）：位置 t 只能看到 tgt_in[:, :t+1]。",
                 likely=_causal_diagnosis(m, src, tgt_in))


@check(points=2, category="correctness")
def test_source_and_target_lengths_differ(ex):
    """A source of length 7 with a target of length 3, and 2 with 6, run and give (B, T, V) finite scores.
    zh: 长度 7 的源序列配长度 3 的目标、长度 2 配长度 6，都能运行并给出有限的 (B, T, V) 分数。
    """
    m = _make(ex, seed=12).eval()
    for sl, S, T in [([7, 4], 7, 3), ([2, 1, 2], 2, 6)]:
        src, tgt_in = _src(sl, S, seed=S), _tgt_in([T] * len(sl), T, seed=S)
        with torch.no_grad():
            y = _forward(m, src, tgt_in)
        assert_shape(y, (len(sl), T, 9), f"scores for src {tuple(src.shape)}, tgt_in {tuple(tgt_in.shape)}")
        expect(bool(torch.isfinite(y).all()), f"scores for src {tuple(src.shape)}, tgt_in {tuple(tgt_in.shape)} "
               f"contain NaN/inf.", f"src {tuple(src.shape)}、tgt_in {tuple(tgt_in.shape)} 的分数中有 NaN/inf。",
               likely=("a causal mask that blocks a whole row (e.g. tril used where nn.Transformer expects True = "
                       "not allowed), or an inverted padding mask.",
                       "因果掩码把整行都屏蔽了（例如在 nn.Transformer 需要 True = 不允许的地方用了 tril），或填充掩码含义反了。"))


@check(points=2, category="correctness")
def test_batch_independence(ex):
    """In eval mode, changing one sample's source and target never changes another sample's scores.
    zh: eval 模式下，修改一个样本的源序列和目标，不会改变其他样本的分数。
    """
    m = _make(ex, seed=13).eval()
    # B == S == T on purpose: a model without batch_first then runs and mixes the samples.
    src = _src([4, 2, 4, 3], 4, seed=14)
    tgt_in = _tgt_in([4, 4, 4, 4], 4, seed=14)
    with torch.no_grad():
        a = _forward(m, src, tgt_in)
        src2, tgt2 = src.clone(), tgt_in.clone()
        src2[1] = _src([3], 4, seed=15)[0]
        tgt2[1, 1:] = 5
        b = _forward(m, src2, tgt2)
    others = [0, 2, 3]
    diff = _max_real_diff(a[others], b[others], _real(tgt_in[others]))
    if not diff < 1e-4:
        fail(f"Changing sample 1 of a batch of 4 changed the other samples' scores (largest change {diff:.3g}).",
             f"修改 4 个样本中的第 1 个，其他样本的分数也变了（最大变化 {diff:.3g}）。",
             likely=BATCH_FIRST if lacks_batch_first(m) else
             ("the batch and sequence axes mixed up (a transpose too many).", "batch 维度和序列维度搞混了（多做了一次转置）。"))


def _padding_diagnosis(m, src, tgt_in, side):
    spy = _spy_run(m, src, tgt_in)
    pad_src, pad_tgt = (src == PAD), (tgt_in == PAD)
    if spy is None or not spy.dec:
        return ("pass src_key_padding_mask=src == pad_id, tgt_key_padding_mask=tgt_in == pad_id and "
                "memory_key_padding_mask=src == pad_id (True = padding) to nn.Transformer.",
                "给 nn.Transformer 传 src_key_padding_mask=src == pad_id、tgt_key_padding_mask=tgt_in == pad_id 和 "
                "memory_key_padding_mask=src == pad_id（True 表示填充）。")
    checks = ([("src_key_padding_mask", spy.enc[0] if spy.enc else {}, pad_src),
               ("memory_key_padding_mask", spy.dec[0], pad_src)] if side == "source" else
              [("tgt_key_padding_mask", spy.dec[0], pad_tgt)])
    for name, rec, want in checks:
        got = _blocked(rec.get(name)) if rec else None
        if rec and got is None:
            return (f"no {name} is passed, so attention reads the {side} padding: pass {name}="
                    f"{'src' if side == 'source' else 'tgt_in'} == pad_id by keyword.",
                    f"没有传 {name}，注意力会读到{'源序列' if side == 'source' else '目标序列'}的填充：应按关键字传 {name}="
                    f"{'src' if side == 'source' else 'tgt_in'} == pad_id。")
        if got is not None and tuple(got.shape) == tuple(want.shape) and torch.equal(got, ~want):
            return (f"{name} has inverted polarity: in nn.Transformer it is True at PADDING positions (== pad_id).",
                    f"{name} 的含义反了：在 nn.Transformer 中它在填充位置（== pad_id）为 True。")
    return (f"the {side} padding still influences real positions: check src_key_padding_mask, "
            f"memory_key_padding_mask (both src == pad_id) and tgt_key_padding_mask (tgt_in == pad_id).",
            f"{'源序列' if side == 'source' else '目标序列'}的填充仍影响真实位置：检查 src_key_padding_mask、"
            f"memory_key_padding_mask（都是 src == pad_id）和 tgt_key_padding_mask（tgt_in == pad_id）。")


@check(points=2, category="correctness")
def test_source_padding_invariance(ex):
    """Appending padding to the source never changes the scores at real target positions (eval mode).
    zh: 在源序列末尾追加填充，不会改变真实目标位置上的分数（eval 模式）。
    """
    m = _make(ex, seed=16).eval()
    src = _src([6, 2, 4], 6, seed=17)  # sample 0 has no padding
    tgt_in = _tgt_in([4, 2, 3], 4, seed=17)
    with torch.no_grad():
        a = _forward(m, src, tgt_in)
        for extra in (1, 4):
            longer = torch.cat([src, torch.full((3, extra), PAD)], dim=1)
            b = _forward(m, longer, tgt_in)
            assert_shape(b, tuple(a.shape), f"scores for src {tuple(longer.shape)}")
            diff = _max_real_diff(a, b, _real(tgt_in))
            if not diff < 1e-4:
                fail(f"Appending {extra} padding token(s) to every source changed the scores at real target positions "
                     f"(largest change {diff:.3g}); source padding must not influence the result.",
                     f"在每个源序列末尾追加 {extra} 个填充 token 后，真实目标位置上的分数变了（最大变化 {diff:.3g}）；"
                     f"源序列的填充不应影响结果。", likely=_padding_diagnosis(m, longer, tgt_in, "source"))


@check(points=2, category="correctness")
def test_target_padding_invariance(ex):
    """Each sample's scores at its real target positions are the same in a padded batch as when run alone.
    zh: 每个样本在真实目标位置上的分数，放在填充过的 batch 中和单独运行时一样。
    """
    m = _make(ex, seed=18).eval()
    sl, tl = [3, 5, 2], [5, 2, 3]
    src, tgt_in = _src(sl, 5, seed=19), _tgt_in(tl, 5, seed=19)
    with torch.no_grad():
        batch = _forward(m, src, tgt_in)
        for i in range(3):
            alone = _forward(m, src[i:i + 1, :sl[i]], tgt_in[i:i + 1, :tl[i]])
            diff = _max_real_diff(batch[i:i + 1, :tl[i]], alone, torch.ones(1, tl[i], dtype=torch.bool))
            if not diff < 1e-4:
                side = "target" if i == 1 or diff == float("inf") else "source"
                fail(f"Sample {i} (source length {sl[i]}, target length {tl[i]}) gets different scores at its real "
                     f"target positions in a padded batch than alone (largest change {diff:.3g}"
                     + (", NaN in the batch" if diff == float("inf") else "") + ").",
                     f"样本 {i}（源序列长度 {sl[i]}，目标长度 {tl[i]}）在填充过的 batch 中与单独运行时，真实目标位置上的分数不同"
                     f"（最大变化 {diff:.3g}）。", likely=_padding_diagnosis(m, src, tgt_in, side)
                     if not lacks_batch_first(m) else BATCH_FIRST)


@check(points=1, category="correctness")
def test_source_order_matters(ex):
    """Reversing the real source tokens changes the scores: the positional encoding reaches the encoder.
    zh: 把源序列的真实 token 倒序会改变分数：位置编码确实加到了编码器输入上。
    """
    m = _make(ex, 30, 9, seed=20).eval()
    src = torch.tensor([[5, 9, 12, 17, 11, 23], [4, 12, 29, 6, PAD, PAD]])
    rev = src.clone()
    rev[0] = src[0].flip(0)
    rev[1, :4] = src[1, :4].flip(0)
    tgt_in = _tgt_in([3, 3], 3, seed=21)
    with torch.no_grad():
        a, b = _forward(m, src, tgt_in), _forward(m, rev, tgt_in)
    diff = (log_probs(a) - log_probs(b)).abs().amax(dim=(1, 2))
    if diff.min().item() < 1e-5:
        fail(f"Reversing the source tokens left the scores unchanged (changes per sample: "
             f"{[round(v, 6) for v in diff.tolist()]}); the model cannot tell 'a b c' from 'c b a'.",
             f"把源序列 token 倒序后分数不变（各样本的变化：{[round(v, 6) for v in diff.tolist()]}）；"
             f"模型分不清 'a b c' 和 'c b a'。",
             likely=("no positional encoding added to the source embeddings (the seed's bug): attention alone is blind "
                     "to order.",
                     "源序列的词向量没有加位置编码（原题的错误）：仅靠注意力对顺序完全不敏感。"))


@check(points=2, category="gradient")
def test_every_parameter_gets_a_gradient(ex):
    """After backward() on the loss over real tokens, every parameter has a finite, non-zero gradient.
    zh: 对真实 token 上的损失 backward() 之后，每个参数都有有限且非零的梯度。
    """
    m = _make(ex, d=16, nhead=2, enc=2, dec=2, seed=22, train=True)
    src = _src([5, 3, 4], 5, seed=23)
    tgt = _tgt_in([4, 2, 4], 4, seed=23)[:, 1:].contiguous()
    tgt = torch.cat([tgt, torch.full((3, 1), PAD)], 1)
    tgt[0, 3], tgt[1, 1], tgt[2, 3] = EOS, EOS, EOS
    y = _forward(m, src, _shift(tgt))
    F.cross_entropy(y.reshape(-1, y.shape[-1]), tgt.reshape(-1), ignore_index=PAD).backward()
    assert_all_params_get_grad(m, "TransformerSeq2Seq",
                               likely=("layers created in __init__ but never used in forward (the source's fc2/fc3), "
                                       "or the decoder not fed the encoder's memory.",
                                       "在 __init__ 中创建但 forward 中没有使用的层（原题的 fc2/fc3），或解码器没有用到编码器的 memory。"))


@check(points=3, category="correctness")
def test_greedy_decode(ex):
    """greedy_decode equals step-by-step argmax of forward's scores, with pad_id after each EOS.
    zh: greedy_decode 与逐步对 forward 分数取 argmax 的结果一致，每个 EOS 之后都是 pad_id。
    """
    m = _make(ex, 10, 7, seed=24).eval()
    src = _src([5, 1, 3, 4, 2, 5, 3, 2], 5, vocab=10, seed=25)
    favour_eos(m, lambda s, y: _forward(m, s, y), src, 7, BOS, EOS, PAD)
    argmax = ("the next token taken from the wrong position (the LAST position's scores, [:, -1]), the tokens so far "
              "not all fed back to the decoder, or BOS missing in front.",
              "下一个 token 取自错误的位置（应取最后一个位置的分数 [:, -1]），没有把目前为止的所有 token 都送回解码器，"
              "或前面缺少 BOS。")
    try:  # the PyTorch translation tutorial returns ys, BOS column included: name that, not a wrong argmax
        with torch.no_grad():
            out = m.greedy_decode(src, 7)
        lead_bos = (torch.is_tensor(out) and out.dim() == 2 and out.shape[1] >= 2 and not out.is_floating_point()
                    and bool((out[:, 0] == BOS).all()))
        bad = lead_bos and greedy_mismatch(lambda s, y: _forward(m, s, y), src, out[:, 1:].long().cpu(), 7,
                                           BOS, EOS, PAD)
        bos_only = lead_bos and (bad is None or bad[0] == "early_stop")  # BOS + max_len - 1 tokens: L <= max_len
    except Exception:  # a crash is reported (with its likely cause) by assert_greedy_decode below
        bos_only = False
    expect(not bos_only, "greedy_decode's output starts with the BOS column; after it the tokens are the right greedy "
           "ones. Return the generated tokens only (B, L), without the BOS you started from.",
           "greedy_decode 的输出以 BOS 列开头；其后的 token 是正确的贪心结果。应只返回生成的 token (B, L)，"
           "不包括起始的 BOS。", likely=("returning ys instead of ys[:, 1:].", "返回了 ys 而不是 ys[:, 1:]。"))
    assert_greedy_decode(m, lambda s, y: _forward(m, s, y), src, 7, BOS, EOS, PAD,
                         known=lambda e: BATCH_FIRST if lacks_batch_first(m) else None, likely={"argmax": argmax})
    # The random model above may keep every sample going to max_len. Now about half of them end at their first step
    # (EOS made their argmax given BOS alone) while the others go on: every later position of those must be pad_id.
    if end_some_at_first_step(m, lambda s, y: _forward(m, s, y), src, 7, BOS, EOS) is not None:
        assert_greedy_decode(m, lambda s, y: _forward(m, s, y), src, 5, BOS, EOS, PAD,
                             known=lambda e: BATCH_FIRST if lacks_batch_first(m) else None, likely={"argmax": argmax})


@check(points=3, category="training")
def test_learns_to_copy(ex):
    """60 Adam steps (lr 5e-3, batch 32) on "copy the sequence" reach >= 80% teacher-forced token accuracy on new data.
    zh: 在“复制序列”任务上用 Adam（lr 5e-3，batch 32）训练 60 步后，在新数据上教师强制的 token 准确率 >= 80%。
    """
    V = 8

    def run(seed):
        m = _make(ex, V, V, d=32, nhead=2, enc=1, dec=1, ff=64, seed=seed, train=True)
        g = torch.Generator().manual_seed(100 + seed)
        with seeded(seed):
            opt = torch.optim.Adam(m.parameters(), lr=5e-3)
            for _ in range(60):
                src, tgt = copy_task_batch(g, 32, V, 1, 5, False, PAD, EOS)
                y = _forward(m, src, _shift(tgt), "training forward")
                loss = F.cross_entropy(y.reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)
                opt.zero_grad()
                loss.backward()
                opt.step()
        m.eval()
        src, tgt = copy_task_batch(torch.Generator().manual_seed(999), 64, V, 1, 5, False, PAD, EOS)
        with torch.no_grad():
            pred = _forward(m, src, _shift(tgt)).argmax(-1)
        real = tgt != PAD
        return ((pred == tgt) & real).sum().item() / real.sum().item()

    ok, accs = passes_over_seeds(run, 0.8)
    if not ok:
        fail(f"After 60 training steps the token accuracy on new sequences is {', '.join(f'{a:.0%}' for a in accs)} "
             f"(seeds tried), below 80%.",
             f"训练 60 步后，在新序列上的 token 准确率为 {', '.join(f'{a:.0%}' for a in accs)}（所试的种子），低于 80%。",
             likely=("the positional encoding missing, or drowned: embeddings left at the default N(0, 1) init are, "
                     "times sqrt(d_model), far larger than the positional signal (initialise them with std "
                     "d_model ** -0.5); or the source padding not masked.",
                     "缺少位置编码，或位置编码被淹没：词嵌入保留默认的 N(0, 1) 初始化时，乘以 sqrt(d_model) 后远大于位置信号"
                     "（应以 std = d_model ** -0.5 初始化）；或者没有屏蔽源序列的填充。"))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """Moved with .to(device), forward and greedy_decode run there (masks included) and match the CPU results.
    zh: 用 .to(device) 移动后，forward 和 greedy_decode（包括各种掩码）在该设备上运行，结果与 CPU 一致。
    """
    m = _make(ex, seed=26).eval()
    # full-length sources: the CPU's fused encoder path and the accelerator's may differ only at padded positions
    src, tgt_in = _src([4, 4, 4], 4, seed=27), _tgt_in([5, 3, 4], 5, seed=27)
    with torch.no_grad():
        ref = _forward(m, src, tgt_in)
        ref_out = m.greedy_decode(src, 5)
    dev_likely = ("the causal mask built without device= (torch.ones(T, T) / generate_square_subsequent_mask(T) on "
                  "the CPU), the positional table kept as a plain attribute instead of a buffer, or the BOS column "
                  "created without device=src.device.",
                  "因果掩码创建时没有指定 device=（torch.ones(T, T) / generate_square_subsequent_mask(T) 留在 CPU 上），"
                  "位置编码表存成普通属性而不是 buffer，或 BOS 列创建时没有指定 device=src.device。")
    with accelerator() as dev:
        y, out = seq2seq_on_device(m, dev, m, src, tgt_in, 5, dev_likely)
    real = _real(tgt_in)
    assert_close(log_probs(y)[real], log_probs(ref)[real], "log-probabilities at real target positions on the accelerator", atol=1e-4)
    expect(torch.equal(out, ref_out), f"greedy_decode on the accelerator gave {out.tolist()}, on the CPU {ref_out.tolist()}.",
           f"greedy_decode 在加速设备上的结果为 {out.tolist()}，在 CPU 上为 {ref_out.tolist()}。")
