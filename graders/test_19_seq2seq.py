"""Grader for exercise 19 — an LSTM encoder-decoder with dot-product attention.

Greedy decoding == step-by-step argmax, varied output lengths from a random model, toy copy /
reverse data, causality of teacher forcing: the model-agnostic helpers live in ptquiz.gradelib
(exercise 25 uses them too).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, assert_all_params_get_grad, assert_close, assert_greedy_decode, assert_shape,
                             assert_tensor, check, copy_task_batch, expect, fail, favour_eos, lacks_batch_first,
                             log_probs, padded_ids, passes_over_seeds, prefix_change, run_learner, seeded,
                             seq2seq_on_device, shift_right_ids)

PAD, BOS, EOS = 0, 1, 2

BATCH_FIRST = ("an nn.LSTM built without batch_first=True: PyTorch then reads a (B, T, E) input as (T, B, E), so the "
               "recurrence runs across the samples of the batch (and the state's batch size no longer fits).",
               "nn.LSTM 构建时没有传 batch_first=True：PyTorch 会把 (B, T, E) 的输入当成 (T, B, E)，"
               "循环就在 batch 内的不同样本之间进行（状态的 batch 大小也对不上）。")


# ---------------------------------------------------------------------------
# private helpers

def _make(ex, src_vocab=11, tgt_vocab=9, emb=8, hidden=12, seed=0, train=False):
    with seeded(seed):
        m = run_learner(f"Seq2Seq({src_vocab}, {tgt_vocab}, emb_dim={emb}, hidden_size={hidden}, pad_id={PAD}, "
                        f"bos_id={BOS}, eos_id={EOS})", ("build the model", "构建模型"), ex.Seq2Seq, src_vocab, tgt_vocab,
                        emb_dim=emb, hidden_size=hidden, pad_id=PAD, bos_id=BOS, eos_id=EOS)
    expect(isinstance(m, nn.Module), f"Seq2Seq(...) should be an nn.Module, got {type(m).__name__}.",
           f"Seq2Seq(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m.train(train)


def _src(lengths, S, vocab=11, seed=0):
    """(B, S) source ids in 3..vocab-1, right-padded with PAD after each length."""
    return padded_ids(lengths, S, vocab, PAD, seed)


def _tgt(lengths, T, vocab=9, seed=0):
    """(B, T) targets: lengths[i] real ids, then EOS, then PAD."""
    tgt = padded_ids([n + 1 for n in lengths], T, vocab, PAD, seed + 1000)
    for i, n in enumerate(lengths):
        tgt[i, n] = EOS
    return tgt


def _shift(tgt):
    return shift_right_ids(tgt, BOS)


def _known(m):
    """run_learner's likely mistake for a crash: the missing batch_first, when an LSTM lacks it."""
    return lambda e: BATCH_FIRST if lacks_batch_first(m) else None


def _forward(m, src, tgt_in, what="forward(src, tgt_in)"):
    res = run_learner(what, ("return (scores (B, T, V), attention weights (B, T, S))",
                             "返回 (scores (B, T, V), 注意力权重 (B, T, S))"), m, src, tgt_in, known=_known(m))
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        fail(f"{what} should return a pair (scores, weights); got {type(res).__name__}.",
             f"{what} 应返回 (scores, weights) 二元组；实际为 {type(res).__name__}。",
             likely=("returning only the scores; the attention weights (B, T, S) are the second item.",
                     "只返回了分数；第二项应是注意力权重 (B, T, S)。"))
    assert_tensor(res[0], f"{what}: scores")
    assert_tensor(res[1], f"{what}: attention weights")
    return res


def _encode(m, src):
    res = run_learner("encode(src)", ("return (enc_out (B, S, H), (h, c))", "返回 (enc_out (B, S, H), (h, c))"),
                      m.encode, src, known=_known(m))
    ok = (isinstance(res, (tuple, list)) and len(res) == 2 and isinstance(res[1], (tuple, list))
          and len(res[1]) == 2)
    expect(ok, f"encode(src) should return (enc_out, (h, c)); got {type(res).__name__}"
               + (f" whose second item is {type(res[1]).__name__}" if isinstance(res, (tuple, list)) and len(res) == 2
                  else "") + ".",
           f"encode(src) 应返回 (enc_out, (h, c))；实际为 {type(res).__name__}。",
           likely=("the LSTM's state is the pair (h, c): nn.LSTM returns output, (h_n, c_n); keep both, not one tensor.",
                   "LSTM 的状态是 (h, c) 二元组：nn.LSTM 返回 output, (h_n, c_n)；两个都要保留，而不是一个张量。"))
    return res[0], tuple(res[1])


