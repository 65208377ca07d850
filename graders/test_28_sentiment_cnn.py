"""Grader for exercise 28 — sentiment analysis end to end with a convolutional text classifier.

The corpus is generated here: every sentence holds one sentiment word and one "not"; "not" flips the
label only when it stands right before the sentiment word. Both classes then have the same bags of
words, so only a model that sees word order (a width >= 2 convolution) can pass the accuracy check.
"""
import math
import random

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, as_number, assert_close, assert_shape, assert_tensor, check,
                             device_mismatch_explained, expect, fail, run_learner, seeded, to_cpu)

PAD_ID, UNK_ID = 0, 1

POS = ["good", "great", "fine", "nice", "excellent", "superb", "wonderful", "pleasant"]
NEG = ["bad", "awful", "poor", "boring", "terrible", "dull", "weak", "horrible"]
FILL = ["the", "movie", "film", "was", "really", "plot", "acting", "it", "a", "this", "story", "quite", "cast",
        "ending", "so", "and", "i", "thought", "overall", "seemed"]


# ---------------------------------------------------------------------------
# private helpers

DEVICE = ("the batch not moved to the model's device (next(model.parameters()).device), or a tensor created without "
          "device=...",
          "batch 没有移到模型所在的设备（next(model.parameters()).device），或某个张量创建时没有指定 device=...")
# run_learner's likely mistakes, by a piece of the error text (first match wins)
KNOWN = [
    ("kernel size",
     ("a text shorter than the widest kernel: pad the ids on the right with PAD_ID up to at least max(kernel_sizes) "
      "(the rule: every real token starts a window).",
      "文本比最宽的卷积核还短：应在右侧用 PAD_ID 把 id 补到至少 max(kernel_sizes) 长（规则：每个真实词都是一个窗口的起点）。")),
    ("same device", DEVICE),
    ("numpy", DEVICE),
]
# what a check needs of the learner's code, by the name of the function it calls (a module: its forward)
NEED = {
    "build_vocab": ("return a dict token -> id with <pad> = 0, <unk> = 1", "返回 词 -> id 的字典，<pad> = 0、<unk> = 1"),
    "encode": ("return the text's token ids (UNK_ID for unknown tokens)", "返回文本的词 id（未知词为 UNK_ID）"),
    "pad_batch": ("pad the id lists on the right with PAD_ID into one (B, T) tensor",
                  "在右侧用 PAD_ID 把各 id 列表补齐成一个 (B, T) 张量"),
    "TextCNN": ("build the model", "构建模型"),
    "forward": ("return logits (B, num_classes) for ids (B, T)", "对 id (B, T) 返回 logits (B, num_classes)"),
    "fit": ("train with early stopping and return the validation losses of the epochs run",
            "带早停地训练，并返回已运行各轮的验证损失"),
    "validation_loss": ("return the mean cross-entropy as a float", "以浮点数返回平均交叉熵"),
    "predict": ("return class probabilities (N, num_classes)", "返回类别概率 (N, num_classes)"),
}


def _run(what, fn, *args, **kwargs):
    """fn(*args, **kwargs) through run_learner: a crash fails the check saying what fn had to do (NEED, by its name)
    and the likely mistake (KNOWN)."""
    return run_learner(what, NEED[getattr(fn, "__name__", "forward")], fn, *args, known=KNOWN, **kwargs)


def _ints(seq, what):
    """A list of Python ints from a list/tuple/ndarray/tensor of integers (not bools, not floats)."""
    if isinstance(seq, torch.Tensor):
        expect(not seq.is_floating_point() and seq.dtype != torch.bool and seq.dim() == 1,
               f"{what}: expected a 1-D sequence of integer ids, got a {seq.dtype} tensor of shape {tuple(seq.shape)}.",
               f"{what}：应为一维整数 id 序列，实际为形状 {tuple(seq.shape)} 的 {seq.dtype} 张量。")
        return [int(v) for v in seq.tolist()]
    try:
        items = list(seq)
    except TypeError:
        fail(f"{what}: expected a list of integer ids, got {type(seq).__name__}.",
             f"{what}：应为整数 id 列表，实际为 {type(seq).__name__}。")
    ok = all(hasattr(v, "__index__") and not isinstance(v, bool) for v in items)
    expect(ok, f"{what}: expected integer ids, got {items!r}.", f"{what}：应为整数 id，实际为 {items!r}。")
    return [int(v) for v in items]


def _vocab(ex, texts, min_freq, what=None):
    what = what or f"build_vocab(texts, min_freq={min_freq})"
    v = _run(what, ex.build_vocab, texts, min_freq=min_freq)
    expect(hasattr(v, "items") and hasattr(v, "__getitem__"),
           f"{what} should return a dict token -> id, got {type(v).__name__}.",
           f"{what} 应返回 词 -> id 的字典，实际为 {type(v).__name__}。")
    return {str(k): int(i) for k, i in v.items()}


