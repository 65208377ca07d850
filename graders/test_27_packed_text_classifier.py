"""Grader for exercise 27 — text classification with packed sequences."""
import contextlib
import copy
import io
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import DataLoader

from ptquiz.gradelib import (DeviceMismatchError, accelerator, as_loss, as_number, assert_all_params_get_grad,
                             assert_close, assert_learns_over_seeds, assert_on_device, assert_shape, assert_tensor, check,
                             expect, fail, first_line, last_layer_state, per_sequence, run_packed, seeded, to_cpu)

# (vocab, embed_dim, hidden, classes, num_layers, bidirectional, pad_id)
UNI1 = (20, 6, 5, 3, 1, False, 0)
BI2 = (17, 5, 4, 4, 2, True, 0)
UNI2 = (15, 4, 6, 2, 2, False, 3)
BI1 = (12, 3, 5, 3, 1, True, 2)


# ---------------------------------------------------------------------------
# private helpers

def _label(cfg):
    v, e, h, c, layers, bi, pad = cfg
    return (f"TextClassifier({v}, {e}, {h}, {c}, num_layers={layers}, bidirectional={bi}, pad_id={pad})")


def _make(ex, cfg, seed=0, train=False):
    v, e, h, c, layers, bi, pad = cfg
    with seeded(seed):
        m = ex.TextClassifier(v, e, h, c, num_layers=layers, bidirectional=bi, pad_id=pad)
    what = _label(cfg)
    expect(isinstance(m, nn.Module), f"{what} should be an nn.Module, got {type(m).__name__}.",
           f"{what} 应是 nn.Module，实际是 {type(m).__name__}。")
    emb = getattr(m, "embedding", None)
    expect(isinstance(emb, nn.Embedding) and (emb.num_embeddings, emb.embedding_dim) == (v, e),
           f"{what} should have self.embedding = nn.Embedding({v}, {e}, padding_idx={pad}); found {emb!r}.",
           f"{what} 应有 self.embedding = nn.Embedding({v}, {e}, padding_idx={pad})；实际为 {emb!r}。")
    rnn = getattr(m, "rnn", None)
    expect(isinstance(rnn, (nn.LSTM, nn.GRU)), f"{what} should have self.rnn, an nn.LSTM or nn.GRU; found {rnn!r}.",
           f"{what} 应有 self.rnn（nn.LSTM 或 nn.GRU）；实际为 {rnn!r}。")
    ok = (rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.bidirectional) == (e, h, layers, bi)
    expect(ok, f"{what}: self.rnn should map {e} -> {h} with num_layers={layers}, bidirectional={bi}; found {rnn!r}.",
           f"{what}：self.rnn 应为 {e} -> {h}，num_layers={layers}，bidirectional={bi}；实际为 {rnn!r}。")
    expect(rnn.batch_first, f"{what}: self.rnn should be built with batch_first=True (tokens are (B, T)); found {rnn!r}.",
           f"{what}：self.rnn 应使用 batch_first=True（tokens 的形状是 (B, T)）；实际为 {rnn!r}。",
           likely=("batch_first left at its default False: the RNN would read the batch axis as time.",
                   "batch_first 保持默认的 False：RNN 会把 batch 维当作时间维。"))
    fc = getattr(m, "fc", None)
    d = 2 if bi else 1
    expect(isinstance(fc, nn.Linear) and (fc.in_features, fc.out_features) == (h * d, c),
           f"{what} should have self.fc = nn.Linear({h * d}, {c}); found {fc!r}.",
           f"{what} 应有 self.fc = nn.Linear({h * d}, {c})；实际为 {fc!r}。",
           likely=("a bidirectional RNN gives 2 * hidden_size features (both directions concatenated).",
                   "双向 RNN 输出 2 * hidden_size 维特征（两个方向拼接）。") if bi else None)
    m.train(train)
    return m


def _seqs(seed, lengths, vocab, pad_id):
    """Token sequences (no pad_id inside) of the given lengths."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        t = torch.randint(0, vocab - 1, (int(n),), generator=g)
        out.append(t + (t >= pad_id).long())  # skip pad_id
    return out


def _pad(seqs, pad_id, extra=0):
    """The grader's own padded batch: pad_sequence, then `extra` more pad columns."""
    tokens = pad_sequence(seqs, batch_first=True, padding_value=pad_id)
    if extra:
        tokens = torch.cat([tokens, torch.full((len(seqs), extra), pad_id, dtype=torch.int64)], dim=1)
    return tokens, torch.tensor([len(s) for s in seqs], dtype=torch.int64)


