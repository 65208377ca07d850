"""Grader for exercise 24 — an LSTM language model trained with truncated BPTT (time-first layout)."""
import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (CheckFailed, DeviceMismatchError, accelerator, assert_close, assert_learns_over_seeds,
                             assert_on_device, assert_shape, assert_tensor, check, expect, fail, seeded, to_cpu)

# ---------------------------------------------------------------------------
# private helpers

def _parts(m, V):
    """The learner's embedding, LSTM and output Linear, found by type (any attribute names)."""
    embs = [x for x in m.modules() if isinstance(x, nn.Embedding)]
    lstms = [x for x in m.modules() if isinstance(x, nn.LSTM)]
    outs = [x for x in m.modules() if isinstance(x, nn.Linear) and x.out_features == V]
    if len(embs) != 1 or len(lstms) != 1 or len(outs) != 1:
        fail(f"LSTMLanguageModel should hold one nn.Embedding, one nn.LSTM and one nn.Linear(hidden_dim, {V}); found "
             f"{len(embs)}, {len(lstms)} and {len(outs)}.",
             f"LSTMLanguageModel 应包含一个 nn.Embedding、一个 nn.LSTM 和一个 nn.Linear(hidden_dim, {V})；实际分别为 "
             f"{len(embs)}、{len(lstms)}、{len(outs)} 个。")
    return embs[0], lstms[0], outs[0]


def _make(ex, V=11, E=6, H=5, layers=1, dropout=0.0, tie=False, seed=0, wide=True):
    with seeded(seed):
        m = ex.LSTMLanguageModel(V, E, H, layers, dropout, tie)  # positional: any parameter names
        expect(isinstance(m, nn.Module), f"LSTMLanguageModel(...) should be an nn.Module, got {type(m).__name__}.",
               f"LSTMLanguageModel(...) 应是 nn.Module，实际是 {type(m).__name__}。")
        emb, lstm, out = _parts(m, V)
        expect(not lstm.batch_first,
               "The data here is time first, (T, B); the nn.LSTM was built with batch_first=True, so it reads the time "
               "axis as the batch.",
               "本题的数据是时间在前的 (T, B)；nn.LSTM 却用 batch_first=True 创建，会把时间维当作批次维。",
               likely=("batch_first=True kept from the seed; this exercise follows PyTorch's word_language_model "
                       "example (time first).", "沿用了原题的 batch_first=True；本题按照 PyTorch 的 word_language_model "
                       "示例使用时间在前的布局。"))
        if wide:
            with torch.no_grad():
                for p in m.parameters():
                    p.uniform_(-0.5, 0.5)
    return m


def _tokens(T, B, V, seed):
    with seeded(seed):
        return torch.randint(0, V, (T, B))


def _state(x, what):
    ok = isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(t, torch.Tensor) for t in x)
    expect(ok, f"{what} should be the LSTM state (h, c), a pair of tensors; got {type(x).__name__}.",
           f"{what} 应是 LSTM 状态 (h, c)，即两个张量组成的二元组；实际为 {type(x).__name__}。")
    return tuple(x)


def _fwd(m, tokens, hidden=None):
    res = m(tokens, hidden)
    expect(isinstance(res, (tuple, list)) and len(res) == 2, "model(tokens, hidden) should return (logits, hidden).",
           "model(tokens, hidden) 应返回 (logits, hidden)。")
    logits, h = res
    assert_tensor(logits, "logits")
    return logits, _state(h, "the hidden state model(tokens, hidden) returns")


def _ref_loss(m, inputs, targets, hidden):
    logits, h = _fwd(m, inputs, hidden)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1)), h


def _crash_likely(e):
    text = str(e)
    if isinstance(e, AttributeError) and "tuple" in text:
        return ("the LSTM state is a tuple (h, c): hidden.data / hidden.detach() fail on it (the seed's bug); detach "
                "each part: tuple(t.detach() for t in hidden).",
                "LSTM 的状态是元组 (h, c)：对它调用 hidden.data / hidden.detach() 会失败（原题的错误）；应分别 detach："
                "tuple(t.detach() for t in hidden)。")
    if "second time" in text or "freed" in text:
        return ("the state not detached between windows: the second window's backward runs into the first window's "
                "graph, already freed; detach the incoming hidden state (detach_hidden) at the start of train_step.",
                "窗口之间没有 detach 状态：第二个窗口的 backward 会进入第一个窗口已释放的计算图；应在 train_step 开头"
                "对传入的隐藏状态做 detach（detach_hidden）。")
    if "modified by an inplace operation" in text:
        return ("the state not detached between windows, the 'backward a second time' error silenced with "
                "retain_graph=True: window 2's backward then runs into window 1's graph, whose weights optimizer.step() "
                "has changed in place; detach the incoming state instead (detach_hidden) and drop retain_graph.",
                "窗口之间没有 detach 状态，并用 retain_graph=True 掩盖了 “backward a second time” 错误：第二个窗口的 "
                "backward 会进入第一个窗口的计算图，而其中的权重已被 optimizer.step() 原地修改；应对传入状态做 detach"
                "（detach_hidden），并去掉 retain_graph。")
    if "hidden" in text.lower() and "size" in text.lower():
        return ("the state's batch size differs from the window's (a short last batch): create a fresh "
                "init_hidden(inputs.size(1)) when hidden[0].size(1) != inputs.size(1).",
                "状态的批大小与窗口不一致（最后一个批次较小）：当 hidden[0].size(1) != inputs.size(1) 时，"
                "应重新 init_hidden(inputs.size(1))。")
    if isinstance(e, DeviceMismatchError) or "same device" in text or "device" in text:
        return ("init_hidden creates its zeros on the CPU (the seed's bug): create them on the model's device "
                "(next(self.parameters()).new_zeros(...), or device=...).",
                "init_hidden 在 CPU 上创建全零张量（原题的错误）：应在模型所在设备上创建"
                "（next(self.parameters()).new_zeros(...)，或指定 device=...）。")
    return None