def _model(ex, V, seed=0, **kw):
    args = dict(num_classes=2, embed_dim=16, num_filters=12, kernel_sizes=(2, 3), dropout=0.0)
    args.update(kw)
    with seeded(seed):
        m = _run(f"TextCNN({V}, **{args})", ex.TextCNN, V, **args)
    expect(isinstance(m, nn.Module), f"TextCNN(...) should be an nn.Module, got {type(m).__name__}.",
           f"TextCNN(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _logits(m, tokens, what="TextCNN.forward(tokens)"):
    out = _run(what, m, tokens)
    assert_tensor(out, what)
    return out


def _rand_tokens(V, lengths, seed):
    with seeded(seed):
        t = torch.randint(2, V, (len(lengths), max(lengths)))
    t[torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]] = PAD_ID
    return t


def _sentence(rng):
    """(text, label, negated): one sentiment word, one 'not' (right before it iff negated)."""
    words = [rng.choice(FILL) for _ in range(rng.randint(3, 7))]
    positive = rng.random() < 0.5
    negated = rng.random() < 0.5
    s = rng.randrange(len(words) + 1)
    words.insert(s, rng.choice(POS if positive else NEG))
    if negated:
        words.insert(s, "not")
    else:  # anywhere but right before the sentiment word
        spots = [i for i in range(len(words) + 1) if i != s]
        words.insert(rng.choice(spots), "not")
    if rng.random() < 0.3:
        words[0] = words[0].capitalize()
    return " ".join(words), int(positive != negated), negated


def _corpus(n, seed):
    rng = random.Random(seed)
    rows = [_sentence(rng) for _ in range(n)]
    return [r[0] for r in rows], torch.tensor([r[1] for r in rows]), [r[2] for r in rows]


def _encode_all(ex, texts, vocab):
    seqs = [_ints(_run("encode(text, vocab)", ex.encode, t, vocab), "encode(text, vocab)") for t in texts]
    batch = _run("pad_batch(seqs)", ex.pad_batch, seqs)
    assert_tensor(batch, "pad_batch(seqs)")
    return batch.long()


class _Scripted:
    """An `evaluate` callback that returns scripted validation losses and snapshots the weights it sees."""

    def __init__(self, losses):
        self.losses, self.snaps = list(losses), []

    def __call__(self, model):
        self.snaps.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        model.eval()  # as a real evaluator would: fit must switch back to train mode
        return self.losses[min(len(self.snaps) - 1, len(self.losses) - 1)]


def _same(sd, snap):
    return all(torch.equal(sd[k].detach().cpu(), v.cpu()) for k, v in snap.items())


def _fit_data(V, n, seed):
    with seeded(seed):
        tokens = torch.randint(2, V, (n, 6))
        labels = torch.randint(0, 2, (n,))
    return tokens, labels


def _fit(ex, m, script, patience, epochs=20, n=40, batch_size=16):
    train, val = _fit_data(30, n, seed=7), _fit_data(30, 16, seed=8)
    ev = _Scripted(script)
    hist = _run("fit(model, train, val, ..., evaluate=callback)", ex.fit, m, train, val, epochs=epochs,
                patience=patience, lr=1e-2, batch_size=batch_size, evaluate=ev)
    return ev, hist


# ---------------------------------------------------------------------------
# checks: text