def _decode(m, tgt_in, state, enc_out, mask):
    res = run_learner("decode(tgt_in, state, enc_out, src_mask)", ("return (scores (B, T, V), (h, c), weights (B, T, S))",
                      "返回 (scores (B, T, V), (h, c), 权重 (B, T, S))"), m.decode, tgt_in, state, enc_out, mask,
                      known=_known(m))
    expect(isinstance(res, (tuple, list)) and len(res) == 3,
           f"decode(...) should return (scores, state, weights); got {type(res).__name__}.",
           f"decode(...) 应返回 (scores, state, weights)；实际为 {type(res).__name__}。")
    assert_tensor(res[0], "decode(...) scores")
    return res


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_shapes(ex):
    """encode gives (B, S, H) and (h, c) each (1, B, H); forward gives scores (B, T, V) and weights (B, T, S).
    zh: encode 返回 (B, S, H) 和各为 (1, B, H) 的 (h, c)；forward 返回 scores (B, T, V) 和 weights (B, T, S)。
    """
    cases = [  # (src lengths, S, T, src_vocab, tgt_vocab, emb, hidden)
        ([1], 1, 1, 7, 5, 4, 6),
        ([5, 2, 4], 5, 4, 11, 9, 8, 12),
        ([3, 1, 2, 3], 3, 7, 6, 13, 6, 10),
        ([6, 6], 6, 6, 9, 8, 5, 16),
    ]
    for lengths, S, T, sv, tv, emb, hid in cases:
        B = len(lengths)
        m = _make(ex, sv, tv, emb, hid, train=True)
        src = _src(lengths, S, sv)
        tgt_in = _shift(_tgt([max(T - 1, 0)] * B, T, tv))[:, :T]
        what = f"Seq2Seq(src_vocab={sv}, tgt_vocab={tv}, emb_dim={emb}, hidden_size={hid}) on src {(B, S)}"
        enc_out, (h, c) = _encode(m, src)
        assert_shape(enc_out, (B, S, hid), f"{what}: encode's enc_out",
                     likely=BATCH_FIRST if lacks_batch_first(m) else
                     ("pad_packed_sequence without total_length=S (the output is cut at the longest real length), "
                      "or the wrong layout.",
                      "pad_packed_sequence 没有传 total_length=S（输出被截到最长的真实长度），或维度顺序不对。"))
        for name, t in (("h", h), ("c", c)):
            assert_shape(t, (1, B, hid), f"{what}: encode's {name}",
                         likely=BATCH_FIRST if lacks_batch_first(m) else None)
        scores, w = _forward(m, src, tgt_in)
        assert_shape(scores, (B, T, tv), f"{what}, tgt_in {(B, T)}: scores",
                     likely=BATCH_FIRST if lacks_batch_first(m) else None)
        assert_shape(w, (B, T, S), f"{what}, tgt_in {(B, T)}: attention weights",
                     likely=("weights returned as (B, S, T): scores = query @ keys^T is (B, T, S).",
                             "权重的形状是 (B, S, T)：scores = query @ keys^T 应为 (B, T, S)。"))


@check(points=1, category="correctness")
def test_shift_right(ex):
    """shift_right puts BOS in front of the targets and drops the last one: [BOS, y_0, ..., y_{T-2}].
    zh: shift_right 在目标序列前放 BOS 并去掉最后一个：[BOS, y_0, ..., y_{T-2}]。
    """
    for lengths, T, bos in [([3, 1, 4], 5, BOS), ([0], 1, BOS), ([5, 2], 7, 4)]:
        tgt = _tgt(lengths, T)
        got = run_learner(f"shift_right(targets {tuple(tgt.shape)}, bos_id={bos})",
                          ("return the (B, T) decoder inputs [BOS, y_0, ..., y_{T-2}]",
                           "返回 (B, T) 的解码器输入 [BOS, y_0, ..., y_{T-2}]"), ex.shift_right, tgt, bos)
        assert_tensor(got, f"shift_right(targets {tuple(tgt.shape)})")
        want = torch.cat([torch.full((len(lengths), 1), bos), tgt[:, :-1]], dim=1)
        assert_shape(got, tuple(want.shape), f"shift_right(targets {tuple(tgt.shape)})",
                     likely=("BOS prepended without dropping the last target: the decoder input must keep length T.",
                             "在前面加了 BOS 却没有去掉最后一个目标：解码器输入的长度必须仍为 T。"))
        if not torch.equal(got.long(), want):
            if not bool((got[:, 0] == bos).all()):
                likely = (f"the first decoder input must be BOS (={bos}) for every row; e.g. torch.roll(tgt, 1, dims=1) "
                          f"alone puts the last target there.",
                          f"每一行的第一个解码器输入必须是 BOS（={bos}）；例如只用 torch.roll(tgt, 1, dims=1) "
                          f"会把最后一个目标放到那里。")
            else:
                likely = ("the targets shifted the wrong way or by the wrong amount: position t must hold y_{t-1}.",
                          "目标的移动方向或步数不对：位置 t 应是 y_{t-1}。")
            fail(f"shift_right({tgt.tolist()}, bos_id={bos}) returned {got.tolist()}, expected {want.tolist()}.",
                 f"shift_right({tgt.tolist()}, bos_id={bos}) 返回 {got.tolist()}，期望 {want.tolist()}。",
                 likely=likely)


