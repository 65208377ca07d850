"""Grader for exercise 12 — an Elman RNN written by hand."""
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (CheckFailed, DeviceMismatchError, RECURRENT_OPS, accelerator, assert_close,
                             assert_on_device, assert_shape, check, expect, fail, forbid, seeded, to_cpu)

# (input_size, hidden_size, num_layers, batch, seq, nonlinearity)
CASES = [(4, 4, 1, 3, 5, "tanh"), (3, 5, 1, 1, 1, "tanh"), (6, 4, 2, 2, 7, "tanh"),
         (5, 3, 2, 5, 1, "tanh"), (3, 6, 1, 4, 9, "relu"), (2, 4, 2, 3, 4, "relu")]


# ---------------------------------------------------------------------------
# private helpers

def _where(exc, ex):
    """' (line N)' of the learner's file in a traceback, or ''."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == getattr(ex, "__file__", None):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" (line {line} of your file)" if line else ""


def _make(ex, i, h, layers=1, nonlinearity="tanh"):
    with seeded(3):
        m = ex.ElmanRNN(i, h, layers, nonlinearity=nonlinearity, batch_first=True)
    expect(isinstance(m, nn.Module), f"ElmanRNN(...) should be an nn.Module, got {type(m).__name__}.",
           f"ElmanRNN(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _twin(ex, i, h, layers=1, nonlinearity="tanh", seed=0):
    """nn.RNN with random weights and the learner's ElmanRNN holding the same ones."""
    with seeded(seed):
        ref = nn.RNN(i, h, layers, nonlinearity=nonlinearity, batch_first=True)
        for p in ref.parameters():  # wider than the default init, so mistakes show up clearly
            nn.init.uniform_(p, -0.6, 0.6)
    m = _make(ex, i, h, layers, nonlinearity)
    try:
        m.load_state_dict(ref.state_dict())
    except Exception as e:  # noqa: BLE001 - report any loading problem in the learner's terms
        fail(f"ElmanRNN({i}, {h}, num_layers={layers}).load_state_dict(nn.RNN(...).state_dict()) failed: "
             f"{str(e).strip().splitlines()[0]}",
             f"ElmanRNN({i}, {h}, num_layers={layers}).load_state_dict(nn.RNN(...).state_dict()) 失败：{str(e).strip().splitlines()[0]}",
             likely=("parameters not named weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} directly on the "
                     "module, or shaped differently from nn.RNN's (weight_ih_l0 is (hidden, input)).",
                     "参数没有以 weight_ih_l{k}、weight_hh_l{k}、bias_ih_l{k}、bias_hh_l{k} 的名字直接注册在模块上，"
                     "或形状与 nn.RNN 不同（weight_ih_l0 是 (hidden, input)）。"))
    return ref, m


def _pair(got, what):
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        fail(f"{what} should return a pair (output, h_n), got {type(got).__name__}.",
             f"{what} 应返回二元组 (output, h_n)，实际是 {type(got).__name__}。",
             likely=("returning only the output, like a classifier would.", "只返回了 output。"))
    return got


def _forward(ex, m, x, h0=None, what="ElmanRNN"):
    """Call m(x) or m(x, h0); if only the default-h0 path crashes, say so."""
    if h0 is not None:
        return _pair(m(x, h0), what)
    try:
        return _pair(m(x), what)
    except CheckFailed:
        raise
    except Exception as e:  # noqa: BLE001
        shape = (m.num_layers if hasattr(m, "num_layers") else _layers(m), x.shape[0], _hidden(m))
        try:
            m(x, torch.zeros(shape, device=x.device, dtype=x.dtype))
        except Exception:  # noqa: BLE001 - the problem is elsewhere: show the original error
            raise e from None
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        fail(f"{what}(x) without h0 raised {type(e).__name__}: {msg}{_where(e, ex)}, although the same call with an "
             f"explicit zero h0 of shape {shape} works. With no h0, start from zeros of shape "
             f"(num_layers, batch, hidden_size) = {shape}, created on the input's device (device=x.device).",
             f"{what}(x) 不传 h0 时抛出 {type(e).__name__}: {msg}{_where(e, ex)}，而显式传入形状为 {shape} 的全零 h0 "
             f"则正常。未给 h0 时应从形状为 (num_layers, batch, hidden_size) = {shape}、"
             f"位于输入所在设备（device=x.device）的全零张量开始。",
             likely=_LIKELY_DEVICE if isinstance(e, DeviceMismatchError) or "same device" in msg else _LIKELY_H0)


