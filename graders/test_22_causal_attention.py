"""Grader for exercise 22 — GPT-style causal self-attention with a KV cache.

The reference is F.scaled_dot_product_attention(is_causal=True) on the learner's own qkv / proj
weights (found by shape). Cache checks compare incremental decoding with the learner's own full pass.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ptquiz.gradelib import (CheckFailed, DeviceMismatchError, accelerator, assert_close, assert_on_device,
                             assert_shape, assert_tensor, check, expect, fail, seeded, to_cpu, without_builtins)

MAX_LEN = 24

# ---------------------------------------------------------------------------
# private helpers

def _make(ex, d, h, seed=0):
    """The learner's module and its fused (d -> 3d) and output (d -> d) Linear layers, found by shape."""
    with seeded(seed):
        m = ex.CausalSelfAttention(d, h, max_len=MAX_LEN)
    expect(isinstance(m, nn.Module), f"CausalSelfAttention(...) should be an nn.Module, got {type(m).__name__}.",
           f"CausalSelfAttention(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    lins = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
    fused = [mod for mod in lins if tuple(mod.weight.shape) == (3 * d, d)]
    out = [mod for mod in lins if tuple(mod.weight.shape) == (d, d)]
    found = ", ".join(f"Linear({mod.in_features}, {mod.out_features})" for mod in lins) or "no nn.Linear"
    if len(fused) != 1 or len(out) != 1 or fused[0].bias is None or out[0].bias is None:
        fail(f"CausalSelfAttention({d}, {h}) should hold exactly one nn.Linear({d}, {3 * d}) (the fused qkv "
             f"projection) and one nn.Linear({d}, {d}) (the output projection proj), both with a bias; found {found}.",
             f"CausalSelfAttention({d}, {h}) 应恰好包含一个 nn.Linear({d}, {3 * d})（合并的 qkv 投影）和一个 "
             f"nn.Linear({d}, {d})（输出投影 proj），都带偏置；实际为 {found}。",
             likely=("separate q/k/v projections instead of one fused qkv layer, or bias=False.",
                     "用了三个独立的 q/k/v 投影而不是一个合并的 qkv 层，或 bias=False。"))
    return m, fused[0], out[0]


def _x(B, T, d, seed=0, grad=False):
    with seeded(seed):
        return torch.randn(B, T, d).requires_grad_(grad)


def _call(m, x, cache=None, what="forward(x)"):
    res = m(x, cache) if cache is not None else m(x)
    ok = isinstance(res, (tuple, list)) and len(res) == 2 and isinstance(res[1], (tuple, list)) and len(res[1]) == 2
    if not ok:
        fail(f"{what} should return (y, (k, v)); got {type(res).__name__}"
             + (f" of length {len(res)}" if isinstance(res, (tuple, list)) else "") + ".",
             f"{what} 应返回 (y, (k, v))；实际为 {type(res).__name__}。",
             likely=("returning only the output, or the cache not returned as a pair (k, v).",
                     "只返回了输出，或缓存没有以 (k, v) 二元组的形式返回。"))
    y, (k, v) = res
    assert_tensor(y, f"{what}: output y")
    assert_tensor(k, f"{what}: cached keys k")
    assert_tensor(v, f"{what}: cached values v")
    return y, (k, v)


def _heads(t, h):
    B, T, d = t.shape
    return t.view(B, T, h, d // h).transpose(1, 2)


def _reference(qkv, proj, x, h, past=None):
    """F.scaled_dot_product_attention with the learner's weights; past = (k, v) prefix (reference layout)."""
    d = x.shape[-1]
    q, k, v = (_heads(t, h) for t in qkv(x).split(d, dim=-1))
    if past is not None:
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
    P, T = k.shape[2] - x.shape[1], x.shape[1]
    allowed = torch.ones(T, P + T, dtype=torch.bool).tril(diagonal=P)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed if P else None, is_causal=not P)
    return proj(y.transpose(1, 2).reshape(x.shape)), (k, v)


def _variant(qkv, proj, x, h, scale="head", split="qkv", softmax_dim=-1, mask="causal"):
    """Hand-written attention with a deliberate mistake (for naming the one the learner made)."""
    B, T, d = x.shape
    hd = d // h
    if split == "interleaved":  # per-head [q|k|v] layout (Megatron / GPT-NeoX), not the q, k, v blocks asked
        q, k, v = qkv(x).view(B, T, h, 3 * hd).transpose(1, 2).split(hd, dim=-1)
    else:
        parts = qkv(x).split(d, dim=-1)
        order = {"qkv": (0, 1, 2), "kqv": (1, 0, 2), "qvk": (0, 2, 1)}[split]
        q, k, v = (_heads(parts[i], h) for i in order)
    s = q @ k.transpose(-2, -1) / math.sqrt(d if scale == "model" else hd)
    if mask == "causal":
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    w = F.softmax(s, dim=softmax_dim)
    return proj((w @ v).transpose(1, 2).reshape(B, T, d))


VARIANTS = [
    (dict(scale="model"),
     ("scores scaled by 1/sqrt(d_model) (the seed's scale) instead of 1/sqrt(head_dim): each head's dot product "
      "sums head_dim terms.",
      "分数除以了 sqrt(d_model)（原题的写法），应除以 sqrt(head_dim)：每个头的点积只累加 head_dim 项。")),
    (dict(split="interleaved"),
     ("qkv's output read as per-head [q|k|v] groups (view(B, T, nhead, 3 * head_dim)); this exercise's layout is three "
      "blocks q, k, v of d_model features each: q, k, v = self.qkv(x).split(d_model, dim=-1).",
      "把 qkv 的输出当作每个头内部的 [q|k|v]（view(B, T, nhead, 3 * head_dim)）；本题的布局是依次排列的 q、k、v "
      "三块，每块 d_model 个特征：q, k, v = self.qkv(x).split(d_model, dim=-1)。")),
    (dict(split="kqv"),
     ("q and k taken from the wrong blocks of qkv's output: the order is q, k, v along the last dim.",
      "q 和 k 取错了 qkv 输出中的块：沿最后一维的顺序是 q、k、v。")),
    (dict(split="qvk"),
     ("k and v taken from the wrong blocks of qkv's output: the order is q, k, v along the last dim.",
      "k 和 v 取错了 qkv 输出中的块：沿最后一维的顺序是 q、k、v。")),
    (dict(softmax_dim=-2),
     ("softmax taken over the queries (dim=-2) instead of over the keys (dim=-1).",
      "softmax 在查询维度（dim=-2）上做了，应在键的维度（dim=-1）上做。")),
    (dict(mask="none"),
     ("no causal mask: every position attends to the whole sequence, future included.",
      "没有因果掩码：每个位置都注意到了整个序列，包括未来的位置。")),
]
GENERIC = ("heads split the wrong way (view(B, T, nhead, head_dim).transpose(1, 2)), the wrong scale (1/sqrt(head_dim)), "
           "qkv's output not split as q, k, v (in that order), or the causal mask wrong.",
           "多头切分方式不对（应为 view(B, T, nhead, head_dim).transpose(1, 2)）、缩放系数不对（1/sqrt(head_dim)）、"
           "qkv 的输出没有按 q、k、v 的顺序切分，或因果掩码有误。")
SEED_SPLIT = ("heads split with view(B, -1, nhead) (the seed's bug: it chops the sequence into pieces of nhead numbers "
              "instead of splitting the features); use view(B, T, nhead, head_dim).transpose(1, 2).",
              "用 view(B, -1, nhead) 切分多头（原题的错误：它把序列切成每段 nhead 个数，而不是切分特征维度）；"
              "应使用 view(B, T, nhead, head_dim).transpose(1, 2)。")


class _Trace(TorchFunctionMode):
    """Records the shapes made by view/reshape and the plain numbers scores are divided or multiplied by."""

    SCALARS = {"div", "div_", "mul", "mul_", "true_divide", "__truediv__", "__mul__", "__rmul__", "__itruediv__"}

    def __init__(self):
        super().__init__()
        self.shapes, self.scalars = [], []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = str(getattr(func, "__name__", ""))
        if name in ("view", "reshape") and len(args) > 1:  # the shape asked for, recorded even if the call fails
            shape = args[1] if len(args) == 2 and isinstance(args[1], (tuple, list, torch.Size)) else args[1:]
            if all(isinstance(s, int) for s in shape):
                self.shapes.append(tuple(shape))
        out = func(*args, **(kwargs or {}))
        if name in ("view", "reshape", "unflatten") and isinstance(out, torch.Tensor):
            self.shapes.append(tuple(out.shape))
        elif name in self.SCALARS:
            for a in list(args[1:]) + list((kwargs or {}).values()):
                if isinstance(a, (int, float)) and not isinstance(a, bool):
                    self.scalars.append(float(a))
                elif isinstance(a, torch.Tensor) and a.dim() == 0 and not a.requires_grad:
                    self.scalars.append(float(a))
        return out


def _traced(fn):
    """(result or None, exception or None, trace) for fn()."""
    tr = _Trace()
    try:
        with tr:
            return fn(), None, tr
    except CheckFailed:
        raise
    except Exception as e:  # noqa: BLE001 - worded for the learner by the caller
        return None, e, tr


def _trace_hint(tr, B, T, d, h):
    """The seed's mistakes, seen in what the forward pass computed (works even when it crashed)."""
    hd = d // h
    seed_split = any(s in ((B, T * hd, h), (B, -1, h)) for s in tr.shapes)
    model_scale = h > 1 and any(abs(s - math.sqrt(d)) < 1e-6 or abs(s - 1 / math.sqrt(d)) < 1e-9 for s in tr.scalars)
    if seed_split and model_scale:
        return (SEED_SPLIT[0] + " Also divide the scores by sqrt(head_dim), not sqrt(d_model).",
                SEED_SPLIT[1] + " 另外分数应除以 sqrt(head_dim)，而不是 sqrt(d_model)。")
    if seed_split:
        return SEED_SPLIT
    if any(s == (B, T, h, 3 * hd) for s in tr.shapes) and hd > 0:
        return VARIANTS[1][1]
    if model_scale:
        return VARIANTS[0][1]
    return None


def _diagnose(y, qkv, proj, x, h, tr=None):
    """The likely mistake: a known variant that reproduces y, else what the trace shows, else a generic list."""
    B, T, d = x.shape
    if tr is not None:
        found = _trace_hint(tr, B, T, d, h)
        if found:
            return found
    if y is not None and tuple(y.shape) == tuple(x.shape):
        with torch.no_grad():
            for kw, likely in VARIANTS:
                try:
                    if torch.allclose(y.detach(), _variant(qkv, proj, x, h, **kw), atol=1e-5, rtol=1e-4):
                        return likely
                except RuntimeError:
                    pass
    return GENERIC


def _crashed(e, what, needed, likely):
    first = str(e).strip().splitlines()[0][:200].rstrip(".") if str(e).strip() else ""
    fail(f"{what} raised {type(e).__name__}: {first}. {needed[0]}",
         f"{what} 抛出 {type(e).__name__}：{first}。{needed[1]}", likely=likely)


def _forward(m, qkv, proj, x, h, what, cache=None, needed=("", "")):
    """The learner's forward under the trace; a crash is reported with the mistake the trace shows."""
    res, err, tr = _traced(lambda: _call(m, x, cache, what))
    if err is not None:
        if isinstance(err, NotImplementedError):
            raise err
        likely = _trace_hint(tr, x.shape[0], x.shape[1], x.shape[2], h)
        _crashed(err, what, needed, likely)
    return res, tr


def _causal_leak(m, x):
    """Largest change of the first half's outputs when the second half changes (0 for a causal forward)."""
    T = x.shape[1]
    t = max(1, T // 2)
    x2 = x.clone()
    with seeded(123):
        x2[:, t:] = torch.randn_like(x2[:, t:])
    with torch.no_grad():
        a, _ = _call(m, x)
        b, _ = _call(m, x2)
    return (a[:, :t] - b[:, :t]).abs().max().item()


def _chunks(x, sizes):
    out, i = [], 0
    for s in sizes:
        out.append(x[:, i:i + s])
        i += s
    return out


def _simulate(qkv, proj, x, h, sizes, bug):
    """Incremental decoding with a known cache bug (for naming it)."""
    B, T, d = x.shape
    past, ys = None, []
    for c in _chunks(x, sizes):
        n = c.shape[1]
        q, k, v = (_heads(t, h) for t in qkv(c).split(d, dim=-1))
        if past is not None and bug != "ignored":
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        L = k.shape[2]
        s = q @ k.transpose(-2, -1) / math.sqrt(d // h)
        if bug == "topleft":
            s = s.masked_fill(~torch.ones(n, L, dtype=torch.bool).tril(), float("-inf"))
        elif bug == "nomask" and past is not None:
            pass
        else:
            P = L - n
            s = s.masked_fill(~torch.ones(n, L, dtype=torch.bool).tril(diagonal=P), float("-inf"))
        ys.append(proj((F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, n, d)))
        if bug == "ignored":
            k2, v2 = (_heads(t, h) for t in qkv(c).split(d, dim=-1)[1:])
            past = (k2, v2) if past is None else (torch.cat([past[0], k2], 2), torch.cat([past[1], v2], 2))
        else:
            past = (k, v)
    return torch.cat(ys, dim=1)


CACHE_BUGS = [
    ("topleft",
     ("the causal mask aligned at the top left (tril of a (T, P+T) block, or mask[:T, :P+T]): with a cache of P past "
      "positions, new token i is at position P+i and must see keys 0..P+i; take rows P..P+T-1 (mask[P:P+T, :P+T], "
      "or tril(diagonal=P)).",
      "因果掩码按左上角对齐（对 (T, P+T) 取 tril，或 mask[:T, :P+T]）：缓存中已有 P 个位置时，新 token i 的位置是 P+i，"
      "应看到键 0..P+i；应取第 P..P+T-1 行（mask[P:P+T, :P+T]，或 tril(diagonal=P)）。")),
    ("nomask",
     ("the causal mask skipped when a cache is given: right for a single new token, but the new tokens of a chunk must "
      "still not see each other's future; use the offset mask (rows P..P+T-1).",
      "有缓存时跳过了因果掩码：只输入一个新 token 时没问题，但一段多个新 token 之间仍不能看到彼此的未来；"
      "应使用偏移后的掩码（第 P..P+T-1 行）。")),
    ("ignored",
     ("the cached keys and values not attended to: prepend them to the new k and v on the time axis "
      "(torch.cat([past_k, k], dim=2)) before computing the scores.",
      "没有注意缓存中的键和值：计算分数之前，应把它们沿时间维拼接在新的 k、v 前面（torch.cat([past_k, k], dim=2)）。")),
]
CACHE_GENERIC = ("the cache concatenated on the wrong axis (time is dim=2 of (B, nhead, T, head_dim)), the cached keys "
                 "and values not attended to, or the causal mask not offset by the past length P.",
                 "缓存拼接的维度不对（(B, nhead, T, head_dim) 中时间是 dim=2），没有注意缓存的键和值，"
                 "或因果掩码没有按已有长度 P 偏移。")
CACHE_NEEDED = ("With a cache of P past positions, k and v become (B, nhead, P+T, head_dim) (torch.cat on dim=2), the "
                "scores (B, nhead, T, P+T), and the mask rows P..P+T-1 of the causal mask.",
                "已有 P 个位置的缓存时，k 和 v 变为 (B, nhead, P+T, head_dim)（在 dim=2 上 torch.cat），分数为 "
                "(B, nhead, T, P+T)，掩码取因果掩码的第 P..P+T-1 行。")


def _incremental(m, qkv, proj, x, h, sizes, what):
    """Feed x in chunks of the given sizes with the cache; returns (outputs concatenated, final cache)."""
    cache, ys = None, []
    for j, c in enumerate(_chunks(x, sizes)):
        P = 0 if cache is None else cache[0].shape[2] if cache[0].dim() == 4 else None
        step = f"{what}, call {j + 1} (chunk of {c.shape[1]} token(s), cache of {P} position(s))"
        try:
            y, cache = _call(m, c, cache, step)
        except CheckFailed:
            raise
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001
            _crashed(e, step, CACHE_NEEDED, CACHE_GENERIC)
        assert_shape(y, tuple(c.shape), f"{step}: output")
        ys.append(y)
    return torch.cat(ys, dim=1), cache


def _compare_incremental(ex, B, T, d, h, sizes, seed, what):
    m, qkv, proj = _make(ex, d, h, seed=seed)
    x = _x(B, T, d, seed=seed)
    with torch.no_grad():
        (full, (fk, fv)), _ = _forward(m, qkv, proj, x, h, "forward(x) on the whole sequence")
        got, (k, v) = _incremental(m, qkv, proj, x, h, sizes, what)
    if not torch.allclose(got, full, atol=1e-5, rtol=1e-4):
        leak = _causal_leak(m, x)
        if leak > 1e-5:
            likely = ("your forward on the whole sequence is not causal (see the causality check): with no mask, the "
                      "full pass lets early tokens see later ones, which decoding with a cache cannot reproduce.",
                      "你对整段序列的 forward 不满足因果性（见因果性检查）：没有掩码时，整段计算让前面的 token "
                      "看到了后面的 token，而带缓存的逐步解码无法做到这一点。")
        else:
            likely = CACHE_GENERIC
            with torch.no_grad():
                for bug, text in CACHE_BUGS:
                    if torch.allclose(got, _simulate(qkv, proj, x, h, sizes, bug), atol=1e-5, rtol=1e-4):
                        likely = text
                        break
        assert_close(got, full, f"{what}: outputs compared with one forward(x) on all {T} tokens", likely=likely)
    for name, a, b in (("k", k, fk), ("v", v, fv)):
        assert_close(a, b, f"{what}: final cached {name} compared with forward(x) on all {T} tokens",
                     likely=("the new keys/values not appended to the cache (torch.cat([past, new], dim=2)), or "
                             "the cache returned before the concatenation.",
                             "新的键/值没有追加到缓存里（torch.cat([past, new], dim=2)），或返回的是拼接之前的缓存。"))


# ---------------------------------------------------------------------------
# checks

@check(points=1, category="correctness")
def test_fused_qkv_layers(ex):
    """The parameters are one fused nn.Linear(d, 3d) and one nn.Linear(d, d) output projection, with biases.
    zh: 参数只有一个合并的 nn.Linear(d, 3d) 和一个输出投影 nn.Linear(d, d)，都带偏置。
    """
    for d, h in ((8, 2), (15, 3)):
        m, qkv, proj = _make(ex, d, h)
        extra = [n for n, p in m.named_parameters()
                 if not any(p is q for q in (qkv.weight, qkv.bias, proj.weight, proj.bias))]
        expect(not extra, f"CausalSelfAttention({d}, {h}) has parameters besides qkv and proj: {extra}.",
               f"CausalSelfAttention({d}, {h}) 除 qkv 和 proj 外还有其他参数：{extra}。",
               likely=("extra projections or a causal mask stored as an nn.Parameter (use a buffer or build it in "
                       "forward).", "多余的投影层，或把因果掩码存成了 nn.Parameter（应使用 buffer 或在 forward 中构造）。"))


@check(points=2, category="shape")
def test_output_and_cache_shapes(ex):
    """y is (B, T, d_model); the cache is (k, v), each (B, nhead, T, head_dim), growing to P + T with a cache.
    zh: y 的形状为 (B, T, d_model)；缓存为 (k, v)，各为 (B, nhead, T, head_dim)，带缓存时增长到 P + T。
    """
    for i, (B, P, T, d, h) in enumerate([(2, 3, 4, 8, 2), (1, 5, 1, 12, 3), (3, 2, 3, 10, 5)]):
        m, qkv, proj = _make(ex, d, h, seed=i)
        hd = d // h
        x = _x(B, P, d, seed=i)
        (y, (k, v)), tr = _forward(m, qkv, proj, x, h, f"forward(x) with x {tuple(x.shape)}",
                                   needed=("The heads come from view(B, T, nhead, head_dim).transpose(1, 2).",
                                           "多头由 view(B, T, nhead, head_dim).transpose(1, 2) 得到。"))
        likely = _trace_hint(tr, B, P, d, h) or ("heads merged the wrong way: transpose(1, 2) back to (B, T, nhead, "
                                                 "head_dim), then reshape(B, T, d_model).",
                                                 "合并多头的方式不对：先 transpose(1, 2) 回到 (B, T, nhead, head_dim)，"
                                                 "再 reshape(B, T, d_model)。")
        assert_shape(y, (B, P, d), f"CausalSelfAttention({d}, {h}) output for x {(B, P, d)}", likely=likely)
        klikely = _trace_hint(tr, B, P, d, h) or ("the cache not kept in the heads layout (B, nhead, T, head_dim).",
                                                  "缓存没有保持多头布局 (B, nhead, T, head_dim)。")
        assert_shape(k, (B, h, P, hd), f"cached k after forward(x) with T={P}", likely=klikely)
        assert_shape(v, (B, h, P, hd), f"cached v after forward(x) with T={P}", likely=klikely)
        x2 = _x(B, T, d, seed=10 + i)
        (y2, (k2, v2)), _ = _forward(m, qkv, proj, x2, h, f"forward(x, cache) with x {(B, T, d)} and a cache of {P}",
                                     cache=(k, v), needed=CACHE_NEEDED)
        assert_shape(y2, (B, T, d), f"output of forward(x, cache) for x {(B, T, d)}")
        clikely = ("the new keys/values not appended to the cache on the time axis (torch.cat([past_k, k], dim=2)).",
                   "新的键/值没有沿时间维追加到缓存（torch.cat([past_k, k], dim=2)）。")
        assert_shape(k2, (B, h, P + T, hd), f"cached k after a cache of {P} and {T} new tokens", likely=clikely)
        assert_shape(v2, (B, h, P + T, hd), f"cached v after a cache of {P} and {T} new tokens", likely=clikely)


@check(points=3, category="correctness")
def test_matches_sdpa(ex):
    """Without a cache, the output equals F.scaled_dot_product_attention(is_causal=True) with the same weights.
    zh: 不带缓存时，输出与相同权重下 F.scaled_dot_product_attention(is_causal=True) 的结果一致。
    """
    for i, (B, T, d, h) in enumerate([(2, 5, 8, 2), (3, 6, 9, 3), (1, 7, 16, 4), (2, 4, 15, 5), (2, 3, 6, 1)]):
        m, qkv, proj = _make(ex, d, h, seed=20 + i)
        x = _x(B, T, d, seed=20 + i)
        with torch.no_grad():
            (y, _), tr = _forward(m, qkv, proj, x, h, f"forward(x), d_model={d}, nhead={h}")
            ref, _ = _reference(qkv, proj, x, h)
            assert_shape(y, (B, T, d), "output")
            if not torch.allclose(y, ref, atol=1e-5, rtol=1e-4):
                assert_close(y, ref, f"d_model={d}, nhead={h} (head_dim {d // h}), T={T}: output compared with "
                                     f"F.scaled_dot_product_attention(is_causal=True)",
                             likely=_diagnose(y, qkv, proj, x, h, tr))


@check(points=2, category="correctness")
def test_cache_holds_keys_and_values(ex):
    """The returned cache holds k and v (split into heads, unscaled) of every position, old ones first.
    zh: 返回的缓存保存了每个位置的 k 和 v（已切分多头、未缩放），旧的位置在前。
    """
    B, P, T, d, h = 2, 4, 3, 12, 4
    m, qkv, proj = _make(ex, d, h, seed=30)
    x = _x(B, P + T, d, seed=30)
    with torch.no_grad():
        _, (rk, rv) = _reference(qkv, proj, x, h)
        (_, (k, v)), _ = _forward(m, qkv, proj, x[:, :P], h, f"forward(x) with T={P}")
        for name, got, want in (("k", k, rk), ("v", v, rv)):
            assert_shape(got, (B, h, P, d // h), f"cached {name}")
            swapped = torch.allclose(got, (rv if name == "k" else rk)[:, :, :P], atol=1e-5)
            scaled = torch.allclose(got, want[:, :, :P] / math.sqrt(d // h), atol=1e-5)
            assert_close(got, want[:, :, :P], f"cached {name} after forward(x) on {P} tokens",
                         likely=(("the cache returned as (v, k): return (k, v).", "缓存按 (v, k) 的顺序返回了：应返回 (k, v)。")
                                 if swapped else
                                 ("keys cached after scaling by 1/sqrt(head_dim): cache them as projected, scale the "
                                  "scores.", "缓存的键已经乘了 1/sqrt(head_dim)：应缓存投影后的原始键，对分数做缩放。")
                                 if scaled else
                                 ("the cache must hold the heads of qkv(x)'s k and v blocks (view(B, T, nhead, "
                                  "head_dim).transpose(1, 2)), in the order (k, v).",
                                  "缓存应保存 qkv(x) 中 k 块和 v 块切分多头后的结果（view(B, T, nhead, head_dim)"
                                  ".transpose(1, 2)），顺序为 (k, v)。")))
        (_, (k2, v2)), _ = _forward(m, qkv, proj, x[:, P:], h, f"forward(x, cache) with {T} new tokens",
                                    cache=(k, v), needed=CACHE_NEEDED)
        for name, got, want in (("k", k2, rk), ("v", v2, rv)):
            assert_close(got, want, f"cached {name} after {P} + {T} tokens",
                         likely=("the new keys/values not appended after the old ones on the time axis "
                                 "(torch.cat([past_k, k], dim=2)).",
                                 "新的键/值没有沿时间维追加在旧的后面（torch.cat([past_k, k], dim=2)）。"))


@check(points=2, category="gradient")
def test_gradients_match_sdpa(ex):
    """Gradients w.r.t. x and the qkv / proj weights equal those through F.scaled_dot_product_attention.
    zh: 对 x 以及 qkv / proj 权重的梯度与经过 F.scaled_dot_product_attention 的结果一致。
    """
    for i, (B, T, d, h) in enumerate([(2, 6, 6, 2), (3, 4, 10, 2)]):
        m, qkv, proj = _make(ex, d, h, seed=40 + i)
        x = _x(B, T, d, seed=40 + i, grad=True)
        with seeded(40 + i):
            R = torch.randn(B, T, d)
        (y, _), tr = _forward(m, qkv, proj, x, h, f"forward(x), d_model={d}, nhead={h}")
        assert_shape(y, (B, T, d), "output")
        (y * R).sum().backward()
        got = [x.grad] + [p.grad for p in (qkv.weight, qkv.bias, proj.weight, proj.bias)]
        x2 = x.detach().clone().requires_grad_()
        params = [p.detach().clone().requires_grad_() for p in (qkv.weight, qkv.bias, proj.weight, proj.bias)]
        q2, k2, v2 = (_heads(t, h) for t in F.linear(x2, params[0], params[1]).split(d, dim=-1))
        ref = F.linear(F.scaled_dot_product_attention(q2, k2, v2, is_causal=True).transpose(1, 2).reshape(B, T, d),
                       params[2], params[3])
        (ref * R).sum().backward()
        names = ["x", "qkv.weight", "qkv.bias", "proj.weight", "proj.bias"]
        for name, g, want in zip(names, got, [x2.grad] + [p.grad for p in params]):
            expect(g is not None, f"d_model={d}, nhead={h}: no gradient reached {name}.",
                   f"d_model={d}, nhead={h}：梯度没有传到 {name}。",
                   likely=("the graph cut by .detach()/.data/.item(), or a layer not used.",
                           "计算图被 .detach()/.data/.item() 切断，或某层没有使用。"))
            assert_close(g, want, f"d_model={d}, nhead={h}: gradient w.r.t. {name}",
                         likely=_diagnose(y, qkv, proj, x.detach(), h, tr))


@check(points=2, category="correctness")
def test_causal_no_peeking(ex):
    """Changing later tokens never changes earlier outputs.
    zh: 修改后面的 token 不会改变前面位置的输出。
    """
    for i, (B, T, d, h, t) in enumerate([(2, 6, 8, 2, 3), (3, 5, 9, 3, 1), (1, 4, 4, 1, 2)]):
        m, qkv, proj = _make(ex, d, h, seed=50 + i)
        x = _x(B, T, d, seed=50 + i)
        x2 = x.clone()
        with seeded(60 + i):
            x2[:, t:] = torch.randn(B, T - t, d)
        with torch.no_grad():
            (y, _), tr = _forward(m, qkv, proj, x, h, f"forward(x), T={T}")
            (y2, _), _ = _forward(m, qkv, proj, x2, h, f"forward(x), T={T}")
            assert_shape(y, (B, T, d), "output")
            diff = (y2[:, :t] - y[:, :t]).abs().max().item()
            if diff > 1e-5:
                found = _diagnose(y, qkv, proj, x, h, tr)
                likely = found if found is not GENERIC else (
                    "no causal mask, or one the wrong way round: token i may attend to keys j <= i "
                    "(a lower-triangular mask, tril; masked scores set to -inf before the softmax).",
                    "没有因果掩码，或方向反了：token i 只能注意 j <= i 的键（下三角掩码 tril；被屏蔽的分数在 softmax "
                    "之前设为 -inf）。")
                fail(f"T={T}: changing tokens {t}..{T - 1} changed the outputs at positions 0..{t - 1} (largest change "
                     f"{diff:.3g}); a position must not see the future.",
                     f"T={T}：修改 token {t}..{T - 1} 后，位置 0..{t - 1} 的输出变了（最大变化 {diff:.3g}）；"
                     f"每个位置都不能看到未来。", likely=likely)


@check(points=3, category="correctness")
def test_decode_token_by_token(ex):
    """Feeding the tokens one at a time with the cache gives the full pass's outputs and cache.
    zh: 带缓存逐个输入 token，得到的输出和缓存与一次处理整段序列相同。
    """
    for i, (B, T, d, h) in enumerate([(2, 6, 8, 2), (1, 5, 12, 4)]):
        _compare_incremental(ex, B, T, d, h, [1] * T, 70 + i, f"decoding {T} tokens one at a time (d_model={d}, nhead={h})")


@check(points=2, category="correctness")
def test_chunks_with_cache(ex):
    """Feeding chunks of several tokens with the cache (causal mask offset by the past length) gives the full pass.
    zh: 带缓存分段输入多个 token（因果掩码按已有长度偏移），结果与一次处理整段序列相同。
    """
    for i, (B, sizes, d, h) in enumerate([(2, [3, 4], 8, 2), (3, [2, 3, 1, 3], 9, 3)]):
        _compare_incremental(ex, B, sum(sizes), d, h, sizes, 80 + i,
                             f"feeding chunks of {sizes} tokens with the cache (d_model={d}, nhead={h})")


@check(points=1, category="correctness")
def test_fills_context_window(ex):
    """A sequence of exactly max_len positions (whole, or a cache of max_len - 1 plus one token) is accepted.
    zh: 恰好 max_len 个位置的序列（一次整段，或 max_len - 1 个缓存位置再加一个 token）可以正常处理。
    """
    d, h = 8, 2
    m, qkv, proj = _make(ex, d, h, seed=90)
    x = _x(1, MAX_LEN, d, seed=90)
    likely = (f"an off-by-one bound: max_len={MAX_LEN} positions fit, so P + T == max_len is allowed (refuse only "
              "P + T > max_len, and slice the mask as mask[P:P + T, :P + T]).",
              f"边界差一：max_len={MAX_LEN} 个位置是放得下的，P + T == max_len 应当允许（只在 P + T > max_len 时报错，"
              "掩码取 mask[P:P + T, :P + T]）。")
    with torch.no_grad():
        for sizes in ([MAX_LEN], [MAX_LEN - 1, 1]):
            what = (f"forward(x) on {MAX_LEN} tokens with max_len={MAX_LEN}" if len(sizes) == 1 else
                    f"forward(x, cache) on 1 token after a cache of {MAX_LEN - 1} positions, max_len={MAX_LEN}")
            cache, ys = None, []
            for c in _chunks(x, sizes):
                try:
                    y, cache = _call(m, c, cache, what)
                except (CheckFailed, NotImplementedError):
                    raise
                except Exception as e:  # noqa: BLE001 - the learner's code may raise anything
                    _crashed(e, what, (f"A sequence of P + T = {MAX_LEN} = max_len positions must be accepted.",
                                       f"P + T = {MAX_LEN} = max_len 个位置的序列必须能处理。"), likely)
                ys.append(y)
            assert_close(torch.cat(ys, dim=1), _reference(qkv, proj, x, h)[0],
                         f"{what}: outputs compared with attention over all {MAX_LEN} positions",
                         likely=("the attention itself is off (see the checks against F.scaled_dot_product_attention "
                                 "and the cache checks).",
                                 "注意力本身的计算有误（见与 F.scaled_dot_product_attention 对比的检查和缓存检查）。"))


@check(points=2, category="correctness")
def test_written_from_scratch(ex):
    """Attention is computed by hand: no F.scaled_dot_product_attention or nn.MultiheadAttention.
    zh: 注意力自己计算：不调用 F.scaled_dot_product_attention 或 nn.MultiheadAttention。
    """
    m, _, _ = _make(ex, 8, 2, seed=90)
    x = _x(2, 5, 8, seed=90)

    def run():
        with torch.no_grad():
            y, cache = _call(m, x[:, :3])
            y2, _ = _call(m, x[:, 3:], cache, "forward(x, cache)")
        return y, y2

    patches = [(F, "scaled_dot_product_attention", "F.scaled_dot_product_attention"),
               (torch._C._nn, "scaled_dot_product_attention", "torch._C._nn.scaled_dot_product_attention"),
               (F, "multi_head_attention_forward", "F.multi_head_attention_forward"),
               (nn.MultiheadAttention, "forward", "nn.MultiheadAttention")]
    y, y2 = without_builtins(ex, "forward", run, patches=patches,
                             ops=("scaled_dot_product_attention", "multi_head_attention_forward",
                                  "_native_multi_head_attention"),
                             task=("compute the attention by hand (matmul, mask, softmax)",
                                   "亲手计算注意力（矩阵乘法、掩码、softmax）"))
    assert_shape(y, (2, 3, 8), "output")
    assert_shape(y2, (2, 2, 8), "output with a cache")


@check(points=1, category="correctness")
def test_state_dict_holds_parameters_only(ex):
    """state_dict() holds the weights and biases only: the causal mask is not saved (persistent=False or built in forward).
    zh: state_dict() 只包含权重和偏置：因果掩码不会被保存（persistent=False 或在 forward 中构造）。
    """
    m, qkv, proj = _make(ex, 6, 2, seed=95)
    names = {n for n, p in m.named_parameters()}
    extra = sorted(set(m.state_dict()) - names)
    if extra:
        shapes = {n: tuple(m.state_dict()[n].shape) for n in extra}
        fail(f"state_dict() should hold only the parameters {sorted(names)}; it also holds {shapes}.",
             f"state_dict() 应只包含参数 {sorted(names)}；实际还包含 {shapes}。",
             likely=("the causal mask registered with register_buffer(name, mask) (persistent by default): it is then "
                     "saved in every checkpoint, and loading weights into a model with another max_len fails; use "
                     "register_buffer(name, mask, persistent=False).",
                     "因果掩码用 register_buffer(name, mask) 注册（默认会持久化）：它会被存进每个检查点，"
                     "把权重加载到 max_len 不同的模型时会失败；应使用 register_buffer(name, mask, persistent=False)。"))
    expect(len(names) == 4, f"expected 4 parameters (qkv and proj, weight and bias), found {sorted(names)}.",
           f"应有 4 个参数（qkv 和 proj 的权重与偏置），实际为 {sorted(names)}。")


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator, a full pass and a cached chunk run there and match the CPU's numbers.
    zh: 在加速设备上，整段计算和带缓存的分段计算都能运行，且结果与 CPU 一致。
    """
    B, P, T, d, h = 2, 3, 4, 12, 3
    m, _, _ = _make(ex, d, h, seed=99)
    x = _x(B, P + T, d, seed=99)
    with torch.no_grad():
        ref_y, ref_cache = _call(m, x[:, :P])
        ref_y2, ref_cache2 = _call(m, x[:, P:], ref_cache, "forward(x, cache)")
    likely = ("the causal mask created in forward without device=x.device (torch.ones(...).tril() stays on the CPU), "
              "a mask kept as a plain attribute instead of a buffer (it does not move with .to()), or .cpu() in forward.",
              "在 forward 中创建因果掩码时没有指定 device=x.device（torch.ones(...).tril() 会留在 CPU 上），"
              "掩码存成普通属性而不是 buffer（不会随 .to() 移动），或在 forward 中调用了 .cpu()。")
    with accelerator() as dev:
        m.to(dev)
        try:
            with torch.no_grad():
                y, cache = _call(m, x[:, :P].to(dev))
                y2, cache2 = _call(m, x[:, P:].to(dev), cache, "forward(x, cache)")
        except NotImplementedError:
            raise
        except (DeviceMismatchError, RuntimeError) as e:
            _crashed(e, "forward on the accelerator", ("Every tensor forward makes must be on x's device.",
                                                       "forward 中创建的每个张量都必须位于 x 所在的设备上。"), likely)
        assert_on_device(y, dev, "output", likely=likely)
        assert_on_device(cache2[0], dev, "cached k", likely=likely)
        y, y2, cache2 = to_cpu(y), to_cpu(y2), to_cpu(cache2)
    assert_close(y, ref_y, "output on the accelerator")
    assert_close(y2, ref_y2, "output with a cache on the accelerator")
    assert_close(cache2[0], ref_cache2[0], "cached k on the accelerator")
