"""Grader for exercise 17 — transfer learning with a pretrained recurrent encoder.

The "pretrained" encoders (nn.LSTM / nn.GRU, batch-first, uni- and bidirectional) and their prefixed
checkpoints are made here: seeded weights drawn wider than the default init. Nothing is downloaded.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (CheckFailed, accelerator, as_number, assert_all_params_get_grad, assert_close, assert_learns_over_seeds,
                             assert_on_device, assert_shape, assert_tensor, check, expect, fail, last_layer_state,
                             per_sequence, run_learner, run_packed, seeded, to_cpu)

RNNS = {"lstm": nn.LSTM, "gru": nn.GRU}
# (kind, input_size, hidden_size, num_layers, bidirectional)
LSTM2 = ("lstm", 5, 6, 2, False)
GRU2BI = ("gru", 4, 5, 2, True)
LSTM1BI = ("lstm", 3, 4, 1, True)
GRU1 = ("gru", 6, 3, 1, False)
LSTM3BI = ("lstm", 3, 4, 3, True)


# ---------------------------------------------------------------------------
# private helpers

def _label(case):
    kind, i, h, layers, bi = case
    return (f"nn.{RNNS[kind].__name__}({i}, {h}, num_layers={layers}, batch_first=True"
            + (", bidirectional=True)" if bi else ")"))


def _fresh(case, seed=100):
    kind, i, h, layers, bi = case
    with seeded(seed):
        return RNNS[kind](i, h, layers, batch_first=True, bidirectional=bi)


def _pretrained_state(case):
    """The 'pretrained' weights: seeded, wider than the default init (so they cannot be mistaken for it)."""
    enc = _fresh(case, seed=5)
    with seeded(7), torch.no_grad():
        for p in enc.parameters():
            p.uniform_(-0.6, 0.6)
    return {k: v.detach().clone() for k, v in enc.state_dict().items()}


def _checkpoint(state, prefix, extras=()):
    ckpt = {prefix + k: v.clone() for k, v in state.items()}
    with seeded(8):
        for k in extras:
            ckpt[k] = torch.randn(3, 4)
    return ckpt


def _encoder(case):
    """A batch-first encoder holding the pretrained weights (loaded by the grader, not by load_encoder)."""
    enc = _fresh(case)
    enc.load_state_dict(_pretrained_state(case))
    return enc


def _build(ex, case, num_classes, seed=1):
    enc = _encoder(case)
    with seeded(seed):
        m = ex.SequenceClassifier(enc, num_classes)
    expect(isinstance(m, nn.Module), f"SequenceClassifier(...) should be an nn.Module, got {type(m).__name__}.",
           f"SequenceClassifier(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    expect(getattr(m, "encoder", None) is enc,
           "SequenceClassifier(encoder, C) should keep the given encoder itself as self.encoder.",
           "SequenceClassifier(encoder, C) 应把传入的编码器本身保存为 self.encoder。",
           likely=("the encoder copied (copy.deepcopy) or rebuilt with a fresh nn.LSTM/nn.GRU, which loses the pretrained "
                   "weights, or stored under another name.",
                   "编码器被复制（copy.deepcopy）或用新的 nn.LSTM/nn.GRU 重建，预训练权重因此丢失；或者用了别的属性名。"))
    _, _, h, _, bi = case
    want = h * (2 if bi else 1)
    head = getattr(m, "head", None)
    if not isinstance(head, nn.Linear) or (head.in_features, head.out_features) != (want, num_classes):
        fail(f"For {_label(case)}, self.head should be nn.Linear({want}, {num_classes}); found {head!r}.",
             f"对于 {_label(case)}，self.head 应为 nn.Linear({want}, {num_classes})；实际为 {head!r}。",
             likely=(("a bidirectional encoder gives 2 * hidden_size features (forward and backward concatenated): use "
                      "encoder.hidden_size * (2 if encoder.bidirectional else 1).", "双向编码器输出 2 * hidden_size 维特征"
                      "（前向和后向拼接）：应使用 encoder.hidden_size * (2 if encoder.bidirectional else 1)。")
                     if bi else ("the head's sizes hard-coded instead of read from encoder.hidden_size.",
                                 "分类头的尺寸写死了，而不是从 encoder.hidden_size 读取。")))
    return m, enc


def _data(seed, B, T, case, lengths=None, num_classes=3):
    """Padded batch (garbage after each sequence's end), unsorted CPU int64 lengths, labels."""
    i = case[1]
    with seeded(seed):
        x = torch.randn(B, T, i)
        if lengths is None:
            lengths = torch.randint(1, T + 1, (B,))
            lengths[torch.randint(0, B, ())] = T
        lengths = torch.as_tensor(lengths, dtype=torch.int64)
        pad = torch.arange(T)[None, :] >= lengths[:, None]
        x[pad] = torch.randn(int(pad.sum()), i) * 3 + 2
        y = torch.randint(0, num_classes, (B,))
    return x, lengths, y


def _features(enc, x, lengths, bidirectional=None):
    """The definition: run every sequence alone over its real steps, keep the last layer's final state(s)."""
    bi = enc.bidirectional if bidirectional is None else bidirectional
    return per_sequence(lambda s: last_layer_state(enc(s)[1], bi), x, lengths)


def _wrong_features(enc, x, lengths):
    """Known wrong readings of the encoder's output, to name a mismatch."""
    B, H = x.shape[0], enc.hidden_size
    out, h_n = enc(x)
    idx = torch.arange(B)
    found = [(out[:, -1],
              ("the output at the last PADDED step (output[:, -1]) was read; shorter sequences must be read at step "
               "lengths[b] - 1.",
               "读取了最后一个填充位置的输出（output[:, -1]）；较短的序列应在第 lengths[b] - 1 步读取。")),
             (last_layer_state(h_n, enc.bidirectional),
              ("h_n of a run over the whole padded batch was used: the encoder ran over the padding. Pack the batch "
               "(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)) so h_n stops at each "
               "sequence's end.",
               "使用了在整个填充批次上运行得到的 h_n：编码器把填充也读进去了。请先打包"
               "（pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)），h_n 才会停在每个序列的末尾。"))]
    if enc.bidirectional:
        found.append((out[idx, lengths - 1],
                      ("both halves of the unpacked output read at step lengths[b] - 1: the backward direction's summary "
                       "of the sequence is at step 0, and without packing it has read the padding first. Pack the batch "
                       "and use h_n.",
                       "未打包的输出在第 lengths[b] - 1 步取了两个方向：后向方向对整个序列的总结在第 0 步，而且不打包时它先读了填充。"
                       "请打包后使用 h_n。")))
        ref = _features(enc, x, lengths)
        found.append((torch.cat([ref[:, H:], ref[:, :H]], dim=1),
                      ("the two directions concatenated in the wrong order: forward first (h_n[-2]), then backward "
                       "(h_n[-1]).", "两个方向拼接的顺序反了：应先前向（h_n[-2]），后后向（h_n[-1]）。")))
        found.append((_features(enc, x, lengths, bidirectional=False),
                      ("only one direction of the last layer kept (h_n[-1] is the backward one when bidirectional).",
                       "只保留了最后一层的一个方向（双向时 h_n[-1] 是后向方向）。")))
    return found


def _forward_crash(enc, e):
    """The likely mistake behind a crash of forward (run_learner's known=)."""
    text = str(e)
    if isinstance(enc, nn.GRU) and isinstance(e, (ValueError, TypeError)) and "unpack" in text:
        return ("an nn.GRU returns (output, h_n); only an nn.LSTM returns (output, (h_n, c_n)). The encoder's result "
                "was unpacked as an LSTM's `_, (h, c) = self.encoder(...)`: the encoder may be a GRU; check "
                "isinstance(h_n, tuple).",
                "nn.GRU 返回 (output, h_n)；只有 nn.LSTM 返回 (output, (h_n, c_n))。这里按 LSTM 的方式解包了编码器结果 "
                "`_, (h, c) = self.encoder(...)`：编码器也可能是 GRU；请用 isinstance(h_n, tuple) 判断。")
    if "enforce_sorted" in text or "sorted in decreasing order" in text:
        return ("pack_padded_sequence called without enforce_sorted=False: the lengths come in any order.",
                "调用 pack_padded_sequence 时没有设置 enforce_sorted=False：lengths 的顺序是任意的。")
    return None


def _forward(m, x, lengths, what):
    """m(x, lengths), with crashes explained in the exercise's terms."""
    enc = m.encoder
    out = run_packed(f"{what}: forward", ("return logits (B, num_classes)", "返回 logits (B, num_classes)"),
                     m, x, lengths, known=lambda e: _forward_crash(enc, e))
    assert_tensor(out, f"{what}: output")
    return out


HEAD_UNUSED = ("the head is never applied: forward returns the encoder's per-step output (B, T, hidden) (the seed's bug: "
               "model.fc was attached to the RNN but never called). Return self.head(features) with features (B, H * D) "
               "taken at each sequence's last real step.",
               "分类头从未被调用：forward 返回的是编码器每一步的输出 (B, T, hidden)（原题的错误：model.fc 挂在 RNN 上却从未调用）。"
               "应返回 self.head(features)，其中 features 为 (B, H * D)，取自每个序列最后一个真实时间步。")


def _logits(m, x, lengths, what, num_classes):
    """_forward, then the (B, num_classes) shape (naming the seed's unused head)."""
    out = _forward(m, x, lengths, what)
    B, T = x.shape[:2]
    likely = HEAD_UNUSED if out.dim() == 3 and tuple(out.shape[:2]) == (B, T) else None
    assert_shape(out, (B, num_classes), f"{what}: logits for x {tuple(x.shape)}", likely=likely)
    return out


def _frozen_top_likely(frozen):
    if frozen and all(n.endswith("_reverse") for n in frozen):
        return ("the backward direction's parameters (named ..._l{k}_reverse) left out.",
                "漏掉了后向方向的参数（名为 ..._l{k}_reverse）。")
    return ("the top layer is k = num_layers - 1 (weight_ih_l{k}, ...); nothing matched the names used.",
            "顶层是 k = num_layers - 1（weight_ih_l{k} 等）；使用的名字一个都没匹配上。")


def _state(enc):
    return {k: v.detach().clone() for k, v in enc.state_dict().items()}


def _changed(before, enc):
    now = enc.state_dict()
    return [k for k, v in before.items() if not torch.equal(now[k], v)]


def _top_names(enc):
    k = enc.num_layers - 1
    return [n for n, _ in enc.named_parameters() if n.endswith(f"_l{k}") or n.endswith(f"_l{k}_reverse")]


def _short(names, k=4):
    names = list(names)
    return ", ".join(names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "")


def _load(ex, enc, ckpt, prefix, what):
    """ex.load_encoder on a valid checkpoint; a crash is explained (str.lstrip is the classic one)."""
    def crash(e):
        stripped = {k.lstrip(prefix) for k in ckpt if k.startswith(prefix)} - {k[len(prefix):] for k in ckpt}
        likely = None
        if any(s in str(e) for s in stripped):
            likely = (f"str.lstrip({prefix!r}) removes any of the characters {sorted(set(prefix))} from the left, not the "
                      f"prefix (e.g. 'bias_ih_l0' loses its 'b'): cut the prefix with key[len(prefix):] or "
                      "key.removeprefix(prefix).",
                      f"str.lstrip({prefix!r}) 会从左边删掉属于 {sorted(set(prefix))} 的任意字符，而不是删掉前缀"
                      "（例如 'bias_ih_l0' 会丢掉 'b'）：请用 key[len(prefix):] 或 key.removeprefix(prefix) 去掉前缀。")
        elif any(k in str(e) or (len(k) > len(prefix) and k[len(prefix):] in str(e))
                 for k in ckpt if not k.startswith(prefix)):
            likely = ("the checkpoint's entries without the prefix (other parts of the saved model) were not skipped: "
                      "keep only the keys that start with the prefix.",
                      "没有跳过检查点中不带该前缀的条目（它们属于保存模型的其他部分）：只保留以该前缀开头的键。")
        return likely

    return run_learner(f"{what}: load_encoder", ("load a checkpoint that matches the encoder (its entries under the "
                       "prefix) and return the encoder", "加载与编码器完全匹配的检查点（该前缀下的条目）并返回编码器"),
                       ex.load_encoder, enc, ckpt, prefix, known=crash)


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_output_shape(ex):
    """Logits are (B, num_classes) for LSTM and GRU encoders, uni- and bidirectional, 1 to 3 layers.
    zh: 对单向和双向、1 到 3 层的 LSTM 和 GRU 编码器，输出 logits 形状都是 (B, num_classes)。
    """
    for n, (case, B, T, C) in enumerate([(LSTM2, 3, 5, 4), (GRU2BI, 2, 7, 3), (LSTM1BI, 1, 4, 2), (GRU1, 5, 3, 6),
                                         (LSTM3BI, 4, 6, 3)]):
        m, _ = _build(ex, case, C)
        x, lengths, _ = _data(10 + n, B, T, case)
        with torch.no_grad():
            _logits(m, x, lengths, f"SequenceClassifier({_label(case)}, {C})", C)


@check(points=2, category="gradient")
def test_head_gets_gradient(ex):
    """The head is used: after loss.backward() its weight and bias get the gradient autograd gives on the features.
    zh: 分类头确实被使用：loss.backward() 之后，它的权重和偏置得到与在特征上用 autograd 计算一致的梯度。
    """
    for n, (case, B, T, C) in enumerate([(LSTM2, 4, 6, 3), (GRU2BI, 3, 5, 4)]):
        m, enc = _build(ex, case, C)
        x, lengths, y = _data(20 + n, B, T, case, num_classes=C)
        F.cross_entropy(_logits(m, x, lengths, _label(case), C), y).backward()
        assert_all_params_get_grad(m.head, "the head",
                                   likely=("the head is created but never called in forward, or the features are taken "
                                           "through .detach()/.item()/numpy.",
                                           "分类头创建了但 forward 中从未调用，或特征经过了 .detach()/.item()/numpy。"))
        w = m.head.weight.detach().clone().requires_grad_()
        b = m.head.bias.detach().clone().requires_grad_()
        with torch.no_grad():
            feats = _features(enc, x, lengths)
        F.cross_entropy(F.linear(feats, w, b), y).backward()
        assert_close(m.head.weight.grad, w.grad, f"{_label(case)}: gradient of head.weight", atol=1e-5,
                     likely=("the head reads the wrong features (see the check on the last real step).",
                             "分类头读取的特征不对（参见“最后一个真实时间步”那项检查）。"))
        assert_close(m.head.bias.grad, b.grad, f"{_label(case)}: gradient of head.bias", atol=1e-5)


@check(points=2, category="gradient")
def test_encoder_frozen(ex):
    """The encoder is frozen: requires_grad=False, grad None after backward, unchanged by Adam over all parameters.
    zh: 编码器被冻结：requires_grad=False，backward 后梯度为 None，用包含全部参数的 Adam 更新后也不变。
    """
    case, C = GRU2BI, 3
    m, enc = _build(ex, case, C)
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    expect(not trainable, f"Every encoder parameter should have requires_grad=False; {_short(trainable)} do not.",
           f"编码器的每个参数都应为 requires_grad=False；{_short(trainable)} 不是。",
           likely=("the encoder never frozen: call encoder.requires_grad_(False) in __init__ (leaving it out of the "
                   "optimizer still computes its gradients).",
                   "编码器没有冻结：请在 __init__ 中调用 encoder.requires_grad_(False)（只是不交给优化器，仍会计算它的梯度）。"))
    before = _state(enc)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m.train()
    x, lengths, y = _data(30, 5, 6, case, num_classes=C)
    for step in range(3):
        opt.zero_grad()
        F.cross_entropy(_logits(m, x, lengths, _label(case), C), y).backward()
        got = [n for n, p in enc.named_parameters() if p.grad is not None]
        expect(not got, f"After backward(), the frozen encoder's parameters should have grad None; {_short(got)} got one.",
               f"backward() 之后，冻结编码器的参数梯度应为 None；{_short(got)} 得到了梯度。")
        opt.step()
    moved = _changed(before, enc)
    expect(not moved, f"Three Adam steps over model.parameters() changed the frozen encoder's {_short(moved)}.",
           f"用 model.parameters() 构建的 Adam 走了 3 步，冻结编码器的 {_short(moved)} 发生了变化。")


@check(points=3, category="correctness")
def test_uses_last_real_step(ex):
    """Logits equal head(last layer's state at each sequence's last real step), both directions when bidirectional.
    zh: logits 等于 head(最后一层在每个序列最后一个真实时间步的状态)，双向时包含两个方向。
    """
    for n, (case, lengths, T, C) in enumerate([(LSTM2, [2, 5, 1, 4], 5, 3), (GRU2BI, [3, 6, 2], 7, 4),
                                               (LSTM1BI, [1, 4, 2, 3, 4], 4, 2)]):
        m, enc = _build(ex, case, C)
        x, lengths, _ = _data(40 + n, len(lengths), T, case, lengths=lengths)
        with torch.no_grad():
            out = _logits(m, x, lengths, _label(case), C)
            feats = _features(enc, x, lengths)
            want = F.linear(feats, m.head.weight, m.head.bias)
            if torch.allclose(out, want, atol=1e-5, rtol=1e-4):
                continue
            likely = ("the features are not the last layer's final state over the real steps: pack the batch and use "
                      "h_n (its last layer is h_n[-1], or cat(h_n[-2], h_n[-1]) when bidirectional).",
                      "特征不是最后一层在真实时间步上的最终状态：请打包批次并使用 h_n（最后一层为 h_n[-1]，双向时为 "
                      "cat(h_n[-2], h_n[-1])）。")
            for alt, why in _wrong_features(enc, x, lengths):
                alt = F.linear(alt, m.head.weight, m.head.bias)
                if alt.shape == out.shape and torch.allclose(out, alt, atol=1e-5, rtol=1e-4):
                    likely = why
                    break
        assert_close(out, want, f"{_label(case)}, lengths {lengths.tolist()}: logits vs head(features at the last "
                     "real step)", likely=likely)


@check(points=2, category="correctness")
def test_padding_invariance(ex):
    """Extra padding steps and different padding values leave the logits unchanged.
    zh: 增加填充步数、改变填充的值，logits 都不变。
    """
    for n, (case, lengths, T, extra) in enumerate([(GRU1, [3, 1, 4], 4, 3), (LSTM1BI, [2, 5, 3, 5], 5, 2)]):
        m, _ = _build(ex, case, 3)
        x, lengths, _ = _data(50 + n, len(lengths), T, case, lengths=lengths)
        with seeded(60 + n):
            x2 = torch.cat([x, torch.randn(len(lengths), extra, case[1]) * 4], dim=1)
            pad = torch.arange(T + extra)[None, :] >= lengths[:, None]
            x2[pad] = torch.randn(int(pad.sum()), case[1]) * 4 - 1
        with torch.no_grad():
            a = _logits(m, x, lengths, _label(case), 3)
            b = _logits(m, x2, lengths, _label(case), 3)
        assert_close(b, a, f"{_label(case)}, lengths {lengths.tolist()}: logits with {extra} more padding steps (and "
                     "other padding values) vs without",
                     likely=("the encoder reads the padding: the last padded step (output[:, -1]) or h_n of an unpacked "
                             "run was used, or a bidirectional encoder ran without packing (its backward direction starts "
                             "in the padding). Pack with pack_padded_sequence(..., enforce_sorted=False).",
                             "编码器读到了填充：使用了最后一个填充位置的输出（output[:, -1]）或未打包运行得到的 h_n，"
                             "或者双向编码器没有打包（其后向方向从填充处开始）。请用 "
                             "pack_padded_sequence(..., enforce_sorted=False) 打包。"))


@check(points=2, category="correctness")
def test_load_matches_checkpoint(ex):
    """load_encoder loads the entries under the prefix ("module.", "module.encoder.", "backbone."), ignores the rest.
    zh: load_encoder 加载带前缀（"module."、"module.encoder."、"backbone."）的条目，忽略其余条目。
    """
    for case, prefix, extras in [(LSTM2, "module.", ()),
                                 (GRU2BI, "module.encoder.", ("module.embed.weight", "module.lm_head.weight")),
                                 (LSTM1BI, "backbone.", ("classifier.weight", "classifier.bias"))]:
        state = _pretrained_state(case)
        ckpt = _checkpoint(state, prefix, extras)
        keys = set(ckpt)
        enc = _fresh(case)
        what = f"{_label(case)}, prefix {prefix!r}"
        got = _load(ex, enc, ckpt, prefix, what)
        expect(set(ckpt) == keys, f"{what}: load_encoder should not add or remove checkpoint entries.",
               f"{what}：load_encoder 不应增删检查点中的条目。")
        now = enc.state_dict()
        same = [k for k in state if k in now and torch.equal(now[k], state[k])]
        if len(same) != len(state):
            fail(f"{what}: after load_encoder the encoder should hold the checkpoint's weights; "
                 f"{_short(sorted(set(state) - set(same)))} still differ.",
                 f"{what}：load_encoder 之后编码器应持有检查点中的权重；{_short(sorted(set(state) - set(same)))} 仍不同。",
                 likely=("load_state_dict(..., strict=False) with keys that do not match (the prefix not removed): "
                         "nothing is loaded and no error is raised.",
                         "用 load_state_dict(..., strict=False) 加载了对不上的键（前缀没有去掉）：什么都没加载，也不报错。"))
        expect(got is enc, f"{what}: load_encoder should return the encoder it was given; got {type(got).__name__}.",
               f"{what}：load_encoder 应返回传入的编码器；实际返回 {type(got).__name__}。")


@check(points=2, category="correctness")
def test_load_is_strict(ex):
    """A missing key, an unexpected key or a wrong prefix raise an error that names the keys.
    zh: 缺少键、多出键或前缀不对时都会报错，且错误信息列出这些键。
    """
    state = _pretrained_state(LSTM2)
    missing = _checkpoint(state, "module.")
    del missing["module.bias_hh_l1"]
    unexpected = _checkpoint(state, "module.")
    unexpected["module.weight_ih_l0_reverse"] = torch.randn(24, 5)
    cases = [(missing, "module.", ["bias_hh_l1"], "a checkpoint without module.bias_hh_l1",
              "缺少 module.bias_hh_l1 的检查点"),
             (unexpected, "module.", ["weight_ih_l0_reverse"],
              "a checkpoint with an extra module.weight_ih_l0_reverse (saved from a bidirectional encoder)",
              "多出 module.weight_ih_l0_reverse 的检查点（来自双向编码器）"),
             (_checkpoint(state, "module."), "encoder.", ["weight_ih_l0", "bias_hh_l1"],
              "a checkpoint saved under 'module.' loaded with prefix 'encoder.'",
              "用前缀 'encoder.' 加载以 'module.' 保存的检查点")]
    for ckpt, prefix, names, en, zh in cases:
        try:
            ex.load_encoder(_fresh(LSTM2), ckpt, prefix)
        except (CheckFailed, NotImplementedError):
            raise
        except Exception as e:  # noqa: BLE001 - any exception type, as long as it names the keys
            absent = [k for k in names if k not in str(e)]
            expect(not absent, f"load_encoder on {en} raised {type(e).__name__}, but its message does not name "
                   f"{absent}: {str(e).strip()[:200]!r}.",
                   f"对{zh}，load_encoder 抛出了 {type(e).__name__}，但错误信息没有列出 {absent}：{str(e).strip()[:200]!r}。",
                   likely=("a generic message: list the missing and unexpected keys (or let "
                           "encoder.load_state_dict(state, strict=True) raise, which lists them).",
                           "错误信息太笼统：应列出缺少的和多出的键（或直接让 encoder.load_state_dict(state, strict=True) "
                           "抛出，它会列出这些键）。"))
            continue
        fail(f"load_encoder on {en} returned without an error; it should raise an error naming {names}.",
             f"对{zh}，load_encoder 没有报错就返回了；它应抛出列出 {names} 的错误。",
             likely=("load_state_dict(..., strict=False), or the state dict filtered down to the encoder's own keys: "
                     "a mismatched checkpoint then silently leaves random weights in place.",
                     "使用了 load_state_dict(..., strict=False)，或把状态字典过滤成只剩编码器自己的键：不匹配的检查点"
                     "会悄无声息地留下随机权重。"))


@check(points=2, category="training")
def test_loss_decreases(ex):
    """Training the head (Adam over the trainable parameters, lr 0.3) lowers the loss on a tiny task.
    zh: 训练分类头（对可训练参数用 Adam，lr 0.3），能在一个很小的任务上降低损失。
    """
    case, C = LSTM1BI, 3

    def run(seed):
        m, _ = _build(ex, case, C, seed=seed)
        m.train()
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=0.3)
        x, lengths, y = _data(70 + seed, 6, 5, case, num_classes=C)
        losses = []
        for _ in range(20):
            opt.zero_grad()
            loss = F.cross_entropy(_logits(m, x, lengths, _label(case), C), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    assert_learns_over_seeds(run, what="training the head for 20 steps")


@check(points=2, category="correctness")
def test_unfreeze_param_groups(ex):
    """unfreeze_top_layer: only the top layer (both directions) trainable; groups head at head_lr, top at top_lr.
    zh: unfreeze_top_layer：只有最顶层（两个方向）可训练；参数组为 head（head_lr）和顶层（top_lr）。
    """
    for case in (LSTM3BI, GRU2BI, LSTM2):
        m, enc = _build(ex, case, 3)
        opt = ex.unfreeze_top_layer(m, 1e-2, 1e-3)
        what = f"unfreeze_top_layer on {_label(case)}"
        expect(isinstance(opt, torch.optim.Optimizer), f"{what} should return a torch.optim.Optimizer, got "
               f"{type(opt).__name__}.", f"{what} 应返回 torch.optim.Optimizer，实际是 {type(opt).__name__}。")
        top = _top_names(enc)
        frozen_top = [n for n in top if not dict(enc.named_parameters())[n].requires_grad]
        expect(not frozen_top, f"{what}: the top layer's parameters should require grad; {_short(frozen_top)} do not.",
               f"{what}：顶层的参数应需要梯度；{_short(frozen_top)} 不需要。",
               likely=_frozen_top_likely(frozen_top))
        lower = [n for n, p in enc.named_parameters() if n not in top and p.requires_grad]
        expect(not lower, f"{what}: only the top layer should be unfrozen; lower layers require grad too: {_short(lower)}.",
               f"{what}：只应解冻顶层；较低的层也需要梯度了：{_short(lower)}。",
               likely=("the whole encoder unfrozen, or a name test that matches other layers.",
                       "解冻了整个编码器，或者名字匹配条件也匹配到了其他层。"))
        group = {id(p): g for g in opt.param_groups for p in g["params"]}
        names = {id(p): n for n, p in m.named_parameters()}
        held_frozen = [names.get(id(p), "?") for g in opt.param_groups for p in g["params"] if not p.requires_grad]
        expect(not held_frozen, f"{what}: the optimizer holds frozen parameters: {_short(held_frozen)}.",
               f"{what}：优化器中有冻结的参数：{_short(held_frozen)}。",
               likely=("a group built from the whole encoder instead of its top layer.", "参数组用整个编码器构建，而不是只用顶层。"))
        params = dict(m.named_parameters())
        absent = [n for n, p in params.items() if (n.startswith("head.") or n in {f"encoder.{t}" for t in top})
                  and id(p) not in group]
        expect(not absent, f"{what}: the optimizer should hold the head and the top layer; missing {_short(absent)}.",
               f"{what}：优化器应包含分类头和顶层；缺少 {_short(absent)}。")
        head_lr = sorted({as_number(group[id(p)]["lr"], f"{what}: the head's group 'lr'") for p in m.head.parameters()})
        top_lr = sorted({as_number(group[id(params[f"encoder.{t}"])]["lr"], f"{what}: the top layer's group 'lr'")
                         for t in top})
        ok = (len(head_lr) == 1 and abs(head_lr[0] - 1e-2) < 1e-12 and len(top_lr) == 1
              and abs(top_lr[0] - 1e-3) < 1e-13)
        expect(ok, f"{what}(model, head_lr=0.01, top_lr=0.001): the top layer should train at the lower learning rate "
               f"0.001 and the head at 0.01; saw top layer lr {top_lr} and head lr {head_lr}.",
               f"{what}(model, head_lr=0.01, top_lr=0.001)：顶层应使用较低的学习率 0.001，分类头使用 0.01；"
               f"实际顶层学习率为 {top_lr}，分类头为 {head_lr}。",
               likely=("one parameter group (or the same lr) for both: pass a list of two dicts "
                       "[{'params': head, 'lr': head_lr}, {'params': top_layer, 'lr': top_lr}].",
                       "两者用了同一个参数组（或同一学习率）：应传入两个字典的列表 "
                       "[{'params': head, 'lr': head_lr}, {'params': top_layer, 'lr': top_lr}]。"))


@check(points=2, category="training")
def test_unfreeze_trains_top_layer(ex):
    """After unfreeze_top_layer, steps update the top layer and the head, and leave the lower layers as they were.
    zh: unfreeze_top_layer 之后，训练会更新顶层和分类头，较低的层保持不变。
    """
    case = GRU2BI
    m, enc = _build(ex, case, 3)
    opt = ex.unfreeze_top_layer(m, 1e-2, 1e-3)
    m.train()
    top = _top_names(enc)
    before = _state(enc)
    x, lengths, y = _data(80, 5, 6, case)
    for step in range(3):
        opt.zero_grad()
        F.cross_entropy(_logits(m, x, lengths, _label(case), 3), y).backward()
        if step == 0:
            p = dict(enc.named_parameters())
            frozen = [n for n in top if not p[n].requires_grad]
            expect(not frozen, f"After unfreeze_top_layer, the top layer should be trainable; {_short(frozen)} still have "
                   "requires_grad=False.", f"unfreeze_top_layer 之后顶层应可训练；{_short(frozen)} 仍为 requires_grad=False。",
                   likely=_frozen_top_likely(frozen))
            nograd = [n for n in top if p[n].grad is None or not p[n].grad.abs().sum() > 0]
            if nograd:
                likely = ("the encoder runs under torch.no_grad() (or its output is detached) because it was frozen: "
                          "requires_grad=False is enough to freeze it, and lets unfreezing work.",
                          "因为编码器被冻结，就把它放在 torch.no_grad() 下运行（或对输出 detach）：冻结只需 "
                          "requires_grad=False，这样解冻后才能训练。")
                if len(nograd) < len(top):
                    likely = ("the features do not depend on these parameters: e.g. the backward direction read at the "
                              "last padded step, after a single step from h0 = 0 (see the check on the last real step).",
                              "特征不依赖这些参数：例如在最后一个填充位置读取后向方向，此时它从 h0 = 0 只走了一步"
                              "（参见“最后一个真实时间步”那项检查）。")
                fail(f"After unfreeze_top_layer, the top layer should get a gradient; {_short(nograd)} got none.",
                     f"unfreeze_top_layer 之后，顶层应得到梯度；{_short(nograd)} 没有得到。", likely=likely)
            lower = [n for n, q in p.items() if n not in top and q.grad is not None]
            expect(not lower, f"The layers below the top one should get no gradient; {_short(lower)} did.",
                   f"顶层以下的层不应得到梯度；{_short(lower)} 得到了梯度。")
        opt.step()
    moved = set(_changed(before, enc))
    still = [n for n in top if n not in moved]
    expect(not still, f"After 3 steps the top layer should have changed; {_short(still)} did not.",
           f"训练 3 步之后顶层应发生变化；{_short(still)} 没有变。",
           likely=("the top layer's parameters are not in the optimizer.", "顶层的参数不在优化器中。"))
    lower = sorted(moved - set(top))
    expect(not lower, f"After 3 steps the lower layers should be unchanged; {_short(lower)} changed.",
           f"训练 3 步之后较低的层应保持不变；{_short(lower)} 变了。")


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator (lengths kept on the CPU) it gives the CPU's logits, and an unfrozen step runs there.
    zh: 在加速设备上（lengths 留在 CPU 上）得到与 CPU 相同的 logits，解冻顶层后也能在该设备上训练一步。
    """
    case, C = GRU1, 3  # small: every op of a recurrent layer passes through the stand-in's Python dispatch
    m, enc = _build(ex, case, C)
    x, lengths, y = _data(90, 3, 4, case, num_classes=C)
    with torch.no_grad():
        ref = _logits(m, x, lengths, _label(case), C)
    top = _top_names(enc)
    with accelerator() as dev:
        m.to(dev)  # pack_padded_sequence refusing device lengths is worded by _forward (run_packed)
        with torch.no_grad():
            out = _logits(m, x.to(dev), lengths, f"{_label(case)} on the accelerator", C)
        assert_on_device(out, dev, "SequenceClassifier output")
        out = to_cpu(out)
        opt = ex.unfreeze_top_layer(m, 1e-2, 1e-3)
        opt.zero_grad()
        F.cross_entropy(_logits(m, x.to(dev), lengths, f"{_label(case)} on the accelerator", C), y.to(dev)).backward()
        opt.step()
        p = dict(enc.named_parameters())[top[0]]
        assert_on_device(p, dev, f"encoder.{top[0]} after an optimizer step")
    # loose tolerance: on real CUDA, cuDNN may run the recurrent matmuls in TF32
    assert_close(out, ref, "logits on the accelerator", atol=2e-3, rtol=1e-2)