@check(points=2, category="correctness")
def test_sequence_loss_ignores_padding(ex):
    """sequence_loss equals F.cross_entropy over the non-pad tokens (ignore_index=pad_id), for any pad_id.
    zh: sequence_loss 等于只在非填充 token 上计算的 F.cross_entropy（ignore_index=pad_id），pad_id 取任何值都一样。
    """
    for i, (lengths, T, V, pad) in enumerate([([3, 1, 4], 6, 7, PAD), ([2, 5], 6, 5, 3), ([4], 5, 9, PAD)]):
        with seeded(10 + i):
            scores = torch.randn(len(lengths), T, V) * 2
        tgt = _tgt(lengths, T, V, seed=i)
        tgt[tgt == pad] = (pad + 1) % V  # pad_id only where the padding goes
        for r, n in enumerate(lengths):
            tgt[r, n + 1:] = pad
        got = run_learner(f"sequence_loss(scores {tuple(scores.shape)}, targets, pad_id={pad})",
                          ("return the mean cross-entropy over the non-pad tokens (a scalar tensor)",
                           "返回非填充 token 上的平均交叉熵（标量张量）"), ex.sequence_loss, scores, tgt, pad)
        want = F.cross_entropy(scores.reshape(-1, V), tgt.reshape(-1), ignore_index=pad)
        assert_tensor(got, "sequence_loss(...)")
        expect(got.dim() == 0, f"sequence_loss should return a scalar, got shape {tuple(got.shape)}.",
               f"sequence_loss 应返回标量，实际形状为 {tuple(got.shape)}。",
               likely=("reduction='none' without averaging over the real tokens.", "用了 reduction='none' 却没有对真实 token 求平均。"))
        if not torch.allclose(got.detach().double(), want.double(), atol=1e-5, rtol=1e-4):
            every = F.cross_entropy(scores.reshape(-1, V), tgt.reshape(-1))
            nll = F.nll_loss(scores.reshape(-1, V), tgt.reshape(-1), ignore_index=pad)
            summed = F.cross_entropy(scores.reshape(-1, V), tgt.reshape(-1), ignore_index=pad, reduction="sum")
            if torch.allclose(got.detach(), every, atol=1e-5):
                likely = ("the padding positions are counted: pass ignore_index=pad_id to cross_entropy (or average over "
                          "the non-pad tokens only).",
                          "把填充位置也计算进去了：给 cross_entropy 传 ignore_index=pad_id（或只对非填充 token 求平均）。")
            elif torch.allclose(got.detach(), nll, atol=1e-5):
                likely = ("nll_loss applied to raw scores: it expects log-probabilities; use cross_entropy (which applies "
                          "log_softmax itself).",
                          "对原始分数用了 nll_loss：它需要对数概率；应使用 cross_entropy（它自己会做 log_softmax）。")
            elif torch.allclose(got.detach(), summed, atol=1e-4):
                likely = ("the loss is summed, not averaged over the non-pad tokens.", "损失是求和而不是对非填充 token 求平均。")
            else:
                likely = ("scores and targets flattened inconsistently, or a hard-coded pad id of 0 instead of pad_id.",
                          "scores 与 targets 展平方式不一致，或把填充 id 写死成 0 而不是 pad_id。")
            fail(f"sequence_loss(scores {tuple(scores.shape)}, targets, pad_id={pad}) = {got.item():.6g}; "
                 f"F.cross_entropy(..., ignore_index={pad}) gives {want.item():.6g}.",
                 f"sequence_loss(scores {tuple(scores.shape)}, targets, pad_id={pad}) = {got.item():.6g}；"
                 f"F.cross_entropy(..., ignore_index={pad}) 的结果是 {want.item():.6g}。", likely=likely)