@check(points=2, category="correctness")
def test_vocab_rules(ex):
    """build_vocab: <pad>=0, <unk>=1, contiguous ids, lowercase whitespace tokens, count >= min_freq.
    zh: build_vocab：<pad>=0、<unk>=1、id 连续、小写并按空白切分、出现次数 >= min_freq 的词。
    """
    texts = ["The cat sat", "the dog sat down.", "A cat", "DOG dog cat", "down. the end"]
    counts = {"the": 3, "cat": 3, "sat": 2, "dog": 3, "down.": 2, "a": 1, "end": 1}
    for min_freq in (1, 2, 3, 4):
        v = _vocab(ex, texts, min_freq)
        what = f"build_vocab(texts, min_freq={min_freq})"
        expect(v.get("<pad>") == PAD_ID and v.get("<unk>") == UNK_ID,
               f"{what}: '<pad>' must have id 0 and '<unk>' id 1; got {v.get('<pad>')} and {v.get('<unk>')}.",
               f"{what}：'<pad>' 的 id 必须为 0，'<unk>' 为 1；实际为 {v.get('<pad>')} 和 {v.get('<unk>')}。",
               likely=("the specials added after the counted tokens, or not added at all.", "特殊符号加在统计出的词之后，或者根本没加。"))
        expect(sorted(v.values()) == list(range(len(v))),
               f"{what}: ids should be 0..{len(v) - 1} with no gaps or repeats; got {sorted(v.values())}.",
               f"{what}：id 应为 0..{len(v) - 1}，不能有空缺或重复；实际为 {sorted(v.values())}。",
               likely=("ids taken from a counter over all tokens before filtering by min_freq.",
                       "在按 min_freq 过滤之前就给所有词分配了 id。"))
        got = set(v) - {"<pad>", "<unk>"}
        want = {t for t, n in counts.items() if n >= min_freq}
        if got != want:
            likely = ("keep the tokens whose count is >= min_freq, counted over tokenize(text) = text.lower().split().",
                      "保留出现次数 >= min_freq 的词，计数基于 tokenize(text) = text.lower().split()。")
            if any(t != t.lower() for t in got):
                likely = ("no lowercasing: tokenize is text.lower().split(), so 'The' and 'the' are one token.",
                          "没有转小写：tokenize 是 text.lower().split()，'The' 和 'the' 是同一个词。")
            elif got == {t for t, n in counts.items() if n > min_freq}:
                likely = ("count > min_freq: a token seen exactly min_freq times must be kept (count >= min_freq).",
                          "用了 count > min_freq：恰好出现 min_freq 次的词也必须保留（count >= min_freq）。")
            fail(f"{what}: expected the tokens {sorted(want)} (besides the specials), got {sorted(got)}.",
                 f"{what}：除特殊符号外，期望的词为 {sorted(want)}，实际为 {sorted(got)}。", likely=likely)


@check(points=2, category="correctness")
def test_encode_and_pad(ex):
    """encode maps unknown tokens to <unk> and lowercases; pad_batch right-pads with 0 into an int64 (B, T).
    zh: encode 把未知词映射为 <unk> 并转小写；pad_batch 在右侧用 0 填充，得到 int64 的 (B, T)。
    """
    v = {"<pad>": PAD_ID, "<unk>": UNK_ID, "the": 2, "sat": 3, "cat": 4, "a": 5}  # a vocabulary made here
    got = _ints(_run("encode('The zebra SAT', vocab)", ex.encode, "The zebra SAT", v), "encode('The zebra SAT', vocab)")
    want = [v["the"], UNK_ID, v["sat"]]
    expect(got == want, f"encode('The zebra SAT', vocab) should be {want} ('zebra' unknown -> {UNK_ID}); got {got}.",
           f"encode('The zebra SAT', vocab) 应为 {want}（未知词 'zebra' -> {UNK_ID}）；实际为 {got}。",
           likely=("unknown tokens dropped or mapped to PAD_ID, or encode not lowercasing (use tokenize).",
                   "未知词被丢掉或映射成了 PAD_ID，或者 encode 没有转小写（应使用 tokenize）。"))
    seqs = [[5, 6, 7], [8], [9, 10]]
    b = _run("pad_batch([[5, 6, 7], [8], [9, 10]])", ex.pad_batch, seqs)
    assert_tensor(b, "pad_batch(...)")
    expect(b.dtype == torch.int64, f"pad_batch should return int64 (LongTensor) ids, got {b.dtype}.",
           f"pad_batch 应返回 int64（LongTensor）的 id，实际为 {b.dtype}。", likely=("torch.zeros(...) without dtype=torch.long.",
                                                                          "torch.zeros(...) 没有指定 dtype=torch.long。"))
    want = torch.tensor([[5, 6, 7], [8, 0, 0], [9, 10, 0]])
    expect(torch.equal(b.cpu(), want), f"pad_batch([[5, 6, 7], [8], [9, 10]]) should be {want.tolist()}, got {b.tolist()}.",
           f"pad_batch([[5, 6, 7], [8], [9, 10]]) 应为 {want.tolist()}，实际为 {b.tolist()}。",
           likely=("left padding, or padding with a value other than PAD_ID = 0.", "在左侧填充，或用了 PAD_ID = 0 之外的值填充。"))


# ---------------------------------------------------------------------------
# checks: the model


def _conv_widths(m):
    ws = []
    for mod in m.modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            ws.append(int(mod.kernel_size[0]))
    return sorted(ws)