_LIKELY_H0 = ("the default state built like the seed's torch.zeros(1, hidden): missing the layer or the batch dimension.",
              "默认状态照抄了题目中的 torch.zeros(1, hidden)：缺少层维度或 batch 维度。")
_LIKELY_DEVICE = ("the default state created without device=x.device: torch.zeros(num_layers, batch, hidden) stays on "
                  "the CPU while the model and the input are on the GPU.",
                  "默认状态创建时没有指定 device=x.device：torch.zeros(num_layers, batch, hidden) 留在 CPU 上，"
                  "而模型和输入在 GPU 上。")


def _layers(m):
    return sum(1 for n, _ in m.named_parameters() if n.startswith("weight_ih_l"))


def _hidden(m):
    w = getattr(m, "weight_hh_l0", None)
    return w.shape[0] if isinstance(w, torch.Tensor) else getattr(m, "hidden_size")


def _ref_rnn(x, h0, ref, transpose_hh=False):
    """A plain re-implementation with an optional known mistake, used only to name a mismatch."""
    act = torch.tanh if ref.nonlinearity == "tanh" else torch.relu
    inp, finals = x, []
    for k in range(ref.num_layers):
        w_ih, w_hh = getattr(ref, f"weight_ih_l{k}"), getattr(ref, f"weight_hh_l{k}")
        b_ih, b_hh = getattr(ref, f"bias_ih_l{k}"), getattr(ref, f"bias_hh_l{k}")
        w_hh = w_hh.t() if transpose_hh else w_hh
        h, outs = h0[k], []
        for t in range(x.shape[1]):
            h = act(F.linear(inp[:, t], w_ih, b_ih) + F.linear(h, w_hh, b_hh))
            outs.append(h)
        inp = torch.stack(outs, 1)
        finals.append(h)
    return inp, torch.stack(finals)


_LIKELY_EQ = ("a weight used without .T (x_t @ W instead of x_t @ W.T, as F.linear does), a bias missing, the wrong "
              "activation, or layer k > 0 fed the input instead of layer k-1's outputs.",
              "权重没有转置（写成 x_t @ W 而不是 x_t @ W.T，F.linear 会自动转置）、漏了偏置、激活函数不对，"
              "或第 k > 0 层的输入用了原始输入而不是第 k-1 层的输出。")


def _compare(ref, out, hn, ref_out, ref_hn, x, h0, label):
    if (isinstance(out, torch.Tensor) and out.shape == ref_out.shape
            and not torch.allclose(out.detach().double(), ref_out.double(), atol=1e-5, rtol=1e-4)):
        with torch.no_grad():
            t_out, _ = _ref_rnn(x, h0 if h0 is not None else torch.zeros_like(ref_hn), ref, transpose_hh=True)
        if torch.allclose(out.detach(), t_out, atol=1e-5, rtol=1e-4):
            fail(f"{label}: output differs from nn.RNN's; it equals what you get with h @ weight_hh (not transposed).",
                 f"{label}：output 与 nn.RNN 不同；它等于使用 h @ weight_hh（未转置）得到的结果。",
                 likely=("the recurrent weight used transposed: nn.RNN computes h @ weight_hh.T "
                         "(F.linear(h, weight_hh, bias_hh)).",
                         "循环权重方向用反了：nn.RNN 计算的是 h @ weight_hh.T（即 F.linear(h, weight_hh, bias_hh)）。"))
    assert_close(out, ref_out, f"{label}: output", likely=_LIKELY_EQ)
    assert_close(hn, ref_hn, f"{label}: h_n", likely=("h_n should hold every layer's state at the last step "
                                                      "(h_n[-1] == output[:, -1]).",
                                                      "h_n 应为每一层在最后一步的隐藏状态（h_n[-1] == output[:, -1]）。"))


@check(points=1, category="correctness")
def test_parameters_named_like_nn_rnn(ex):
    """Parameters are named and shaped like nn.RNN's, so its state_dict loads (1 and 2 layers).
    zh: 参数的名字和形状与 nn.RNN 相同，可以加载其 state_dict（1 层和 2 层）。
    """
    for i, h, layers in ((3, 5, 1), (4, 6, 2)):
        ref = nn.RNN(i, h, layers, batch_first=True)
        m = _make(ex, i, h, layers)
        want = {n: tuple(p.shape) for n, p in ref.named_parameters()}
        got = {n: tuple(p.shape) for n, p in m.named_parameters()}
        expect(got == want, f"ElmanRNN({i}, {h}, num_layers={layers}) parameters should be {want}; got {got}.",
               f"ElmanRNN({i}, {h}, num_layers={layers}) 的参数应为 {want}；实际为 {got}。",
               likely=("parameters kept in a list/ParameterList or a sub-module (names get a prefix), weights "
                       "shaped (in, hidden) instead of (hidden, in), or the layer loop not covering every layer.",
                       "参数放在列表/ParameterList 或子模块中（名字多了前缀）、权重形状写成 (in, hidden) 而不是 "
                       "(hidden, in)，或没有为每一层都创建参数。"))
        _twin(ex, i, h, layers)