def _guard(fn, what, needed):
    """fn(); a crash in the learner's code is reported with what this check needed."""
    try:
        return fn()
    except (CheckFailed, NotImplementedError):
        raise
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0][:200].rstrip(".") if str(e).strip() else ""
        fail(f"{what} raised {type(e).__name__}: {first}. {needed[0]}",
             f"{what} 抛出 {type(e).__name__}：{first}。{needed[1]}", likely=_crash_likely(e))


class _Recorder(torch.optim.SGD):
    """SGD that records the gradients it is given at each step()."""

    def __init__(self, params, lr=0.0):
        params = list(params)
        super().__init__(params, lr=lr)
        self.seen = []

    def step(self, closure=None):
        self.seen.append([None if p.grad is None else p.grad.detach().clone()
                          for g in self.param_groups for p in g["params"]])
        return super().step(closure)


def _norm(grads):
    return torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None)).item()


def _step(ex, m, inputs, targets, hidden, opt, clip, what):
    res = _guard(lambda: ex.train_step(m, inputs, targets, hidden, opt, clip), what,
                 ("train_step detaches the incoming state (or starts from init_hidden when it is None or of another "
                  "batch size), then zero_grad, loss, backward, clip, step.",
                  "train_step 先对传入状态做 detach（为 None 或批大小不同时用 init_hidden），然后 zero_grad、计算损失、"
                  "backward、裁剪、step。"))
    expect(isinstance(res, (tuple, list)) and len(res) == 2, f"{what} should return (loss, hidden).",
           f"{what} 应返回 (loss, hidden)。")
    loss, h = res
    expect(isinstance(loss, (float, int)) or (isinstance(loss, torch.Tensor) and loss.numel() == 1),
           f"{what}: the loss should be a Python float (loss.item()); got {type(loss).__name__}.",
           f"{what}：损失应为 Python 浮点数（loss.item()）；实际为 {type(loss).__name__}。")
    return float(loss), _state(h, f"the hidden state {what} returns")


class _ModeSpy:
    """Records (training, grad enabled) at every forward call of a module."""

    def __init__(self, module):
        self.calls = []
        self.handle = module.register_forward_pre_hook(
            lambda mod, args: self.calls.append((mod.training, torch.is_grad_enabled())))

    def remove(self):
        self.handle.remove()


def _as_tokens(res, n, what):
    if isinstance(res, (list, tuple)):
        res = torch.as_tensor([int(t) for t in res])
    assert_tensor(res, what)
    expect(res.numel() == n and res.dim() in (1, 2), f"{what}: expected {n} new tokens, shape ({n},); got shape "
           f"{tuple(res.shape)}.", f"{what}：应有 {n} 个新 token，形状 ({n},)；实际形状 {tuple(res.shape)}。",
           likely=("the prompt returned together with the new tokens (return the new ones only).",
                   "把提示词和新 token 一起返回了（只应返回新生成的 token）。"))
    return res.reshape(-1)


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="correctness")
def test_batchify_layout(ex):
    """batchify gives (N // B, B): column j is the j-th contiguous piece of the stream, the remainder dropped.
    zh: batchify 返回 (N // B, B)：第 j 列是数据流中连续的第 j 段，多余的尾部被丢弃。
    """
    for N, B in ((23, 4), (12, 3), (9, 1)):
        data = torch.arange(100, 100 + N)
        n = N // B
        want = data[:n * B].view(B, n).t()
        got = _guard(lambda: ex.batchify(data, B), f"batchify(arange({N}), {B})",
                     (f"The first {n * B} tokens are used; the last {N % B} are dropped.",
                      f"使用前 {n * B} 个 token，丢弃最后 {N % B} 个。"))
        assert_tensor(got, "batchify(...)")
        likely = None
        if tuple(got.shape) == (B, n):
            likely = ("streams laid out as rows (B, N // B); this exercise is time first: transpose to (N // B, B).",
                      "把数据流排成了行 (B, N // B)；本题时间在前：应转置为 (N // B, B)。")
        elif tuple(got.shape) == (n, B) and torch.equal(got, data[:n * B].view(n, B)):
            likely = ("view(N // B, B) directly: consecutive tokens land in different streams; use "
                      "data[:n * B].view(B, n).t() so that each column is one contiguous piece.",
                      "直接 view(N // B, B)：相邻的 token 被分到了不同的流；应使用 data[:n * B].view(B, n).t()，"
                      "让每一列是一段连续的数据。")
        assert_shape(got, (n, B), f"batchify(arange({N}), {B})", likely=likely)
        expect(torch.equal(got.cpu(), want), f"batchify(arange(100, {100 + N}), {B}): expected columns "
               f"{want.t().tolist()}, got {got.t().tolist()}.",
               f"batchify(arange(100, {100 + N}), {B})：各列应为 {want.t().tolist()}，实际为 {got.t().tolist()}。",
               likely=likely or ("each column must be one contiguous piece: data[:n * B].view(B, n).t().",
                                 "每一列必须是连续的一段：data[:n * B].view(B, n).t()。"))