@check(points=2, category="shape")
def test_logits_shape(ex):
    """TextCNN gives (B, num_classes) for several sizes, T=1 included; one convolution per kernel width.
    zh: TextCNN 对多种尺寸（包括 T=1）输出 (B, num_classes)；每个卷积核宽度对应一个卷积。
    """
    for i, (V, C, E, Fn, ks, B, T) in enumerate([(20, 2, 8, 6, (2, 3), 4, 7), (15, 3, 10, 5, (2, 3, 5), 3, 1),
                                                 (30, 5, 6, 4, (3, 4), 1, 2)]):
        m = _model(ex, V, seed=i, num_classes=C, embed_dim=E, num_filters=Fn, kernel_sizes=ks)
        m.eval()
        out = _logits(m, _rand_tokens(V, [T] * B, seed=i), f"TextCNN(kernel_sizes={ks}) on tokens ({B}, {T})")
        assert_shape(out, (B, C), f"logits of TextCNN(num_classes={C}) on tokens ({B}, {T})")
        ws = _conv_widths(m)
        expect(ws == sorted(ks), f"TextCNN(kernel_sizes={ks}) should hold one convolution per width, "
                                 f"time extents {sorted(ks)}; found {ws}.",
               f"TextCNN(kernel_sizes={ks}) 应为每个宽度各建一个卷积，时间方向的宽度为 {sorted(ks)}；实际为 {ws}。",
               likely=("kernel_sizes ignored (fixed widths), or the convolutions kept in a plain list instead of "
                       "nn.ModuleList (then they are not registered).",
                       "忽略了 kernel_sizes（写死了宽度），或卷积放在普通 list 而不是 nn.ModuleList 中（因而没有注册）。"))


@check(points=1, category="correctness")
def test_padding_idx(ex):
    """The embedding has padding_idx = PAD_ID = 0: its <pad> row is zero and gets no gradient.
    zh: 嵌入层的 padding_idx = PAD_ID = 0：<pad> 那一行为零，且不会得到梯度。
    """
    m = _model(ex, 25, seed=3)
    embs = [mod for mod in m.modules() if isinstance(mod, nn.Embedding)]
    expect(len(embs) == 1 and embs[0].num_embeddings == 25,
           f"TextCNN(25, ...) should hold one nn.Embedding(25, embed_dim); found {len(embs)} embeddings.",
           f"TextCNN(25, ...) 应包含一个 nn.Embedding(25, embed_dim)；实际找到 {len(embs)} 个嵌入层。")
    emb = embs[0]
    likely = ("nn.Embedding(vocab_size, embed_dim) without padding_idx=PAD_ID (the seed's bug): the <pad> row is "
              "then a trained vector that every window running past the text sees.",
              "nn.Embedding(vocab_size, embed_dim) 没有设置 padding_idx=PAD_ID（原题的错误）：<pad> 那一行会成为被训练的向量，"
              "所有越过文本末尾的窗口都会看到它。")
    expect(emb.padding_idx == PAD_ID, f"the embedding's padding_idx should be {PAD_ID}, got {emb.padding_idx}.",
           f"嵌入层的 padding_idx 应为 {PAD_ID}，实际为 {emb.padding_idx}。", likely=likely)
    expect(emb.weight[PAD_ID].abs().max().item() == 0, "the embedding's <pad> row (row 0) should be all zeros.",
           "嵌入层的 <pad> 行（第 0 行）应全为零。", likely=("the embedding re-initialised after construction.", "构造后又重新初始化了嵌入层。"))
    m.train()
    _logits(m, _rand_tokens(25, [4, 2, 3], seed=3)).sum().backward()
    g = emb.weight.grad
    expect(g is not None and g[PAD_ID].abs().max().item() == 0, "the <pad> row of the embedding got a gradient.",
           "嵌入层的 <pad> 行得到了梯度。", likely=likely)


@check(points=3, category="correctness")
def test_pooling_padding_invariance(ex):
    """Padding never wins the max: logits are the same alone, in a batch of longer texts, and with more <pad>.
    zh: 填充永远赢不了最大池化：单独计算、与更长的文本同批、追加更多 <pad> 时，logits 都相同。
    """
    V, lengths = 40, [1, 2, 6, 3, 2]
    m = _model(ex, V, seed=11, num_filters=24, kernel_sizes=(2, 3, 4))
    with torch.no_grad():  # positive conv biases: an unmasked pad-only window would win (relu(bias) > 0)
        for mod in m.modules():
            if isinstance(mod, (nn.Conv1d, nn.Conv2d)) and mod.bias is not None:
                mod.bias.uniform_(0.2, 0.6)
    m.eval()
    tokens = _rand_tokens(V, lengths, seed=11)
    with torch.no_grad():
        batch = _logits(m, tokens)
        more = _logits(m, F.pad(tokens, (0, 5), value=PAD_ID))
        assert_shape(batch, (len(lengths), 2), "logits")
        for b, L in enumerate(lengths):
            alone = _logits(m, tokens[b:b + 1, :L], f"TextCNN on one text of {L} token(s)")
            for other, how in ((batch[b], f"padded to T={max(lengths)} in a batch"),
                               (more[b], f"padded to T={max(lengths) + 5}")):
                diff = (other - alone[0]).abs().max().item()
                if diff > 1e-5:
                    fail(f"A text of {L} token(s) {how}: its logits differ from the text alone by up to {diff:.3g}; "
                         f"windows that start on <pad> must never reach the max.",
                         f"一个 {L} 个词的文本{'在 batch 中被填充到 T=' + str(max(lengths)) if 'batch' in how else '被填充到 T=' + str(max(lengths) + 5)}："
                         f"其 logits 与单独计算时最多相差 {diff:.3g}；从 <pad> 开始的窗口绝不能成为最大值。",
                         likely=("max over every position, padding included (relu(bias) of a pad-only window can be the "
                                 "max): set the windows that start at <pad> to -inf with masked_fill before the max "
                                 "(mask = tokens != PAD_ID), and pad the ids so every real token starts a window.",
                                 "在包括填充在内的所有位置上取最大值（纯填充窗口的 relu(bias) 可能成为最大值）：取最大值之前用 "
                                 "masked_fill 把起点为 <pad> 的窗口设为 -inf（mask = tokens != PAD_ID），并补齐 id，"
                                 "使每个真实词都是一个窗口的起点。"))


