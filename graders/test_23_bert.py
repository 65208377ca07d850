"""Grader for exercise 23 — a small BERT (embeddings, encoder, tied MLM head, token masking).

Token ids used here: 0 = [PAD], 1 = [CLS], 2 = [SEP], 3 = [MASK], 4.. = ordinary tokens.
Outputs at padding positions are never compared: in eval mode nn.TransformerEncoder(Layer) may take
a fused fast path that returns zeros (or other values) there.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (CheckFailed, accelerator, assert_close, assert_learns_over_seeds, assert_on_device, assert_shape,
                             assert_tensor, check, expect, fail, seeded, to_cpu)

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL = [CLS, SEP, MASK]
CONFIG = dict(vocab_size=24, d_model=16, nhead=2, num_layers=2, dff=24, max_seq_len=12)

BATCH_FIRST = ("nn.TransformerEncoderLayer built without batch_first=True (the seed's bug): PyTorch then reads a "
               "(B, T, D) input as (T, B, D), so attention runs across the samples of the batch.",
               "构建 nn.TransformerEncoderLayer 时没有传 batch_first=True（原题的错误）：PyTorch 会把 (B, T, D) 的输入"
               "当成 (T, B, D)，注意力就在 batch 内的不同样本之间计算了。")


# ---------------------------------------------------------------------------
# private helpers

def _make(ex, seed=0, **kw):
    cfg = dict(CONFIG, dropout=0.0)
    cfg.update(kw)
    with seeded(seed):
        m = ex.BERT(cfg.pop("vocab_size"), cfg.pop("d_model"), cfg.pop("nhead"), cfg.pop("num_layers"), cfg.pop("dff"),
                    cfg.pop("max_seq_len"), **cfg)
    expect(isinstance(m, nn.Module), f"BERT(...) should be an nn.Module, got {type(m).__name__}.",
           f"BERT(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _ids(lengths, T, vocab=24, seed=0, cls=True):
    """(B, T): [CLS] + ordinary tokens (4..vocab-1) + [SEP], then [PAD] up to T."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, vocab, (len(lengths), T), generator=g)
    for i, n in enumerate(lengths):
        if cls:
            ids[i, 0] = CLS
            ids[i, n - 1] = SEP
        ids[i, n:] = PAD
    return ids


def _layers(m):
    return [mod for mod in m.modules() if isinstance(mod, nn.TransformerEncoderLayer)]


def _lacks_batch_first(m):
    return any(not getattr(l.self_attn, "batch_first", True) for l in _layers(m))


def _logits(m, ids, what, **kw):
    out = m(ids, **kw)
    V = m.tok_emb.num_embeddings if isinstance(getattr(m, "tok_emb", None), nn.Embedding) else None
    assert_tensor(out, f"{what}: BERT output")
    if out.dim() != 3 or tuple(out.shape[:2]) != tuple(ids.shape) or (V is not None and out.shape[2] != V):
        assert_shape(out, tuple(ids.shape) + (V if V is not None else out.shape[-1],), f"{what}: MLM logits",
                     likely=("the hidden states (B, T, d_model) returned instead of the MLM logits, or the output "
                             "transposed to (T, B, vocab).",
                             "返回了隐藏状态 (B, T, d_model) 而不是 MLM logits，或输出被转置成了 (T, B, vocab)。"))
    am = kw.get("attention_mask")
    real = (ids != PAD) if am is None else am.bool()
    if not torch.isfinite(out.detach()[real.to(out.device)]).all():
        kw = {k: v.cpu() for k, v in kw.items() if isinstance(v, torch.Tensor)}
        fail(f"{what}: the logits at real (non-padding) positions contain NaN or inf.",
             f"{what}：真实（非填充）位置上的 logits 出现了 NaN 或 inf。",
             likely=_padding_diagnosis(m, ids.cpu(), kw) if next(m.parameters()).device.type == "cpu" else None)
    return out


class _MaskSpy:
    """Records the src_key_padding_mask each nn.TransformerEncoderLayer receives (as bool, True = ignored)."""

    def __init__(self, m):
        self.masks, self.inputs, self.handles, self.layers = [], [], [], _layers(m)

    def hook(self, mod, args, kwargs):
        mask = kwargs.get("src_key_padding_mask", args[2] if len(args) > 2 else None)
        if mask is not None and mask.dtype != torch.bool:
            mask = mask < 0 if mask.is_floating_point() else mask.bool()
        self.masks.append(mask)
        self.inputs.append(kwargs.get("src", args[0] if args else None))

    def __enter__(self):
        self.handles = [l.register_forward_pre_hook(self.hook, with_kwargs=True) for l in self.layers]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _padding_diagnosis(m, ids, kw):
    real = ids != PAD
    m.train()
    try:
        with _MaskSpy(m) as spy, torch.no_grad():
            m(ids, **kw)
    except Exception:  # noqa: BLE001 - a diagnosis must never hide the failure itself
        spy = None
    if spy is not None and spy.layers:
        mask = spy.masks[0] if spy.masks else None
        if mask is None:
            return ("no src_key_padding_mask reaches the encoder, so real tokens attend to the padding.",
                    "编码器没有收到 src_key_padding_mask，真实 token 会注意到填充位置。")
        mask = mask.detach().cpu()
        if tuple(mask.shape) == tuple(real.shape) and torch.equal(mask, real):
            return ("the attention mask passed as src_key_padding_mask unchanged: attention_mask is 1 at REAL tokens, "
                    "PyTorch's src_key_padding_mask is True at PADDING; pass ~attention_mask.bool() "
                    "(or attention_mask == 0).",
                    "把 attention_mask 原样当作 src_key_padding_mask 传入：attention_mask 在真实 token 处为 1，而 PyTorch "
                    "的 src_key_padding_mask 在填充处为 True；应传 ~attention_mask.bool()（或 attention_mask == 0）。")
        if tuple(mask.shape) == tuple(real.shape) and torch.equal(mask, ~real):
            return ("the encoder's padding mask is right, so padding reaches the real positions some other way (an "
                    "operation over the time axis, or positions/segments shifted by the padding).",
                    "编码器的填充掩码是对的，填充是通过别的途径影响了真实位置（沿时间维度的某个运算，或位置/段 id 被填充移位）。")
    return ("the padding mask does not mark exactly the padding positions (True = padding in src_key_padding_mask), "
            "or attention_mask / pad_id ignored.",
            "填充掩码没有恰好标出填充位置（src_key_padding_mask 中 True 表示填充），或忽略了 attention_mask / pad_id。")