@check(points=2, category="correctness")
def test_get_batch_windows(ex):
    """get_batch gives input rows i..i+L-1 and target rows i+1..i+L, L = min(bptt, len - 1 - i), short last window.
    zh: get_batch 的输入为第 i..i+L-1 行，目标为第 i+1..i+L 行，L = min(bptt, len - 1 - i)，最后一个窗口较短。
    """
    source = torch.arange(30).view(3, 10).t().contiguous()  # (10, 3)
    for i, bptt in ((0, 4), (4, 4), (8, 4), (3, 6), (0, 9)):
        L = min(bptt, len(source) - 1 - i)
        res = _guard(lambda: ex.get_batch(source, i, bptt), f"get_batch(source (10, 3), i={i}, bptt={bptt})",
                     (f"The window has L = min(bptt, len(source) - 1 - i) = {L} rows.",
                      f"窗口有 L = min(bptt, len(source) - 1 - i) = {L} 行。"))
        expect(isinstance(res, (tuple, list)) and len(res) == 2, "get_batch should return (input, target).",
               "get_batch 应返回 (input, target)。")
        inp, tgt = res
        what = f"get_batch(source (10, 3), i={i}, bptt={bptt})"
        assert_tensor(inp, f"{what}: input")
        assert_tensor(tgt, f"{what}: target")
        short = ("L = min(bptt, len(source) - i): the last window then has one target too few; use "
                 "min(bptt, len(source) - 1 - i).",
                 "L = min(bptt, len(source) - i)：最后一个窗口的目标会少一行；应使用 min(bptt, len(source) - 1 - i)。")
        assert_shape(inp, (L, 3), f"{what}: input", likely=short)
        expect(tgt.numel() == L * 3, f"{what}: target should be (L, B) = ({L}, 3) (or flattened to ({L * 3},)); got "
               f"{tuple(tgt.shape)}.", f"{what}：目标应为 (L, B) = ({L}, 3)（或展平为 ({L * 3},)）；实际为 "
               f"{tuple(tgt.shape)}。", likely=short)
        assert_close(inp, source[i:i + L], f"{what}: input")
        tgt = tgt.reshape(L, 3)
        if not torch.equal(tgt, source[i + 1:i + 1 + L]):
            likely = (("target not shifted: it must be the next token, source[i + 1:i + 1 + L].",
                       "目标没有平移：应为下一个 token，即 source[i + 1:i + 1 + L]。") if torch.equal(tgt, inp) else
                      ("the target is the input shifted by one row (time step): source[i + 1:i + 1 + L].",
                       "目标是输入沿时间（行）平移一步：source[i + 1:i + 1 + L]。"))
            fail(f"{what}: target should be rows {i + 1}..{i + L}, {source[i + 1:i + 1 + L].tolist()}; got "
                 f"{tgt.tolist()}.", f"{what}：目标应为第 {i + 1}..{i + L} 行，即 {source[i + 1:i + 1 + L].tolist()}；"
                 f"实际为 {tgt.tolist()}。", likely=likely)


@check(points=2, category="shape")
def test_model_shapes(ex):
    """Logits are (T, B, vocab), the state (h, c) each (num_layers, B, hidden); init_hidden gives zeros.
    zh: logits 的形状为 (T, B, vocab)，状态 (h, c) 各为 (num_layers, B, hidden)；init_hidden 返回全零。
    """
    for V, E, H, layers, T, B in ((11, 6, 5, 2, 7, 3), (9, 4, 4, 1, 1, 5)):
        m = _make(ex, V, E, H, layers, seed=V)
        h0 = _state(_guard(lambda: m.init_hidden(B), f"init_hidden({B})", ("", "")), f"init_hidden({B})")
        for name, t in zip("hc", h0):
            assert_shape(t, (layers, B, H), f"init_hidden({B}): {name}")
            expect(not t.abs().sum() > 0, f"init_hidden({B}): {name} should be zeros.", f"init_hidden({B})：{name} 应全为零。")
        x = _tokens(T, B, V, seed=T)
        for hidden in (None, h0):
            logits, (h, c) = _guard(lambda: _fwd(m, x, hidden), f"model(tokens {(T, B)}, "
                                    f"{'None' if hidden is None else 'init_hidden(B)'})",
                                    ("tokens are (T, B), time first.", "tokens 的形状为 (T, B)，时间在前。"))
            assert_shape(logits, (T, B, V), f"logits for tokens {(T, B)}")
            assert_shape(h, (layers, B, H), "h returned by forward")
            assert_shape(c, (layers, B, H), "c returned by forward")