# ---------------------------------------------------------------------------
# checks: training


@check(points=1, category="correctness")
def test_validation_loss(ex):
    """validation_loss = mean cross-entropy in eval mode, a float, without autograd.
    zh: validation_loss 等于 eval 模式下的平均交叉熵，返回浮点数，不构建计算图。
    """
    m = _model(ex, 30, seed=20, dropout=0.5)
    tokens, labels = _fit_data(30, 24, seed=20)
    m.train()
    grad_on = []
    hook = m.register_forward_hook(lambda mod, inp, out: grad_on.append(torch.is_grad_enabled()))
    try:
        got = _run("validation_loss(model, tokens, labels)", ex.validation_loss, m, tokens, labels)
    finally:
        hook.remove()
    expect(not any(grad_on), "validation_loss ran the model with autograd on: it builds a graph it never uses.",
           "validation_loss 在开启自动求导的情况下运行模型：构建了一个用不到的计算图。",
           likely=("no torch.no_grad() (or torch.inference_mode()) around the forward pass: eval mode does not turn "
                   "autograd off, so every activation is kept for a backward that never comes.",
                   "前向传播外面没有 torch.no_grad()（或 torch.inference_mode()）：eval 模式并不关闭自动求导，"
                   "所有激活值都会为一个永远不会发生的反向传播而保留。"))
    if isinstance(got, torch.Tensor):
        expect(got.grad_fn is None and not got.requires_grad, "validation_loss returned a tensor attached to the graph.",
               "validation_loss 返回了连着计算图的张量。", likely=("no torch.no_grad(), and no .item().", "没有 torch.no_grad()，也没有 .item()。"))
        expect(got.numel() == 1, f"validation_loss should be one number, got shape {tuple(got.shape)}.",
               f"validation_loss 应为一个数，实际形状为 {tuple(got.shape)}。")
    got = as_number(got, "validation_loss's return value")
    m.eval()
    with torch.no_grad():
        want = F.cross_entropy(m(tokens), labels).item()
    expect(math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5),
           f"validation_loss: expected {want:.6g} (mean cross-entropy in eval mode), got {got:.6g}.",
           f"validation_loss：期望 {want:.6g}（eval 模式下的平均交叉熵），实际为 {got:.6g}。",
           likely=("model.eval() missing (dropout active), or the sum instead of the mean.",
                   "缺少 model.eval()（dropout 仍在起作用），或者求和而不是求平均。"))


