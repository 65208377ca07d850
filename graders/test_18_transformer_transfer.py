"""Grader for exercise 18 — transfer learning from a pretrained Transformer language model.

The "pretrained" LM is made here (a seeded init of a copy of TinyEncoderLM's layout, every tensor
perturbed so that no two are alike); nothing is downloaded. The learner's parameters are traced
back to the pretrained tensors by value (on a fresh classifier), so attribute names other than
``head`` are free.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, as_number, assert_close, assert_learns_over_seeds, assert_on_device,
                             assert_shape, check, expect, fail, seeded, to_cpu)

PAD = 0
BASE = dict(vocab_size=20, d_model=16, nhead=2, num_layers=3, dim_feedforward=32, max_len=24, pad_id=PAD, dropout=0.0)


# ---------------------------------------------------------------------------
# private helpers

class _LM(nn.Module):
    """The grader's own copy of TinyEncoderLM's layout (same state-dict keys), used to make the weights."""

    def __init__(self, vocab_size, d_model, nhead, num_layers, dim_feedforward, max_len=64, pad_id=0, dropout=0.0):
        super().__init__()
        self.pad_id = pad_id
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.lm_head = nn.Linear(d_model, vocab_size)


_CACHE = {}


def _config(**kw):
    c = dict(BASE)
    c.update(kw)
    return c


def _pretrained(config, seed=0):
    key = (tuple(sorted(config.items())), seed)
    if key not in _CACHE:
        with seeded(100 + seed):
            lm = _LM(**config)
            with torch.no_grad():
                for p in lm.parameters():
                    p.add_(0.1 * torch.randn_like(p))   # LayerNorm ones / zero biases become distinct values
        lm.eval()
        _CACHE[key] = lm
    return _CACHE[key]


def _state_dict(config, seed=0):
    return {k: v.clone() for k, v in _pretrained(config, seed).state_dict().items()}


def _make(ex, classes=3, seed=0, **kw):
    config = _config(**kw)
    with seeded(seed + 7):
        m = ex.TransformerClassifier(dict(config), _state_dict(config, seed), classes)
    expect(isinstance(m, nn.Module), f"TransformerClassifier(...) should be an nn.Module, got {type(m).__name__}.",
           f"TransformerClassifier(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    head = getattr(m, "head", None)
    d = config["d_model"]
    if not isinstance(head, nn.Linear) or (head.in_features, head.out_features) != (d, classes):
        fail(f"TransformerClassifier(config, state_dict, {classes}) should have self.head = nn.Linear({d}, {classes}) "
             f"(d_model={d}); found {head!r}.",
             f"TransformerClassifier(config, state_dict, {classes}) 应有 self.head = nn.Linear({d}, {classes})"
             f"（d_model={d}）；实际为 {head!r}。",
             likely=("the new head missing or named differently, or sized for the vocabulary (the LM head) instead of "
                     "num_classes.",
                     "缺少新的分类头或名字不对，或按词表大小（LM head）而不是 num_classes 设置了尺寸。"))
    return m, config


def _tokens(lengths, T, vocab=20, seed=0, low=1):
    g = torch.Generator().manual_seed(seed)
    tok = torch.randint(low, vocab, (len(lengths), T), generator=g)
    for i, n in enumerate(lengths):
        tok[i, n:] = PAD
    return tok


def _origin(m, config, seed=0):
    """{id(param): (key, depth)} for the learner's parameters; depth 0 = head, i = layer L - i, L + 1 = embeddings."""
    L = config["num_layers"]
    sd = _pretrained(config, seed).state_dict()
    out = {}
    for p in m.parameters():
        key = next((k for k, v in sd.items() if v.shape == p.shape and torch.equal(v, p.detach().cpu())), None)
        if key is None:
            out[id(p)] = ("(new)", 0)
        elif key.startswith(("tok_emb.", "pos_emb.")):
            out[id(p)] = (key, L + 1)
        elif key.startswith("encoder.layers."):
            out[id(p)] = (key, L - int(key.split(".")[2]))
        else:
            out[id(p)] = (key, -1)  # lm_head
    return out