@check(points=3, category="gradient")
def test_consecutive_windows(ex):
    """Three consecutive train_step windows run, carry the state, and no gradient flows into the previous window.
    zh: 连续三个窗口的 train_step 能运行、传递状态，且梯度不会流入前一个窗口。
    """
    V, B = 10, 3
    m = _make(ex, V, 6, 6, 2, seed=1)
    source = _tokens(16, B, V, seed=2)
    with seeded(3):
        leaf = (torch.randn(2, B, 6).requires_grad_(), torch.randn(2, B, 6).requires_grad_())
    hidden = (leaf[0] * 1.0, leaf[1] * 1.0)  # the "previous window's" state, still attached to a graph
    ref_hidden = tuple(t.detach() for t in leaf)
    opt = _Recorder(m.parameters(), lr=0.0)  # lr 0: the weights stay, so the grader can recompute every loss
    for w, i in enumerate((0, 5, 10)):
        inputs, targets = source[i:i + 5], source[i + 1:i + 6]
        loss, hidden = _step(ex, m, inputs, targets, hidden, opt, 5.0, f"train_step on window {w + 1} of 3")
        with torch.no_grad():
            want, ref_hidden = _ref_loss(m, inputs, targets, ref_hidden)
        if abs(loss - want.item()) > 1e-4 * max(1.0, abs(want.item())):
            with torch.no_grad():
                fresh, _ = _ref_loss(m, inputs, targets, None)
            restarted = abs(loss - fresh.item()) < 1e-4 * max(1.0, abs(fresh.item()))
            fail(f"train_step on window {w + 1}: loss {loss:.6g}, expected {want.item():.6g} (the mean cross-entropy "
                 "from the state the previous window returned).",
                 f"窗口 {w + 1} 的 train_step：损失为 {loss:.6g}，应为 {want.item():.6g}（从上一个窗口返回的状态出发的"
                 f"平均交叉熵）。",
                 likely=("the state re-initialised to zeros at every window: keep it, only detach it (truncated BPTT "
                         "carries the values, not the gradient)." if restarted else
                         "the loss is not the mean cross-entropy over all L * B targets (logits.reshape(-1, vocab), "
                         "targets.reshape(-1)), or the state returned is not the LSTM's final (h, c).",
                         "每个窗口都把状态重置为零：应保留它，只做 detach（截断 BPTT 传递的是数值而不是梯度）。" if restarted
                         else "损失不是对全部 L * B 个目标的平均交叉熵（logits.reshape(-1, vocab)、targets.reshape(-1)），"
                         "或返回的状态不是 LSTM 最终的 (h, c)。"))
    expect(len(opt.seen) == 3, f"optimizer.step() should run once per window; it ran {len(opt.seen)} times in 3 windows.",
           f"每个窗口应调用一次 optimizer.step()；3 个窗口中实际调用了 {len(opt.seen)} 次。")
    if any(t.grad is not None and t.grad.abs().sum() > 0 for t in leaf):
        fail("A gradient flowed into the state given to train_step (the previous window's graph): truncated BPTT must "
             "stop the gradient at the window boundary.",
             "梯度流入了传给 train_step 的状态（即前一个窗口的计算图）：截断 BPTT 必须在窗口边界处截断梯度。",
             likely=("the incoming hidden state not detached (perhaps hidden by backward(retain_graph=True)); start "
                     "train_step with hidden = detach_hidden(hidden).",
                     "没有对传入的隐藏状态做 detach（也许用 backward(retain_graph=True) 掩盖了报错）；train_step 开头应写 "
                     "hidden = detach_hidden(hidden)。"))


@check(points=2, category="correctness")
def test_short_last_batch(ex):
    """A window with a smaller batch than the state (a short last batch) starts from a fresh zero state.
    zh: 当窗口的批大小小于状态的批大小（最后一个批次较小）时，从新的全零状态开始。
    """
    V = 8
    m = _make(ex, V, 5, 4, 1, seed=4)
    opt = _Recorder(m.parameters(), lr=0.0)
    big = _tokens(6, 4, V, seed=5)
    _, hidden = _step(ex, m, big[:5], big[1:], None, opt, 5.0, "train_step on a (5, 4) window with hidden=None")
    small = _tokens(4, 3, V, seed=6)
    loss, h = _step(ex, m, small[:3], small[1:], hidden, opt, 5.0,
                    "train_step on a (3, 3) window given the batch-4 state of the previous window")
    with torch.no_grad():
        want, _ = _ref_loss(m, small[:3], small[1:], None)
    expect(abs(loss - want.item()) < 1e-4 * max(1.0, want.item()),
           f"short last batch: loss {loss:.6g}, expected {want.item():.6g} (from a fresh init_hidden(3)).",
           f"最后一个较小的批次：损失为 {loss:.6g}，应为 {want.item():.6g}（从新的 init_hidden(3) 出发）。",
           likely=("the state not re-initialised when the batch size changes.", "批大小改变时没有重新初始化状态。"))
    assert_shape(h[0], (1, 3, 4), "h returned for the batch-3 window")