def _sdpa_reference(q, k, mask):
    """(context, weights) of unscaled dot attention from F.scaled_dot_product_attention (True = attend)."""
    B, S = mask.shape
    am = mask[:, None, :].expand(B, q.shape[1], S)
    ctx = F.scaled_dot_product_attention(q, k, k, attn_mask=am, scale=1.0)
    eye = torch.eye(S, dtype=q.dtype).expand(B, S, S)
    weights = F.scaled_dot_product_attention(q, k, eye, attn_mask=am, scale=1.0)  # weights @ I = weights
    return ctx, weights


def _attention_diagnosis(q, k, mask, w):
    s = q @ k.transpose(1, 2)
    ninf = float("-inf")
    variants = [
        (s.masked_fill(mask[:, None, :], ninf).softmax(-1),
         ("the mask polarity is inverted: src_mask is True at REAL tokens, so fill ~src_mask with -inf.",
          "掩码含义反了：src_mask 在真实 token 处为 True，应对 ~src_mask 填 -inf。")),
        (s.masked_fill(~mask[:, None, :], 0.0).softmax(-1),
         ("padded scores set to 0 instead of -inf: exp(0) = 1 still gives padding a weight.",
          "填充位置的分数被设为 0 而不是 -inf：exp(0) = 1，填充仍会得到权重。")),
        (s.softmax(-1),
         ("the source mask is not applied: padded positions must get score -inf before the softmax.",
          "没有应用源序列掩码：填充位置在 softmax 之前必须设为 -inf。")),
        (s.masked_fill(~mask[:, None, :], ninf).softmax(1),
         ("softmax over the decoder steps (dim=1) instead of over the source positions (dim=-1).",
          "softmax 在解码步维度（dim=1）上做了，应在源序列位置维度（dim=-1）上做。")),
        ((s / k.shape[-1] ** 0.5).masked_fill(~mask[:, None, :], ninf).softmax(-1),
         ("scores divided by sqrt(H): this exercise asks for unscaled Luong dot attention.",
          "分数除以了 sqrt(H)：本题要求不缩放的 Luong 点积注意力。")),
    ]
    for v, likely in variants:
        if tuple(w.shape) == tuple(v.shape) and torch.allclose(w.detach(), v, atol=1e-5, equal_nan=True):
            return likely
    return ("scores should be query @ keys.transpose(1, 2) (B, T, S), -inf where src_mask is False, softmax over dim=-1, "
            "context = weights @ keys.",
            "分数应为 query @ keys.transpose(1, 2)（B, T, S），src_mask 为 False 处填 -inf，在 dim=-1 上 softmax，"
            "context = weights @ keys。")


@check(points=2, category="correctness")
def test_dot_attention_matches_sdpa(ex):
    """dot_attention equals F.scaled_dot_product_attention (scale=1) with the source mask: context and weights.
    zh: dot_attention 与带源序列掩码的 F.scaled_dot_product_attention（scale=1）一致：context 和权重都一样。
    """
    for i, (lengths, S, T, H) in enumerate([([4, 2, 5], 5, 3, 6), ([1, 3], 3, 4, 5), ([7], 7, 1, 8)]):
        with seeded(20 + i):
            q, k = torch.randn(len(lengths), T, H), torch.randn(len(lengths), S, H)
        mask = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
        res = run_learner(f"dot_attention(query {tuple(q.shape)}, keys {tuple(k.shape)}, src_mask {tuple(mask.shape)})",
                          ("return (context (B, T, H), weights (B, T, S))", "返回 (context (B, T, H), weights (B, T, S))"),
                          ex.dot_attention, q, k, mask)
        expect(isinstance(res, (tuple, list)) and len(res) == 2,
               f"dot_attention should return (context, weights); got {type(res).__name__}.",
               f"dot_attention 应返回 (context, weights)；实际为 {type(res).__name__}。")
        ctx, w = res
        want_ctx, want_w = _sdpa_reference(q, k, mask)
        what = f"dot_attention(query {tuple(q.shape)}, keys {tuple(k.shape)}, src_mask lengths {lengths})"
        assert_shape(w, tuple(want_w.shape), f"{what}: weights")
        assert_shape(ctx, tuple(want_ctx.shape), f"{what}: context")
        assert_close(w, want_w, f"{what}: weights", likely=_attention_diagnosis(q, k, mask, w))
        assert_close(ctx, want_ctx, f"{what}: context",
                     likely=("context should be weights @ keys (B, T, S) x (B, S, H).",
                             "context 应为 weights @ keys，即 (B, T, S) x (B, S, H)。"))