def _stats_ids(B, T, seed, vocab):
    """A large batch with [CLS] ... [SEP] and padding: returns (ids, candidate mask)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g).tolist()
    ids = _ids(lengths, T, vocab=vocab, seed=seed)
    return ids, ids >= 4


def _mask(ex, ids, vocab, seed, **kw):
    original = ids.clone()
    with seeded(seed):
        res = ex.mask_tokens(ids, vocab, MASK, special_ids=list(SPECIAL), pad_id=PAD, **kw)
    expect(isinstance(res, (tuple, list)) and len(res) == 2,
           f"mask_tokens(...) should return a pair (inputs, labels); got {type(res).__name__}.",
           f"mask_tokens(...) 应返回 (inputs, labels) 二元组；实际为 {type(res).__name__}。")
    inputs, labels = res
    assert_shape(inputs, tuple(ids.shape), "mask_tokens inputs")
    assert_shape(labels, tuple(ids.shape), "mask_tokens labels")
    expect(torch.equal(ids, original), "mask_tokens modified input_ids in place; it should return a new tensor.",
           "mask_tokens 原地修改了 input_ids；它应返回一个新张量。",
           likely=("inputs = input_ids (same tensor) and then inputs[...] = mask_id: clone first.",
                   "写了 inputs = input_ids（同一个张量）再 inputs[...] = mask_id：应先 clone()。"))
    return inputs.long(), labels.long()


# ---------------------------------------------------------------------------
# checks: the model

@check(points=2, category="shape")
def test_logits_shape(ex):
    """MLM logits are (B, T, vocab_size) for several batch sizes, lengths and model sizes.
    zh: 对不同的 batch 大小、序列长度和模型尺寸，MLM logits 形状都是 (B, T, vocab_size)。
    """
    for kw, lengths, T in [({}, [7, 4, 7], 7), (dict(vocab_size=30, d_model=24, nhead=3, dff=40), [5], 5),
                           (dict(num_layers=1, max_seq_len=20), [3, 9, 9, 6, 2], 9)]:
        m = _make(ex, **kw).eval()
        ids = _ids(lengths, T, vocab=kw.get("vocab_size", 24), seed=T)
        with torch.no_grad():
            _logits(m, ids, "shape check", segment_ids=torch.zeros_like(ids))


@check(points=2, category="correctness")
def test_batch_independence(ex):
    """In eval mode, changing one sample of the batch never changes another sample's logits.
    zh: eval 模式下，修改 batch 中的一个样本，不会改变其他样本的 logits。
    """
    m = _make(ex, seed=1).eval()
    ids = _ids([6] * 6, 6, seed=11)  # B == T: a model without batch_first still runs, and mixes samples
    with torch.no_grad():
        y = _logits(m, ids, "batch independence")
        ids2 = ids.clone()
        ids2[2] = _ids([6], 6, seed=12)[0]
        y2 = _logits(m, ids2, "batch independence")
    others = [0, 1, 3, 4, 5]
    diff = (y2[others] - y[others]).abs().max().item()
    expect(diff < 1e-4, f"Changing sample 2 of a batch of 6 changed the other samples' logits (largest change "
           f"{diff:.3g}); each sample must depend on its own tokens only.",
           f"修改 6 个样本中的第 2 个，其他样本的 logits 也变了（最大变化 {diff:.3g}）；每个样本只能依赖它自己的 token。",
           likely=BATCH_FIRST if _lacks_batch_first(m) else
           ("the encoder sees the batch on the wrong axis (a transpose too many), or a normalisation across the batch.",
            "编码器把 batch 放在了错误的维度上（多做了一次转置），或在 batch 维度上做了归一化。"))


@check(points=2, category="correctness")
def test_order_sensitivity(ex):
    """Permuting the tokens does not just permute the logits: positions are encoded.
    zh: 打乱 token 顺序后，logits 不只是跟着被打乱：模型编码了位置。
    """
    m = _make(ex, seed=2).eval()
    ids = _ids([8, 8], 8, seed=21, cls=False)
    perm = torch.tensor([3, 0, 6, 1, 7, 2, 5, 4])
    with torch.no_grad():
        y = _logits(m, ids, "order sensitivity")
        y2 = _logits(m, ids[:, perm], "order sensitivity")
    diff = (y2 - y[:, perm]).abs().max().item()
    expect(diff > 1e-4, f"Logits of the permuted sequence are the permuted logits of the original (largest difference "
           f"{diff:.3g}): the model cannot tell 'a b c' from 'c b a'.",
           f"打乱后序列的 logits 恰好是原 logits 按同样方式打乱（最大差 {diff:.3g}）：模型分不清 'a b c' 和 'c b a'。",
           likely=("no position embedding (the seed's bug): add pos_emb(torch.arange(T)) to the token embedding; "
                   "self-attention alone is blind to order.",
                   "没有位置嵌入（原题的错误）：要把 pos_emb(torch.arange(T)) 加到词嵌入上；仅靠自注意力无法感知顺序。"))


@check(points=2, category="correctness")
def test_embeddings(ex):
    """The encoder's input is LayerNorm(tok_emb(ids) + pos_emb(positions) + seg_emb(segment_ids)).
    zh: 编码器的输入是 LayerNorm(tok_emb(ids) + pos_emb(位置) + seg_emb(segment_ids))。
    """
    m = _make(ex, seed=3).train()
    ids = _ids([7, 5], 7, seed=31)
    seg = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 0, 0]])
    parts = {n: getattr(m, n, None) for n in ("tok_emb", "pos_emb", "seg_emb")}
    bad = [n for n, e in parts.items() if not isinstance(e, nn.Embedding)]
    expect(not bad, f"BERT should have nn.Embedding attributes tok_emb, pos_emb and seg_emb; {bad} missing or not "
           "nn.Embedding.",
           f"BERT 应有 nn.Embedding 类型的属性 tok_emb、pos_emb 和 seg_emb；{bad} 缺失或不是 nn.Embedding。",
           likely=("no segment embedding (the seed's bug), a fixed sinusoidal table instead of a learned position "
                   "embedding, or other attribute names.",
                   "没有段嵌入（原题的错误），用固定的正弦表代替了可学习的位置嵌入，或属性名不同。"))
    expect(parts["pos_emb"].num_embeddings == CONFIG["max_seq_len"],
           f"pos_emb should have max_seq_len={CONFIG['max_seq_len']} rows; it has {parts['pos_emb'].num_embeddings}.",
           f"pos_emb 应有 max_seq_len={CONFIG['max_seq_len']} 行；实际有 {parts['pos_emb'].num_embeddings} 行。",
           likely=("max_seq_len stored but not used to size the position embedding (the seed's bug).",
                   "保存了 max_seq_len 却没有用它来确定位置嵌入的大小（原题的错误）。"))
    expect(_layers(m), "BERT should use nn.TransformerEncoderLayer layers (inside an nn.TransformerEncoder); none found.",
           "BERT 应使用 nn.TransformerEncoderLayer（放在 nn.TransformerEncoder 中）；没有找到。")
    with _MaskSpy(m) as spy, torch.no_grad():
        _logits(m, ids, "embeddings", segment_ids=seg)
    expect(spy.inputs and isinstance(spy.inputs[0], torch.Tensor), "The first encoder layer was never called.",
           "第一个编码器层从未被调用。")
    x = spy.inputs[0].detach()
    if x.dim() == 3 and tuple(x.shape[:2]) == (7, 2):
        x = x.transpose(0, 1)  # sequence-first layers: compare batch-first
    with torch.no_grad():
        pos = parts["pos_emb"](torch.arange(7))
        tok, sg = parts["tok_emb"](ids), parts["seg_emb"](seg)
        d = tok.shape[-1]
        norms = [mod for mod in m.modules() if isinstance(mod, nn.LayerNorm) and tuple(mod.normalized_shape) == (d,)]

        def ln(t, norm=None):
            norm = norm or (norms[0] if norms else None)
            if norm is None:
                return F.layer_norm(t, (d,))
            return F.layer_norm(t, (d,), norm.weight, norm.bias, norm.eps)

        # the embedding LayerNorm is one of the model's LayerNorms (its eps and affine parameters are the learner's)
        candidates = [ln(tok + pos + sg, norm) for norm in norms] or [ln(tok + pos + sg)]
        want = next((c for c in candidates if c.shape == x.shape and torch.allclose(x, c, atol=1e-4, rtol=1e-4)),
                    candidates[0])
        variants = [
            (tok + pos + sg, ("the sum of the embeddings is not normalised: apply nn.LayerNorm(d_model) to it before the "
                              "encoder.", "嵌入之和没有归一化：在进入编码器之前要对它做 nn.LayerNorm(d_model)。")),
            (ln(tok + pos), ("segment ids ignored: seg_emb(segment_ids) is not added.",
                             "忽略了 segment ids：没有加上 seg_emb(segment_ids)。")),
            (ln(tok + sg), ("the position embedding is not added.", "没有加上位置嵌入。")),
            (ln(tok * d ** 0.5 + pos + sg), ("the token embedding scaled by sqrt(d_model): BERT adds the three "
                                             "embeddings as they are.",
                                             "词嵌入乘了 sqrt(d_model)：BERT 直接把三个嵌入相加。")),
        ]
    if tuple(x.shape) == tuple(want.shape) and not torch.allclose(x, want, atol=1e-4, rtol=1e-4):
        likely = next((lk for v, lk in variants if torch.allclose(x, v, atol=1e-4, rtol=1e-4)), None)
        assert_close(x, want, "input of the first encoder layer", atol=1e-4,
                     likely=likely or ("the embeddings combined differently (they are summed, then LayerNorm, then "
                                       "dropout), or positions not 0..T-1.",
                                       "嵌入的组合方式不对（应先相加，再 LayerNorm，再 dropout），或位置下标不是 0..T-1。"))
    assert_close(x, want, "input of the first encoder layer", atol=1e-4)


@check(points=3, category="correctness")
def test_padding_invariance(ex):
    """Appending padding never changes the logits at real positions (eval and train mode, mask given or derived).
    zh: 追加填充不会改变真实位置上的 logits（eval 和训练模式，掩码显式给出或由 pad_id 推出）。
    """
    m = _make(ex, seed=4)
    ids = _ids([7, 3, 5], 7, seed=41)  # sample 0 has no padding
    seg = torch.tensor([[0, 0, 0, 0, 1, 1, 1], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0]])
    real = ids != PAD
    for mode in ("eval", "train"):
        for explicit in (False, True):
            m.train(mode == "train")
            longer = torch.cat([ids, torch.full((3, 4), PAD)], dim=1)
            seg2 = torch.cat([seg, torch.zeros(3, 4, dtype=torch.long)], dim=1)
            kw = dict(attention_mask=real.long()) if explicit else {}
            kw2 = dict(attention_mask=(longer != PAD).long()) if explicit else {}
            with torch.no_grad():
                y = _logits(m, ids, "padding invariance", segment_ids=seg, **kw)
                y2 = _logits(m, longer, "padding invariance", segment_ids=seg2, **kw2)[:, :7]
            a, b = y[real], y2[real]
            if not torch.allclose(a, b, atol=1e-4, rtol=1e-4) or not torch.isfinite(a).all():
                diff = (a - b).abs().nan_to_num(float("inf")).max().item()
                how = "attention_mask given (1 = real)" if explicit else "attention_mask=None (derived from pad_id)"
                fail(f"{mode} mode, {how}: appending 4 padding tokens changed the logits at real positions (largest "
                     f"change {diff:.3g}, or NaN); padding must not influence real tokens.",
                     f"{mode} 模式，{'给出 attention_mask（1 = 真实）' if explicit else 'attention_mask=None（由 pad_id 推出）'}："
                     f"追加 4 个填充 token 后，真实位置上的 logits 变了（最大变化 {diff:.3g}，或出现 NaN）；"
                     "填充不应影响真实 token。",
                     likely=_padding_diagnosis(m, ids, dict(segment_ids=seg, **kw)))


@check(points=2, category="correctness")
def test_segment_ids_matter(ex):
    """Segment ids change the logits, and segment_ids=None means all zeros.
    zh: segment ids 会改变 logits，且 segment_ids=None 等价于全 0。
    """
    m = _make(ex, seed=5).eval()
    ids = _ids([8, 6], 8, seed=51)
    zeros = torch.zeros_like(ids)
    seg = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0]])
    real = ids != PAD
    with torch.no_grad():
        y0 = _logits(m, ids, "segment ids", segment_ids=zeros)
        y1 = _logits(m, ids, "segment ids", segment_ids=seg)
        yn = _logits(m, ids, "segment ids")
    diff = (y1 - y0)[real].abs().max().item()
    expect(diff > 1e-4, f"Changing the segment ids (sentence A / B) left the logits unchanged (largest change {diff:.3g}).",
           f"改变 segment ids（句子 A / B）后 logits 不变（最大变化 {diff:.3g}）。",
           likely=("no segment embedding (the seed's bug), or segment_ids accepted but never embedded and added.",
                   "没有段嵌入（原题的错误），或者接收了 segment_ids 却没有嵌入并相加。"))
    assert_close(yn[real], y0[real], "logits with segment_ids=None vs all-zero segment ids", atol=1e-5,
                 likely=("segment_ids=None not treated as all zeros (torch.zeros_like(input_ids)).",
                         "segment_ids=None 没有按全 0（torch.zeros_like(input_ids)）处理。"))


@check(points=1, category="correctness")
def test_mlm_head_transform_order(ex):
    """The MLM head maps the encoder's output h to LayerNorm(GELU(Linear(h))) before the decoder, in that order.
    zh: MLM 头在 decoder 之前把编码器输出 h 变换为 LayerNorm(GELU(Linear(h)))，且顺序如此。
    """
    m = _make(ex, seed=41).eval()
    d = CONFIG["d_model"]
    tok = getattr(getattr(m, "tok_emb", None), "weight", None)
    # the decoder: the Linear tied to the token embedding (or named decoder); the head: some Linear(d_model,
    # d_model) whose output, through GELU and a LayerNorm, is the decoder's input (layouts vary: nn.Sequential,
    # a BertPredictionHeadTransform-like module, a ModuleList encoder; none is assumed)
    dec = next((x for x in m.modules() if isinstance(x, nn.Linear) and tok is not None and x.weight is tok),
               getattr(m, "decoder", None))
    expect(isinstance(dec, nn.Linear), "BERT should end in decoder = nn.Linear(d_model, vocab_size), tied to tok_emb.",
           "BERT 应以 decoder = nn.Linear(d_model, vocab_size) 结尾，并与 tok_emb 绑定权重。")
    linears = [x for x in m.modules() if isinstance(x, nn.Linear) and x is not dec
               and x.in_features == d and x.out_features == d]
    norms = [x for x in m.modules() if isinstance(x, nn.LayerNorm)]
    seen, inputs = {}, {}
    hooks = [dec.register_forward_pre_hook(lambda mod, a: seen.setdefault("x", a[0]))]
    hooks += [lin.register_forward_pre_hook(lambda mod, a: inputs.setdefault(id(mod), a[0])) for lin in linears]
    try:
        with torch.no_grad():
            _logits(m, _ids([6, 4], 6, seed=142), "BERT(...)")
    finally:
        for h in hooks:
            h.remove()
    expect("x" in seen, "BERT.forward did not run its decoder.", "BERT.forward 没有运行 decoder。")
    x = seen["x"]
    pairs = [(lin, inputs[id(lin)]) for lin in linears if id(lin) in inputs
             and inputs[id(lin)].shape[:-1] == x.shape[:-1]]
    with torch.no_grad():
        ok = any(torch.allclose(ln(F.gelu(lin(u), approximate=ap)), x, atol=1e-4)
                 for lin, u in pairs for ln in norms for ap in ("none", "tanh"))
        swapped = not ok and any(u.min().item() >= -0.1701 and torch.allclose(ln(lin(u)), x, atol=1e-4)
                                 for lin, u in pairs for ln in norms)  # GELU's output is never below -0.17
    expect(ok, "The decoder's input is not LayerNorm(GELU(Linear(h))) of the encoder output h"
           + (": it is LayerNorm(Linear(GELU(h))), the GELU applied before the Linear." if swapped else "."),
           "decoder 的输入不是编码器输出 h 的 LayerNorm(GELU(Linear(h)))"
           + ("：而是 LayerNorm(Linear(GELU(h)))，GELU 放在了 Linear 之前。" if swapped else "。"),
           likely=("the MLM head's layers in another order: BERT's head transform is nn.Sequential(nn.Linear(d_model, "
                   "d_model), nn.GELU(), nn.LayerNorm(d_model)), then the tied decoder.",
                   "MLM 头各层顺序不对：BERT 的头部变换是 nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), "
                   "nn.LayerNorm(d_model))，然后是权重绑定的 decoder。"))


@check(points=2, category="correctness")
def test_feedforward_width(ex):
    """Every encoder layer's feed-forward network has width dff (linear1: d_model -> dff).
    zh: 每个编码器层的前馈网络宽度都是 dff（linear1：d_model -> dff）。
    """
    for d, dff, n in ((16, 24, 2), (12, 20, 3)):
        m = _make(ex, d_model=d, dff=dff, num_layers=n, nhead=2)
        layers = _layers(m)
        expect(len(layers) == n, f"BERT(num_layers={n}) should hold {n} nn.TransformerEncoderLayer; found {len(layers)}.",
               f"BERT(num_layers={n}) 应包含 {n} 个 nn.TransformerEncoderLayer；实际找到 {len(layers)} 个。")
        widths = [l.linear1.out_features for l in layers]
        expect(all(w == dff for w in widths), f"BERT(d_model={d}, dff={dff}): the encoder layers' feed-forward widths "
               f"are {widths}, expected {dff}.",
               f"BERT(d_model={d}, dff={dff})：编码器层的前馈宽度为 {widths}，应为 {dff}。",
               likely=("dim_feedforward=dff not passed to nn.TransformerEncoderLayer, so it keeps its default 2048 (the "
                       "seed stores dff as an unused nn.Linear instead).",
                       "没有把 dim_feedforward=dff 传给 nn.TransformerEncoderLayer，它就保持默认的 2048"
                       "（原题把 dff 存成了一个没有用到的 nn.Linear）。") if 2048 in widths else None)


@check(points=1, category="correctness")
def test_gelu_activation(ex):
    """The encoder layers and the MLM head use GELU (BERT's activation), not ReLU.
    zh: 编码器层和 MLM 头使用 GELU（BERT 的激活函数），而不是 ReLU。
    """
    m = _make(ex)
    layers = _layers(m)
    expect(layers, "BERT should use nn.TransformerEncoderLayer layers; none found.",
           "BERT 应使用 nn.TransformerEncoderLayer；没有找到。")
    acts = [l.activation for l in layers]
    ok = all(a is F.gelu or isinstance(a, nn.GELU) for a in acts)
    names = [getattr(a, "__name__", type(a).__name__) for a in acts]
    expect(ok, f"The encoder layers' activations are {names}; BERT uses GELU.",
           f"编码器层的激活函数为 {names}；BERT 使用 GELU。",
           likely=("activation='gelu' not passed to nn.TransformerEncoderLayer (its default is ReLU).",
                   "没有给 nn.TransformerEncoderLayer 传 activation='gelu'（默认是 ReLU）。"))
    relus = [n or "(the model)" for n, mod in m.named_modules() if isinstance(mod, (nn.ReLU, nn.LeakyReLU))]
    expect(not relus, f"The model holds ReLU modules at {relus}; BERT uses GELU everywhere, including the MLM head's "
           "transform (Linear -> GELU -> LayerNorm).",
           f"模型在 {relus} 处包含 ReLU 模块；BERT 处处使用 GELU，包括 MLM 头的变换（Linear -> GELU -> LayerNorm）。",
           likely=("nn.ReLU() in the MLM head's transform instead of nn.GELU().",
                   "MLM 头的变换里用了 nn.ReLU() 而不是 nn.GELU()。"))


@check(points=2, category="correctness")
def test_decoder_tied_to_token_embedding(ex):
    """decoder.weight and tok_emb.weight are one and the same Parameter (tied, not copied).
    zh: decoder.weight 和 tok_emb.weight 是同一个 Parameter（绑定，而不是复制）。
    """
    m = _make(ex)
    dec, emb = getattr(m, "decoder", None), getattr(m, "tok_emb", None)
    V, d = CONFIG["vocab_size"], CONFIG["d_model"]
    expect(isinstance(dec, nn.Linear) and tuple(dec.weight.shape) == (V, d),
           f"BERT should have decoder = nn.Linear({d}, {V}) (the MLM output layer); found {dec!r}.",
           f"BERT 应有 decoder = nn.Linear({d}, {V})（MLM 输出层）；实际为 {dec!r}。")
    expect(isinstance(emb, nn.Embedding), f"BERT should have tok_emb = nn.Embedding({V}, {d}); found {emb!r}.",
           f"BERT 应有 tok_emb = nn.Embedding({V}, {d})；实际为 {emb!r}。")
    if dec.weight is emb.weight:
        n = sum(1 for p in m.parameters() if p is emb.weight)
        expect(n == 1, "The tied weight should appear once in model.parameters().",
               "绑定的权重在 model.parameters() 中应只出现一次。")
        return
    if dec.weight.data_ptr() == emb.weight.data_ptr():
        likely = ("storage shared through .data (decoder.weight.data = tok_emb.weight.data): the memory is shared but "
                  "they are two Parameters, each with its own gradient and optimizer state; assign the Parameter "
                  "itself: self.decoder.weight = self.tok_emb.weight.",
                  "通过 .data 共享了存储（decoder.weight.data = tok_emb.weight.data）：内存是共享的，但它们仍是两个 "
                  "Parameter，各有各的梯度和优化器状态；应直接赋值 Parameter：self.decoder.weight = self.tok_emb.weight。")
    elif torch.equal(dec.weight.detach(), emb.weight.detach()):
        likely = ("the embedding copied into the decoder (copy_ / clone / nn.Parameter(...clone())): equal at the start, "
                  "they drift apart as soon as training starts; assign the Parameter: "
                  "self.decoder.weight = self.tok_emb.weight.",
                  "把词嵌入复制到了 decoder（copy_ / clone / nn.Parameter(...clone())）：开始时相等，一训练就分开了；"
                  "应直接赋值 Parameter：self.decoder.weight = self.tok_emb.weight。")
    else:
        likely = ("the decoder's weight never tied: add self.decoder.weight = self.tok_emb.weight.",
                  "decoder 的权重根本没有绑定：加上 self.decoder.weight = self.tok_emb.weight。")
    fail("decoder.weight should be the very Parameter tok_emb.weight (weight tying); it is a different tensor.",
         "decoder.weight 应就是 tok_emb.weight 这个 Parameter（权重绑定）；实际是另一个张量。", likely=likely)


@check(points=2, category="correctness")
def test_mlm_loss(ex):
    """mlm_loss equals F.cross_entropy(logits, labels, ignore_index=-100) over the predicted positions.
    zh: mlm_loss 等于只在被预测位置上计算的 F.cross_entropy(logits, labels, ignore_index=-100)。
    """
    m = _make(ex, seed=6).eval()
    ids = _ids([9, 6, 9], 9, seed=61)
    labels = torch.full_like(ids, -100)
    pick = [(0, 2), (0, 5), (1, 1), (1, 3), (2, 7)]
    for i, t in pick:
        labels[i, t] = ids[i, t]
    with torch.no_grad():
        logits = _logits(m, ids, "mlm_loss")
        want = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        try:
            got = m.mlm_loss(ids, labels)
        except (IndexError, RuntimeError) as e:
            fail(f"mlm_loss(input_ids, labels) raised {type(e).__name__}: {e}", f"mlm_loss(input_ids, labels) 抛出 "
                 f"{type(e).__name__}: {e}",
                 likely=("ignore_index overridden (e.g. ignore_index=pad_id): the labels mark 'not predicted' with "
                         "-100, which F.cross_entropy ignores with its default ignore_index=-100; or logits/labels not "
                         "flattened to (B*T, V) and (B*T,).",
                         "覆盖了 ignore_index（例如 ignore_index=pad_id）：标签用 -100 表示“不预测”，F.cross_entropy 的默认 "
                         "ignore_index=-100 正好忽略它；或 logits/labels 没有展平为 (B*T, V) 和 (B*T,)。"))
    assert_tensor(got, "mlm_loss")
    expect(got.dim() == 0, f"mlm_loss should return a scalar; got shape {tuple(got.shape)}.",
           f"mlm_loss 应返回标量；实际形状为 {tuple(got.shape)}。",
           likely=("reduction='none' without averaging over the predicted positions.", "用了 reduction='none' 却没有在被预测位置上取平均。"))
    assert_close(got, want, "mlm_loss vs F.cross_entropy(..., ignore_index=-100)", atol=1e-5,
                 likely=("the loss averaged over every position (ignored ones included), summed instead of averaged, or "
                         "computed on the logits transposed to (B, V, T) the wrong way.",
                         "损失在所有位置（包括被忽略的位置）上平均、用了求和而不是平均，或 logits 转成 (B, V, T) 时转错了。"))


@check(points=1, category="correctness")
def test_max_seq_len_error(ex):
    """T == max_seq_len works; T > max_seq_len raises a ValueError naming max_seq_len.
    zh: T == max_seq_len 可以运行；T > max_seq_len 抛出提到 max_seq_len 的 ValueError。
    """
    m = _make(ex, max_seq_len=10).eval()
    try:
        with torch.no_grad():
            _logits(m, _ids([10, 6], 10, seed=71), "T == max_seq_len (10)")
    except CheckFailed:
        raise
    except (ValueError, AssertionError, IndexError) as e:
        fail(f"A sequence of exactly max_seq_len=10 tokens raised {type(e).__name__}: {e}; T == max_seq_len is allowed.",
             f"长度恰好为 max_seq_len=10 的序列抛出了 {type(e).__name__}: {e}；T == max_seq_len 是允许的。",
             likely=("off by one: the check should be T > max_seq_len (not >=), and pos_emb needs max_seq_len rows.",
                     "差了一位：检查应为 T > max_seq_len（而不是 >=），且 pos_emb 需要 max_seq_len 行。"))
    try:
        with torch.no_grad():
            m(_ids([13, 13], 13, seed=72))
    except (ValueError, AssertionError) as e:
        expect("10" in str(e), f"The error for T=13 > max_seq_len=10 should say the limit; its message is {str(e)!r}.",
               f"T=13 > max_seq_len=10 时的报错应说明上限；实际信息为 {str(e)!r}。",
               likely=("a bare raise ValueError() / assert without a message.", "只写了 raise ValueError() / assert，没有信息。"))
        return
    except Exception as e:  # noqa: BLE001
        fail(f"A sequence of length 13 with max_seq_len=10 raised {type(e).__name__}: {e}; expected a clear ValueError "
             "such as 'sequence length 13 exceeds max_seq_len=10'.",
             f"max_seq_len=10 时输入长度 13 的序列抛出了 {type(e).__name__}: {e}；应抛出清楚的 ValueError，例如 "
             "'sequence length 13 exceeds max_seq_len=10'。",
             likely=("no length check in forward: the position embedding's 'index out of range' is all the user sees.",
                     "forward 中没有检查长度：用户只能看到位置嵌入报的 'index out of range'。"))
    fail("A sequence of length 13 with max_seq_len=10 ran without error; it should raise a ValueError.",
         "max_seq_len=10 时输入长度 13 的序列没有报错；应抛出 ValueError。",
         likely=("max_seq_len stored but never used (the seed's bug), or positions that grow with the input.",
                 "保存了 max_seq_len 却从未使用（原题的错误），或位置编码随输入长度增长。"))


# ---------------------------------------------------------------------------
# checks: mask_tokens

@check(points=2, category="correctness")
def test_mask_tokens_skips_special_and_pad(ex):
    """mask_tokens never selects, changes or labels [CLS], [SEP], [MASK] or padding.
    zh: mask_tokens 从不选中、修改或标注 [CLS]、[SEP]、[MASK] 和填充。
    """
    ids, cand = _stats_ids(64, 32, seed=81, vocab=40)
    ids[5, 3], ids[9, 7] = MASK, MASK  # a [MASK] already in the input is special too
    cand = ids >= 4
    inputs, labels = _mask(ex, ids, 40, seed=82, mlm_prob=0.5)
    bad_lab = int((labels[~cand] != -100).sum())
    bad_in = int((inputs[~cand] != ids[~cand]).sum())
    expect(bad_lab == 0 and bad_in == 0,
           f"Special tokens and padding must never be selected: {bad_lab} of them got a label and {bad_in} were "
           f"changed (special_ids={SPECIAL}, pad_id={PAD}).",
           f"特殊 token 和填充永远不应被选中：其中 {bad_lab} 个得到了标签，{bad_in} 个被修改"
           f"（special_ids={SPECIAL}，pad_id={PAD}）。",
           likely=("the selection probability not zeroed at special_ids and pad_id (probability_matrix.masked_fill_"
                   "(special_mask, 0.0)), or pad_id left out of the special positions.",
                   "没有在 special_ids 和 pad_id 处把选中概率置 0（probability_matrix.masked_fill_(special_mask, 0.0)），"
                   "或漏掉了 pad_id。"))


@check(points=2, category="correctness")
def test_mask_tokens_labels(ex):
    """labels hold the original token where selected and -100 elsewhere; unselected inputs are unchanged.
    zh: 选中位置的 labels 为原 token，其余为 -100；未选中位置的 inputs 不变。
    """
    ids, cand = _stats_ids(32, 24, seed=91, vocab=30)
    inputs, labels = _mask(ex, ids, 30, seed=92)
    sel = labels != -100
    expect(sel.any(), "mask_tokens selected nothing (every label is -100).", "mask_tokens 什么都没选中（所有标签都是 -100）。")
    wrong = int((labels[sel] != ids[sel]).sum())
    expect(wrong == 0, f"At selected positions the label should be the ORIGINAL token; {wrong} labels differ from it.",
           f"选中位置的标签应是原始 token；有 {wrong} 个标签与之不同。",
           likely=("labels taken from the masked inputs (after replacing with [MASK]) instead of the original ids, or "
                   "labels left as the full input_ids copy.",
                   "标签取自替换成 [MASK] 之后的输入而不是原始 id，或标签直接是 input_ids 的完整副本。"))
    changed = int((inputs[~sel] != ids[~sel]).sum())
    expect(changed == 0, f"Positions without a label must keep their token; {changed} of them were changed.",
           f"没有标签的位置必须保持原 token；其中 {changed} 个被修改了。",
           likely=("the 80 % / 10 % draws not restricted to the selected positions (& selected missing).",
                   "80% / 10% 的抽样没有限制在选中位置上（缺少 & selected）。"))


@check(points=2, category="correctness")
def test_mask_tokens_rate(ex):
    """About mlm_prob of the candidate tokens are selected (0.15 and 0.3, within 0.02).
    zh: 候选 token 中约 mlm_prob 被选中（0.15 与 0.3，误差 0.02 以内）。
    """
    ids, cand = _stats_ids(256, 64, seed=101, vocab=100)
    rates = {}
    for p, seed in ((0.15, 102), (0.3, 103)):
        kw = {} if p == 0.15 else dict(mlm_prob=p)
        _, labels = _mask(ex, ids, 100, seed=seed, **kw)
        rates[p] = (labels[cand] != -100).float().mean().item()
    bad = [p for p, r in rates.items() if abs(r - p) >= 0.02]
    if not bad:
        return
    if abs(rates[0.3] - rates[0.15]) < 0.03:
        likely = ("mlm_prob ignored (a hard-coded rate): use the argument.", "忽略了 mlm_prob（写死了比例）：应使用该参数。")
    elif all(abs(r - 0.8 * p) < 0.02 for p, r in rates.items()):
        likely = ("labels set only where [MASK] was put: the randomly replaced and the unchanged selected tokens must be "
                  "predicted too (all selected positions get their original token as label).",
                  "只在放了 [MASK] 的位置设置了标签：被随机替换和保持不变的选中 token 也要预测（所有选中位置的标签都是原 token）。")
    else:
        likely = ("the selection probability not mlm_prob per candidate token (e.g. drawn once per sequence, or over "
                  "all positions and then thinned).",
                  "每个候选 token 的选中概率不是 mlm_prob（例如每个序列只抽一次，或在所有位置上抽样后又剔除了一部分）。")
    shown = ", ".join(f"mlm_prob={p}: {rates[p]:.3f}" for p in rates)
    fail(f"mask_tokens selected these shares of the {int(cand.sum())} candidate tokens (non-special, non-pad): {shown}; "
         "expected mlm_prob +- 0.02 (the default mlm_prob is 0.15).",
         f"mask_tokens 在 {int(cand.sum())} 个候选 token（非特殊、非填充）中选中的比例为：{shown}；"
         "应为 mlm_prob ± 0.02（mlm_prob 默认为 0.15）。", likely=likely)


@check(points=2, category="correctness")
def test_mask_tokens_80_10_10(ex):
    """Of the selected tokens about 80 % become [MASK], 10 % a random token, 10 % stay (within 0.05 / 0.04 / 0.04).
    zh: 被选中的 token 中约 80% 变为 [MASK]、10% 变为随机 token、10% 保持不变（误差 0.05 / 0.04 / 0.04）。
    """
    V = 100
    ids, cand = _stats_ids(256, 64, seed=111, vocab=V)
    inputs, labels = _mask(ex, ids, V, seed=112, mlm_prob=0.15)
    sel = labels != -100
    n = int(sel.sum())
    expect(n > 500, f"Too few tokens selected ({n}) to measure the split.", f"选中的 token 太少（{n} 个），无法统计比例。")
    got, orig = inputs[sel], ids[sel]
    masked = (got == MASK).float().mean().item()
    kept = (got == orig).float().mean().item()
    rand = 1.0 - masked - kept
    others = got[(got != MASK) & (got != orig)]
    expect(bool(((others >= 0) & (others < V)).all()), f"Random replacements should be token ids in 0..{V - 1}; found "
           f"values from {int(others.min()) if others.numel() else '-'} to {int(others.max()) if others.numel() else '-'}.",
           f"随机替换应是 0..{V - 1} 中的 token id；实际取值范围超出。")
    ok = abs(masked - 0.8) < 0.05 and abs(kept - 0.1) < 0.04 and abs(rand - 0.1) < 0.04
    if ok and others.numel() and others.unique().numel() < 10:
        fail(f"The random replacements use only {others.unique().numel()} distinct tokens; they should be drawn "
             f"uniformly from the {V}-token vocabulary.",
             f"随机替换只用了 {others.unique().numel()} 种不同的 token；应从 {V} 个 token 的词表中均匀抽取。",
             likely=("one random id drawn for the whole batch (torch.randint(V, (1,))) instead of one per position.",
                     "整个 batch 只抽了一个随机 id（torch.randint(V, (1,))），而不是每个位置各抽一个。"))
    if ok:
        return
    if kept > 0.14 and rand < 0.06:
        likely = ("the random share drawn as bernoulli(0.1) of the tokens not sent to [MASK]: that is 10 % of the "
                  "remaining 20 % (2 %); use 0.5 of the remainder (half random, half unchanged).",
                  "随机替换用 bernoulli(0.1) 在未变为 [MASK] 的 token 中抽取：这只是剩余 20% 的 10%（2%）；"
                  "应在剩余部分中取 0.5（一半随机，一半不变）。")
    elif kept < 0.05:
        likely = ("no 'unchanged' share: 10 % of the selected tokens must keep their token (the split is 80 / 10 / 10, "
                  "not 90 / 10 / 0).",
                  "没有“保持不变”的部分：被选中的 token 中要有 10% 保持原样（比例是 80 / 10 / 10，而不是 90 / 10 / 0）。")
    elif masked > 0.95:
        likely = ("every selected token replaced by [MASK]: 10 % must become a random token and 10 % stay unchanged.",
                  "所有被选中的 token 都换成了 [MASK]：应有 10% 变为随机 token、10% 保持不变。")
    else:
        likely = ("the 80 / 10 / 10 draws not nested (the random draw must exclude the tokens already sent to [MASK]), "
                  "or the shares swapped.",
                  "80 / 10 / 10 的抽样没有嵌套（随机替换必须排除已经变为 [MASK] 的 token），或比例弄反了。")
    fail(f"Of {n} selected tokens: {masked:.3f} became [MASK], {rand:.3f} a random token, {kept:.3f} stayed; expected "
         "0.8 / 0.1 / 0.1 (within 0.05 / 0.04 / 0.04).",
         f"{n} 个被选中的 token 中：{masked:.3f} 变为 [MASK]，{rand:.3f} 变为随机 token，{kept:.3f} 保持不变；"
         "应为 0.8 / 0.1 / 0.1（误差 0.05 / 0.04 / 0.04）。", likely=likely)


# ---------------------------------------------------------------------------
# checks: training and device

@check(points=2, category="training")
def test_learns_toy_mlm(ex):
    """Adam (lr 3e-3, 40 steps) on mlm_loss lowers the loss on a toy task (masked tokens of periodic sequences).
    zh: 用 Adam（lr 3e-3，40 步）优化 mlm_loss，能在玩具任务（周期序列中被遮盖的 token）上降低损失。
    """
    g = torch.Generator().manual_seed(121)
    B, T, V = 16, 10, 16
    start = torch.randint(0, 4, (B, 1), generator=g)
    ids = 4 + (start + torch.arange(T)) % 4 * 3           # four-token cycles: every token follows from its neighbours
    sel = torch.rand(B, T, generator=g) < 0.3
    sel[:, 0] = True
    labels = torch.where(sel, ids, torch.full_like(ids, -100))
    inputs = torch.where(sel, torch.full_like(ids, MASK), ids)

    def run(seed):
        m = _make(ex, seed=seed, vocab_size=V, d_model=16, nhead=2, num_layers=1, dff=32, max_seq_len=T + 2).train()
        opt = torch.optim.Adam(m.parameters(), lr=3e-3)
        losses = []
        for _ in range(40):
            loss = m.mlm_loss(inputs, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    assert_learns_over_seeds(run, what="BERT.mlm_loss on the toy task (40 Adam steps)")


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator, forward (segment ids, attention mask) and mask_tokens run there, matching the CPU.
    zh: 在加速设备上，forward（含 segment ids 和 attention mask）与 mask_tokens 都在该设备上运行，结果与 CPU 一致。
    """
    m = _make(ex, seed=8).eval()
    ids = _ids([7, 4], 7, seed=131)
    seg = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0, 0]])
    am = (ids != PAD).long()
    real = ids != PAD
    with torch.no_grad():
        ref = _logits(m, ids, "CPU run", segment_ids=seg, attention_mask=am)
    with accelerator() as dev:
        m.to(dev)
        with torch.no_grad():
            y = m(ids.to(dev), segment_ids=seg.to(dev), attention_mask=am.to(dev))
        assert_on_device(y, dev, "BERT logits",
                         likely=("positions built with torch.arange(T) or default segment ids / mask created without "
                                 "device=input_ids.device.",
                                 "位置下标用 torch.arange(T) 创建，或默认的 segment ids / 掩码创建时没有指定 "
                                 "device=input_ids.device。"))
        y = to_cpu(y)
        with seeded(132):
            inputs, labels = ex.mask_tokens(ids.to(dev), 24, MASK, special_ids=list(SPECIAL), pad_id=PAD)
        assert_on_device(inputs, dev, "mask_tokens inputs",
                         likely=("the probability matrix / random ids created without device=input_ids.device.",
                                 "概率矩阵或随机 id 创建时没有指定 device=input_ids.device。"))
        assert_on_device(labels, dev, "mask_tokens labels")
    assert_close(y[real], ref[real], "logits on the accelerator (real positions)", atol=1e-4)