@check(points=1, category="shape")
def test_output_and_state_shapes(ex):
    """output is (batch, seq, hidden) and h_n is (num_layers, batch, hidden), with and without h0.
    zh: 无论是否传入 h0，output 形状为 (batch, seq, hidden)，h_n 形状为 (num_layers, batch, hidden)。
    """
    for i, h, layers, b, t in ((4, 6, 1, 3, 5), (3, 5, 2, 2, 1), (2, 7, 2, 1, 3), (5, 4, 3, 4, 2)):
        m = _make(ex, i, h, layers)
        x = torch.randn(b, t, i)
        for h0 in (None, torch.randn(layers, b, h)):
            label = f"ElmanRNN({i}, {h}, num_layers={layers}) on x {tuple(x.shape)}" + (" with h0" if h0 is not None else "")
            out, hn = _forward(ex, m, x, h0)
            assert_shape(out, (b, t, h), f"{label}: output",
                         likely=("returning every layer's states, or time-major (seq, batch, hidden) output although "
                                 "batch_first=True.", "返回了所有层的状态，或 batch_first=True 时仍按 (seq, batch, hidden) 返回。"))
            assert_shape(hn, (layers, b, h), f"{label}: h_n",
                         likely=("h_n missing the layer dimension (stack every layer's final state along dim 0), or "
                                 "missing the batch dimension like the seed's torch.zeros(1, 20).",
                                 "h_n 缺少层维度（应把每层最后的状态沿 dim 0 堆叠），或像题目中的 torch.zeros(1, 20) 那样缺少 batch 维度。"))


@check(points=3, category="correctness")
def test_matches_nn_rnn_without_h0(ex):
    """Without h0, output and h_n equal nn.RNN's with the same weights (several shapes, 1 and 2 layers, tanh and relu).
    zh: 不传 h0 时，output 和 h_n 与相同权重的 nn.RNN 一致（多种形状、1 层和 2 层、tanh 和 relu）。
    """
    for n, (i, h, layers, b, t, act) in enumerate(CASES):
        ref, m = _twin(ex, i, h, layers, act, seed=n)
        x = torch.randn(b, t, i)
        with torch.no_grad():
            ref_out, ref_hn = ref(x)
            out, hn = _forward(ex, m, x)
        _compare(ref, out, hn, ref_out, ref_hn, x, None,
                 f"ElmanRNN({i}, {h}, num_layers={layers}, nonlinearity='{act}') on x {tuple(x.shape)}")


@check(points=2, category="correctness")
def test_matches_nn_rnn_with_h0(ex):
    """With a given h0, output and h_n equal nn.RNN's (the state really is used).
    zh: 传入 h0 时，output 和 h_n 与 nn.RNN 一致（确实使用了给定的初始状态）。
    """
    for n, (i, h, layers, b, t, act) in enumerate(reversed(CASES)):
        ref, m = _twin(ex, i, h, layers, act, seed=10 + n)
        x, h0 = torch.randn(b, t, i), torch.randn(layers, b, h)
        with torch.no_grad():
            ref_out, ref_hn = ref(x, h0)
            out, hn = _forward(ex, m, x, h0)
        _compare(ref, out, hn, ref_out, ref_hn, x, h0,
                 f"ElmanRNN({i}, {h}, num_layers={layers}, nonlinearity='{act}') on x {tuple(x.shape)} with h0")