@check(points=2, category="correctness")
def test_model_attention_weights(ex):
    """The model's attention weights are 0 on source padding and each decoder step's weights sum to 1.
    zh: 模型的注意力权重在源序列填充处为 0，且每个解码步的权重之和为 1。
    """
    m = _make(ex, seed=1).eval()
    src = _src([5, 2, 3, 1], 5, seed=3)
    tgt_in = _shift(_tgt([3, 1, 4, 2], 6, seed=3))
    _, w = _forward(m, src, tgt_in)
    assert_shape(w, (4, 6, 5), "attention weights")
    w = w.detach()
    on_pad = w.masked_select((src == PAD)[:, None, :].expand_as(w))
    top = on_pad.abs().max().item() if on_pad.numel() else 0.0
    if not (top < 1e-6):
        fail(f"Attention weights on padded source positions should be exactly 0; found up to {top:.3g}.",
             f"源序列填充位置上的注意力权重应恰好为 0；实际最大为 {top:.3g}。",
             likely=("the source mask not passed or inverted (src_mask = src != pad_id, True = real), or padded "
                     "scores filled with 0 instead of -inf.",
                     "没有传源序列掩码或含义反了（src_mask = src != pad_id，True 表示真实 token），或填充位置的分数填了 0 "
                     "而不是 -inf。"))
    sums = w.sum(-1)
    expect(torch.allclose(sums, torch.ones_like(sums), atol=1e-5),
           f"Each decoder step's attention weights should sum to 1 over the source; sums range "
           f"{sums.min().item():.4g} to {sums.max().item():.4g}.",
           f"每个解码步的注意力权重在源序列上之和应为 1；实际范围 {sums.min().item():.4g} 到 {sums.max().item():.4g}。",
           likely=("softmax over the wrong axis: it goes over the source positions (dim=-1).",
                   "softmax 的维度不对：应在源序列位置（dim=-1）上做。"))


@check(points=3, category="correctness")
def test_decoder_starts_from_encoder_state(ex):
    """forward runs the decoder from the encoder's final (h, c), not from zeros; decode really uses its state.
    zh: forward 让解码器从编码器最终的 (h, c) 出发，而不是从零开始；decode 确实使用了传入的状态。
    """
    m = _make(ex, seed=2).eval()
    src = _src([4, 6, 2], 6, seed=4)
    tgt_in = _shift(_tgt([2, 4, 3], 5, seed=4))
    mask = src != PAD
    with torch.no_grad():
        enc_out, (h, c) = _encode(m, src)
        from_enc = _decode(m, tgt_in, (h, c), enc_out, mask)[0]
        zeros = (torch.zeros_like(h), torch.zeros_like(c))
        from_zero = _decode(m, tgt_in, zeros, enc_out, mask)[0]
        full = _forward(m, src, tgt_in)[0]
    if torch.allclose(log_probs(from_enc), log_probs(from_zero), atol=1e-6):
        fail("decode(tgt_in, state, ...) gives the same scores whether state is the encoder's (h, c) or zeros: the "
             "decoder ignores the state it is given.",
             "decode(tgt_in, state, ...) 无论 state 是编码器的 (h, c) 还是全零，分数都一样：解码器忽略了传入的状态。",
             likely=("the decoder LSTM called without the state (self.decoder(emb) instead of self.decoder(emb, state)).",
                     "调用解码器 LSTM 时没有传状态（写成了 self.decoder(emb) 而不是 self.decoder(emb, state)）。"))
    if not torch.allclose(log_probs(full), log_probs(from_enc), atol=1e-5):
        if torch.allclose(log_probs(full), log_probs(from_zero), atol=1e-5):
            fail("forward(src, tgt_in) equals decoding from an all-zeros state: the decoder never sees the encoder's "
                 "final (h, c), so the only link to the source is attention (the seed's bug).",
                 "forward(src, tgt_in) 的结果等于从全零状态解码：解码器从未拿到编码器最终的 (h, c)，与源序列的联系只剩注意力"
                 "（原题的错误）。",
                 likely=("hidden = torch.zeros(...) passed to the decoder instead of the (h, c) returned by the encoder.",
                         "传给解码器的是 torch.zeros(...)，而不是编码器返回的 (h, c)。"))
        fail("forward(src, tgt_in) differs from decode(tgt_in, encode(src)'s (h, c), enc_out, src != pad_id).",
             "forward(src, tgt_in) 与 decode(tgt_in, encode(src) 的 (h, c), enc_out, src != pad_id) 的结果不同。",
             likely=("forward builds its own state or mask instead of using encode's (h, c) and src != pad_id.",
                     "forward 自己构造了状态或掩码，而不是使用 encode 返回的 (h, c) 和 src != pad_id。"))