def _loaded_origin(m, config, seed=0):
    """_origin, failing first (with the real cause) when none of the pretrained tensors is in the model."""
    origin = _origin(m, config, seed)
    if all(key == "(new)" for key, _ in origin.values()):
        fail("None of the model's parameters holds a pretrained tensor, so there are no pretrained layers to give "
             "learning rates or to unfreeze.",
             "模型的参数中没有任何一个是预训练张量，因此也就没有可以设置学习率或解冻的预训练层。",
             likely=("state_dict never loaded (TinyEncoderLM(**config) alone is a fresh random model), or the encoder "
                     "rebuilt after loading.",
                     "没有加载 state_dict（只调用 TinyEncoderLM(**config) 得到的是随机初始化的模型），或加载后又重建了编码器。"))
    return origin


def _names(m):
    return {id(p): n for n, p in m.named_parameters()}


def _short(names, k=3):
    names = list(names)
    return ", ".join(names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "")


def _features(lm, tokens, *, mask=True, mean="real", positions=True):
    """Pooled encoder features of the pretrained LM (and deliberate variants, for diagnosis)."""
    pad = tokens == lm.pad_id
    x = lm.tok_emb(tokens)
    if positions:
        x = x + lm.pos_emb(torch.arange(tokens.shape[1]))
    h = lm.encoder(x, src_key_padding_mask=pad if mask else None)
    if mean == "first":
        return h[:, 0]
    keep = (~pad if mean == "real" else torch.ones_like(pad)).unsqueeze(-1).float()
    return (h * keep).sum(1) / keep.sum(1)


def _expected(m, config, tokens, seed=0, **variant):
    with torch.no_grad():
        return F.linear(_features(_pretrained(config, seed), tokens, **variant), m.head.weight, m.head.bias)


VARIANTS = [
    (dict(mean="all"), ("the mean is taken over every position, padding included: average only over the real tokens "
                        "(sum of h * real_mask over T divided by the number of real tokens).",
                        "平均时把填充位置也算进去了：只应对真实 token 取平均（h * 真实掩码 沿 T 求和，再除以真实 token 数）。")),
    (dict(mask=False), ("no src_key_padding_mask is passed to the encoder, so real tokens attend to the padding.",
                        "没有给编码器传 src_key_padding_mask，真实 token 会注意到填充位置。")),
    (dict(mask=False, mean="all"), ("no padding mask in the encoder and the mean over every position: padding is "
                                    "treated as real tokens.",
                                    "编码器没有填充掩码，且对所有位置取平均：填充被当成了真实 token。")),
    (dict(positions=False), ("the position embedding (pos_emb) is not added to the token embedding.",
                             "没有把位置嵌入（pos_emb）加到词嵌入上。")),
    (dict(mean="first"), ("the first token's output is used instead of the mean over the real tokens.",
                          "用了第一个 token 的输出，而不是对真实 token 取平均。")),
]


def _diagnose(y, m, config, tokens, seed=0):
    for kw, likely in VARIANTS:
        if torch.allclose(y.detach(), _expected(m, config, tokens, seed, **kw), atol=1e-4, rtol=1e-4):
            return likely
    return None


def _forward(m, tokens, what):
    y = m(tokens)
    assert_shape(y, (tokens.shape[0], m.head.out_features), f"{what}: logits for tokens {tuple(tokens.shape)}",
                 likely=PER_TOKEN)
    return y


PER_TOKEN = ("per-token logits (B, T, num_classes) returned and compared with one label per sequence (the seed's bug): "
             "pool the encoder output over the real tokens to (B, d_model) before the head.",
             "返回了逐 token 的 logits (B, T, num_classes)，却和每个序列一个的标签比较（原题的错误）："
             "应先对真实 token 的编码器输出做池化得到 (B, d_model)，再接分类头。")