@check(points=2, category="gradient")
def test_gradients_match_nn_rnn(ex):
    """Gradients w.r.t. every weight, the input and h0 equal nn.RNN's.
    zh: 对每个权重、输入和 h0 的梯度都与 nn.RNN 一致。
    """
    for n, (i, h, layers, b, t) in enumerate(((3, 5, 2, 3, 6), (4, 3, 1, 2, 3))):
        ref, m = _twin(ex, i, h, layers, seed=20 + n)
        x, h0 = torch.randn(b, t, i), torch.randn(layers, b, h)
        w_out, w_hn = torch.randn(b, t, h), torch.randn(layers, b, h)
        xr, hr = x.clone().requires_grad_(), h0.clone().requires_grad_()
        out, hn = ref(xr, hr)
        ((out * w_out).sum() + (hn * w_hn).sum()).backward()
        xm, hm = x.clone().requires_grad_(), h0.clone().requires_grad_()
        out, hn = _forward(ex, m, xm, hm)
        ((out * w_out).sum() + (hn * w_hn).sum()).backward()
        label = f"ElmanRNN({i}, {h}, num_layers={layers})"
        mine = dict(m.named_parameters())
        for name, p in ref.named_parameters():
            g = mine[name].grad
            expect(g is not None, f"{label}: {name} got no gradient.", f"{label}：{name} 没有梯度。",
                   likely=("the parameter is not used in forward, or the graph is cut by .detach()/.data.",
                           "forward 中没有用到该参数，或计算图被 .detach()/.data 切断。"))
            assert_close(g, p.grad, f"{label}: gradient of {name}",
                         likely=("the hidden state detached between steps, or the forward pass differs from nn.RNN's.",
                                 "时间步之间把隐藏状态 detach 了，或前向计算与 nn.RNN 不同。"))
        expect(xm.grad is not None, f"{label}: the input got no gradient.", f"{label}：输入没有梯度。")
        assert_close(xm.grad, xr.grad, f"{label}: gradient of the input x")
        expect(hm.grad is not None, f"{label}: h0 got no gradient (was it ignored or replaced by zeros?).",
               f"{label}：h0 没有梯度（是否忽略了它或用全零替换了它？）。")
        assert_close(hm.grad, hr.grad, f"{label}: gradient of h0")


@check(points=1, category="gradient")
def test_gradient_reaches_first_step(ex):
    """The last output depends on the first input step: d output[:, -1] / d x[:, 0] is non-zero.
    zh: 最后一步的输出依赖第一步的输入：d output[:, -1] / d x[:, 0] 不为零。
    """
    m = _make(ex, 3, 8, 1)
    with seeded(5):
        x = torch.randn(2, 6, 3, requires_grad=True)
    out, _ = _forward(ex, m, x)
    out[:, -1].sum().backward()
    expect(x.grad is not None, "No gradient reached the input x.", "没有梯度传到输入 x。",
           likely=("the input detached, or converted with .numpy()/.item().", "输入被 detach，或用 .numpy()/.item() 转换了。"))
    g0 = x.grad[:, 0].abs().sum().item()
    expect(g0 > 0, f"d output[:, -1] / d x[:, 0] should be non-zero, got {g0:.3g}: the last output does not "
                   "depend on the first step.",
           f"d output[:, -1] / d x[:, 0] 应非零，实际为 {g0:.3g}：最后的输出与第一步无关。",
           likely=("the hidden state detached at every step (h = h.detach()), or not carried from one step to the next.",
                   "每一步都把隐藏状态 detach 了（h = h.detach()），或没有把状态传到下一步。"))


@check(points=2, category="device")
def test_runs_on_the_accelerator(ex):
    """Moved with .to(device), it runs there with and without h0 and gives the CPU's numbers.
    zh: 用 .to(device) 移动后，无论是否传入 h0 都能在该设备上运行，且结果与 CPU 一致。
    """
    ref, m = _twin(ex, 4, 5, 2, seed=30)
    x, h0 = torch.randn(3, 4, 4), torch.randn(2, 3, 5)
    with torch.no_grad():
        want = [ref(x), ref(x, h0)]
        with accelerator() as dev:
            m.to(dev)
            got = []
            for args in ((x.to(dev),), (x.to(dev), h0.to(dev))):
                out, hn = _forward(ex, m, *args)
                assert_on_device(out, dev, "ElmanRNN output on the accelerator")
                assert_on_device(hn, dev, "ElmanRNN h_n on the accelerator")
                got.append(to_cpu((out, hn)))
    for (out, hn), (r_out, r_hn), how in zip(got, want, ("without h0", "with h0")):
        assert_close(out, r_out, f"output on the accelerator {how}")
        assert_close(hn, r_hn, f"h_n on the accelerator {how}")