@check(points=2, category="training")
def test_fit_trains(ex):
    """fit: every batch in train mode (after evaluate's eval), one full pass per epoch, weights updated.
    zh: fit：每个 batch 都在训练模式下（即使 evaluate 切到了 eval），每轮完整遍历一次训练集，权重被更新。
    """
    m = _model(ex, 30, seed=30, dropout=0.3)
    before = {k: v.detach().clone() for k, v in m.state_dict().items()}
    seen = []
    h = m.register_forward_pre_hook(lambda mod, args: seen.append((mod.training, int(args[0].shape[0]))))
    try:
        ev, _ = _fit(ex, m, [1.0, 0.9, 0.8], patience=5, epochs=3, n=40, batch_size=16)
    finally:
        h.remove()
    expect(len(ev.snaps) == 3, f"fit(epochs=3) with a validation loss that keeps falling should call evaluate 3 "
                               f"times (once per epoch); it called it {len(ev.snaps)} times.",
           f"验证损失持续下降时，fit(epochs=3) 应调用 evaluate 3 次（每轮一次）；实际调用了 {len(ev.snaps)} 次。")
    expect(seen, "fit never called the model on a training batch.", "fit 从未在训练 batch 上调用模型。")
    modes = [t for t, _ in seen]
    expect(all(modes), f"{modes.count(False)} of {len(modes)} training batches ran with the model in eval mode.",
           f"{len(modes)} 个训练 batch 中有 {modes.count(False)} 个是在 eval 模式下运行的。",
           likely=("model.train() called once before the loop: evaluate (and validation_loss) switch the model to "
                   "eval mode, so call model.train() at the start of EVERY epoch.",
                   "只在循环前调用了一次 model.train()：evaluate（以及 validation_loss）会把模型切到 eval 模式，"
                   "所以每一轮开始时都要调用 model.train()。"))
    total = sum(n for _, n in seen)
    expect(total == 3 * 40 and max(n for _, n in seen) <= 16,
           f"3 epochs over 40 training texts with batch_size=16 should feed 120 texts in batches of <= 16; fed {total} "
           f"(largest batch {max(n for _, n in seen)}).",
           f"3 轮、40 条训练文本、batch_size=16，应共送入 120 条、每批 <= 16；实际送入 {total} 条"
           f"（最大的一批 {max(n for _, n in seen)}）。",
           likely=("the last partial batch dropped, batch_size ignored, or the loop not over the whole training set.",
                   "丢掉了最后不满的一批、忽略了 batch_size，或者没有遍历整个训练集。"))
    changed = any(not torch.equal(before[k], v) for k, v in ev.snaps[-1].items())
    expect(changed, "fit did not change the weights in 3 epochs.", "fit 在 3 轮内没有改变任何权重。",
           likely=("optimizer.step() missing, or the optimizer built over other parameters.",
                   "缺少 optimizer.step()，或优化器管理的是别的参数。"))


@check(points=3, category="correctness")
def test_early_stopping_restores_best(ex):
    """After fit, the model holds the weights it had at the best validation epoch (driven by a scripted evaluate).
    zh: fit 结束后，模型持有验证损失最好的那一轮的权重（由预设的 evaluate 驱动）。
    """
    for script, patience, best in (([0.9, 0.7, 0.8, 0.85, 0.95, 0.99], 3, 1), ([1.2, 1.1, 0.6, 0.9, 0.61], 2, 2)):
        m = _model(ex, 30, seed=40)
        ev, hist = _fit(ex, m, script, patience=patience)
        expect(len(ev.snaps) > best, f"fit stopped after {len(ev.snaps)} epoch(s); with validation losses {script} and "
                                     f"patience={patience} it should run past epoch {best}.",
               f"fit 在 {len(ev.snaps)} 轮后就停止了；验证损失为 {script}、patience={patience} 时应至少运行到第 {best} 轮之后。")
        sd = m.state_dict()
        if not _same(sd, ev.snaps[best]):
            match = [i for i, s in enumerate(ev.snaps) if _same(sd, s)]
            if match and match[-1] == len(ev.snaps) - 1:
                likely = ("the last epoch's weights are left in the model: either they were never restored, or the "
                          "'best' copy was model.state_dict() itself, whose tensors keep changing; keep "
                          "copy.deepcopy(model.state_dict()) and load_state_dict it before returning.",
                          "模型里留下的是最后一轮的权重：要么根本没有恢复，要么保存的“最佳”权重就是 model.state_dict() 本身，"
                          "其中的张量会继续被训练修改；应保存 copy.deepcopy(model.state_dict())，并在返回前 load_state_dict。")
            elif match:
                likely = (f"the weights of epoch {match[-1]} were restored instead of epoch {best}'s: the copy must be "
                          "taken right after the epoch whose validation loss is the best (strictly lower than before).",
                          f"恢复的是第 {match[-1]} 轮而不是第 {best} 轮的权重：应在验证损失最好（严格低于之前）的那一轮之后立即保存副本。")
            else:
                likely = ("the model holds weights from no epoch's end: the best copy must be taken after evaluate and "
                          "loaded back with load_state_dict.",
                          "模型的权重不属于任何一轮结束时的状态：应在 evaluate 之后保存最佳副本，并用 load_state_dict 加载回来。")
            fail(f"Validation losses {script[:len(ev.snaps)]}: after fit the model should hold epoch {best}'s weights "
                 f"(the lowest loss, {script[best]}), but it does not.",
                 f"验证损失为 {script[:len(ev.snaps)]}：fit 结束后模型应持有第 {best} 轮（损失最低，{script[best]}）的权重，"
                 f"但并非如此。", likely=likely)