@check(points=2, category="gradient")
def test_gradient_clipped(ex):
    """The optimizer sees this window's cross-entropy gradient (old gradients zeroed), its norm clipped to `clip`.
    zh: 优化器看到的是本窗口交叉熵的梯度（旧梯度已清零），其范数被裁剪到 `clip`。
    """
    V = 9
    m = _make(ex, V, 6, 5, 1, seed=7)
    x = _tokens(6, 3, V, seed=8)
    inputs, targets = x[:5], x[1:]
    ref = copy.deepcopy(m)
    loss, _ = _ref_loss(ref, inputs, targets, None)
    loss.backward()
    true = [p.grad for p in ref.parameters()]
    true_norm = _norm(true)
    for clip in (1e3, 0.05 * true_norm):
        opt = _Recorder(m.parameters(), lr=0.0)
        for p in m.parameters():
            p.grad = torch.ones_like(p)  # stale gradients from an earlier step: zero_grad must clear them
        _step(ex, m, inputs, targets, None, opt, clip, f"train_step(..., clip={clip:.3g})")
        expect(len(opt.seen) == 1, f"train_step should call optimizer.step() once; it called it {len(opt.seen)} times.",
               f"train_step 应调用一次 optimizer.step()；实际调用了 {len(opt.seen)} 次。")
        seen = opt.seen[0]
        expect(all(g is not None for g in seen), "Some parameters had no gradient when optimizer.step() ran.",
               "调用 optimizer.step() 时有参数没有梯度。")
        n = _norm(seen)
        if clip > true_norm:
            stale = abs(_norm([g - 1 for g in seen]) - true_norm) < 1e-4 * true_norm
            for g, t in zip(seen, true):
                assert_close(g, t, "gradient the optimizer saw (clip larger than the norm)",
                             likely=("optimizer.zero_grad() missing: the gradients of earlier steps accumulate."
                                     if stale else "the loss is not the mean cross-entropy over all L * B targets, "
                                     "computed from hidden=None (zeros).",
                                     "缺少 optimizer.zero_grad()：之前步骤的梯度会累加。" if stale else
                                     "损失不是从 hidden=None（全零）出发、对全部 L * B 个目标的平均交叉熵。"))
        else:
            expect(n <= clip * (1 + 1e-3),
                   f"clip={clip:.3g}: the optimizer saw a gradient of norm {n:.4g} (unclipped {true_norm:.4g}); it should "
                   f"be at most {clip:.3g}.",
                   f"clip={clip:.3g}：优化器看到的梯度范数为 {n:.4g}（裁剪前 {true_norm:.4g}）；应不超过 {clip:.3g}。",
                   likely=("clip_grad_norm_ missing, or called after optimizer.step() (too late), or on a list other "
                           "than model.parameters().", "缺少 clip_grad_norm_，或在 optimizer.step() 之后才调用（太晚了），"
                           "或裁剪的不是 model.parameters()。"))
            cos = sum((g.double() * t.double()).sum() for g, t in zip(seen, true)).item() / (n * true_norm + 1e-30)
            expect(cos > 0.999 and n > 0.5 * clip,
                   f"clip={clip:.3g}: the clipped gradient should keep the direction of the true one and have norm "
                   f"{clip:.3g}; saw norm {n:.4g}, cosine {cos:.4f}.",
                   f"clip={clip:.3g}：裁剪后的梯度应保持原方向，范数为 {clip:.3g}；实际范数 {n:.4g}，余弦 {cos:.4f}。",
                   likely=("clip_grad_value_ (clips each entry, changes the direction) instead of clip_grad_norm_.",
                           "用了 clip_grad_value_（逐元素裁剪，会改变方向），应使用 clip_grad_norm_。"))


def _perplexity(m, source):
    """exp(mean CE) of one eval-mode pass over the whole source (what carrying the state through windows gives)."""
    m.eval()
    with torch.no_grad():
        logits, _ = _fwd(m, source[:-1], None)
        return math.exp(F.cross_entropy(logits.reshape(-1, logits.size(-1)), source[1:].reshape(-1)).item())


@check(points=2, category="correctness")
def test_perplexity(ex):
    """evaluate returns exp of the mean cross-entropy over every target, the state carried across windows.
    zh: evaluate 返回对所有目标的平均交叉熵的 exp，状态在窗口之间传递。
    """
    V = 12
    m = _make(ex, V, 6, 6, 2, dropout=0.3, seed=9)
    source = _tokens(15, 3, V, seed=10)
    bptt = 4  # 14 targets per stream: windows of 4, 4, 4, 2
    want = _perplexity(copy.deepcopy(m), source)
    m.train()
    spy = _ModeSpy(m)
    try:
        got = _guard(lambda: ex.evaluate(m, source, bptt), f"evaluate(model, source (15, 3), bptt={bptt})",
                     ("It runs the windows of get_batch in eval mode under torch.no_grad().",
                      "它在 eval 模式和 torch.no_grad() 下遍历 get_batch 的各个窗口。"))
    finally:
        spy.remove()
    expect(isinstance(got, (float, int)) or (isinstance(got, torch.Tensor) and got.numel() == 1),
           f"evaluate should return the perplexity as a number; got {type(got).__name__}.",
           f"evaluate 应返回数值形式的困惑度；实际为 {type(got).__name__}。")
    got = float(got)
    if abs(got - want) > 1e-4 * want:
        ref = copy.deepcopy(m)
        ref.eval()
        likely = ("perplexity = exp(sum of token cross-entropies / number of targets), over every window, the state "
                  "carried from one window to the next, in eval mode.",
                  "困惑度 = exp（所有 token 的交叉熵之和 / 目标数），遍历每个窗口，状态在窗口间传递，在 eval 模式下计算。")
        with torch.no_grad():
            losses, sizes, restart = [], [], []
            h = None
            for i in range(0, len(source) - 1, bptt):
                L = min(bptt, len(source) - 1 - i)
                l, h = _ref_loss(ref, source[i:i + L], source[i + 1:i + 1 + L], h)
                losses.append(l.item())
                sizes.append(L)
                restart.append(_ref_loss(ref, source[i:i + L], source[i + 1:i + 1 + L], None)[0].item())
        unweighted = math.exp(sum(losses) / len(losses))
        restarted = math.exp(sum(l * s for l, s in zip(restart, sizes)) / sum(sizes))
        if abs(got - unweighted) < 1e-4 * want:
            likely = ("the windows' mean losses averaged with equal weights: the short last window then counts as much "
                      "as a full one; weight each by its number of targets (or sum with reduction='sum').",
                      "对各窗口的平均损失等权平均：较短的最后一个窗口与完整窗口权重相同；应按目标数加权"
                      "（或用 reduction='sum' 求和）。")
        elif abs(got - restarted) < 1e-4 * want:
            likely = ("the state re-initialised at every window: carry it from one window to the next.",
                      "每个窗口都重新初始化了状态：应在窗口之间传递它。")
        elif any(tr for tr, _ in spy.calls):
            likely = ("model.eval() missing: dropout is on while evaluating.", "缺少 model.eval()：评估时 dropout 仍然生效。")
        elif abs(got - math.log(want)) < 1e-4 * want:
            likely = ("the mean cross-entropy returned: the perplexity is its exp.", "返回的是平均交叉熵：困惑度是它的 exp。")
        fail(f"evaluate(model, source, bptt={bptt}) = {got:.6g}; expected perplexity {want:.6g} = exp(mean cross-entropy "
             "over all targets) in eval mode.",
             f"evaluate(model, source, bptt={bptt}) = {got:.6g}；困惑度应为 {want:.6g} = exp（所有目标的平均交叉熵），"
             f"在 eval 模式下计算。", likely=likely)