@check(points=1, category="correctness")
def test_no_builtin_rnn(ex):
    """Written by hand: no nn.RNN / nn.RNNCell / torch.rnn_tanh (or other built-in RNN op) inside.
    zh: 手写实现：内部没有调用 nn.RNN / nn.RNNCell / torch.rnn_tanh（或其他内置 RNN 算子）。
    """
    m = _make(ex, 3, 4, 2)
    subs = [type(s).__name__ for s in m.modules() if isinstance(s, (nn.RNNBase, nn.RNNCellBase))]
    expect(not subs, f"ElmanRNN holds built-in recurrent modules {subs}; write the recurrence yourself.",
           f"ElmanRNN 内含内置循环模块 {subs}；请自己写出递推。")
    x, h0 = torch.randn(2, 5, 3, requires_grad=True), torch.randn(2, 2, 4)
    with forbid(ops=RECURRENT_OPS, raise_on_use=False) as seen:
        out, hn = _forward(ex, m, x, h0)
        (out.sum() + hn.sum()).backward()
    used = sorted(set(seen))
    expect(not used, f"ElmanRNN called the built-in RNN op(s) {used}; the point is to write h_t = tanh(...) yourself.",
           f"ElmanRNN 调用了内置 RNN 算子 {used}；本题要求自己写出 h_t = tanh(...)。",
           likely=("nn.RNN / nn.RNNCell / torch.rnn_tanh used inside forward.", "forward 中用了 nn.RNN / nn.RNNCell / torch.rnn_tanh。"))


@check(points=1, category="shape")
def test_classifier_output_shape(ex):
    """RNNClassifier returns logits (batch, num_classes) for several shapes.
    zh: 对多种形状，RNNClassifier 都返回 (batch, num_classes) 的 logits。
    """
    for i, h, c, layers, b, t in ((5, 7, 3, 1, 4, 6), (2, 4, 10, 2, 1, 1), (3, 6, 2, 1, 5, 3)):
        with seeded(4):
            m = ex.RNNClassifier(i, h, c, num_layers=layers)
        y = m(torch.randn(b, t, i))
        assert_shape(y, (b, c), f"RNNClassifier({i}, {h}, {c}, num_layers={layers}) on x {(b, t, i)}",
                     likely=("classifying every time step (batch, seq, classes) instead of the last one, or returning "
                             "the (logits, h) pair.", "对每个时间步都分类（得到 (batch, seq, classes)）而不是只用最后一步，"
                             "或返回了 (logits, h) 二元组。"))


@check(points=2, category="correctness")
def test_classifier_uses_last_step(ex):
    """Logits are self.fc(self.rnn(x)[0][:, -1]): changing only the last step changes them.
    zh: logits 等于 self.fc(self.rnn(x)[0][:, -1])：只改变最后一步也会改变 logits。
    """
    likely = ("classifying from the first time step (output[:, 0]) or from the mean over time instead of output[:, -1].",
              "用第一个时间步（output[:, 0]）或时间维的平均来分类，而不是 output[:, -1]。")
    for i, h, c, layers, b, t in ((4, 6, 3, 1, 3, 5), (3, 5, 4, 2, 2, 4)):
        with seeded(6):
            m = ex.RNNClassifier(i, h, c, num_layers=layers)
        rnn, fc = getattr(m, "rnn", None), getattr(m, "fc", None)
        expect(isinstance(rnn, ex.ElmanRNN) and isinstance(fc, nn.Linear),
               "RNNClassifier should hold an ElmanRNN as self.rnn and an nn.Linear as self.fc; found "
               f"rnn={type(rnn).__name__}, fc={type(fc).__name__}.",
               f"RNNClassifier 应把 ElmanRNN 存为 self.rnn、把 nn.Linear 存为 self.fc；实际 rnn={type(rnn).__name__}，"
               f"fc={type(fc).__name__}。")
        label = f"RNNClassifier({i}, {h}, {c}, num_layers={layers})"
        with seeded(7):
            x = torch.randn(b, t, i)
        with torch.no_grad():
            y = m(x)
            x2 = x.clone()
            x2[:, -1] += 2.0
            y2 = m(x2)
            diff = (y2 - y).abs().max().item()
            expect(diff > 1e-4, f"{label}: changing only x[:, -1] should change the logits; they moved by {diff:.3g}.",
                   f"{label}：只改变 x[:, -1] 应改变 logits；实际变化 {diff:.3g}。", likely=likely)
            out, _ = _forward(ex, rnn, x, what="self.rnn")
            assert_close(y, fc(out[:, -1]), f"{label}: logits vs self.fc(self.rnn(x)[0][:, -1])", likely=likely)