@check(points=2, category="correctness")
def test_early_stopping_patience(ex):
    """fit stops after `patience` epochs without a new best, returns one validation loss per epoch run.
    zh: 连续 patience 轮没有刷新最好成绩时 fit 停止，并返回每个已运行轮次的验证损失。
    """
    for script, patience, runs in (([1.0, 0.8, 0.9, 0.5, 0.7, 0.6, 0.65, 0.4, 0.3], 3, 7),
                                   ([0.5, 0.4, 0.3, 0.35, 0.2], 1, 4),
                                   ([0.9, 0.8, 0.7, 0.6, 0.5], 2, 5)):
        m = _model(ex, 30, seed=50)
        ev, hist = _fit(ex, m, script, patience=patience, epochs=5 if runs == 5 else 20, n=16)
        n = len(ev.snaps)
        if n != runs:
            likely = ("count the epochs since the best loss so far (reset only on a strict improvement) and stop when "
                      "the count reaches patience.", "统计自最好成绩以来经过的轮数（只有严格改进时才清零），达到 patience 时停止。")
            if n > runs and runs < len(script):
                likely = ("the counter compares with the previous epoch, not with the best so far, or it is never "
                          "reset/checked: an epoch only improves when it beats the BEST loss seen.",
                          "计数器与上一轮比较而不是与迄今最好成绩比较，或从未清零/检查：只有超过迄今最好的损失才算改进。")
                if n == runs + 1:
                    likely = ("off by one: stop as soon as `patience` epochs in a row brought no improvement "
                              "(bad >= patience), not one epoch later.",
                              "差一：连续 patience 轮没有改进就应立即停止（bad >= patience），而不是再多跑一轮。")
            fail(f"Validation losses {script}, patience={patience}: fit should run {runs} epochs, it ran {n}.",
                 f"验证损失为 {script}、patience={patience}：fit 应运行 {runs} 轮，实际运行了 {n} 轮。", likely=likely)
        expect(isinstance(hist, (list, tuple)) and [float(x) for x in hist] == script[:runs],
               f"fit should return the validation losses of the epochs it ran, {script[:runs]}; got {hist!r}.",
               f"fit 应返回已运行各轮的验证损失 {script[:runs]}；实际为 {hist!r}。")


_ACC = dict(n_train=320, n_val=64, epochs=14, lr=2e-2, batch_size=32, dim=16)


def _accuracy_run(ex, seed):
    a = _ACC
    texts, labels, _ = _corpus(a["n_train"] + a["n_val"], seed=1000 + seed)
    tr, va = slice(0, a["n_train"]), slice(a["n_train"], None)
    vocab = _vocab(ex, texts[tr], 1, "build_vocab(train_texts)")
    X = _encode_all(ex, texts, vocab)
    with seeded(seed):
        m = _model(ex, len(vocab), seed=seed, embed_dim=a["dim"], num_filters=a["dim"], kernel_sizes=(2, 3),
                   dropout=0.2)
        _run(f"fit(model, train, val, epochs={a['epochs']}, patience=3)", ex.fit, m, (X[tr], labels[tr]),
             (X[va], labels[va]), epochs=a["epochs"], patience=3, lr=a["lr"], batch_size=a["batch_size"])
    test_texts, test_labels, negated = _corpus(300, seed=77)
    probs = to_cpu(_run("predict(model, vocab, texts)", ex.predict, m, vocab, test_texts))
    assert_shape(probs, (300, 2), "predict(model, vocab, 300 texts)")
    right = (probs.argmax(1) == test_labels).tolist()
    neg = [r for r, n in zip(right, negated) if n]
    return sum(right) / len(right), sum(neg) / len(neg)


@check(points=3, category="training")
def test_accuracy_with_negations(ex):
    """Trained with fit (<= 14 epochs, widths 2-3), >= 90% held-out accuracy, >= 85% on negated sentences.
    zh: 用 fit 训练（最多 14 轮，卷积宽度 2-3）后，留出集准确率 >= 90%，否定句上 >= 85%。
    """
    res = [_accuracy_run(ex, 0)]
    ok = lambda r: r[0] >= 0.9 and r[1] >= 0.85  # noqa: E731
    if not ok(res[0]):  # an unlucky seed never fails a correct answer: then 2 more seeds must both pass
        res += [_accuracy_run(ex, s) for s in (1, 2)]
        if not all(ok(r) for r in res[1:]):
            shown = ", ".join(f"{a:.0%} (negated {n:.0%})" for a, n in res)
            fail(f"Held-out accuracy over 3 seeds: {shown}; expected >= 90% overall and >= 85% on sentences where "
                 f"'not' stands right before the sentiment word. Every sentence holds one 'not' and one sentiment "
                 f"word, so a model that ignores word order scores about 50%.",
                 f"3 个随机种子的留出准确率：{shown}；期望总体 >= 90%，在 'not' 紧挨着情感词之前的句子上 >= 85%。"
                 f"每个句子都含一个 'not' 和一个情感词，因此忽略词序的模型只能得到约 50%。",
                 likely=("a bag of words (mean/sum of embeddings, or kernel width 1) cannot tell 'not good' from "
                         "'not ... good': convolve over neighbouring tokens (widths >= 2); or the pooling, the "
                         "training loop or the restored weights are wrong (see the other checks).",
                         "词袋模型（嵌入取平均/求和，或卷积宽度为 1）分不清 'not good' 和 'not ... good'：应在相邻词上做卷积"
                         "（宽度 >= 2）；或者池化、训练循环或恢复的权重有误（见其他检查）。"))