@check(points=2, category="gradient")
def test_encoder_gets_gradient(ex):
    """The decoder's loss reaches every parameter, and the encoder's final (h, c) get a gradient through forward.
    zh: 解码器的损失能传到每个参数，并且通过 forward 让编码器最终的 (h, c) 得到梯度。
    """
    m = _make(ex, seed=3, train=True)
    src = _src([5, 3, 4], 5, seed=5)
    tgt = _tgt([3, 2, 4], 5, seed=5)
    seen = []
    encode = m.encode

    def spy(s):
        res = encode(s)
        try:
            for t in res[1]:
                if isinstance(t, torch.Tensor) and t.requires_grad:
                    t.retain_grad()
                    seen.append(t)
        except Exception:  # noqa: BLE001
            pass
        return res

    m.encode = spy  # instance attribute: forward's self.encode(...) goes through the spy
    try:
        scores, _ = _forward(m, src, _shift(tgt))
    finally:
        del m.encode
    F.cross_entropy(scores.reshape(-1, scores.shape[-1]), tgt.reshape(-1), ignore_index=PAD).backward()
    if seen and all(t.grad is None or not t.grad.abs().sum() > 0 for t in seen):
        fail("After loss.backward() the encoder's final (h, c) returned by encode got no gradient: the decoder does "
             "not start from them, so the encoder learns only through attention (with no attention it would not "
             "learn at all).",
             "loss.backward() 之后，encode 返回的编码器最终状态 (h, c) 没有梯度：解码器没有从它们出发，编码器只能通过注意力学习"
             "（没有注意力的话就完全学不到）。",
             likely=("the decoder started from torch.zeros(...) (the seed's bug) or from a detached state.",
                     "解码器从 torch.zeros(...) 出发（原题的错误），或者状态被 detach 了。"))
    assert_all_params_get_grad(m, "Seq2Seq",
                               likely=("a layer that forward never uses, the encoder output detached, or the decoder "
                                       "started from zeros.",
                                       "有层在 forward 中没有被使用，编码器输出被 detach，或者解码器从零状态开始。"))


@check(points=1, category="correctness")
def test_source_changes_output(ex):
    """Changing the source tokens (same lengths) changes every sample's scores at the first decoder step.
    zh: 修改源序列 token（长度不变）会改变每个样本在第一个解码步的分数。
    """
    m = _make(ex, seed=4).eval()
    src = _src([4, 4, 2], 4, seed=6)
    src2 = _src([4, 4, 2], 4, seed=7)
    tgt_in = _shift(_tgt([2, 3, 1], 4, seed=6))
    with torch.no_grad():
        a, b = _forward(m, src, tgt_in)[0], _forward(m, src2, tgt_in)[0]
    diff = (log_probs(a[:, 0]) - log_probs(b[:, 0])).abs().amax(-1)
    if diff.min().item() < 1e-6:
        fail(f"Replacing the source left the first-step scores unchanged (changes per sample: "
             f"{[round(v, 6) for v in diff.tolist()]}); the output must depend on the input sentence.",
             f"换了源序列后，第一个解码步的分数不变（各样本的变化：{[round(v, 6) for v in diff.tolist()]}）；"
             f"输出必须依赖输入句子。",
             likely=("the decoder starts from zeros and the attention context is not used in the output.",
                     "解码器从零状态开始，并且输出没有用到注意力的 context。"))


@check(points=2, category="correctness")
def test_batch_independence(ex):
    """In eval mode, changing one sample's source and target never changes another sample's scores.
    zh: eval 模式下，修改一个样本的源序列和目标，不会改变其他样本的分数。
    """
    m = _make(ex, seed=5).eval()
    # B == S == T on purpose: a model without batch_first then runs and mixes the samples.
    src = _src([4, 2, 4, 3], 4, seed=8)
    tgt_in = _shift(_tgt([2, 1, 3, 2], 4, seed=8))
    with torch.no_grad():
        a = _forward(m, src, tgt_in)[0]
        src2, tgt2 = src.clone(), tgt_in.clone()
        src2[2] = _src([3], 4, seed=9)[0]
        tgt2[2, 1:] = 5
        b = _forward(m, src2, tgt2)[0]
    others = [0, 1, 3]
    diff = (log_probs(a[others]) - log_probs(b[others])).abs().max().item()
    if diff > 1e-5:
        fail(f"Changing sample 2 of a batch of 4 changed the other samples' scores (largest change {diff:.3g}).",
             f"修改 4 个样本中的第 2 个，其他样本的分数也变了（最大变化 {diff:.3g}）。",
             likely=BATCH_FIRST if lacks_batch_first(m) else
             ("the batch and time axes mixed up (a transpose too many), or attention/normalisation across the batch.",
              "batch 维度和时间维度搞混了（多做了一次转置），或在 batch 维度上做了注意力/归一化。"))