@check(points=1, category="correctness")
def test_train_step_train_mode(ex):
    """train_step puts the model in train mode (dropout on) even when it was left in eval mode by evaluate.
    zh: 即使模型之前被 evaluate 留在 eval 模式，train_step 也会把它切回训练模式（dropout 生效）。
    """
    V = 7
    m = _make(ex, V, 4, 4, 2, dropout=0.5, seed=19)
    x = _tokens(5, 2, V, seed=20)
    m.eval()  # as evaluate leaves it
    spy = _ModeSpy(m)
    try:
        _step(ex, m, x[:4], x[1:], None, torch.optim.SGD(m.parameters(), lr=0.1), 1.0,
              "train_step(...) on a model left in eval mode")
    finally:
        spy.remove()
    expect(spy.calls, "train_step never called the model.", "train_step 没有调用模型。")
    expect(all(tr for tr, _ in spy.calls), "train_step ran the model in eval mode (dropout off while training).",
           "train_step 在 eval 模式下运行了模型（训练时 dropout 没有生效）。",
           likely=("model.train() missing at the start of train_step: after evaluate (model.eval()) the model stays "
                   "in eval mode.", "train_step 开头缺少 model.train()：evaluate 调用 model.eval() 之后模型一直处于 eval 模式。"))


@check(points=1, category="correctness")
def test_evaluate_eval_mode_no_grad(ex):
    """evaluate runs the model in eval mode (dropout off) and without autograd.
    zh: evaluate 在 eval 模式（关闭 dropout）下运行模型，且不记录梯度。
    """
    V = 7
    m = _make(ex, V, 4, 4, 2, dropout=0.5, seed=11)
    source = _tokens(9, 2, V, seed=12)
    m.train()
    spy = _ModeSpy(m)
    try:
        _guard(lambda: ex.evaluate(m, source, 3), "evaluate(model, source (9, 2), bptt=3)", ("", ""))
    finally:
        spy.remove()
    expect(spy.calls, "evaluate never called the model.", "evaluate 没有调用模型。")
    expect(not any(tr for tr, _ in spy.calls), "evaluate ran the model in train mode (dropout on).",
           "evaluate 在训练模式下运行了模型（dropout 生效）。", likely=("model.eval() missing.", "缺少 model.eval()。"))
    expect(not any(g for _, g in spy.calls), "evaluate ran the model with autograd on (a graph built for nothing).",
           "evaluate 在开启 autograd 的情况下运行模型（白白构建计算图）。",
           likely=("the loop not inside torch.no_grad() (or torch.inference_mode()).",
                   "循环没有放在 torch.no_grad()（或 torch.inference_mode()）中。"))