def _expected_lr(depth, base, decay):
    return base * decay ** depth


def _groups(ex, m, base=1e-3, decay=0.5, wd=0.1):
    groups = ex.layerwise_param_groups(m, base, decay, wd)
    groups = list(groups) if not isinstance(groups, dict) else groups
    expect(isinstance(groups, list) and groups and all(isinstance(g, dict) and "params" in g for g in groups),
           f"layerwise_param_groups(...) should return a non-empty list of dicts with 'params', 'lr' and "
           f"'weight_decay'; got {type(groups).__name__}.",
           f"layerwise_param_groups(...) 应返回非空的字典列表，每个字典含 'params'、'lr' 和 'weight_decay'；"
           f"实际为 {type(groups).__name__}。")
    out = []
    for g in groups:
        params = g["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        missing = [k for k in ("lr", "weight_decay") if k not in g]
        expect(not missing, f"Every group should set {missing} explicitly (a group without them silently takes the "
               "optimizer's defaults); found a group with keys {sorted(g)}.".replace("{sorted(g)}", str(sorted(g))),
               f"每个参数组都应显式设置 {missing}（缺少时会悄悄使用优化器的默认值）；有一个参数组只有键 {sorted(g)}。")
        out.append(dict(g, params=params))
    return out


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_logits_shape(ex):
    """Logits are (B, num_classes), one row per sequence, for several batch sizes, lengths and model sizes.
    zh: 对不同的 batch 大小、序列长度和模型尺寸，logits 形状都是 (B, num_classes)，每个序列一行。
    """
    cases = [  # (classes, lengths, T, config changes)
        (3, [5, 2, 5, 4], 5, {}),
        (2, [1], 1, {}),
        (5, [7, 3], 7, dict(d_model=24, nhead=3, num_layers=2)),
        (4, [2, 6, 6], 6, dict(num_layers=1, vocab_size=30)),
    ]
    for c, lengths, T, kw in cases:
        m, config = _make(ex, classes=c, **kw)
        m.eval()
        with torch.no_grad():
            _forward(m, _tokens(lengths, T, vocab=config["vocab_size"], seed=T), "shape check")


@check(points=2, category="correctness")
def test_reuses_pretrained_weights(ex):
    """The classifier holds every pretrained embedding and encoder tensor (loaded), and not the LM head.
    zh: 分类器包含所有预训练的嵌入和编码器张量（已加载），且不包含 LM head。
    """
    m, config = _make(ex, classes=4)
    origin = _origin(m, config)
    sd = _pretrained(config).state_dict()
    held = {key for key, _ in origin.values()}
    wanted = [k for k in sd if not k.startswith("lm_head.")]
    missing = [k for k in wanted if k not in held]
    if missing:
        fail(f"The classifier should hold the pretrained embedding and encoder weights; {len(missing)} of the "
             f"{len(wanted)} pretrained tensors are not among its parameters ({_short(missing)}).",
             f"分类器应包含预训练的嵌入和编码器权重；{len(wanted)} 个预训练张量中有 {len(missing)} 个不在它的参数里"
             f"（{_short(missing)}）。",
             likely=("state_dict never loaded (TinyEncoderLM(**config) alone is a fresh random model), loaded with "
                     "strict=False under the wrong keys, or the encoder rebuilt/re-initialised after loading.",
                     "没有加载 state_dict（只调用 TinyEncoderLM(**config) 得到的是随机初始化的模型），用 strict=False "
                     "以错误的键加载，或加载后又重建/重新初始化了编码器。"))
    lm = [k for k in held if k.startswith("lm_head.")]
    expect(not lm, f"The classifier still holds the LM head ({_short(lm)}); it predicts tokens, not classes, and would "
           "be trained (and saved) for nothing.",
           f"分类器仍包含 LM head（{_short(lm)}）；它预测的是 token 而不是类别，留着只会白白被训练（和保存）。",
           likely=("the whole TinyEncoderLM kept as a submodule: drop lm_head (keep tok_emb, pos_emb, encoder only, or "
                   "replace lm_head with nn.Identity()).",
                   "把整个 TinyEncoderLM 作为子模块保留了：去掉 lm_head（只保留 tok_emb、pos_emb、encoder，或把 lm_head "
                   "换成 nn.Identity()）。"))


@check(points=3, category="correctness")
def test_uses_pretrained_features(ex):
    """In eval mode, logits equal head(mean over real tokens of the pretrained encoder's output).
    zh: eval 模式下，logits 等于 head(预训练编码器输出在真实 token 上的平均)。
    """
    for seed, (lengths, T, kw) in enumerate([([6, 3, 1], 6, {}), ([4, 4, 2, 3], 4, dict(num_layers=2, d_model=12))]):
        m, config = _make(ex, classes=3, seed=seed, **kw)
        m.eval()
        tok = _tokens(lengths, T, seed=20 + seed)
        with torch.no_grad():
            y = _forward(m, tok, "pretrained features")
        want = _expected(m, config, tok, seed)
        if not torch.allclose(y, want, atol=1e-4, rtol=1e-4):
            assert_close(y, want, f"logits for tokens {tuple(tok.shape)} (lengths {lengths})", atol=1e-4,
                         likely=_diagnose(y, m, config, tok, seed) or
                         ("the embeddings not computed as in TinyEncoderLM.forward (token + position embedding), the "
                          "encoder skipped, or an extra layer between the pooled features and the head.",
                          "嵌入没有按 TinyEncoderLM.forward 的方式计算（词嵌入 + 位置嵌入），跳过了编码器，"
                          "或在池化特征和分类头之间多加了一层。"))


@check(points=2, category="correctness")
def test_batch_independence(ex):
    """In eval mode, changing one sample of the batch never changes another sample's logits.
    zh: eval 模式下，修改 batch 中的一个样本，不会改变其他样本的 logits。
    """
    m, config = _make(ex, classes=3, seed=2)
    m.eval()
    tok = _tokens([5, 2, 5, 3, 4], 5, seed=30)  # B == T: a model that mixes the axes still runs
    with torch.no_grad():
        y = _forward(m, tok, "batch independence")
        for j, s in [(0, 31), (3, 32)]:
            tok2 = tok.clone()
            tok2[j] = _tokens([5], 5, seed=s)[0]
            y2 = _forward(m, tok2, "batch independence")
            others = [i for i in range(len(tok)) if i != j]
            diff = (y2[others] - y[others]).abs().max().item()
            expect(diff < 1e-5,
                   f"Changing sample {j} of a batch of 5 changed the other samples' logits (largest change {diff:.3g}); "
                   "each sequence's logits must depend on its own tokens only.",
                   f"修改 5 个样本中的第 {j} 个，其他样本的 logits 也变了（最大变化 {diff:.3g}）；每个序列的 logits "
                   "只能依赖它自己的 token。",
                   likely=("pooling over the batch axis (dim=0) instead of the sequence axis (dim=1), or the encoder "
                           "rebuilt without batch_first=True so that attention runs across the batch.",
                           "在 batch 维度（dim=0）而不是序列维度（dim=1）上做了池化，或重建编码器时没有 batch_first=True，"
                           "注意力在 batch 内的样本之间计算。"))


@check(points=2, category="correctness")
def test_padding_invariance(ex):
    """Appending padding never changes the logits, in eval mode and in train mode (dropout 0).
    zh: 在末尾追加填充不会改变 logits，eval 模式和训练模式（dropout 为 0）都一样。
    """
    m, config = _make(ex, classes=3, seed=3)
    tok = _tokens([6, 2, 4], 6, seed=40)  # sample 0 has no padding at all
    for mode in ("eval", "train"):
        m.train(mode == "train")
        with torch.no_grad():
            y = _forward(m, tok, "padding invariance")
            for extra in (1, 4):
                longer = torch.cat([tok, torch.full((3, extra), PAD)], dim=1)
                y2 = _forward(m, longer, "padding invariance")
                if not torch.allclose(y2, y, atol=1e-4, rtol=1e-4):
                    diff = (y2 - y).abs().max().item()
                    m.eval()
                    likely = _diagnose(_forward(m, tok, "padding invariance"), m, config, tok, 3)
                    fail(f"{mode} mode: appending {extra} padding token(s) (pad_id={PAD}) changed the logits (largest "
                         f"change {diff:.3g}); padding must not influence the result.",
                         f"{mode} 模式：追加 {extra} 个填充 token（pad_id={PAD}）后 logits 变了（最大变化 {diff:.3g}）；"
                         "填充不应影响结果。",
                         likely=likely or ("the padding mask (True = padding, tokens == pad_id) not passed to the "
                                           "encoder, or the mean taken over padding too.",
                                           "没有把填充掩码（True = 填充，tokens == pad_id）传给编码器，或平均时包含了填充。"))


def _depth_name(depth, L):
    if depth == 0:
        return "head"
    if depth == L + 1:
        return "embeddings"
    return f"encoder layer {L - depth}"


@check(points=3, category="correctness")
def test_layerwise_learning_rates(ex):
    """Each parameter's lr: head base_lr, layer i base_lr * decay ** (L - i), embeddings base_lr * decay ** (L + 1).
    zh: 每个参数的学习率：分类头 base_lr，第 i 层 base_lr * decay ** (L - i)，嵌入层 base_lr * decay ** (L + 1)。
    """
    for L, base, decay in ((3, 1e-3, 0.5), (2, 2e-4, 0.8)):
        m, config = _make(ex, classes=3, num_layers=L)
        origin = _loaded_origin(m, config)
        groups = _groups(ex, m, base, decay)
        seen = {}
        for g in groups:
            for p in g["params"]:
                if id(p) in origin:
                    seen.setdefault(origin[id(p)][1], set()).add(as_number(g["lr"], "a group's 'lr'"))
        want = {d: _expected_lr(d, base, decay) for d in range(L + 2)}
        bad = {d: sorted(v) for d, v in seen.items() if d >= 0 and any(abs(x - want[d]) > 1e-9 * want[d] for x in v)}
        if not bad:
            continue
        got = {d: sorted(seen.get(d, [])) for d in range(L + 2)}
        table = ", ".join(f"{_depth_name(d, L)}: want {want[d]:.4g}, got {[float(f'{x:.4g}') for x in got[d]]}"
                          for d in range(L + 2))
        flat = lambda d: got[d][0] if len(got[d]) == 1 else None  # noqa: E731
        if flat(0) is not None and flat(L + 1) is not None and abs(flat(L + 1) - base) < 1e-12 and flat(0) < base:
            likely = ("the decay runs the wrong way: the embeddings (lowest layer) must get the smallest rate and the "
                      "head the base rate.",
                      "衰减方向反了：嵌入层（最底层）应得到最小的学习率，分类头使用基础学习率。")
        elif all(flat(d) is not None and abs(flat(d) - want[d - 1]) < 1e-12 * base for d in range(1, L + 2)):
            likely = ("off by one: the top encoder layer already gets base_lr * decay (the head alone has base_lr), "
                      "layer i gets base_lr * decay ** (L - i).",
                      "差了一位：最顶层的编码器层就应是 base_lr * decay（只有分类头是 base_lr），第 i 层为 "
                      "base_lr * decay ** (L - i)。")
        elif len({x for v in got.values() for x in v}) == 1:
            likely = ("one learning rate for everything: make one group per layer, each with its own 'lr'.",
                      "所有参数用了同一个学习率：应为每一层建一个参数组，各自设置 'lr'。")
        else:
            likely = ("layers numbered from the top instead of the bottom, or the embeddings put with layer 0.",
                      "层号从顶层而不是底层开始数，或把嵌入层和第 0 层放在了一起。")
        fail(f"layerwise_param_groups(model, base_lr={base}, decay={decay}) with L={L} layers: wrong learning rates "
             f"({table}).",
             f"layerwise_param_groups(model, base_lr={base}, decay={decay})，L={L} 层：学习率不对（{table}）。",
             likely=likely)


@check(points=2, category="correctness")
def test_groups_cover_each_parameter_once(ex):
    """Every parameter of the model is in exactly one group, nothing else is, and AdamW accepts the groups.
    zh: 模型的每个参数恰好出现在一个参数组中，没有别的张量，AdamW 能接受这些参数组。
    """
    m, config = _make(ex, classes=2, num_layers=2, d_model=12, nhead=2)
    names = _names(m)
    groups = _groups(ex, m)
    count = {}
    for g in groups:
        for p in g["params"]:
            count[id(p)] = count.get(id(p), 0) + 1
    twice = [names.get(i, "?") for i, c in count.items() if c > 1]
    expect(not twice, f"Parameters appear in more than one group: {_short(twice)} (AdamW refuses that).",
           f"有参数出现在多个参数组中：{_short(twice)}（AdamW 会拒绝）。",
           likely=("a parameter matched by two name rules (e.g. 'bias' and 'encoder.layers.1'), or the whole "
                   "model.parameters() added as one more group.",
                   "某个参数同时匹配了两条名字规则（例如 'bias' 和 'encoder.layers.1'），或又把整个 model.parameters() "
                   "加成了一个参数组。"))
    missing = [n for i, n in names.items() if i not in count]
    expect(not missing, f"Parameters in no group: {_short(missing)}; every parameter must be in exactly one.",
           f"有参数不在任何参数组中：{_short(missing)}；每个参数都必须恰好在一个组里。",
           likely=("the head, the position embedding or the LayerNorm parameters forgotten when building the groups.",
                   "构建参数组时漏掉了分类头、位置嵌入或 LayerNorm 的参数。"))
    foreign = [i for i in count if i not in names]
    expect(not foreign, f"The groups hold {len(foreign)} tensors that are not parameters of the model.",
           f"参数组中有 {len(foreign)} 个不属于该模型的张量。",
           likely=("parameters taken from another model (a copy, or a fresh TinyEncoderLM).",
                   "参数取自另一个模型（副本，或新建的 TinyEncoderLM）。"))
    try:
        torch.optim.AdamW(groups, lr=1.0)
    except (ValueError, TypeError) as e:
        fail(f"torch.optim.AdamW(groups) refused the groups: {e}", f"torch.optim.AdamW(groups) 拒绝了这些参数组：{e}")


@check(points=2, category="correctness")
def test_no_weight_decay_on_bias_and_norm(ex):
    """weight_decay is the given value for weight matrices (ndim >= 2) and 0 for biases and LayerNorm parameters.
    zh: 权重矩阵（ndim >= 2）的 weight_decay 为给定值，偏置和 LayerNorm 参数为 0。
    """
    m, config = _make(ex, classes=3, num_layers=2)
    names = _names(m)
    groups = _groups(ex, m, wd=0.05)
    wrong_decayed, wrong_free = [], []
    for g in groups:
        wd = as_number(g["weight_decay"], "a group's 'weight_decay'")
        for p in g["params"]:
            if p.ndim < 2 and wd != 0.0:
                wrong_decayed.append(names.get(id(p), "?"))
            if p.ndim >= 2 and abs(wd - 0.05) > 1e-12:
                wrong_free.append(f"{names.get(id(p), '?')} ({wd})")
    expect(not wrong_decayed, f"Biases and LayerNorm parameters should have weight_decay 0.0; {_short(wrong_decayed)} "
           "are decayed.",
           f"偏置和 LayerNorm 参数的 weight_decay 应为 0.0；{_short(wrong_decayed)} 被施加了权重衰减。",
           likely=("weight_decay set on every group: decaying biases and LayerNorm gains pulls them to 0; split each "
                   "layer into matrices (p.ndim >= 2) and the rest (weight_decay 0.0).",
                   "所有参数组都设置了 weight_decay：对偏置和 LayerNorm 增益做衰减会把它们拉向 0；应把每层拆成矩阵"
                   "（p.ndim >= 2）和其余参数（weight_decay 0.0）。"))
    expect(not wrong_free, f"Weight matrices and embeddings should have weight_decay 0.05 (the value given); "
           f"{_short(wrong_free)} do not.",
           f"权重矩阵和嵌入的 weight_decay 应为给定的 0.05；{_short(wrong_free)} 不是。",
           likely=("the no-decay rule matched too much (e.g. every name containing 'weight' or 'norm', or "
                   "self_attn.in_proj_weight / embeddings left out of decay).",
                   "不衰减的规则匹配得太宽（例如所有名字含 'weight' 或 'norm' 的参数，或把 self_attn.in_proj_weight / "
                   "嵌入排除在衰减之外）。"))


@check(points=3, category="gradient")
def test_unfreeze_top_gradients(ex):
    """After unfreeze_top(model, k), only the head and the top k layers require and get gradients.
    zh: unfreeze_top(model, k) 之后，只有分类头和最顶上的 k 层需要并得到梯度。
    """
    L = 3
    tok = _tokens([5, 3, 4], 5, seed=50)
    y = torch.tensor([0, 1, 2])
    for k in (0, 1, 2, L + 1):
        m, config = _make(ex, classes=3, num_layers=L)
        origin = _loaded_origin(m, config)
        names = _names(m)
        ex.unfreeze_top(m, k)
        m.train()
        F.cross_entropy(_forward(m, tok, f"unfreeze_top(model, {k})"), y).backward()
        should = {i for i, (_, depth) in origin.items() if 0 <= depth <= k}
        params = [p for p in m.parameters() if origin[id(p)][1] >= 0]  # a kept LM head is test_reuses_pretrained_weights' business
        wrong_on = [names[id(p)] for p in params if id(p) not in should and (p.requires_grad or p.grad is not None)]
        wrong_off = [names[id(p)] for p in params if id(p) in should and (not p.requires_grad or p.grad is None)]
        if wrong_on or wrong_off:
            bottom = {i for i, (_, depth) in origin.items() if depth == 0 or (1 <= depth <= L and L + 1 - depth <= k)}
            trainable = {id(p) for p in params if p.requires_grad}
            if 0 < k <= L and trainable == bottom:
                likely = ("the bottom k layers unfrozen (model.encoder.layers[:k]) instead of the top k "
                          "(model.encoder.layers[-k:] / layers L - k .. L - 1).",
                          "解冻的是最底下的 k 层（model.encoder.layers[:k]），而不是最顶上的 k 层"
                          "（model.encoder.layers[-k:]，即第 L - k .. L - 1 层）。")
            elif wrong_on and all(p.requires_grad for p in params):
                likely = ("nothing frozen first: a fresh classifier has every parameter trainable, so unfreeze_top must "
                          "set requires_grad=False on everything below the top k layers.",
                          "没有先冻结：新建的分类器所有参数都可训练，unfreeze_top 必须把顶部 k 层以下的参数都设为 "
                          "requires_grad=False。")
            elif k == 0 and wrong_on:
                likely = ("k = 0 should leave only the head trainable (model.encoder.layers[-0:] is the whole list!).",
                          "k = 0 时应只有分类头可训练（model.encoder.layers[-0:] 是整个列表！）。")
            elif k == L + 1 and wrong_off:
                likely = ("k >= L + 1 should unfreeze the embeddings too (everything trainable).",
                          "k >= L + 1 时嵌入层也应解冻（全部可训练）。")
            else:
                likely = ("the head frozen, or layers counted from the wrong end.",
                          "分类头被冻结了，或从错误的一端数层。")
            fail(f"unfreeze_top(model, {k}) with L={L} layers: " +
                 (f"{_short(wrong_on)} still require grad or got a gradient but should be frozen" if wrong_on else "") +
                 ("; " if wrong_on and wrong_off else "") +
                 (f"{_short(wrong_off)} should be trainable and get a gradient" if wrong_off else "") + ".",
                 f"unfreeze_top(model, {k})，L={L} 层：" +
                 (f"{_short(wrong_on)} 应被冻结，却仍需要梯度或得到了梯度" if wrong_on else "") +
                 ("；" if wrong_on and wrong_off else "") +
                 (f"{_short(wrong_off)} 应可训练并得到梯度" if wrong_off else "") + "。",
                 likely=likely)


@check(points=2, category="training")
def test_gradual_unfreezing_learns(ex):
    """AdamW on the groups with unfreeze_top(k) for k = 0, 1, 2 lowers the loss; the embeddings stay unchanged.
    zh: 用这些参数组构建 AdamW，依次 unfreeze_top(k)（k = 0, 1, 2）训练，损失下降，嵌入层保持不变。
    """
    g = torch.Generator().manual_seed(60)
    lengths = torch.randint(3, 8, (16,), generator=g).tolist()
    labels = torch.arange(16) % 2
    tok = torch.where(labels[:, None] == 0, torch.randint(1, 10, (16, 7), generator=g),
                      torch.randint(10, 20, (16, 7), generator=g))
    for i, n in enumerate(lengths):
        tok[i, n:] = PAD
    state = {}

    def run(seed):
        m, config = _make(ex, classes=2, seed=seed)
        origin = _loaded_origin(m, config, seed)
        emb = [(n, p.detach().clone(), p) for n, p in m.named_parameters() if origin[id(p)][1] == config["num_layers"] + 1]
        opt = torch.optim.AdamW(_groups(ex, m, base=1e-2, decay=0.7, wd=0.01), lr=1e-2)
        m.train()
        losses = []
        for k in (0, 1, 2):
            ex.unfreeze_top(m, k)
            for _ in range(5):
                loss = F.cross_entropy(_forward(m, tok, "training"), labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        state["moved"] = [n for n, before, p in emb if not torch.equal(before, p.detach())]
        return losses

    assert_learns_over_seeds(run, what="gradual unfreezing (k = 0, 1, 2; 5 AdamW steps each)")
    moved = state.get("moved", [])
    expect(not moved, f"The embeddings were never unfrozen (k <= 2 < L + 1) but changed: {_short(moved)}.",
           f"嵌入层从未解冻（k <= 2 < L + 1），却发生了变化：{_short(moved)}。",
           likely=("unfreeze_top leaves the embeddings trainable, so AdamW updates them.",
                   "unfreeze_top 让嵌入层仍可训练，AdamW 因而更新了它们。"))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """Moved with .to(device), it runs there (padding included) and matches the CPU logits.
    zh: 用 .to(device) 移动后，模型能在该设备上运行（含填充），结果与 CPU 一致。
    """
    m, config = _make(ex, classes=3, seed=4)
    m.eval()
    tok = _tokens([6, 2, 5], 6, seed=70)
    with torch.no_grad():
        ref = _forward(m, tok, "CPU run")
    with accelerator() as dev:
        m.to(dev)
        with torch.no_grad():
            y = m(tok.to(dev))
        assert_on_device(y, dev, "TransformerClassifier logits",
                         likely=("the positions built with torch.arange(T) without device=tokens.device, or a mask or "
                                 "count created on the CPU.",
                                 "位置下标用 torch.arange(T) 创建时没有指定 device=tokens.device，或掩码/计数张量建在了 CPU 上。"))
        y = to_cpu(y)
    assert_close(y, ref, "logits on the accelerator", atol=1e-4)