@check(points=2, category="correctness")
def test_causal_teacher_forcing(ex):
    """With teacher forcing, the scores at step t never depend on decoder inputs after t.
    zh: 教师强制时，第 t 步的分数绝不依赖 t 之后的解码器输入。
    """
    m = _make(ex, seed=6).eval()
    src = _src([3, 5], 5, seed=10)
    for i, (T, t) in enumerate([(6, 2), (4, 0)]):
        tgt_in = _shift(_tgt([T - 1, 2], T, seed=11 + i))
        with seeded(30 + i):
            tail = torch.randint(3, 9, (2, T - t - 1))
        diff = prefix_change(lambda y: _forward(m, src, y)[0], tgt_in, t, tail)
        if diff > 1e-5:
            fail(f"Changing decoder inputs {t + 1}..{T - 1} changed the scores at steps 0..{t} (largest change "
                 f"{diff:.3g}): step t must only see tgt_in[:, :t+1], as at generation time.",
                 f"修改第 {t + 1}..{T - 1} 个解码器输入后，第 0..{t} 步的分数变了（最大变化 {diff:.3g}）：第 t 步只能看到 "
                 f"tgt_in[:, :t+1]，与生成时一致。",
                 likely=("the attention query is the decoder's final hidden state h_n (it has read the whole target) "
                         "instead of each step's output, or a bidirectional decoder.",
                         "注意力的 query 用了解码器最终的隐藏状态 h_n（它读过整个目标序列），而不是每一步的输出；或者解码器是双向的。"))


@check(points=2, category="correctness")
def test_source_padding_invariance(ex):
    """Appending extra padding to the source changes no score, and the new positions get attention weight 0.
    zh: 在源序列末尾追加额外的填充不会改变任何分数，新增位置的注意力权重为 0。
    """
    m = _make(ex, seed=7).eval()
    src = _src([6, 2, 4], 6, seed=12)  # sample 0 has no padding
    tgt_in = _shift(_tgt([3, 2, 4], 6, seed=12))
    with torch.no_grad():
        a, wa = _forward(m, src, tgt_in)
        longer = torch.cat([src, torch.full((3, 3), PAD)], dim=1)
        b, wb = _forward(m, longer, tgt_in)
    assert_shape(b, tuple(a.shape), "scores with a padded source")
    diff = (log_probs(a) - log_probs(b)).abs().max().item()
    if not diff < 1e-5:
        pad_w = wb.detach()[..., 6:].abs().max().item() if wb.dim() == 3 and wb.shape[-1] == 9 else None
        if pad_w is not None and not pad_w < 1e-6:
            likely = (f"the padded source positions get attention (weights up to {pad_w:.3g}): mask them with "
                      f"src_mask = src != pad_id and -inf scores.",
                      f"源序列的填充位置得到了注意力（权重最大 {pad_w:.3g}）：用 src_mask = src != pad_id 和 -inf 分数屏蔽它们。")
        else:
            with torch.no_grad():
                (h1, c1), (h2, c2) = _encode(m, src)[1], _encode(m, longer)[1]
            if not (torch.allclose(h1, h2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)):
                likely = ("the encoder LSTM runs over the padding, so its final (h, c) is taken after the pad tokens: "
                          "pack the embedded source with pack_padded_sequence(emb, lengths.cpu(), batch_first=True, "
                          "enforce_sorted=False).",
                          "编码器 LSTM 把填充也读进去了，最终的 (h, c) 是在填充之后得到的：用 pack_padded_sequence(emb, "
                          "lengths.cpu(), batch_first=True, enforce_sorted=False) 打包嵌入后的源序列。")
            else:
                likely = ("something in the decoder depends on the padded source length.", "解码器中有部分依赖了填充后的源序列长度。")
        fail(f"Appending 3 padding tokens to every source changed the scores (largest change {diff:.3g}); padding must "
             f"not influence the result.",
             f"在每个源序列末尾追加 3 个填充 token 后分数变了（最大变化 {diff:.3g}）；填充不应影响结果。", likely=likely)