@check(points=2, category="correctness")
def test_weight_tying(ex):
    """tie_weights=True makes the output layer's weight the embedding's weight (one Parameter); mismatched sizes raise.
    zh: tie_weights=True 时输出层的权重就是嵌入层的权重（同一个 Parameter）；尺寸不一致时报错。
    """
    V = 10
    with seeded(13):
        m = ex.LSTMLanguageModel(V, 6, 6, 1, 0.0, True)
    emb, _, out = _parts(m, V)
    expect(out.weight is emb.weight,
           "With tie_weights=True the output Linear's weight should be the very Parameter of the embedding; they are "
           "two different objects" + (" sharing storage." if out.weight.data_ptr() == emb.weight.data_ptr() else "."),
           "tie_weights=True 时，输出层 Linear 的权重应与嵌入层是同一个 Parameter；实际是两个不同的对象"
           + ("（共享存储）。" if out.weight.data_ptr() == emb.weight.data_ptr() else "。"),
           likely=("a copy (nn.Parameter(embedding.weight.clone())) or fc.weight.data = embedding.weight.data: each "
                   "then gets its own gradient and optimizer state; assign the Parameter itself: "
                   "self.fc.weight = self.embedding.weight.",
                   "复制了一份（nn.Parameter(embedding.weight.clone())）或写了 fc.weight.data = embedding.weight.data："
                   "两者各有梯度和优化器状态；应直接赋值 Parameter 本身：self.fc.weight = self.embedding.weight。"))
    n_params = len(list(m.parameters()))
    names = [n for n, _ in m.named_parameters(remove_duplicate=False)]
    expect(n_params == len(names) - 1, f"parameters() should list the tied weight once ({len(names) - 1} entries); "
           f"got {n_params}.", f"parameters() 应只列出一次共享的权重（{len(names) - 1} 项）；实际为 {n_params} 项。")
    try:
        ex.LSTMLanguageModel(V, 6, 8, 1, 0.0, True)
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001
        fail(f"LSTMLanguageModel(V, emb_dim=6, hidden_dim=8, tie_weights=True) should raise ValueError; it raised "
             f"{type(e).__name__}.", f"LSTMLanguageModel(V, emb_dim=6, hidden_dim=8, tie_weights=True) 应抛出 "
             f"ValueError；实际抛出 {type(e).__name__}。")
    fail("LSTMLanguageModel(V, emb_dim=6, hidden_dim=8, tie_weights=True) should raise ValueError (a (V, 6) embedding "
         "cannot be the weight of Linear(8, V)).",
         "LSTMLanguageModel(V, emb_dim=6, hidden_dim=8, tie_weights=True) 应抛出 ValueError（(V, 6) 的嵌入不能作为 "
         "Linear(8, V) 的权重）。")


@check(points=2, category="correctness")
def test_greedy_generation(ex):
    """Greedy generate equals step-by-step argmax of the model on the growing sequence, in eval mode.
    zh: 贪心生成的结果等于在不断增长的序列上逐步取 argmax，且在 eval 模式下进行。
    """
    V, n = 13, 8
    m = _make(ex, V, 6, 7, 2, dropout=0.4, seed=14)
    _, _, out = _parts(m, V)
    with torch.no_grad():  # sharper logits, so the next token depends on the whole prompt
        if out.bias is not None:
            out.bias.zero_()
        out.weight.mul_(8.0)
    ref = copy.deepcopy(m)
    ref.eval()
    for s in range(15, 60):  # a prompt whose next token is not the one after its first token alone
        with seeded(s):
            prompt = torch.randint(0, V, (4,))
        with torch.no_grad():
            lg, _ = _fwd(ref, prompt.view(-1, 1), None)
        if lg[-1, 0].argmax() != lg[0, 0].argmax():
            break
    seq = prompt.clone()
    with torch.no_grad():
        for _ in range(n):
            logits, _ = _fwd(ref, seq.view(-1, 1), None)
            seq = torch.cat([seq, logits[-1, 0].argmax().view(1)])
    want = seq[len(prompt):]
    m.train()
    spy = _ModeSpy(m)
    try:
        with seeded(16):
            got = _guard(lambda: ex.generate(m, prompt, n), f"generate(model, prompt of 4 tokens, {n})", ("", ""))
    finally:
        spy.remove()
    got = _as_tokens(got, n, f"generate(model, prompt, {n})")
    if not torch.equal(got.cpu(), want):
        train = any(tr for tr, _ in spy.calls)
        fail(f"greedy generate: expected {want.tolist()}, got {got.tolist()}.",
             f"贪心生成：应为 {want.tolist()}，实际为 {got.tolist()}。",
             likely=("model.eval() missing: dropout is on while generating." if train else
                     "the state not carried from the prompt to the new tokens, a new token not fed back, or the argmax "
                     "not taken over the vocabulary of the last position.",
                     "缺少 model.eval()：生成时 dropout 仍然生效。" if train else
                     "状态没有从提示词传给新 token，新 token 没有作为下一步输入，或没有在最后一个位置的词表维度上取 argmax。"))


@check(points=2, category="correctness")
def test_temperature_sampling(ex):
    """With a temperature, tokens are drawn from softmax(logits / temperature) (frequencies over 500 draws).
    zh: 指定温度时，token 从 softmax(logits / temperature) 中采样（统计 500 次采样的频率）。
    """
    V = 4
    m = _make(ex, V, 4, 4, 1, seed=17)
    _, _, out = _parts(m, V)
    bias = torch.tensor([1.5, 0.5, 0.0, -1.0])
    with torch.no_grad():
        out.weight.zero_()  # the logits are the bias, whatever the input: every draw has the same distribution
        out.bias.copy_(bias)
    prompt = torch.tensor([1, 2])
    N = 500  # TV distance of a correct sampler: about 0.03 (sd 0.013); the mistakes below give 0.18 or more
    for j, temp in enumerate((2.0,)):
        with seeded(18 + j):
            got = _guard(lambda: ex.generate(m, prompt, N, temperature=temp),
                         f"generate(model, prompt, {N}, temperature={temp})", ("", ""))
        got = _as_tokens(got, N, f"generate(..., temperature={temp})")
        freq = torch.bincount(got.cpu().long(), minlength=V)[:V].double() / N
        want = F.softmax(bias.double() / temp, dim=0)
        tv = 0.5 * (freq - want).abs().sum().item()
        if tv > 0.09:
            cands = [("logits multiplied by the temperature instead of divided.", "logits 乘以了温度，应除以温度。",
                      F.softmax(bias.double() * temp, 0)),
                     ("the temperature ignored: sampled from softmax(logits).", "忽略了温度：直接从 softmax(logits) 采样。",
                      F.softmax(bias.double(), 0)),
                     ("argmax taken even with a temperature (no sampling).", "指定温度时仍取 argmax（没有采样）。",
                      F.one_hot(torch.tensor(0), V).double())]
            best = min(cands, key=lambda c: (freq - c[2]).abs().sum().item())
            likely = (best[0], best[1]) if 0.5 * (freq - best[2]).abs().sum().item() < 0.09 else None
            fail(f"temperature={temp}: token frequencies {[round(x, 3) for x in freq.tolist()]}, expected about "
                 f"{[round(x, 3) for x in want.tolist()]} = softmax(logits / {temp}).",
                 f"temperature={temp}：token 频率为 {[round(x, 3) for x in freq.tolist()]}，应约为 "
                 f"{[round(x, 3) for x in want.tolist()]} = softmax(logits / {temp})。", likely=likely)