@check(points=2, category="correctness")
def test_predict(ex):
    """predict: probabilities (N, C) summing to 1, eval-mode softmax of the logits, no autograd, any lengths.
    zh: predict：概率 (N, C)，每行和为 1，等于 eval 模式下 logits 的 softmax，不构建计算图，长度任意。
    """
    texts = ["not good at all", "Great", "the plot was dull and the acting weak", "zebra"]
    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>"] + "not good at all great the plot was dull and".split())}
    m = _model(ex, len(vocab), seed=60, num_classes=3, kernel_sizes=(2, 4), dropout=0.5)
    m.train()
    p = _run("predict(model, vocab, texts)", ex.predict, m, vocab, texts)
    assert_shape(p, (4, 3), "predict(model, vocab, 4 texts) with 3 classes")
    expect(not p.requires_grad and p.grad_fn is None, "predict returned a tensor attached to the autograd graph.",
           "predict 返回了连着自动求导计算图的张量。", likely=("no torch.no_grad() (or torch.inference_mode()).",
                                                  "没有使用 torch.no_grad()（或 torch.inference_mode()）。"))
    p = to_cpu(p)
    assert_close(p.sum(1), torch.ones(4), "each row of predict(...) should sum to 1", atol=1e-5,
                 likely=("logits returned instead of probabilities (apply softmax over the classes), or the softmax "
                         "over the batch (dim=0).", "返回了 logits 而不是概率（应在类别维度上做 softmax），或在 batch 维（dim=0）上做了 softmax。"))
    m.eval()
    with torch.no_grad():
        ids = [[vocab.get(w, UNK_ID) for w in t.lower().split()] for t in texts]
        T = max(len(s) for s in ids)
        want = F.softmax(m(torch.tensor([s + [PAD_ID] * (T - len(s)) for s in ids])), dim=-1)
    assert_close(p, want, "predict(...) vs. the softmax of the model's eval-mode logits", atol=1e-5,
                 likely=("model.eval() missing: dropout still active, so the probabilities are random.",
                         "缺少 model.eval()：dropout 仍在起作用，概率是随机的。"))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator: predict, validation_loss and one epoch of fit (CPU data) run and match the CPU.
    zh: 在加速设备上：predict、validation_loss 和一轮 fit（数据在 CPU 上）都能运行，结果与 CPU 一致。
    """
    texts = ["not bad", "a great film", "dull"]
    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>"] + "not bad a great film dull the".split())}
    m = _model(ex, len(vocab), seed=70, kernel_sizes=(2, 3))
    m.eval()
    ref = to_cpu(_run("predict", ex.predict, m, vocab, texts))
    tokens, labels = _fit_data(len(vocab), 8, seed=70)
    ref_loss = float(_run("validation_loss", ex.validation_loss, m, tokens, labels))
    with device_mismatch_explained(DEVICE):
        with accelerator() as dev:
            m.to(dev)
            p = _run("predict(...) with the model on the accelerator", ex.predict, m, vocab, texts)
            p = to_cpu(p)
            vl = _run("validation_loss(...) with the model on the accelerator", ex.validation_loss, m, tokens, labels)
            vl = float(vl.item() if isinstance(vl, torch.Tensor) else vl)
            _run("fit(...) with the model on the accelerator (train/val on the CPU)", ex.fit, m, (tokens, labels),
                 (tokens, labels), epochs=1, patience=1, lr=1e-2, batch_size=4)
            onto = [n for n, q in m.named_parameters() if q.device.type == "cpu"]
            expect(not onto, f"after fit, parameters {onto} are on the CPU.", f"fit 之后参数 {onto} 跑到了 CPU 上。")
    assert_close(p, ref, "predict on the accelerator vs. the CPU")
    expect(math.isclose(vl, ref_loss, rel_tol=1e-4, abs_tol=1e-5),
           f"validation_loss on the accelerator is {vl:.6g}, on the CPU {ref_loss:.6g}.",
           f"validation_loss 在加速设备上为 {vl:.6g}，在 CPU 上为 {ref_loss:.6g}。")
