"""Grader for exercise 15 — multi-head attention from scratch."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (ATTENTION_OPS, ATTENTION_PATCHES, BuiltinUsed, accelerator, assert_close,
                             assert_on_device, assert_shape, assert_tensor, check, expect, fail, forbid, seeded,
                             to_cpu)

PROJ = ("q_proj", "k_proj", "v_proj", "out_proj")

# (B, Tq, Tk, d_model, nhead): head_dim 4, 3 (odd), 4, 5 (odd), 2, 6 (one head)
SELF = [(2, 5, 5, 8, 2), (4, 6, 6, 6, 2), (1, 7, 7, 16, 4), (3, 4, 4, 15, 3), (2, 3, 3, 6, 1)]
CROSS = [(2, 3, 7, 8, 2), (3, 6, 2, 9, 3), (1, 1, 5, 12, 4)]


# ---------------------------------------------------------------------------
# private helpers

def _make(ex, d, h, seed=0):
    with seeded(seed):
        m = ex.MultiHeadAttention(d, h)
    expect(isinstance(m, nn.Module), f"MultiHeadAttention(...) should be an nn.Module, got {type(m).__name__}.",
           f"MultiHeadAttention(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    for name in PROJ:
        lin = getattr(m, name, None)
        ok = isinstance(lin, nn.Linear) and tuple(lin.weight.shape) == (d, d) and lin.bias is not None
        expect(ok, f"MultiHeadAttention({d}, {h}) should have {name} = nn.Linear({d}, {d}) with a bias; "
                   f"found {type(lin).__name__ if lin is not None else 'nothing'}"
                   + (f" with weight {tuple(lin.weight.shape)}" if isinstance(lin, nn.Linear) else "") + ".",
               f"MultiHeadAttention({d}, {h}) 应有带偏置的 {name} = nn.Linear({d}, {d})；"
               f"实际为 {type(lin).__name__ if lin is not None else '无'}。",
               likely=("projections named differently (the grader needs q_proj, k_proj, v_proj, out_proj), one packed "
                       "in_proj layer, or bias=False.",
                       "投影层名字不同（评分需要 q_proj、k_proj、v_proj、out_proj），用了一个合并的 in_proj 层，或 bias=False。"))
    return m


def _inputs(B, Tq, Tk, d, seed=0, grad=False):
    with seeded(seed):
        q, k, v = torch.randn(B, Tq, d), torch.randn(B, Tk, d), torch.randn(B, Tk, d)
    return tuple(t.requires_grad_(grad) for t in (q, k, v))


def _call(m, *args, **kwargs):
    res = m(*args, **kwargs)
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        fail(f"forward(...) should return a pair (output, weights); got {type(res).__name__}"
             + (f" of length {len(res)}" if isinstance(res, (tuple, list)) else "") + ".",
             f"forward(...) 应返回 (output, weights) 二元组；实际为 {type(res).__name__}。",
             likely=("returning only the output, or the weights averaged away.", "只返回了输出，或没有返回注意力权重。"))
    out, w = res
    assert_tensor(out, "output")
    assert_tensor(w, "attention weights")
    return out, w


def _torch_mha(m, d, h):
    """nn.MultiheadAttention holding m's weights (q/k/v stacked into in_proj)."""
    ref = nn.MultiheadAttention(d, h, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([m.q_proj.weight, m.k_proj.weight, m.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([m.q_proj.bias, m.k_proj.bias, m.v_proj.bias]))
        ref.out_proj.weight.copy_(m.out_proj.weight)
        ref.out_proj.bias.copy_(m.out_proj.bias)
    return ref


def _reference(m, q, k, v, h, allowed_mask=None, kpm=None, causal=False):
    """nn.MultiheadAttention with m's weights; masks given with OUR convention (True = may attend)."""
    d = q.shape[-1]
    ref = _torch_mha(m, d, h)
    Tq, Tk = q.shape[1], k.shape[1]
    attn_mask = None
    if causal:
        attn_mask = ~torch.ones(Tq, Tk, dtype=torch.bool).tril()
    if allowed_mask is not None:
        am = ~allowed_mask
        if am.dim() == 3:
            am = am.repeat_interleave(h, dim=0)  # nn.MultiheadAttention wants (B * nhead, Tq, Tk)
        attn_mask = am
    out, w = ref(q, k, v, attn_mask=attn_mask, key_padding_mask=None if kpm is None else ~kpm,
                 need_weights=True, average_attn_weights=False)
    return out, w, ref


def _variant(m, q, k, v, h, scale="head", split="heads", softmax_dim=-1, allowed=None):
    """Hand-written attention with m's weights and a deliberate variation (for diagnosing mistakes)."""
    B, Tq, d = q.shape
    Q, K, V = m.q_proj(q), m.k_proj(k), m.v_proj(v)
    if split == "seed":  # the seed's view(B, -1, nhead).transpose(1, 2)
        Q, K, V = (t.reshape(B, -1, h).transpose(1, 2) for t in (Q, K, V))
    else:
        Q, K, V = (t.reshape(B, t.shape[1], h, d // h).transpose(1, 2) for t in (Q, K, V))
    s = Q @ K.transpose(-2, -1) / math.sqrt(d if scale == "model" else d // h)
    if allowed is not None:
        s = s.masked_fill(~allowed, float("-inf"))
    w = F.softmax(s, dim=softmax_dim)
    o = (w @ V).transpose(1, 2).reshape(B, -1, d)
    return m.out_proj(o)


VARIANTS = [
    (dict(scale="model"),
     ("scores scaled by 1/sqrt(d_model) instead of 1/sqrt(head_dim): each head's dot products have head_dim terms.",
      "分数除以了 sqrt(d_model) 而不是 sqrt(head_dim)：每个头的点积只有 head_dim 项。")),
    (dict(split="seed", scale="model"),
     ("heads split with view(B, -1, nhead) (the seed's bug: it chops the sequence, not the features) and scaled by "
      "sqrt(d_model); use view(B, T, nhead, head_dim).transpose(1, 2) and divide by sqrt(head_dim).",
      "用 view(B, -1, nhead) 切分多头（原题的错误：切的是序列而不是特征维度），并除以 sqrt(d_model)；"
      "应使用 view(B, T, nhead, head_dim).transpose(1, 2)，并除以 sqrt(head_dim)。")),
    (dict(split="seed"),
     ("heads split with view(B, -1, nhead) (the seed's bug); use view(B, T, nhead, head_dim).transpose(1, 2).",
      "用 view(B, -1, nhead) 切分多头（原题的错误）；应使用 view(B, T, nhead, head_dim).transpose(1, 2)。")),
    (dict(softmax_dim=-2),
     ("softmax taken over the queries (dim=-2) instead of over the keys (dim=-1).",
      "softmax 在查询维度（dim=-2）上做了，应在键的维度（dim=-1）上做。")),
]
GENERIC = ("heads split the wrong way (use view(B, T, nhead, head_dim).transpose(1, 2), and the reverse to merge "
           "them), the wrong scale (1/sqrt(head_dim)), or q/k/v/out projections mixed up.",
           "多头切分方式不对（应为 view(B, T, nhead, head_dim).transpose(1, 2)，合并时反过来），缩放系数不对"
           "（应为 1/sqrt(head_dim)），或 q/k/v/out 投影用混了。")


def _allowed(Tq, Tk, allowed_mask=None, kpm=None, causal=False):
    """The combined 'may attend' mask, broadcastable to (B, nhead, Tq, Tk), or None without masks."""
    if not (causal or allowed_mask is not None or kpm is not None):
        return None
    a = torch.ones(Tq, Tk, dtype=torch.bool)
    if causal:
        a = a.tril()
    if allowed_mask is not None:
        a = a & (allowed_mask if allowed_mask.dim() == 2 else allowed_mask.unsqueeze(1))
    if kpm is not None:
        a = a & kpm[:, None, None, :]
    return a


MASK_LIKELY = ("mask polarity inverted: in this exercise True means 'may attend' (as in F.scaled_dot_product_attention); "
               "nn.MultiheadAttention uses the opposite (True = masked). Fill with -inf where the mask is False.",
               "掩码含义反了：本题中 True 表示“可以注意”（与 F.scaled_dot_product_attention 相同）；"
               "nn.MultiheadAttention 正好相反（True 表示屏蔽）。应在掩码为 False 的位置填 -inf。")
MASK_IGNORED = ("the mask (or is_causal) ignored: masked scores must be set to -inf before the softmax.",
                "忽略了掩码（或 is_causal）：被屏蔽的分数要在 softmax 之前设为 -inf。")
MASK_GENERIC = ("the mask broadcast on the wrong axes ((Tq, Tk) over (B, nhead), (B, Tq, Tk) over nhead, (B, Tk) over "
                "(nhead, Tq)), or masks not combined (a key must be allowed by all of them).",
                "掩码广播的维度不对（(Tq, Tk) 在 (B, nhead) 上广播，(B, Tq, Tk) 在 nhead 上广播，(B, Tk) 在 (nhead, Tq) "
                "上广播），或没有把多个掩码组合起来（键必须被所有掩码允许）。")


def _diagnose(out, m, q, k, v, h, allowed=None, w=None):
    """The likely mistake behind a mismatch, found by trying known wrong variants."""
    variants = [(kw, allowed, likely) for kw, likely in VARIANTS]
    if allowed is not None:
        variants.append(({}, None, MASK_IGNORED))
    for kw, use, likely in variants:
        try:
            with torch.no_grad():
                alt = _variant(m, q, k, v, h, allowed=use, **kw)
        except RuntimeError:
            continue
        if alt.shape == out.shape and torch.allclose(out.detach(), alt, atol=1e-5, rtol=1e-4):
            return likely
    if allowed is None:
        return GENERIC
    if w is not None and w.dim() == 4 and w.shape[-2:] == allowed.shape[-2:]:
        wd, a = w.detach().nan_to_num(1.0).abs(), allowed.expand(w.shape)
        if wd.masked_select(~a).max().item() > 1e-6 and wd.masked_select(a).max().item() < 1e-6:
            return MASK_LIKELY
    return MASK_GENERIC


def _compare(m, q, k, v, h, what, **masks):
    """m's output and weights against nn.MultiheadAttention with the same weights."""
    kwargs = {n: t for n, t in (("attn_mask", masks.get("allowed_mask")), ("key_padding_mask", masks.get("kpm")))
              if t is not None}
    if masks.get("causal"):
        kwargs["is_causal"] = True
    out, w = _call(m, q, k, v, **kwargs)
    ref_out, ref_w, _ = _reference(m, q, k, v, h, **masks)
    B, Tq, d = q.shape
    Tk = k.shape[1]
    assert_shape(out, (B, Tq, d), f"{what}: output")
    if not torch.allclose(out.detach(), ref_out.detach(), atol=1e-5, rtol=1e-4):
        try:
            likely = _diagnose(out, m, q, k, v, h, _allowed(Tq, Tk, **masks), w)
        except Exception:  # noqa: BLE001 - a diagnosis must never hide the failure itself
            likely = GENERIC
        assert_close(out, ref_out, f"{what}: output vs nn.MultiheadAttention with the same weights", likely=likely)
    assert_shape(w, (B, h, Tq, Tk), f"{what}: attention weights",
                 likely=("weights averaged over the heads, or heads split the wrong way.",
                         "对各头的权重取了平均，或多头切分方式不对。"))
    assert_close(w, ref_w, f"{what}: attention weights vs nn.MultiheadAttention(average_attn_weights=False)")
    return out, w


def _rand_mask(shape, seed):
    """Random bool mask with at least one True and one False along the last dim."""
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(shape, generator=g) < 0.5
    n = shape[-1]
    idx = torch.randint(0, n, shape[:-1], generator=g)
    m.scatter_(-1, idx.unsqueeze(-1), True)
    m.scatter_(-1, ((idx + 1) % n).unsqueeze(-1), False)
    return m


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_output_shapes(ex):
    """Output is (B, Tq, d_model) and weights (B, nhead, Tq, Tk), for self- and cross-attention.
    zh: 输出形状为 (B, Tq, d_model)，权重形状为 (B, nhead, Tq, Tk)，自注意力和交叉注意力都一样。
    """
    for B, Tq, Tk, d, h in SELF[:3] + CROSS:
        m = _make(ex, d, h)
        out, w = _call(m, *_inputs(B, Tq, Tk, d))
        assert_shape(out, (B, Tq, d), f"MultiHeadAttention({d}, {h}) output for query {(B, Tq, d)}, key {(B, Tk, d)}",
                     likely=("heads merged the wrong way: transpose(1, 2) back to (B, Tq, nhead, head_dim) before "
                             "reshape(B, Tq, d_model).",
                             "合并多头的方式不对：应先 transpose(1, 2) 回到 (B, Tq, nhead, head_dim)，再 reshape(B, Tq, d_model)。"))
        assert_shape(w, (B, h, Tq, Tk), f"MultiHeadAttention({d}, {h}) weights for Tq={Tq}, Tk={Tk}",
                     likely=("heads split with view(B, -1, nhead) (the seed's bug), or the weights averaged over heads.",
                             "用 view(B, -1, nhead) 切分多头（原题的错误），或对各头的权重取了平均。"))


@check(points=3, category="correctness")
def test_matches_torch_self_attention(ex):
    """Self-attention equals nn.MultiheadAttention with the same weights (outputs and weights, odd head dims too).
    zh: 自注意力与相同权重的 nn.MultiheadAttention 一致（输出和权重，包括奇数的 head_dim）。
    """
    for i, (B, Tq, Tk, d, h) in enumerate(SELF):
        m = _make(ex, d, h, seed=i)
        x = _inputs(B, Tq, Tk, d, seed=i)[0]
        _compare(m, x, x, x, h, f"self-attention, d_model={d}, nhead={h} (head_dim {d // h})")


@check(points=2, category="correctness")
def test_cross_attention(ex):
    """Cross-attention with Tq != Tk equals nn.MultiheadAttention with the same weights.
    zh: Tq != Tk 的交叉注意力与相同权重的 nn.MultiheadAttention 一致。
    """
    for i, (B, Tq, Tk, d, h) in enumerate(CROSS):
        m = _make(ex, d, h, seed=10 + i)
        q, k, v = _inputs(B, Tq, Tk, d, seed=10 + i)
        _compare(m, q, k, v, h, f"cross-attention, Tq={Tq}, Tk={Tk}, d_model={d}, nhead={h}")


@check(points=2, category="correctness")
def test_weights_sum_to_one_over_keys(ex):
    """Attention weights are non-negative and each query's row sums to 1 over the keys.
    zh: 注意力权重非负，且每个查询对所有键的权重之和为 1。
    """
    for i, (B, Tq, Tk, d, h) in enumerate([(2, 5, 3, 8, 2), (3, 2, 6, 6, 3)]):
        m = _make(ex, d, h, seed=20 + i)
        _, w = _call(m, *_inputs(B, Tq, Tk, d, seed=20 + i))
        assert_shape(w, (B, h, Tq, Tk), "attention weights")
        expect(bool((w >= 0).all()), "Attention weights should be non-negative (they come out of a softmax); some are < 0.",
               "注意力权重应非负（来自 softmax）；实际有小于 0 的值。",
               likely=("returning the raw scores instead of the softmax.", "返回了未经 softmax 的原始分数。"))
        sums = w.sum(dim=-1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
            over_q = w.sum(dim=-2)
            on_queries = torch.allclose(over_q, torch.ones_like(over_q), atol=1e-5)
            fail(f"Each query's weights should sum to 1 over the keys (last dim); sums range from "
                 f"{sums.min().item():.4g} to {sums.max().item():.4g} (Tq={Tq}, Tk={Tk}).",
                 f"每个查询的权重在键维度（最后一维）上之和应为 1；实际范围 {sums.min().item():.4g} 到 "
                 f"{sums.max().item():.4g}（Tq={Tq}, Tk={Tk}）。",
                 likely=("softmax taken over the queries (dim=-2) instead of over the keys (dim=-1)." if on_queries else
                         "softmax over the wrong dimension, or weights returned before the softmax.",
                         "softmax 在查询维度（dim=-2）上做了，应在键的维度（dim=-1）上做。" if on_queries else
                         "softmax 的维度不对，或返回了 softmax 之前的分数。"))


@check(points=3, category="gradient")
def test_gradients_match_torch(ex):
    """Gradients w.r.t. query, key, value and every projection equal nn.MultiheadAttention's.
    zh: 对 query、key、value 以及每个投影层参数的梯度都与 nn.MultiheadAttention 一致。
    """
    for i, (B, Tq, Tk, d, h) in enumerate([(2, 4, 6, 6, 2), (3, 5, 5, 15, 5)]):
        m = _make(ex, d, h, seed=30 + i)
        q, k, v = _inputs(B, Tq, Tk, d, seed=30 + i, grad=True)
        with seeded(30 + i):
            R = torch.randn(B, Tq, d)
        out, _ = _call(m, q, k, v)
        (out * R).sum().backward()
        q2, k2, v2 = (t.detach().clone().requires_grad_() for t in (q, k, v))
        ref_out, _, ref = _reference(m, q2, k2, v2, h)
        (ref_out * R).sum().backward()
        what = f"d_model={d}, nhead={h}, Tq={Tq}, Tk={Tk}"
        for name, a, b in (("query", q, q2), ("key", k, k2), ("value", v, v2)):
            expect(a.grad is not None, f"{what}: no gradient reached the {name} input.",
                   f"{what}：梯度没有传到输入 {name}。",
                   likely=("the graph cut by .detach()/.item(), or the input not used.", "计算图被 .detach()/.item() 切断，或该输入没被使用。"))
            assert_close(a.grad, b.grad, f"{what}: gradient w.r.t. {name}", likely=_diagnose(out, m, q, k, v, h))
        gw, gb = ref.in_proj_weight.grad.chunk(3), ref.in_proj_bias.grad.chunk(3)
        for j, name in enumerate(PROJ[:3]):
            lin = getattr(m, name)
            expect(lin.weight.grad is not None, f"{what}: {name}.weight got no gradient.", f"{what}：{name}.weight 没有梯度。")
            assert_close(lin.weight.grad, gw[j], f"{what}: gradient of {name}.weight")
            assert_close(lin.bias.grad, gb[j], f"{what}: gradient of {name}.bias")
        assert_close(m.out_proj.weight.grad, ref.out_proj.weight.grad, f"{what}: gradient of out_proj.weight")
        assert_close(m.out_proj.bias.grad, ref.out_proj.bias.grad, f"{what}: gradient of out_proj.bias")


@check(points=2, category="correctness")
def test_boolean_masks(ex):
    """Boolean attn_mask (Tq, Tk) / (B, Tq, Tk) and key_padding_mask (B, Tk), True = may attend, match nn.MultiheadAttention.
    zh: 布尔 attn_mask（(Tq, Tk) 或 (B, Tq, Tk)）和 key_padding_mask（(B, Tk)），True 表示可以注意，结果与 nn.MultiheadAttention 一致。
    """
    B, Tq, Tk, d, h = 3, 4, 6, 8, 2
    m = _make(ex, d, h, seed=40)
    q, k, v = _inputs(B, Tq, Tk, d, seed=40)
    cases = [("attn_mask (Tq, Tk)", dict(allowed_mask=_rand_mask((Tq, Tk), 1))),
             ("attn_mask (B, Tq, Tk)", dict(allowed_mask=_rand_mask((B, Tq, Tk), 2))),
             ("key_padding_mask (B, Tk)", dict(kpm=_rand_mask((B, Tk), 3)))]
    both = dict(allowed_mask=_rand_mask((Tq, Tk), 4), kpm=_rand_mask((B, Tk), 5))
    both["allowed_mask"][:, 0] = True
    both["kpm"][:, 0] = True  # key 0 stays reachable for every query
    cases.append(("attn_mask and key_padding_mask together", both))
    for what, masks in cases:
        _compare(m, q, k, v, h, what, **masks)


@check(points=2, category="correctness")
def test_causal_no_peeking(ex):
    """With is_causal=True, changing later positions never changes earlier outputs; weights above the diagonal are 0.
    zh: is_causal=True 时，修改后面的位置不会改变前面位置的输出；对角线以上的权重为 0。
    """
    likely = ("is_causal ignored, or the causal mask built the wrong way round: query i may attend to keys j <= i "
              "(torch.ones(T, T, dtype=torch.bool, device=...).tril()).",
              "忽略了 is_causal，或因果掩码方向反了：查询 i 只能注意键 j <= i"
              "（torch.ones(T, T, dtype=torch.bool, device=...).tril()）。")
    for i, (B, T, d, h, t) in enumerate([(2, 6, 8, 2, 3), (3, 5, 9, 3, 1)]):
        m = _make(ex, d, h, seed=50 + i)
        x = _inputs(B, T, T, d, seed=50 + i)[0]
        out, w = _call(m, x, x, x, is_causal=True)
        x2 = x.clone()
        with seeded(60 + i):
            x2[:, t + 1:] = torch.randn(B, T - t - 1, d)
        out2, _ = _call(m, x2, x2, x2, is_causal=True)
        assert_shape(out2, (B, T, d), "output")
        diff = (out2[:, :t + 1] - out[:, :t + 1]).abs().max().item()
        if diff > 1e-5:
            try:
                found = _diagnose(out, m, x, x, x, h, _allowed(T, T, causal=True), w)
            except Exception:  # noqa: BLE001
                found = None
            if found not in (None, MASK_GENERIC, MASK_IGNORED, MASK_LIKELY):
                likely = found
            fail(f"is_causal=True, T={T}: changing positions {t + 1}..{T - 1} changed the outputs at positions 0..{t} "
                 f"(largest change {diff:.3g}); a position must not see the future.",
                 f"is_causal=True，T={T}：修改位置 {t + 1}..{T - 1} 后，位置 0..{t} 的输出变了（最大变化 {diff:.3g}）；"
                 f"每个位置都不能看到未来。", likely=likely)
        assert_shape(w, (B, h, T, T), "attention weights")
        upper = w.detach().triu(diagonal=1).abs().max().item()
        expect(upper < 1e-6, f"is_causal=True: attention weights above the diagonal should be 0, found up to {upper:.3g}.",
               f"is_causal=True：对角线以上的注意力权重应为 0，实际最大为 {upper:.3g}。", likely=likely)


@check(points=2, category="correctness")
def test_causal_matches_torch(ex):
    """is_causal=True equals nn.MultiheadAttention with a causal attn_mask (same weights).
    zh: is_causal=True 的结果与使用因果 attn_mask、相同权重的 nn.MultiheadAttention 一致。
    """
    for i, (B, T, d, h) in enumerate([(2, 7, 8, 2), (1, 4, 6, 2), (3, 5, 12, 3)]):
        m = _make(ex, d, h, seed=70 + i)
        x = _inputs(B, T, T, d, seed=70 + i)[0]
        _compare(m, x, x, x, h, f"is_causal=True, T={T}, d_model={d}, nhead={h}", causal=True)


@check(points=2, category="correctness")
def test_single_key(ex):
    """With a single key, every query's output is out_proj(v_proj(value)) and its weight is 1.
    zh: 只有一个键时，每个查询的输出都等于 out_proj(v_proj(value))，权重为 1。
    """
    for i, (B, Tq, d, h) in enumerate([(3, 1, 8, 2), (2, 4, 6, 3)]):
        m = _make(ex, d, h, seed=80 + i)
        q, k, v = _inputs(B, Tq, 1, d, seed=80 + i)
        out, w = _call(m, q * 10, k, v)
        want = m.out_proj(m.v_proj(v)).expand(B, Tq, d)
        assert_close(out, want, f"single key (Tk=1), Tq={Tq}, d_model={d}, nhead={h}: output",
                     likely=("softmax over the wrong dimension (with one key every weight must be 1), heads split "
                             "along the sequence (view(B, -1, nhead)), or value projected with the wrong layer.",
                             "softmax 的维度不对（只有一个键时每个权重都应为 1），沿序列维度切分了多头"
                             "（view(B, -1, nhead)），或用错了对 value 的投影层。"))
        assert_close(w, torch.ones(B, h, Tq, 1), f"single key (Tk=1), Tq={Tq}: attention weights",
                     likely=("softmax over the wrong dimension.", "softmax 的维度不对。"))


@check(points=2, category="correctness")
def test_written_from_scratch(ex):
    """The forward pass computes attention itself: no F.scaled_dot_product_attention or nn.MultiheadAttention.
    zh: 前向计算自己实现注意力：不调用 F.scaled_dot_product_attention 或 nn.MultiheadAttention。
    """
    m = _make(ex, 8, 2, seed=90)
    q, k, v = _inputs(2, 3, 5, 8, seed=90)
    kpm = torch.ones(2, 5, dtype=torch.bool)
    kpm[0, 3:] = False
    try:
        with forbid(ex, ATTENTION_PATCHES, ops=ATTENTION_OPS):
            results = [_call(m, q, k, v), _call(m, q, q, q, is_causal=True), _call(m, q, k, v, key_padding_mask=kpm)]
    except BuiltinUsed as e:
        fail(f"forward called {e.name} — this exercise asks for attention written by hand (matmul, softmax).",
             f"forward 调用了 {e.name}——本题要求亲手实现注意力（矩阵乘法、softmax）。",
             likely=("delegating to the built-in; it is the right tool in real code, but here the point is to write it.",
                     "直接调用了内置实现；实际项目中这样做没问题，但本题的目的是自己写出来。"))
    for (out, w), (Tq, Tk) in zip(results, [(3, 5), (3, 3), (3, 5)]):
        assert_shape(out, (2, Tq, 8), "output")
        assert_shape(w, (2, 2, Tq, Tk), "attention weights")


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator (is_causal=True with a key_padding_mask) it runs there and matches the CPU result.
    zh: 在加速设备上（is_causal=True 并带 key_padding_mask）能运行，结果与 CPU 一致。
    """
    B, T, d, h = 2, 5, 12, 3
    m = _make(ex, d, h, seed=95)
    x = _inputs(B, T, T, d, seed=95)[0]
    kpm = torch.ones(B, T, dtype=torch.bool)
    kpm[1, 3:] = False
    ref_out, ref_w = (t.detach() for t in _call(m, x, x, x, is_causal=True, key_padding_mask=kpm))
    with accelerator() as dev:
        m.to(dev)
        out, w = _call(m, x.to(dev), x.to(dev), x.to(dev), is_causal=True, key_padding_mask=kpm.to(dev))
        assert_on_device(out, dev, "attention output",
                         likely=("the causal mask created with torch.ones(T, T) / torch.tril(...) without "
                                 "device=query.device, or .cpu() inside forward.",
                                 "因果掩码用 torch.ones(T, T) / torch.tril(...) 创建时没有指定 device=query.device，"
                                 "或在 forward 里调用了 .cpu()。"))
        out, w = to_cpu(out), to_cpu(w)
    assert_close(out, ref_out, "output on the accelerator")
    assert_close(w, ref_w, "attention weights on the accelerator")