@check(points=2, category="training")
def test_loss_decreases(ex):
    """Training with batchify, get_batch and train_step lowers the loss on a patterned token stream.
    zh: 用 batchify、get_batch 和 train_step 训练，在有规律的 token 流上损失下降。
    """
    V = 8

    def run(seed):
        with seeded(seed):
            perm = torch.randperm(V)
            stream = perm[torch.arange(400) % V]
            m = ex.LSTMLanguageModel(V, 16, 16)
            opt = torch.optim.Adam(m.parameters(), lr=0.02)
        source = ex.batchify(stream, 4)
        losses, hidden = [], None
        for _ in range(2):
            for i in range(0, source.size(0) - 1, 8):
                inputs, targets = ex.get_batch(source, i, 8)
                loss, hidden = ex.train_step(m, inputs, targets, hidden, opt, 1.0)
                losses.append(float(loss))
        return losses[:24]

    assert_learns_over_seeds(lambda s: _guard(lambda: run(s), "training with train_step", ("", "")),
                             what="training the language model with train_step")


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator, init_hidden, train_step, evaluate and generate run there with the CPU's numbers.
    zh: 在加速设备上，init_hidden、train_step、evaluate 和 generate 都能运行，且结果与 CPU 一致。
    """
    V = 9
    m = _make(ex, V, 5, 5, 2, seed=19)
    cpu = copy.deepcopy(m)
    source = _tokens(10, 3, V, seed=20)
    prompt = torch.tensor([3, 1, 4])
    needed = ("Every tensor the code creates must be on the model's device.",
              "代码创建的每个张量都必须位于模型所在的设备上。")
    want_loss, _ = _guard(lambda: ex.train_step(cpu, source[:4], source[1:5], None,
                                                torch.optim.SGD(cpu.parameters(), lr=0.1), 1.0),
                          "train_step on the CPU", ("", ""))
    want_ppl = float(_guard(lambda: ex.evaluate(cpu, source, 4), "evaluate on the CPU", ("", "")))
    want_gen = _as_tokens(_guard(lambda: ex.generate(cpu, prompt, 5), "generate on the CPU", ("", "")), 5,
                          "generate on the CPU")
    with accelerator() as dev:
        m.to(dev)
        h = _state(_guard(lambda: m.init_hidden(3), "init_hidden(3) on the accelerator", needed), "init_hidden(3)")
        assert_on_device(h[0], dev, "init_hidden(3): h", likely=_crash_likely(DeviceMismatchError()))
        assert_on_device(h[1], dev, "init_hidden(3): c", likely=_crash_likely(DeviceMismatchError()))
        src = source.to(dev)
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        loss, h2 = _guard(lambda: ex.train_step(m, src[:4], src[1:5], None, opt, 1.0), "train_step on the accelerator",
                          needed)
        assert_on_device(h2[0], dev, "the state train_step returns")
        ppl = float(_guard(lambda: ex.evaluate(m, src, 4), "evaluate on the accelerator", needed))
        gen = _guard(lambda: ex.generate(m, prompt.to(dev), 5), "generate on the accelerator", needed)
        assert_on_device(gen, dev, "generated tokens")
        gen = to_cpu(gen)
    expect(abs(float(loss) - want_loss) < 1e-4 * max(1.0, want_loss),
           f"train_step loss on the accelerator {float(loss):.6g} differs from the CPU's {want_loss:.6g}.",
           f"加速设备上 train_step 的损失 {float(loss):.6g} 与 CPU 上的 {want_loss:.6g} 不同。")
    expect(abs(ppl - want_ppl) < 1e-4 * want_ppl, f"perplexity on the accelerator {ppl:.6g} differs from the CPU's "
           f"{want_ppl:.6g}.", f"加速设备上的困惑度 {ppl:.6g} 与 CPU 上的 {want_ppl:.6g} 不同。")
    expect(torch.equal(gen.reshape(-1).long(), want_gen.long()), f"generate on the accelerator gave {gen.tolist()}, on "
           f"the CPU {want_gen.tolist()}.", f"加速设备上的生成结果为 {gen.tolist()}，CPU 上为 {want_gen.tolist()}。")