# pack_padded_sequence refusing lengths on the accelerator (real CUDA, and the stand-in like it)
LENGTHS_ON_DEVICE = ("the lengths reached pack_padded_sequence on the accelerator; they must stay on the CPU (real CUDA "
                     "raises \"'lengths' argument should be a 1D CPU int64 tensor\"): lengths moved with .to(device) "
                     "together with the tokens. Move only tokens and labels; pass lengths as they come from collate "
                     "(or lengths.cpu()).",
                     "传给 pack_padded_sequence 的 lengths 在加速设备上；它必须留在 CPU 上（真实的 CUDA 会报错 "
                     "\"'lengths' argument should be a 1D CPU int64 tensor\"）：把 lengths 和 tokens 一起 .to(device) 了。"
                     "只移动 tokens 和 labels；lengths 保持 collate 给出的样子（或用 lengths.cpu()）。")
BATCH_NOT_MOVED = ("the batch not moved to the device: tokens = tokens.to(device) and labels = labels.to(device) inside "
                   "the loop (the model is already there).",
                   "批次没有移到设备上：应在循环中 tokens = tokens.to(device)、labels = labels.to(device)（模型已经在设备上了）。")


def _crash_likely(e):
    """The likely mistake behind a crash of the learner's code (run_packed's known=)."""
    text = first_line(e)
    if "enforce_sorted" in text or "sorted in decreasing order" in text:
        return ("pack_padded_sequence called without enforce_sorted=False (the seed's bug): its default True requires "
                "lengths sorted in decreasing order, and batches come with their lengths in any order.",
                "调用 pack_padded_sequence 时没有设置 enforce_sorted=False（原题的错误）：默认的 True 要求长度降序排列，"
                "而批次中的长度顺序是任意的。")
    if "same device" in text:
        return BATCH_NOT_MOVED
    return None


def _run(what, need, fn, *args):
    return run_packed(what, need, fn, *args, known=_crash_likely, lengths_likely=LENGTHS_ON_DEVICE)


def _call(m, tokens, lengths, what, num_classes):
    out = _run(what, ("return logits (B, num_classes)", "返回 logits (B, num_classes)"), m, tokens, lengths)
    assert_shape(out, (tokens.shape[0], num_classes), f"{what}: logits for tokens {tuple(tokens.shape)}")
    return out


