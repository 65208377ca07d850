"""Grader for exercise 15 — multi-head attention from scratch."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (ATTENTION_OPS, ATTENTION_PATCHES, BuiltinUsed, accelerator, assert_close,
                             assert_on_device, assert_shape, assert_tensor, check, device_mismatch_explained, expect,
                             fail, forbid, run_learner, seeded, to_cpu)

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
    linears = [n for n, mod in m.named_children() if isinstance(mod, nn.Linear)]
    others = [n for n in linears if n not in PROJ]
    if not isinstance(getattr(m, "out_proj", None), nn.Linear) and all(
            isinstance(getattr(m, n, None), nn.Linear) for n in PROJ[:3]):
        fail(f"MultiHeadAttention({d}, {h}) has no output projection (the seed's code has none): out_proj should be "
             f"an nn.Linear({d}, {d}) with a bias, applied to the merged heads; found "
             + (f"the nn.Linear layers {linears}." if linears else "no nn.Linear layer besides q/k/v_proj."),
             f"MultiHeadAttention({d}, {h}) 没有输出投影（原题的代码里就没有）：out_proj 应是带偏置的 "
             f"nn.Linear({d}, {d})，作用在合并后的多头输出上；实际只有 nn.Linear 层 {linears}。",
             likely=("the seed's SimpleAttention has only query/key/value projections and returns the merged heads as "
                     "they are; multi-head attention ends with out_proj (nn.MultiheadAttention's out_proj too). If "
                     "you have one under another name, call it out_proj.",
                     "原题的 SimpleAttention 只有 query/key/value 投影，直接返回合并后的多头结果；多头注意力最后还有 "
                     "out_proj（nn.MultiheadAttention 也有 out_proj）。如果你的输出投影用了别的名字，请改名为 out_proj。"))
    for name in PROJ:
        lin = getattr(m, name, None)
        ok = isinstance(lin, nn.Linear) and tuple(lin.weight.shape) == (d, d) and lin.bias is not None
        found_en = (f"{type(lin).__name__}" if lin is not None else
                    "nothing" + (f" (its nn.Linear layers are named {others})" if others else ""))
        found_zh = (f"{type(lin).__name__}" if lin is not None else
                    "无" + (f"（它的 nn.Linear 层名为 {others}）" if others else ""))
        expect(ok, f"MultiHeadAttention({d}, {h}) should have {name} = nn.Linear({d}, {d}) with a bias; "
                   f"found {found_en}"
                   + (f" with weight {tuple(lin.weight.shape)}" if isinstance(lin, nn.Linear) else "") + ".",
               f"MultiHeadAttention({d}, {h}) 应有带偏置的 {name} = nn.Linear({d}, {d})；"
               f"实际为 {found_zh}。",
               likely=("projections named differently (the grader needs q_proj, k_proj, v_proj, out_proj), one packed "
                       "in_proj layer, or bias=False.",
                       "投影层名字不同（评分需要 q_proj、k_proj、v_proj、out_proj），用了一个合并的 in_proj 层，或 bias=False。"))
    return m


def _inputs(B, Tq, Tk, d, seed=0, grad=False):
    with seeded(seed):
        q, k, v = torch.randn(B, Tq, d), torch.randn(B, Tk, d), torch.randn(B, Tk, d)
    return tuple(t.requires_grad_(grad) for t in (q, k, v))


DEVICE_LIKELY = ("the causal mask created with torch.ones(T, T) / torch.tril(...) without device=query.device, or "
                 ".cpu() inside forward.",
                 "因果掩码用 torch.ones(T, T) / torch.tril(...) 创建时没有指定 device=query.device，或在 forward 里调用了 .cpu()。")
SPLIT_CROSS = ("heads split along the sequence (view(B, -1, nhead), the seed's bug) or with the query's length used "
               "for key and value: it works only when Tq == Tk. Split each tensor by its own length: "
               "view(B, T, nhead, head_dim).transpose(1, 2).",
               "沿序列维度切分了多头（view(B, -1, nhead)，原题的错误），或对 key、value 也用了 query 的长度："
               "这样只有 Tq == Tk 时才能运行。每个张量按它自己的长度切分：view(B, T, nhead, head_dim).transpose(1, 2)。")


CAUSAL_SHAPE = ("the causal mask built square from one length (torch.ones(T, T) with T = Tq, or (Tk, Tq)): with "
                "Tq != Tk it is the (Tq, Tk) lower triangle aligned at the top-left, "
                "torch.ones(Tq, Tk, dtype=torch.bool, device=query.device).tril().",
                "因果掩码只用一个长度建成了方阵（T = Tq 的 torch.ones(T, T)，或 (Tk, Tq)）：Tq != Tk 时它应是左上角对齐的 "
                "(Tq, Tk) 下三角，torch.ones(Tq, Tk, dtype=torch.bool, device=query.device).tril()。")


def _crash_likely(m, args, kwargs, e):
    """The likely mistake behind a crash of m(*args, **kwargs): the head split first (tried without masks and with
    Tq == Tk), then the mask."""
    if "device" in str(e):
        return DEVICE_LIKELY
    if len(args) != 3 or not all(isinstance(t, torch.Tensor) and t.dim() == 3 for t in args):
        return None
    q, k, v = args
    h = getattr(m, "nhead", None)
    masked = any(kwargs.get(n) is not None for n in ("attn_mask", "key_padding_mask")) or kwargs.get("is_causal")
    if kwargs.get("is_causal") and q.shape[1] != k.shape[1]:
        try:
            with torch.no_grad():
                m(q, q, q, is_causal=True)
            return CAUSAL_SHAPE
        except Exception:  # noqa: BLE001 - self-attention fails too: look further
            pass
    if masked and isinstance(h, int):
        found = _unmasked_problem(m, q, k, v, h)
        if found is not None:
            return ("not the mask: the same call without any mask is already wrong. " + found[0],
                    "不是掩码的问题：同样的调用不加掩码也已经不对。" + found[1])
        return MASK_GENERIC
    if q.shape[1] != k.shape[1]:
        try:
            with torch.no_grad():
                m(q, q, q)
            return SPLIT_CROSS
        except Exception:  # noqa: BLE001 - self-attention fails too: no hint from here
            return None
    return None


def _call(m, *args, **kwargs):
    shapes = ", ".join(str(tuple(t.shape)) for t in args if isinstance(t, torch.Tensor))
    res = run_learner(f"forward({shapes}{', ' if kwargs else ''}{', '.join(kwargs)})",
                      ("return (output (B, Tq, d_model), weights (B, nhead, Tq, Tk))",
                       "返回 (output (B, Tq, d_model), weights (B, nhead, Tq, Tk))"),
                      m, *args, known=lambda e: _crash_likely(m, args, kwargs, e), **kwargs)
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


def _variant(m, q, k, v, h, scale="head", split="heads", softmax_dim=-1, allowed=None, merge="heads"):
    """Hand-written attention with m's weights and a deliberate variation (for diagnosing mistakes)."""
    B, Tq, d = q.shape
    Q, K, V = m.q_proj(q), m.k_proj(k), m.v_proj(v)
    if split == "seed":  # the seed's view(B, -1, nhead).transpose(1, 2)
        Q, K, V = (t.reshape(B, -1, h).transpose(1, 2) for t in (Q, K, V))
    elif split == "no_transpose":  # view(B, nhead, T, head_dim): the sequence cut into nhead pieces
        Q, K, V = (t.reshape(B, h, t.shape[1], d // h) for t in (Q, K, V))
    elif split == "strided":  # view(B, T, head_dim, nhead): head j gets features j, j + nhead, ...
        Q, K, V = (t.reshape(B, t.shape[1], d // h, h).permute(0, 3, 1, 2) for t in (Q, K, V))
    else:
        Q, K, V = (t.reshape(B, t.shape[1], h, d // h).transpose(1, 2) for t in (Q, K, V))
    s = Q @ K.transpose(-2, -1) / math.sqrt(d if scale == "model" else d // h)
    if allowed is not None:
        s = s.masked_fill(~allowed, float("-inf"))
    w = F.softmax(s, dim=softmax_dim)
    if split == "no_transpose" or merge == "no_transpose":  # (B, h, Tq, hd) reshaped as it is
        o = (w @ V).reshape(B, -1, d)
    elif split == "strided":
        o = (w @ V).permute(0, 2, 3, 1).reshape(B, -1, d)
    else:
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
    (dict(split="no_transpose"),
     ("heads split with view(B, nhead, T, head_dim) (no transpose): that cuts the sequence into nhead pieces instead of "
      "the features; use view(B, T, nhead, head_dim).transpose(1, 2).",
      "用 view(B, nhead, T, head_dim)（没有转置）切分多头：这样切开的是序列而不是特征；"
      "应使用 view(B, T, nhead, head_dim).transpose(1, 2)。")),
    (dict(split="strided"),
     ("heads split with view(B, T, head_dim, nhead) (head j gets features j, j + nhead, ...): each head takes a "
      "contiguous block of head_dim features, view(B, T, nhead, head_dim).transpose(1, 2).",
      "用 view(B, T, head_dim, nhead) 切分多头（第 j 个头拿到特征 j, j + nhead, ...）：每个头应取连续的 head_dim 个"
      "特征，即 view(B, T, nhead, head_dim).transpose(1, 2)。")),
    (dict(merge="no_transpose"),
     ("heads merged without transposing back: (weights @ v) is (B, nhead, Tq, head_dim); transpose(1, 2) to "
      "(B, Tq, nhead, head_dim) before reshape(B, Tq, d_model).",
      "合并多头时没有先转置回来：(weights @ v) 的形状是 (B, nhead, Tq, head_dim)；应先 transpose(1, 2) 成 "
      "(B, Tq, nhead, head_dim)，再 reshape(B, Tq, d_model)。")),
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
    matches = []
    for kw, use, likely in variants:
        try:
            with torch.no_grad():
                alt = _variant(m, q, k, v, h, allowed=use, **kw)
        except RuntimeError:
            continue
        if alt.shape == out.shape and torch.allclose(out.detach(), alt, atol=1e-5, rtol=1e-4):
            matches.append(likely)
    if matches:  # several mistakes can give the same numbers on an input (e.g. with a single key): name them all
        return (" Or: ".join(en for en, _ in matches), " 或者：".join(zh for _, zh in matches))
    if allowed is None:
        return GENERIC
    if w is not None and w.dim() == 4 and w.shape[-2:] == allowed.shape[-2:]:
        wd, a = w.detach().nan_to_num(1.0).abs(), allowed.expand(w.shape)
        if wd.masked_select(~a).max().item() > 1e-6 and wd.masked_select(a).max().item() < 1e-6:
            return MASK_LIKELY
    return MASK_GENERIC


def _unmasked_problem(m, q, k, v, h):
    """None when m without any mask equals nn.MultiheadAttention on these inputs; else the likely mistake (en, zh).

    Run before blaming a mask: a head split or a scale that is wrong shows without a mask too."""
    B, Tq, d = q.shape
    Tk = k.shape[1]
    try:
        with torch.no_grad():
            out, w = _call(m, q, k, v)
            ref_out, ref_w, _ = _reference(m, q, k, v, h)
    except Exception as e:  # noqa: BLE001 - the unmasked checks report the crash itself
        return (f"forward raises {type(e).__name__} without any mask too (see the unmasked checks).",
                f"不加任何掩码时 forward 也会抛出 {type(e).__name__}（见不带掩码的检查）。")
    if tuple(w.shape) != (B, h, Tq, Tk):
        return SPLIT_SHAPE
    if tuple(out.shape) == (B, Tq, d) and torch.allclose(out, ref_out, atol=1e-5, rtol=1e-4) \
            and torch.allclose(w, ref_w, atol=1e-5, rtol=1e-4):
        return None
    try:
        return _diagnose(out, m, q, k, v, h) if tuple(out.shape) == (B, Tq, d) else GENERIC
    except Exception:  # noqa: BLE001
        return GENERIC


SPLIT_SHAPE = ("heads split with view(B, -1, nhead) (the seed's bug: it chops the sequence, not the features), so the "
               "weights are not (B, nhead, Tq, Tk); use view(B, T, nhead, head_dim).transpose(1, 2).",
               "用 view(B, -1, nhead) 切分多头（原题的错误：切的是序列而不是特征），所以权重的形状不是 "
               "(B, nhead, Tq, Tk)；应使用 view(B, T, nhead, head_dim).transpose(1, 2)。")


def _not_the_mask(what, found):
    en, zh = found
    fail(f"{what}: the result differs from nn.MultiheadAttention's, but so does the same call WITHOUT any mask: the "
         f"problem is not the mask, it is in the attention itself (fix the unmasked checks first).",
         f"{what}：结果与 nn.MultiheadAttention 不同，但同样的调用在不加任何掩码时也不同：问题不在掩码，而在注意力计算本身"
         f"（先让不带掩码的检查通过）。", likely=(en, zh))


def _compare(m, q, k, v, h, what, **masks):
    """m's output and weights against nn.MultiheadAttention with the same weights.

    With masks, a mismatch is put on the mask only if the same call without a mask is right (crashes: _call)."""
    kwargs = {n: t for n, t in (("attn_mask", masks.get("allowed_mask")), ("key_padding_mask", masks.get("kpm")))
              if t is not None}
    if masks.get("causal"):
        kwargs["is_causal"] = True
    out, w = _call(m, q, k, v, **kwargs)
    if kwargs:
        ref_check = _reference(m, q, k, v, h, **masks)
        bad = (tuple(out.shape) != tuple(ref_check[0].shape) or tuple(w.shape) != tuple(ref_check[1].shape)
               or not torch.allclose(out.detach(), ref_check[0].detach(), atol=1e-5, rtol=1e-4)
               or not torch.allclose(w.detach(), ref_check[1].detach(), atol=1e-5, rtol=1e-4))
        if bad:
            found = _unmasked_problem(m, q, k, v, h)
            if found is not None:
                _not_the_mask(what, found)
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
            found = _unmasked_problem(m, x, x, x, h)
            if found is not None:
                fail(f"is_causal=True, T={T}: changing positions {t + 1}..{T - 1} changed the outputs at positions "
                     f"0..{t} (largest change {diff:.3g}); but the attention is already wrong without is_causal, so "
                     f"the causal mask may not be the cause.",
                     f"is_causal=True，T={T}：修改位置 {t + 1}..{T - 1} 后，位置 0..{t} 的输出变了（最大变化 {diff:.3g}）；"
                     f"但不加 is_causal 时注意力就已经不对，问题可能不在因果掩码。", likely=found)
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


@check(points=1, category="correctness")
def test_causal_cross_attention(ex):
    """is_causal=True with Tq != Tk masks the (Tq, Tk) lower triangle aligned at the top-left (query i sees keys j <= i).
    zh: Tq != Tk 时，is_causal=True 屏蔽的是左上角对齐的 (Tq, Tk) 下三角（查询 i 只能看到 j <= i 的键）。
    """
    for i, (B, Tq, Tk, d, h) in enumerate([(2, 3, 5, 8, 2), (3, 4, 2, 6, 3)]):
        m = _make(ex, d, h, seed=75 + i)
        q, k, v = _inputs(B, Tq, Tk, d, seed=75 + i)
        _compare(m, q, k, v, h, f"is_causal=True, Tq={Tq}, Tk={Tk}, d_model={d}, nhead={h}", causal=True)


def _dropout_model(ex, d, h, p, seed):
    with seeded(seed):
        m = ex.MultiHeadAttention(d, h, dropout=p)
    _make(ex, d, h)  # the layer checks, worded
    return m


@check(points=1, category="correctness")
def test_dropout_only_in_training(ex):
    """dropout=0.5 changes nothing in eval mode and does drop attention in train mode.
    zh: dropout=0.5 在 eval 模式下不起作用，在 train 模式下确实会丢弃注意力。
    """
    B, Tq, Tk, d, h, p = 2, 3, 4, 8, 2, 0.5
    m = _dropout_model(ex, d, h, p, 150)
    q, k, v = _inputs(B, Tq, Tk, d, seed=150)
    with torch.no_grad():
        ref_out, _, _ = _reference(m.eval(), q, k, v, h)
        out, _ = _call(m.eval(), q, k, v)
        assert_close(out, ref_out, f"MultiHeadAttention({d}, {h}, dropout={p}) in eval mode: output",
                     likely=("dropout applied in eval mode too: F.dropout(w, p) defaults to training=True; pass "
                             "training=self.training, or use an nn.Dropout module.",
                             "eval 模式下也应用了 dropout：F.dropout(w, p) 默认 training=True；应传 training=self.training，"
                             "或使用 nn.Dropout 模块。"))
        m.train()
        with seeded(151):
            out_t, _ = _call(m, q, k, v)
    expect(not torch.allclose(out_t, ref_out, atol=1e-6),
           f"MultiHeadAttention({d}, {h}, dropout={p}) in train mode gives the eval-mode output: no attention weight "
           f"was dropped.", f"MultiHeadAttention({d}, {h}, dropout={p}) 在 train 模式下的输出与 eval 模式相同：没有丢弃任何"
           f"注意力权重。", likely=("dropout never applied (nn.Dropout created but not called on the weights, or "
                                  "nn.Identity), or F.dropout called with training=False.",
                                  "从未应用 dropout（创建了 nn.Dropout 却没有作用到权重上，或用了 nn.Identity），"
                                  "或调用 F.dropout 时传了 training=False。"))


@check(points=2, category="correctness")
def test_dropout_on_the_weights(ex):
    """In train mode, dropout acts on the attention weights (each head's output stays a mix of its values), unbiased.
    zh: train 模式下 dropout 作用在注意力权重上（每个头的输出仍是其 value 的组合），且期望不变。
    """
    # head_dim 8 > Tk = 3: a head's output for a query lies in the span of its 3 value vectors whatever weights are
    # dropped; dropout on the output (or the values' features) leaves it. The grader recovers the merged heads by
    # inverting out_proj.
    B, Tq, Tk, d, h, p = 2, 3, 3, 16, 2, 0.5
    m = _dropout_model(ex, d, h, p, 152)
    q, k, v = _inputs(B, Tq, Tk, d, seed=152)
    with torch.no_grad():
        ref_out, _, _ = _reference(m.eval(), q, k, v, h)
        m.train()
        draws = []
        for s in range(128):
            with seeded(1000 + s):
                draws.append(_call(m, q, k, v)[0])
        Wo, bo = m.out_proj.weight.double(), m.out_proj.bias.double()
        V = m.v_proj(v).double().view(B, Tk, h, d // h)
    outs = torch.stack(draws).double()
    y = torch.linalg.solve(Wo, (outs[:8] - bo).reshape(-1, d).T).T.reshape(8, B, Tq, h, d // h)
    worst = 0.0
    for b in range(B):
        for j in range(h):
            basis = torch.linalg.qr(V[b, :, j].T).Q                      # (head_dim, Tk)
            Y = y[:, b, :, j].reshape(-1, d // h)                         # draws * Tq rows
            resid = Y - (Y @ basis) @ basis.T
            scale = V[b, :, j].norm(dim=-1).mean()  # not Y's norm: a query whose keys were all dropped gives 0
            worst = max(worst, (resid.norm(dim=-1) / scale).max().item())
    expect(worst < 1e-3,
           f"MultiHeadAttention({d}, {h}, dropout={p}) in train mode: a head's output for a query should be a mix of "
           f"that head's value vectors (dropout zeroes attention weights, nothing else); here it leaves their span "
           f"(relative residual {worst:.2g}).",
           f"MultiHeadAttention({d}, {h}, dropout={p}) 在 train 模式下：每个头对一个查询的输出应是该头各 value 向量的组合"
           f"（dropout 只把注意力权重置零）；实际超出了它们张成的空间（相对残差 {worst:.2g}）。",
           likely=("dropout applied to the attention output or to q/k/v instead of to the attention weights "
                   "(softmax(scores) -> dropout -> @ v).",
                   "dropout 用在了注意力输出或 q/k/v 上，而不是注意力权重上（softmax(scores) -> dropout -> @ v）。"))
    mean, sd = outs.mean(0), outs.std(0)
    z = ((mean - ref_out.double()).abs() / (sd / math.sqrt(len(draws)) + 1e-6)).max().item()
    expect(z < 6, f"MultiHeadAttention({d}, {h}, dropout={p}) in train mode: averaged over {len(draws)} draws, the "
                  f"output should equal the eval-mode output (dropout keeps the expectation); it is {z:.1f} standard "
                  f"errors away.",
           f"MultiHeadAttention({d}, {h}, dropout={p}) 在 train 模式下：{len(draws)} 次输出的平均值应等于 eval 模式的输出"
           f"（dropout 不改变期望）；实际相差 {z:.1f} 个标准误。",
           likely=("kept weights not rescaled by 1/(1-p) (a hand-made mask w * (rand > p) without / (1 - p)), "
                   "dropout applied to the scores before the softmax, or the weights renormalised after dropout.",
                   "保留的权重没有乘以 1/(1-p)（手写的掩码 w * (rand > p) 没有除以 (1 - p)），dropout 用在了 softmax "
                   "之前的分数上，或 dropout 之后又重新归一化了权重。"))


SINGLE_KEY_LIKELY = ("softmax over the wrong dimension (with one key every weight must be 1), heads split along the "
                     "sequence (view(B, -1, nhead)), or value projected with the wrong layer.",
                     "softmax 的维度不对（只有一个键时每个权重都应为 1），沿序列维度切分了多头"
                     "（view(B, -1, nhead)），或用错了对 value 的投影层。")


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
        found = None
        if out.shape == want.shape and not torch.allclose(out, want, atol=1e-5, rtol=1e-4):
            try:
                found = _diagnose(out, m, q * 10, k, v, h)
            except Exception:  # noqa: BLE001
                found = None
        assert_close(out, want, f"single key (Tk=1), Tq={Tq}, d_model={d}, nhead={h}: output",
                     likely=found if found not in (None, GENERIC) else SINGLE_KEY_LIKELY)
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
    with accelerator() as dev, device_mismatch_explained(DEVICE_LIKELY):
        m.to(dev)
        out, w = _call(m, x.to(dev), x.to(dev), x.to(dev), is_causal=True, key_padding_mask=kpm.to(dev))
        assert_on_device(out, dev, "attention output", likely=DEVICE_LIKELY)
        out, w = to_cpu(out), to_cpu(w)
    assert_close(out, ref_out, "output on the accelerator")
    assert_close(w, ref_w, "attention weights on the accelerator")