@check(points=3, category="correctness")
def test_greedy_decode(ex):
    """greedy_decode equals step-by-step argmax of the teacher-forced scores, with pad_id after each EOS.
    zh: greedy_decode 与逐步对教师强制分数取 argmax 的结果一致，每个 EOS 之后都是 pad_id。
    """
    m = _make(ex, src_vocab=10, tgt_vocab=7, seed=8).eval()
    src = _src([5, 1, 3, 4, 2, 5, 3, 2], 5, vocab=10, seed=13)
    favour_eos(m, lambda s, y: _forward(m, s, y)[0], src, 7, BOS, EOS, PAD)
    assert_greedy_decode(m, lambda s, y: _forward(m, s, y)[0], src, 7, BOS, EOS, PAD, known=_known(m))


@check(points=3, category="training")
def test_learns_to_reverse(ex):
    """60 Adam steps (lr 2e-2, batch 32) on "reverse the sequence" reach >= 93% teacher-forced token accuracy on new data.
    zh: 在“把序列倒过来”任务上用 Adam（lr 2e-2，batch 32）训练 60 步后，在新数据上教师强制的 token 准确率 >= 93%。
    """
    V = 8

    def run(seed):
        m = _make(ex, V, V, emb=16, hidden=32, seed=seed, train=True)
        g = torch.Generator().manual_seed(100 + seed)
        with seeded(seed):
            opt = torch.optim.Adam(m.parameters(), lr=2e-2)
            for _ in range(60):
                src, tgt = copy_task_batch(g, 32, V, 2, 6, True, PAD, EOS)
                scores = _forward(m, src, _shift(tgt), "training forward")[0]
                loss = F.cross_entropy(scores.reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)
                opt.zero_grad()
                loss.backward()
                opt.step()
        m.eval()
        src, tgt = copy_task_batch(torch.Generator().manual_seed(999), 64, V, 2, 6, True, PAD, EOS)
        with torch.no_grad():
            pred = _forward(m, src, _shift(tgt))[0].argmax(-1)
        real = tgt != PAD
        return ((pred == tgt) & real).sum().item() / real.sum().item()

    ok, accs = passes_over_seeds(run, 0.93)
    if not ok:
        fail(f"After 60 training steps the token accuracy on new sequences is {', '.join(f'{a:.0%}' for a in accs)} "
             f"(seeds tried), below 93%.",
             f"训练 60 步后，在新序列上的 token 准确率为 {', '.join(f'{a:.0%}' for a in accs)}（所试的种子），低于 93%。",
             likely=("attention context not used for the scores, the decoder not started from the encoder's state, or "
                     "padding leaking into the encoder/attention.",
                     "分数没有用到注意力的 context，解码器没有从编码器状态出发，或填充泄漏进了编码器/注意力。"))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """Moved with .to(device), forward and greedy_decode run there and match the CPU results.
    zh: 用 .to(device) 移动后，forward 和 greedy_decode 在该设备上运行，结果与 CPU 一致。
    """
    m = _make(ex, seed=9).eval()
    src = _src([4, 2, 3], 4, seed=14)
    tgt_in = _shift(_tgt([2, 3, 1], 5, seed=14))
    with torch.no_grad():
        ref_scores = _forward(m, src, tgt_in)[0]
        ref_out = run_learner("greedy_decode(src, 6) on the CPU", ("return the generated tokens (B, L)",
                              "返回生成的 token (B, L)"), m.greedy_decode, src, 6, known=_known(m))
    dev_likely = ("a tensor created without device=src.device (the BOS column, the 'finished' flags, a zeros state), "
                  "or the lengths for pack_padded_sequence left on the accelerator (they must be on the CPU).",
                  "创建张量时没有指定 device=src.device（BOS 列、“已结束”标记、全零状态），或 pack_padded_sequence 的 "
                  "lengths 留在了加速设备上（它必须在 CPU 上）。")
    with accelerator() as dev:
        scores, out = seq2seq_on_device(m, dev, lambda s, y: m(s, y)[0], src, tgt_in, 6, dev_likely)
    assert_close(scores, ref_scores, "scores on the accelerator", atol=1e-4)
    expect(torch.equal(out, ref_out), f"greedy_decode on the accelerator gave {out.tolist()}, on the CPU {ref_out.tolist()}.",
           f"greedy_decode 在加速设备上的结果为 {out.tolist()}，在 CPU 上为 {ref_out.tolist()}。")