def _encode(m, tokens, lengths, what, width):
    out = _run(f"{what}: encode", ("return the last layer's final state (B, hidden_size * D)",
                                   "返回最后一层的最终状态 (B, hidden_size * D)"), m.encode, tokens, lengths)
    likely = None
    if isinstance(out, torch.Tensor) and m.rnn.bidirectional and tuple(out.shape) == (tokens.shape[0], width // 2):
        likely = ("only one direction kept: with bidirectional=True, h_n[-1] is the last layer's BACKWARD state (the "
                  "seed's hidden[-1]); concatenate h_n[-2] (forward) and h_n[-1] (backward).",
                  "只保留了一个方向：bidirectional=True 时 h_n[-1] 是最后一层的后向状态（原题的 hidden[-1]）；"
                  "应拼接 h_n[-2]（前向）和 h_n[-1]（后向）。")
    assert_shape(out, (tokens.shape[0], width), f"{what}: encode(tokens, lengths)", likely=likely)
    return out


def _per_sequence(m, tokens, lengths):
    """The definition: each sequence alone, unpadded; the last layer's final state (forward: after its last token,
    backward: after token 0)."""
    return per_sequence(lambda t: last_layer_state(m.rnn(m.embedding(t))[1], m.rnn.bidirectional), tokens, lengths)


def _encode_diagnosis(m, tokens, lengths, got):
    """Name a known wrong reading of the RNN's state, if got equals one."""
    H, bi, L = m.rnn.hidden_size, m.rnn.bidirectional, m.rnn.num_layers
    out, h_n = m.rnn(m.embedding(tokens))
    cands = [(last_layer_state(h_n, bi),
              ("the RNN ran over the padding (no packing): h_n is then the state after the last PADDED token. Pack with "
               "pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False).",
               "RNN 读完了填充（没有打包）：这时 h_n 是最后一个填充位置之后的状态。请用 "
               "pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False) 打包。")),
             (out[:, -1], ("the output at the last padded position (output[:, -1]) was used instead of each sequence's "
                           "final state.", "使用了最后一个填充位置的输出（output[:, -1]），而不是每个序列的最终状态。"))]
    ref = _per_sequence(m, tokens, lengths)
    if bi:
        cands.append((torch.cat([ref[:, H:], ref[:, :H]], 1),
                      ("the two directions concatenated backward first: the order is forward (h_n[-2]) then backward "
                       "(h_n[-1]), the layout of the RNN's output.",
                       "两个方向的拼接顺序反了：应先前向（h_n[-2]）再后向（h_n[-1]），与 RNN 输出的排列一致。")))
        if L > 1:
            _, hp = m.rnn(pack_padded_sequence(m.embedding(tokens), lengths, batch_first=True, enforce_sorted=False))
            hp = hp[0] if isinstance(hp, tuple) else hp
            cands.append((torch.cat([hp[0], hp[1]], 1),
                          ("the FIRST layer's states taken (h_n[0], h_n[1]): h_n is (num_layers * 2, B, H) with the last "
                           "layer at the end: use h_n[-2] and h_n[-1].",
                           "取了第一层的状态（h_n[0]、h_n[1]）：h_n 的形状是 (num_layers * 2, B, H)，最后一层在末尾："
                           "应使用 h_n[-2] 和 h_n[-1]。")))
    elif L > 1:
        _, hp = m.rnn(pack_padded_sequence(m.embedding(tokens), lengths, batch_first=True, enforce_sorted=False))
        hp = hp[0] if isinstance(hp, tuple) else hp
        cands.append((hp[0], ("the FIRST layer's state taken (h_n[0]); the last layer is h_n[-1].",
                              "取了第一层的状态（h_n[0]）；最后一层是 h_n[-1]。")))
    for alt, likely in cands:
        if alt.shape == got.shape and torch.allclose(alt, got, atol=1e-5, rtol=1e-4):
            return likely
    return ("encode should return the last layer's final hidden state over the real tokens only (pack with "
            "enforce_sorted=False, then h_n[-1], or cat(h_n[-2], h_n[-1]) when bidirectional).",
            "encode 应返回最后一层只在真实 token 上计算的最终隐藏状态（用 enforce_sorted=False 打包，然后取 h_n[-1]，"
            "双向时取 cat(h_n[-2], h_n[-1])）。")


def _dataset(seed, n, vocab, pad_id, max_len=7):
    """(tokens, label) pairs; the label is the class of the last real token (learnable from the final state)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (n,), generator=g)
    seqs = _seqs(seed, lengths, vocab, pad_id)
    return [(s, int(s[-1] % 2)) for s in seqs]


def _loader(data, pad_id, batch_size, collate):
    """A DataLoader over data with the learner's collate; its batches' shapes are checked once, here."""
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=partial(collate, pad_id=pad_id))
    for i, batch in enumerate(loader):
        chunk = data[i * batch_size:(i + 1) * batch_size]
        want = (len(chunk), max(len(s) for s, _ in chunk))
        tokens = batch[0] if isinstance(batch, (tuple, list)) and len(batch) == 3 else None
        if not isinstance(tokens, torch.Tensor) or tuple(tokens.shape) != want:
            fail(f"collate should give (tokens, lengths, labels) with tokens of shape {want} for this batch; got "
                 f"{tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(batch).__name__}.",
                 f"对这个批次，collate 应返回 (tokens, lengths, labels)，其中 tokens 形状为 {want}；实际为 "
                 f"{tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(batch).__name__}。",
                 likely=("pad_sequence without batch_first=True returns (T_max, B).",
                         "pad_sequence 没有设置 batch_first=True 时返回 (T_max, B)。")
                 if isinstance(tokens, torch.Tensor) and tuple(tokens.shape) == want[::-1] else None)
    return loader


def _grader_collate(batch, pad_id=0):
    """The grader's own collate (for the train_epoch checks, so that they test train_epoch alone)."""
    tokens, lengths = _pad([s for s, _ in batch], pad_id)
    return tokens, lengths, torch.tensor([y for _, y in batch], dtype=torch.int64)


class _PlainClassifier(nn.Module):
    """The grader's own model for train_epoch: packs with the lengths exactly as it receives them."""

    def __init__(self, vocab, pad_id):
        super().__init__()
        self.embedding = nn.Embedding(vocab, 4, padding_idx=pad_id)
        self.rnn = nn.GRU(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        return self.fc(self.rnn(packed)[1][-1])


def _train_epoch(ex, m, loader, opt, dev, what):
    """ex.train_epoch, crashes worded (a batch left on the CPU named on real CUDA and on the stand-in)."""
    try:
        return _run(what, ("run one epoch and return its mean loss", "跑完一个 epoch 并返回平均损失"),
                    ex.train_epoch, m, loader, opt, dev)
    except DeviceMismatchError as e:  # the stand-in's; run_packed lets it through (CUDA's RuntimeError is worded)
        fail(f"{what}: {first_line(e)}", f"{what}：{first_line(e)}", likely=BATCH_NOT_MOVED)


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_collate(ex):
    """collate pads with pad_id (batch first), keeps the order, gives CPU int64 lengths and labels; works in a DataLoader.
    zh: collate 用 pad_id 填充（batch 在前）、保持顺序，给出 CPU 上的 int64 lengths 和 labels；可在 DataLoader 中使用。
    """
    for lengths, pad_id in (([3, 1, 5, 2], 0), ([2, 4, 4], 7)):
        seqs = _seqs(len(lengths), lengths, 12, pad_id)
        labels = [(3 * i + 1) % 4 for i in range(len(seqs))]
        res = ex.collate(list(zip(seqs, labels)), pad_id=pad_id)
        expect(isinstance(res, (tuple, list)) and len(res) == 3,
               f"collate should return a triple (tokens, lengths, labels); got {type(res).__name__}.",
               f"collate 应返回三元组 (tokens, lengths, labels)；实际为 {type(res).__name__}。")
        tokens, lens, labs = res
        want, want_len = _pad(seqs, pad_id)
        what = f"collate(batch of lengths {lengths}, pad_id={pad_id})"
        assert_tensor(tokens, f"{what}: tokens")
        likely = None
        if tuple(tokens.shape) == tuple(want.shape[::-1]):
            likely = ("pad_sequence without batch_first=True returns (T_max, B).",
                      "pad_sequence 没有设置 batch_first=True 时返回 (T_max, B)。")
        assert_shape(tokens, tuple(want.shape), f"{what}: tokens", likely=likely)
        expect(tokens.dtype == torch.int64, f"{what}: tokens should be int64, got {tokens.dtype}.",
               f"{what}：tokens 应为 int64，实际为 {tokens.dtype}。")
        if not torch.equal(tokens, want):
            pads = tokens[torch.arange(want.shape[1])[None, :] >= want_len[:, None]].unique().tolist()
            srt = sorted(range(len(seqs)), key=lambda i: -lengths[i])
            likely = (("the batch was sorted by length: keep the batch's order (the model packs with "
                       "enforce_sorted=False).", "批次按长度排序了：应保持原顺序（模型打包时用 enforce_sorted=False）。")
                      if torch.equal(tokens, _pad([seqs[i] for i in srt], pad_id)[0]) else
                      (f"padded with {pads} instead of pad_id={pad_id}: pad_sequence(..., padding_value=pad_id).",
                       f"用 {pads} 而不是 pad_id={pad_id} 填充：应为 pad_sequence(..., padding_value=pad_id)。")
                      if pads != [pad_id] else None)
            fail(f"{what}: tokens should be the sequences in the batch's order, each padded after its end with "
                 f"{pad_id}; expected {want.tolist()}, got {tokens.tolist()}.",
                 f"{what}：tokens 应按批次原顺序排列，每个序列结束后用 {pad_id} 填充；期望 {want.tolist()}，"
                 f"实际 {tokens.tolist()}。", likely=likely)
        ok = isinstance(lens, torch.Tensor) and lens.dtype == torch.int64 and lens.device.type == "cpu"
        expect(ok, f"{what}: lengths should be an int64 tensor on the CPU; got "
               f"{type(lens).__name__}{'' if not isinstance(lens, torch.Tensor) else f' {lens.dtype} on {lens.device}'}.",
               f"{what}：lengths 应为 CPU 上的 int64 张量；实际为 {type(lens).__name__}。",
               likely=("lengths returned as a Python list, or as a float/int32 tensor.",
                       "lengths 返回成了 Python 列表，或 float/int32 张量。"))
        expect(torch.equal(lens, want_len), f"{what}: lengths should be {want_len.tolist()}, got {lens.tolist()}.",
               f"{what}：lengths 应为 {want_len.tolist()}，实际为 {lens.tolist()}。")
        ok = isinstance(labs, torch.Tensor) and labs.dtype == torch.int64 and labs.tolist() == labels
        expect(ok, f"{what}: labels should be the int64 tensor {labels}; got {labs!r}.",
               f"{what}：labels 应为 int64 张量 {labels}；实际为 {labs!r}。")
    data = [(s, i % 3) for i, s in enumerate(_seqs(9, [2, 5, 1, 3, 6, 2, 4], 10, 1))]
    shapes = [tuple(t.shape) for t, _, _ in _loader(data, 1, 3, ex.collate)]
    expect(shapes == [(3, 5), (3, 6), (1, 4)],
           f"In DataLoader(batch_size=3, collate_fn=partial(collate, pad_id=1)) over 7 sequences of lengths "
           f"[2, 5, 1, 3, 6, 2, 4], the token batches should be (3, 5), (3, 6), (1, 4); got {shapes}.",
           f"在 DataLoader(batch_size=3, collate_fn=partial(collate, pad_id=1)) 中，长度为 [2, 5, 1, 3, 6, 2, 4] 的 7 个序列"
           f"应得到 (3, 5)、(3, 6)、(1, 4) 的 token 批次；实际为 {shapes}。")


@check(points=2, category="shape")
def test_unsorted_batch(ex):
    """A batch whose lengths are not sorted gives logits (B, num_classes) (1 and 2 layers, uni- and bidirectional).
    zh: 长度未排序的批次也能得到 (B, num_classes) 的 logits（1 层和 2 层，单向和双向）。
    """
    for n, (cfg, lengths) in enumerate([(UNI1, [2, 5, 3, 1]), (BI2, [1, 4, 6]), (UNI2, [3, 3, 1, 7, 2]), (BI1, [2, 1])]):
        m = _make(ex, cfg, seed=n)
        tokens, lens = _pad(_seqs(10 + n, lengths, cfg[0], cfg[6]), cfg[6])
        with torch.no_grad():
            _call(m, tokens, lens, f"{_label(cfg)} on lengths {lengths}", cfg[3])


@check(points=2, category="gradient")
def test_embedding_padding_row(ex):
    """The embedding's padding row (padding_idx = pad_id) is zero, gets a zero gradient and stays zero when trained.
    zh: 嵌入层的填充行（padding_idx = pad_id）为零，梯度为零，训练后仍为零。
    """
    for n, cfg in enumerate((UNI2, BI1)):
        pad = cfg[6]
        m = _make(ex, cfg, seed=20 + n, train=True)
        emb = m.embedding
        what = f"{_label(cfg)}.embedding"
        if emb.padding_idx != pad:
            fail(f"{what} should be built with padding_idx={pad}; its padding_idx is {emb.padding_idx}.",
                 f"{what} 应使用 padding_idx={pad} 构建；实际 padding_idx 为 {emb.padding_idx}。",
                 likely=(("nn.Embedding without padding_idx (the seed's bug): the pad token then has a random, trainable "
                          "vector.", "nn.Embedding 没有设置 padding_idx（原题的错误）：填充 token 会得到一个随机且可训练的向量。")
                         if emb.padding_idx is None else
                         ("padding_idx hard-coded instead of taken from the pad_id argument.",
                          "padding_idx 写死了，而不是取自 pad_id 参数。")))
        row = emb.weight.detach()[pad]
        expect(not row.abs().sum() > 0, f"{what}: row {pad} (the padding row) should be all zeros; found {row.tolist()}.",
               f"{what}：第 {pad} 行（填充行）应全为零；实际为 {row.tolist()}。",
               likely=("the embedding re-initialised after construction (e.g. nn.init over all of weight), which "
                       "overwrites the zero padding row.", "构建后又重新初始化了嵌入层（例如对整个 weight 调用 nn.init），"
                       "覆盖了为零的填充行。"))
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        tokens, lens = _pad(_seqs(30 + n, [4, 1, 3], cfg[0], pad), pad)
        tokens[0, 1] = pad  # a pad token inside a sequence, so the row is read
        y = torch.tensor([0, 1, 2]) % cfg[3]
        for step in range(3):
            opt.zero_grad()
            F.cross_entropy(_call(m, tokens, lens, _label(cfg), cfg[3]), y).backward()
            g = emb.weight.grad
            expect(g is not None and not g[pad].abs().sum() > 0,
                   f"{what}: the padding row should get a zero gradient; got {None if g is None else g[pad].tolist()}.",
                   f"{what}：填充行的梯度应为零；实际为 {None if g is None else g[pad].tolist()}。")
            opt.step()
        row = emb.weight.detach()[pad]
        expect(not row.abs().sum() > 0, f"{what}: after 3 Adam steps the padding row should still be zero; found "
               f"{row.tolist()}.", f"{what}：Adam 走 3 步之后填充行应仍为零；实际为 {row.tolist()}。")


@check(points=2, category="correctness")
def test_batch_permutation(ex):
    """Permuting the batch (tokens and lengths together) permutes the logits the same way.
    zh: 对批次做置换（tokens 和 lengths 一起）后，logits 按同样的方式置换。
    """
    for n, (cfg, lengths, perm) in enumerate([(BI2, [2, 6, 1, 4, 3], [3, 0, 4, 2, 1]), (UNI1, [5, 1, 3, 2], [1, 3, 0, 2])]):
        m = _make(ex, cfg, seed=40 + n)
        tokens, lens = _pad(_seqs(40 + n, lengths, cfg[0], cfg[6]), cfg[6])
        p = torch.tensor(perm)
        with torch.no_grad():
            a = _call(m, tokens, lens, _label(cfg), cfg[3])
            b = _call(m, tokens[p], lens[p], _label(cfg), cfg[3])
        assert_close(b, a[p], f"{_label(cfg)}, lengths {lengths}: logits of the batch permuted by {perm} vs the "
                     "permuted logits",
                     likely=("the batch sorted by length inside the model (for enforce_sorted=True) and the results "
                             "not put back in the batch's order: use enforce_sorted=False, which unsorts h_n for you.",
                             "在模型内部按长度对批次排序（为了 enforce_sorted=True），却没有把结果恢复成原顺序："
                             "请使用 enforce_sorted=False，它会自动把 h_n 恢复成原顺序。"))


@check(points=2, category="correctness")
def test_padding_invariance(ex):
    """Extra pad columns leave the logits unchanged.
    zh: 增加额外的填充列，logits 不变。
    """
    for n, (cfg, lengths, extra) in enumerate([(UNI2, [3, 1, 4], 3), (BI1, [2, 5, 5, 1], 2)]):
        m = _make(ex, cfg, seed=50 + n)
        seqs = _seqs(50 + n, lengths, cfg[0], cfg[6])
        tokens, lens = _pad(seqs, cfg[6])
        tokens2, _ = _pad(seqs, cfg[6], extra=extra)
        with torch.no_grad():
            a = _call(m, tokens, lens, _label(cfg), cfg[3])
            b = _call(m, tokens2, lens, _label(cfg), cfg[3])
        assert_close(b, a, f"{_label(cfg)}, lengths {lengths}: logits with {extra} more pad columns vs without",
                     likely=("the RNN reads the padding: pack the embedded batch with pack_padded_sequence(..., "
                             "enforce_sorted=False) and use its h_n (not output[:, -1], not h_n of an unpacked run).",
                             "RNN 读到了填充：请用 pack_padded_sequence(..., enforce_sorted=False) 打包嵌入后的批次并使用其 "
                             "h_n（不是 output[:, -1]，也不是未打包运行得到的 h_n）。"))


@check(points=3, category="correctness")
def test_encode_is_last_real_token(ex):
    """encode equals the RNN's output at each sequence's last real token (backward half: token 0), last layer.
    zh: encode 等于 RNN 在每个序列最后一个真实 token 处的输出（后向的一半取第 0 个 token），且取自最后一层。
    """
    for n, (cfg, lengths) in enumerate([(BI2, [3, 6, 1, 4]), (UNI2, [2, 5, 1]), (UNI1, [4, 2, 6, 3, 1])]):
        m = _make(ex, cfg, seed=60 + n)
        seqs = _seqs(60 + n, lengths, cfg[0], cfg[6])
        tokens, lens = _pad(seqs, cfg[6])
        width = cfg[2] * (2 if cfg[5] else 1)
        with torch.no_grad():
            got = _encode(m, tokens, lens, _label(cfg), width)
            want = _per_sequence(m, tokens, lens)
            likely = None
            if not torch.allclose(got, want, atol=1e-5, rtol=1e-4):
                likely = _encode_diagnosis(m, tokens, lens, got)
        assert_close(got, want, f"{_label(cfg)}, lengths {lengths}: encode vs the RNN's output at each sequence's last "
                     "real token (run alone, unpadded)", likely=likely)
        with torch.no_grad():
            logits = _call(m, tokens, lens, _label(cfg), cfg[3])
        assert_close(logits, m.fc(want), f"{_label(cfg)}: forward vs fc(encode(...))")


@check(points=2, category="gradient")
def test_every_parameter_gets_gradient(ex):
    """After backward, every parameter (embedding, both directions of every layer, fc) gets a gradient.
    zh: backward 之后，每个参数（嵌入层、每一层的两个方向、fc）都得到梯度。
    """
    cfg = BI2
    m = _make(ex, cfg, seed=70, train=True)
    tokens, lens = _pad(_seqs(70, [5, 2, 4], cfg[0], cfg[6]), cfg[6])
    F.cross_entropy(_call(m, tokens, lens, _label(cfg), cfg[3]), torch.tensor([0, 3, 1])).backward()
    assert_all_params_get_grad(m, _label(cfg))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator with lengths kept on the CPU, logits are on the device and equal the CPU's.
    zh: 在加速设备上、lengths 留在 CPU 上时，logits 位于该设备上且与 CPU 结果一致。
    """
    cfg = BI1  # small: every op of a recurrent layer passes through the stand-in's Python dispatch
    m = _make(ex, cfg, seed=80)
    tokens, lens = _pad(_seqs(80, [2, 4, 3], cfg[0], cfg[6]), cfg[6])
    with torch.no_grad():
        ref = _call(m, tokens, lens, _label(cfg), cfg[3])
    what = f"{_label(cfg)} on the accelerator"
    with accelerator() as dev:
        m.to(dev)
        with torch.no_grad():
            out = _call(m, tokens.to(dev), lens, what, cfg[3])
        assert_on_device(out, dev, "TextClassifier output")
        out = to_cpu(out)
    # loose tolerance: on real CUDA, cuDNN may run the recurrent matmuls in TF32
    assert_close(out, ref, "logits on the accelerator", atol=2e-3, rtol=1e-2)


@check(points=2, category="device")
def test_train_epoch_on_accelerator(ex):
    """train_epoch on an accelerator moves tokens and labels there, keeps lengths on the CPU, and updates the model.
    zh: 在加速设备上，train_epoch 把 tokens 和 labels 移到设备上、lengths 留在 CPU 上，并更新模型。
    """
    cfg = UNI1
    with seeded(90):  # the grader's model, which uses the lengths as given: this check is about train_epoch
        m = _PlainClassifier(cfg[0], cfg[6])
    data = _dataset(90, 5, cfg[0], cfg[6], max_len=4)
    before = m.fc.weight.detach().clone()
    with accelerator() as dev:
        m.to(dev)
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        loss = _train_epoch(ex, m, _loader(data, cfg[6], 3, _grader_collate), opt, dev, "train_epoch on the accelerator")
        assert_on_device(m.fc.weight, dev, "fc.weight after train_epoch")
        w = to_cpu(m.fc.weight)
    expect(not torch.equal(w, before), "train_epoch on the accelerator should update the model; fc.weight did not change.",
           "在加速设备上 train_epoch 应更新模型；fc.weight 没有变化。",
           likely=("optimizer.step() missing.", "缺少 optimizer.step()。"))
    val = as_loss(loss, "train_epoch's return value (the mean loss)",
                  attached=("train_epoch returned a tensor that is still part of the autograd graph; it should return a "
                            "Python float.", "train_epoch 返回的张量仍连在计算图上；应返回 Python float。"),
                  attached_likely=("summing the loss tensors (total += loss * len(labels)) instead of loss.item(): every "
                                   "batch's graph stays alive until the epoch ends, so memory grows with the number of "
                                   "batches.",
                                   "累加的是损失张量（total += loss * len(labels)）而不是 loss.item()：每个 batch 的计算图"
                                   "都一直保留到 epoch 结束，内存随 batch 数增长。"))
    expect(val == val, f"train_epoch should return the mean loss as a float; got {loss!r}.",
           f"train_epoch 应以 float 返回平均损失；实际为 {loss!r}。")


@check(points=2, category="training")
def test_loss_decreases(ex):
    """Five epochs of train_epoch (Adam, lr 0.02) lower the loss on a tiny task (the class of the last token).
    zh: 用 train_epoch 训练 5 个 epoch（Adam，lr 0.02），能在一个很小的任务（最后一个 token 的类别）上降低损失。
    """
    cfg = (10, 8, 12, 2, 1, False, 0)

    def run(seed):
        m = _make(ex, cfg, seed=seed, train=True)
        data = _dataset(100 + seed, 24, cfg[0], cfg[6])
        loader = _loader(data, cfg[6], 8, ex.collate)
        tokens, lens = _pad([s for s, _ in data], cfg[6])
        y = torch.tensor([lab for _, lab in data])
        opt = torch.optim.Adam(m.parameters(), lr=0.02)
        losses = []
        for epoch in range(6):
            m.eval()
            with torch.no_grad():
                losses.append(F.cross_entropy(_call(m, tokens, lens, _label(cfg), cfg[3]), y).item())
            if epoch < 5:
                with contextlib.redirect_stdout(io.StringIO()):
                    _train_epoch(ex, m, loader, opt, "cpu", "train_epoch")
        return losses

    assert_learns_over_seeds(run, what="loss on the whole data set after each of 5 epochs of train_epoch", k=2,
                             likely=("if other checks fail, fix them first (logits in another order than the labels, "
                                     "padding read by the RNN); otherwise optimizer.step() or zero_grad() missing in "
                                     "train_epoch, or the loss detached.",
                                     "如果其他检查失败，请先修正它们（logits 与 labels 顺序不一致、RNN 读到了填充）；否则就是 "
                                     "train_epoch 中缺少 optimizer.step() 或 zero_grad()，或者损失被 detach 了。"))


@check(points=2, category="correctness")
def test_train_epoch_mean_loss(ex):
    """train_epoch puts the model in train mode, returns the epoch's mean loss, and prints at most one line.
    zh: train_epoch 把模型设为训练模式，返回该 epoch 的平均损失，并且最多打印一行。
    """
    cfg = BI1
    m = _make(ex, cfg, seed=110)
    data = _dataset(110, 7, cfg[0], cfg[6])
    loader = _loader(data, cfg[6], 3, _grader_collate)
    with torch.no_grad():
        batch_losses = [(F.cross_entropy(m(t, n), y).item(), len(y)) for t, n, y in loader]
    by_batch = sum(v for v, _ in batch_losses) / len(batch_losses)
    by_sample = sum(v * k for v, k in batch_losses) / sum(k for _, k in batch_losses)
    m.eval()
    opt = torch.optim.SGD(m.parameters(), lr=0.0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        loss = _train_epoch(ex, m, loader, opt, "cpu", "train_epoch")
    expect(m.training, "After train_epoch the model should be in training mode (call model.train() first).",
           "train_epoch 之后模型应处于训练模式（先调用 model.train()）。",
           likely=("model.train() not called, so dropout stays off if the caller evaluated the model before.",
                   "没有调用 model.train()，如果调用方之前评估过模型，dropout 就一直处于关闭状态。"))
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    first = lines[0][:80] if lines else ""
    expect(len(lines) <= 1, f"train_epoch printed {len(lines)} lines for one epoch of {len(batch_losses)} batches; "
           f"at most one is expected (first: {first!r}).",
           f"train_epoch 在一个 {len(batch_losses)} 个批次的 epoch 中打印了 {len(lines)} 行；最多应打印一行"
           f"（第一行：{first!r}）。",
           likely=("a print inside the batch loop (the seed's `if epoch % 100 == 0: print(...)` sits in the loop over "
                   "batches, so it fires on every batch of epoch 0).",
                   "在批次循环里打印（原题的 `if epoch % 100 == 0: print(...)` 写在批次循环内，所以第 0 个 epoch 的每个批次都会打印）。"))
    val = as_number(loss, "train_epoch's return value (the mean loss)")
    close = [abs(val - w) < 1e-4 * max(1.0, abs(w)) for w in (by_batch, by_sample)]
    expect(any(close), f"With lr=0, train_epoch should return the mean of the batches' losses ({by_batch:.6g}, or "
           f"{by_sample:.6g} weighted by batch size); got {val:.6g}.",
           f"lr=0 时，train_epoch 应返回各批次损失的平均值（{by_batch:.6g}，或按批次大小加权为 {by_sample:.6g}）；"
           f"实际为 {val:.6g}。",
           likely=("the sum of the losses, the last batch's loss, or the mean over a wrong count.",
                   "返回了损失之和、最后一个批次的损失，或者除以了错误的数量。"))


@check(points=2, category="training")
def test_train_epoch_steps_like_the_loop(ex):
    """Over 3 batches (SGD), train_epoch updates the weights as zero_grad, cross-entropy, backward, step per batch do.
    zh: 在 3 个批次上（SGD），train_epoch 对权重的更新与每个批次依次 zero_grad、交叉熵、backward、step 的结果一致。
    """
    with seeded(120):
        m = _PlainClassifier(12, 0)
    ref = copy.deepcopy(m)
    loader = _loader(_dataset(120, 8, 12, 0), 0, 3, _grader_collate)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5)
    for tokens, lengths, labels in loader:
        ref_opt.zero_grad()
        F.cross_entropy(ref(tokens, lengths), labels).backward()
        ref_opt.step()
    _train_epoch(ex, m, loader, torch.optim.SGD(m.parameters(), lr=0.5), "cpu", "train_epoch")
    for (name, p), q in zip(m.named_parameters(), ref.parameters()):
        assert_close(p, q, f"after train_epoch over 3 batches (SGD, lr 0.5), parameter {name}", atol=1e-5,
                     likely=("optimizer.zero_grad() missing (or called once before the loop): each batch's gradient "
                             "is then added to the previous ones, so every step after the first moves the weights by "
                             "the sum of the gradients so far.",
                             "缺少 optimizer.zero_grad()（或只在循环前调用了一次）：每个批次的梯度都会累加到之前的梯度上，"
                             "于是第一步之后的每一步都按目前为止所有梯度之和来更新权重。"))
