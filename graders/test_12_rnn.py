"""Grader for exercise 12 — an Elman RNN written by hand."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (CheckFailed, DeviceMismatchError, RECURRENT_OPS, accelerator, as_int, assert_close,
                             assert_on_device, assert_shape, check, expect, fail, first_line, forbid, learner_line,
                             log_probs, poison_freed_memory, run_learner, seeded, to_cpu)

# (input_size, hidden_size, num_layers, batch, seq, nonlinearity)
CASES = [(4, 4, 1, 3, 5, "tanh"), (3, 5, 1, 1, 1, "tanh"), (6, 4, 2, 2, 7, "tanh"),
         (5, 3, 2, 5, 1, "tanh"), (3, 6, 1, 4, 9, "relu"), (2, 4, 2, 3, 4, "relu")]


# ---------------------------------------------------------------------------
# private helpers

def _make(ex, i, h, layers=1, nonlinearity="tanh", batch_first=True, seed=3):
    with seeded(seed):
        m = ex.ElmanRNN(i, h, layers, nonlinearity=nonlinearity, batch_first=batch_first)
    expect(isinstance(m, nn.Module), f"ElmanRNN(...) should be an nn.Module, got {type(m).__name__}.",
           f"ElmanRNN(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _twin(ex, i, h, layers=1, nonlinearity="tanh", seed=0, batch_first=True):
    """nn.RNN with random weights and the learner's ElmanRNN holding the same ones."""
    with seeded(seed):
        ref = nn.RNN(i, h, layers, nonlinearity=nonlinearity, batch_first=batch_first)
        for p in ref.parameters():  # wider than the default init, so mistakes show up clearly
            nn.init.uniform_(p, -0.6, 0.6)
    m = _make(ex, i, h, layers, nonlinearity, batch_first)
    try:
        m.load_state_dict(ref.state_dict())
    except Exception as e:  # noqa: BLE001 - report any loading problem in the learner's terms
        fail(f"ElmanRNN({i}, {h}, num_layers={layers}).load_state_dict(nn.RNN(...).state_dict()) failed: "
             f"{first_line(e)}",
             f"ElmanRNN({i}, {h}, num_layers={layers}).load_state_dict(nn.RNN(...).state_dict()) 失败：{first_line(e)}",
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


_NEED_FWD = ("run and return (output, h_n)", "正常运行并返回 (output, h_n)")


def _reraise(e):
    raise e


def _forward(ex, m, x, h0=None, what="ElmanRNN", bdim=0, known=()):
    """m(x) or m(x, h0) as a pair; a crash says what the check needed, and if only the default-h0 path crashes
    (the same call with an explicit zero h0 works), it says so. ``bdim``: the batch axis of x."""
    if h0 is not None:
        return _pair(run_learner(f"{what}(x, h0)", _NEED_FWD, m, x, h0, known=known), what)
    try:
        return _pair(m(x), what)
    except CheckFailed:
        raise
    except Exception as e:  # noqa: BLE001
        try:
            shape = (_layers(m), x.shape[bdim], _hidden(m))
            m(x, torch.zeros(shape, device=x.device, dtype=x.dtype))
        except Exception:  # noqa: BLE001 - the problem is elsewhere: report the original error
            run_learner(f"{what}(x)", _NEED_FWD, _reraise, e, known=known)
            raise
        msg = first_line(e)
        low = msg.lower()
        if isinstance(e, DeviceMismatchError) or "same device" in low:
            likely = _LIKELY_DEVICE
        elif "dtype" in low or "scalar type" in low:
            likely = _LIKELY_DTYPE
        else:
            likely = _LIKELY_H0_BF if bdim == 1 else _LIKELY_H0
        fail(f"{what}(x) without h0 raised {type(e).__name__}: {msg}{learner_line(e)}, although the same call with an "
             f"explicit zero h0 of shape {shape} works. With no h0, start from zeros of shape "
             f"(num_layers, batch, hidden_size) = {shape}, created on the input's device and dtype "
             f"(device=x.device, dtype=x.dtype).",
             f"{what}(x) 不传 h0 时抛出 {type(e).__name__}: {msg}{learner_line(e)}，而显式传入形状为 {shape} 的全零 h0 "
             f"则正常。未给 h0 时应从形状为 (num_layers, batch, hidden_size) = {shape}、"
             f"位于输入所在设备、与输入 dtype 相同（device=x.device, dtype=x.dtype）的全零张量开始。",
             likely=likely)


_LIKELY_H0 = ("the default state built like the seed's torch.zeros(1, hidden): missing the layer or the batch dimension.",
              "默认状态照抄了题目中的 torch.zeros(1, hidden)：缺少层维度或 batch 维度。")
_LIKELY_H0_BF = ("the batch size taken from x.shape[0], which is the sequence length when batch_first=False "
                 "(x is (seq, batch, input_size)): take it from x.shape[1], or after transposing x; or the default "
                 "state missing the layer or batch dimension (the seed's torch.zeros(1, hidden)).",
                 "batch 大小取自 x.shape[0]，而 batch_first=False 时它是序列长度（x 为 (seq, batch, input_size)）："
                 "应取 x.shape[1]，或在转置 x 之后再取；或默认状态缺少层维度或 batch 维度（题目中的 torch.zeros(1, hidden)）。")
_LIKELY_DEVICE = ("the default state created without device=x.device: torch.zeros(num_layers, batch, hidden) stays on "
                  "the CPU while the model and the input are on the GPU.",
                  "默认状态创建时没有指定 device=x.device：torch.zeros(num_layers, batch, hidden) 留在 CPU 上，"
                  "而模型和输入在 GPU 上。")
_LIKELY_DTYPE = ("the default state created without dtype=x.dtype: torch.zeros(num_layers, batch, hidden) is float32 "
                 "while the model and the input are float64 (use dtype=x.dtype, or x.new_zeros(...)).",
                 "默认状态创建时没有指定 dtype=x.dtype：torch.zeros(num_layers, batch, hidden) 是 float32，"
                 "而模型和输入是 float64（用 dtype=x.dtype，或 x.new_zeros(...)）。")


def _layers(m):
    return sum(1 for n, _ in m.named_parameters() if n.startswith("weight_ih_l")) or as_int(m.num_layers, "num_layers")


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


_ATTRS = ("input_size", "hidden_size", "num_layers", "nonlinearity", "batch_first")


@check(points=1, category="correctness")
def test_attributes_like_nn_rnn(ex):
    """ElmanRNN keeps input_size, hidden_size, num_layers, nonlinearity and batch_first as attributes, like nn.RNN.
    zh: ElmanRNN 像 nn.RNN 一样把 input_size、hidden_size、num_layers、nonlinearity 和 batch_first 保存为属性。
    """
    for i, h, layers, act, bf in ((3, 5, 1, "tanh", True), (6, 4, 2, "relu", False)):
        m = _make(ex, i, h, layers, act, bf)
        label = f"ElmanRNN({i}, {h}, num_layers={layers}, nonlinearity='{act}', batch_first={bf})"
        want = dict(zip(_ATTRS, (i, h, layers, act, bf)))
        missing = [a for a in _ATTRS if not hasattr(m, a)]
        expect(not missing, f"{label} has no attribute(s) {missing}; keep every constructor argument as an attribute, "
                            f"like nn.RNN (self.input_size = input_size, ...).",
               f"{label} 没有属性 {missing}；应像 nn.RNN 一样把构造参数都保存为属性（self.input_size = input_size 等）。",
               likely=("only the sizes forward needs were kept (the activation stored as a function under another "
                       "name is fine, but nonlinearity should still hold the string).",
                       "只保存了 forward 用到的大小（激活函数可以另存为函数，但 nonlinearity 仍应保存字符串）。"))
        for a in ("input_size", "hidden_size", "num_layers"):
            got = as_int(getattr(m, a), f"{label}.{a}")
            expect(got == want[a], f"{label}.{a} should be {want[a]}, got {got}.",
                   f"{label}.{a} 应为 {want[a]}，实际为 {got}。")
        expect(m.nonlinearity == act, f"{label}.nonlinearity should be {act!r}, got {m.nonlinearity!r}.",
               f"{label}.nonlinearity 应为 {act!r}，实际为 {m.nonlinearity!r}。",
               likely=("the activation function stored as nonlinearity; keep the string there (and the function under "
                       "another name).", "把激活函数本身存成了 nonlinearity；该属性应保存字符串（函数可另存为别的名字）。"))
        expect(isinstance(m.batch_first, (bool, int)) and bool(m.batch_first) == bf,
               f"{label}.batch_first should be {bf}, got {m.batch_first!r}.",
               f"{label}.batch_first 应为 {bf}，实际为 {m.batch_first!r}。")


@check(points=1, category="correctness")
def test_unknown_nonlinearity_refused(ex):
    """A nonlinearity other than "tanh" or "relu" is refused with an error (nn.RNN raises ValueError), not replaced.
    zh: 除 "tanh" 和 "relu" 以外的 nonlinearity 会被报错拒绝（nn.RNN 抛出 ValueError），而不是被悄悄替换。
    """
    m = _make(ex, 3, 4, 1, "relu")
    with seeded(8):
        x = torch.randn(2, 3, 3)
    _forward(ex, m, x)  # the valid ones work
    for bad in ("sigmoid", "gelu"):
        try:
            with seeded(3):
                m = ex.ElmanRNN(3, 4, 1, nonlinearity=bad)
        except (CheckFailed, NotImplementedError):
            raise
        except Exception:  # noqa: BLE001 - refused at construction (ValueError, KeyError, AssertionError, ...)
            continue
        try:
            m(x)
        except (CheckFailed, NotImplementedError):
            raise
        except Exception:  # noqa: BLE001 - refused in forward: accepted too
            continue
        fail(f"ElmanRNN(3, 4, nonlinearity={bad!r}) was accepted and ran; nn.RNN raises ValueError for anything but "
             f"'tanh' or 'relu'.",
             f"ElmanRNN(3, 4, nonlinearity={bad!r}) 被接受并能运行；nn.RNN 对 'tanh' 和 'relu' 以外的值会抛出 ValueError。",
             likely=("`torch.tanh if nonlinearity == 'tanh' else torch.relu`: every other value silently becomes relu. "
                     "Raise ValueError when nonlinearity is not 'tanh' or 'relu'.",
                     "`torch.tanh if nonlinearity == 'tanh' else torch.relu`：其他任何值都被悄悄当成 relu。"
                     "nonlinearity 不是 'tanh' 或 'relu' 时应抛出 ValueError。"))


# (input_size, hidden_size, num_layers): hidden sizes varied, input_size != hidden_size on both sides
INIT_CASES = ((7, 64, 2), (150, 100, 1), (3, 128, 1))


def _init_problem(p, b, in_k, h):
    """(en, zh, likely) describing how parameter values p differ from uniform(-b, b), or None. Thresholds are
    statistically safe for a correct init: each fails with probability < 1e-8 on uniform values."""
    v = p.detach().double().flatten()
    n = v.numel()
    if not torch.isfinite(v).all() or v.abs().max() > 1e3 * b:
        return (f"holds {'non-finite values' if not torch.isfinite(v).all() else f'values up to {v.abs().max():.3g}'}, "
                f"like uninitialised memory; it should be uniform over (-{b:.4g}, {b:.4g}).",
                f"含有{'非有限值' if not torch.isfinite(v).all() else f'大到 {v.abs().max():.3g} 的值'}，像是未初始化的内存；"
                f"应在 (-{b:.4g}, {b:.4g}) 上均匀分布。",
                ("torch.empty(...) never filled: call nn.init.uniform_(p, -bound, bound) on every parameter "
                 "(biases too).", "torch.empty(...) 之后没有填充：应对每个参数（包括偏置）调用 nn.init.uniform_(p, -bound, bound)。"))
    lo, hi, mean, std = v.min().item(), v.max().item(), v.mean().item(), v.std(unbiased=False).item()
    top = max(abs(lo), abs(hi))
    if std == 0:
        return (f"has every value equal to {lo:.4g}; it should be uniform over (-{b:.4g}, {b:.4g}).",
                f"所有值都等于 {lo:.4g}；应在 (-{b:.4g}, {b:.4g}) 上均匀分布。",
                ("a constant init (nn.init.zeros_/constant_, torch.zeros/ones, or torch.empty left unfilled); nn.RNN "
                 "draws the biases from the same uniform as the weights.",
                 "常数初始化（nn.init.zeros_/constant_、torch.zeros/ones，或 torch.empty 没有填充）；nn.RNN 的偏置"
                 "与权重一样从同一个均匀分布中采样。"))
    if top > b * (1 + 1e-5) + 1e-7:
        if in_k != h and top <= (1 + 1e-5) / math.sqrt(in_k):
            lk = ("the bound computed from the input size (1/sqrt(input_size)); nn.RNN uses 1/sqrt(hidden_size) for "
                  "every parameter.", "边界按输入大小计算（1/sqrt(input_size)）；nn.RNN 对所有参数都用 1/sqrt(hidden_size)。")
        else:
            lk = ("a bound larger than 1/sqrt(hidden_size) (xavier/kaiming, sqrt(6/...), a forgotten division), or "
                  "torch.randn(...) * bound, which is not bounded.",
                  "边界大于 1/sqrt(hidden_size)（xavier/kaiming、sqrt(6/...)、漏了除法），或用了没有界的 torch.randn(...) * bound。")
        return (f"has values up to {top:.4g} in absolute value, outside (-{b:.4g}, {b:.4g}) = ±1/sqrt(hidden_size).",
                f"有绝对值达 {top:.4g} 的值，超出了 (-{b:.4g}, {b:.4g}) = ±1/sqrt(hidden_size)。", lk)
    s0 = b / math.sqrt(3)
    if abs(mean) > 7 * s0 / math.sqrt(n):
        return (f"is centred on {mean:.4g} (values {lo:.4g} .. {hi:.4g}), not on 0; it should be uniform over "
                f"(-{b:.4g}, {b:.4g}).",
                f"中心在 {mean:.4g}（取值 {lo:.4g} .. {hi:.4g}），不在 0；应在 (-{b:.4g}, {b:.4g}) 上均匀分布。",
                ("torch.rand(...) * bound gives [0, bound): use nn.init.uniform_(p, -bound, bound) or "
                 "torch.rand(...) * 2 * bound - bound.",
                 "torch.rand(...) * bound 得到的是 [0, bound)：应用 nn.init.uniform_(p, -bound, bound) 或 "
                 "torch.rand(...) * 2 * bound - bound。"))
    if top < b * (1 - min(1.0, 20 / n)) or abs(std / s0 - 1) > 8 * math.sqrt(0.2 / n):
        if in_k != h and abs(top * math.sqrt(in_k) - 1) < 0.05:
            lk = ("the bound computed from the input size (1/sqrt(input_size)); nn.RNN uses 1/sqrt(hidden_size) for "
                  "every parameter.", "边界按输入大小计算（1/sqrt(input_size)）；nn.RNN 对所有参数都用 1/sqrt(hidden_size)。")
        else:
            lk = ("a bound smaller than 1/sqrt(hidden_size) (1/hidden_size without the sqrt, a scaled bound), or a "
                  "distribution other than the uniform (a normal with a small std).",
                  "边界小于 1/sqrt(hidden_size)（漏了 sqrt 的 1/hidden_size、缩放过的边界），或用了均匀分布以外的分布"
                  "（标准差很小的正态分布）。")
        return (f"spreads over {lo:.4g} .. {hi:.4g} with std {std:.4g}; uniform over (-{b:.4g}, {b:.4g}) reaches close "
                f"to ±{b:.4g} with std {s0:.4g}.",
                f"分布在 {lo:.4g} .. {hi:.4g}，标准差 {std:.4g}；(-{b:.4g}, {b:.4g}) 上的均匀分布应接近 ±{b:.4g}，"
                f"标准差约 {s0:.4g}。", lk)
    return None


@check(points=1, category="correctness")
def test_initialised_like_nn_rnn(ex):
    """Every parameter, biases included, starts uniform over (-1/sqrt(hidden_size), 1/sqrt(hidden_size)), like nn.RNN's.
    zh: 每个参数（包括偏置）都像 nn.RNN 一样初始化为 (-1/sqrt(hidden_size), 1/sqrt(hidden_size)) 上的均匀分布。
    """
    for n, (i, h, layers) in enumerate(INIT_CASES):
        # freed memory of the parameters' sizes, filled, so that a torch.empty left unfilled shows it
        poison_freed_memory([(h, h)] * 6 + [(h,)] * 12, 7.5)
        m = _make(ex, i, h, layers, seed=50 + n)
        b = 1.0 / math.sqrt(h)
        params = dict(m.named_parameters())
        for k in range(layers):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                name = f"{kind}_l{k}"
                expect(name in params, f"ElmanRNN({i}, {h}, num_layers={layers}) has no parameter {name}.",
                       f"ElmanRNN({i}, {h}, num_layers={layers}) 没有参数 {name}。")
                bad = _init_problem(params[name], b, i if (kind == "weight_ih" and k == 0) else h, h)
                if bad:
                    en, zh, lk = bad
                    fail(f"ElmanRNN({i}, {h}, num_layers={layers}).{name} {en}", f"ElmanRNN({i}, {h}, num_layers={layers}).{name} {zh}",
                         likely=lk)


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


_LIKELY_BF = ("batch_first=False not handled: x is then (seq, batch, input_size); transpose it to batch-first before "
              "the loop (or loop over dim 0) and transpose the output back to (seq, batch, hidden).",
              "没有处理 batch_first=False：此时 x 为 (seq, batch, input_size)；循环前应转置为 batch 在前（或沿 dim 0 循环），"
              "并把输出转置回 (seq, batch, hidden)。")


def _layout_problem(out, x, given, ref, ref_out):
    """Name a batch_first=False layout mistake when out equals what it produces, else None."""
    t, b = x.shape[:2]
    o = out.detach().double()
    if tuple(out.shape) == (b, t, ref_out.shape[2]) and torch.allclose(o, ref_out.transpose(0, 1).double(), atol=1e-5, rtol=1e-4):
        return ("output is (batch, seq, hidden_size) with the right numbers: with batch_first=False it must be "
                "transposed back to (seq, batch, hidden_size).",
                "output 为 (batch, seq, hidden_size)，数值正确：batch_first=False 时应把它转置回 (seq, batch, hidden_size)。",
                ("the input transposed to batch-first but the output not transposed back.",
                 "把输入转成了 batch 在前，但没有把输出转置回来。"))
    if given is None:
        with torch.no_grad():  # x read as if batch-first: batch = seq length, steps = batch entries
            wrong, _ = _ref_rnn(x, torch.zeros(ref.num_layers, t, ref.hidden_size), ref)
        for cand in (wrong, wrong.transpose(0, 1)):
            if tuple(out.shape) == tuple(cand.shape) and torch.allclose(o, cand.double(), atol=1e-5, rtol=1e-4):
                return ("output equals what you get reading x as (batch, seq, input_size): batch_first=False is ignored, "
                        "so the recurrence runs over the batch instead of over time.",
                        "output 等于把 x 当作 (batch, seq, input_size) 读取的结果：忽略了 batch_first=False，"
                        "递推沿 batch 而不是沿时间进行。",
                        ("x not transposed: with batch_first=False it is (seq, batch, input_size); transpose it (and the "
                         "output back) or loop over dim 0.",
                         "没有转置 x：batch_first=False 时它是 (seq, batch, input_size)；应转置它（并把输出转置回来），"
                         "或沿 dim 0 循环。"))
    return None


@check(points=2, category="correctness")
def test_batch_first_false(ex):
    """With batch_first=False, x and output are (seq, batch, ...) and equal nn.RNN(batch_first=False)'s, with and without h0.
    zh: batch_first=False 时，x 和 output 为 (seq, batch, ...)，无论是否传入 h0 都与 nn.RNN(batch_first=False) 一致。
    """
    for n, (i, h, layers, b, t, act) in enumerate(((3, 5, 2, 2, 6, "tanh"), (4, 3, 1, 5, 3, "relu"))):
        ref, m = _twin(ex, i, h, layers, act, seed=40 + n, batch_first=False)
        with seeded(45 + n):
            x, h0 = torch.randn(t, b, i), torch.randn(layers, b, h)
        for given in (None, h0):
            label = (f"ElmanRNN({i}, {h}, num_layers={layers}, nonlinearity='{act}', batch_first=False) on x "
                     f"{tuple(x.shape)}" + (" with h0" if given is not None else ""))
            with torch.no_grad():
                ref_out, ref_hn = ref(x) if given is None else ref(x, given)
                out, hn = _forward(ex, m, x, given, what=f"ElmanRNN(..., batch_first=False)", bdim=1,
                                   known=lambda e: _LIKELY_BF)
            if isinstance(out, torch.Tensor):
                bad = _layout_problem(out, x, given, ref, ref_out)
                if bad:
                    en, zh, lk = bad
                    fail(f"{label}: {en}", f"{label}：{zh}", likely=lk)
            assert_close(out, ref_out, f"{label}: output", likely=_LIKELY_BF)
            assert_close(hn, ref_hn, f"{label}: h_n", likely=("h_n should stay (num_layers, batch, hidden_size) with "
                                                              "batch_first=False, as in nn.RNN.",
                                                              "batch_first=False 时 h_n 仍应为 (num_layers, batch, hidden_size)，"
                                                              "与 nn.RNN 相同。"))


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
    _, m = _twin(ex, 3, 8, 1, seed=5)  # known weights: this check is about the recurrence, not the init
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
def test_default_state_follows_dtype(ex):
    """In float64 (model.double(), float64 input) it runs without h0 and equals nn.RNN's float64 numbers.
    zh: 在 float64 下（model.double()、float64 输入）不传 h0 也能运行，结果与 nn.RNN 的 float64 结果一致。
    """
    ref, m = _twin(ex, 3, 6, 2, seed=60)
    ref.double()
    m.double()
    with seeded(61):
        x = torch.randn(2, 5, 3, dtype=torch.float64)
    with torch.no_grad():
        ref_out, ref_hn = ref(x)
        out, hn = _forward(ex, m, x)
    expect(isinstance(out, torch.Tensor) and out.dtype == torch.float64,
           f"ElmanRNN.double() on a float64 x: output should be float64, got "
           f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__}.",
           f"ElmanRNN.double() 处理 float64 的 x：output 应为 float64，实际为 "
           f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__}。",
           likely=_LIKELY_DTYPE)
    assert_close(out, ref_out, "ElmanRNN(3, 6, num_layers=2).double() on float64 x: output", likely=_LIKELY_DTYPE)
    assert_close(hn, ref_hn, "ElmanRNN(3, 6, num_layers=2).double() on float64 x: h_n", likely=_LIKELY_DTYPE)


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


def _tame(m, seed):
    """Give the classifier's self.rnn nn.RNN-initialised weights when they load (the classifier checks are about
    the classifier, not about ElmanRNN's init, which has its own check)."""
    rnn = getattr(m, "rnn", None)
    try:
        with seeded(seed):
            ref = nn.RNN(rnn.weight_ih_l0.shape[1], rnn.weight_hh_l0.shape[0], _layers(rnn), batch_first=True)
        rnn.load_state_dict(ref.state_dict())
    except Exception:  # noqa: BLE001 - not loadable: the parameter checks say why
        pass
    return m


_NEED_CLS = ("return logits (batch, num_classes)", "返回 (batch, num_classes) 的 logits")


def _classify(m, x, label):
    """m(x) through run_learner; a crash is explained by trying self.rnn alone, with and without a state."""
    def known(e):
        rnn = getattr(m, "rnn", None)
        if not isinstance(rnn, nn.Module):
            return None
        try:
            rnn(x, torch.zeros(_layers(rnn), x.shape[0], _hidden(rnn), dtype=x.dtype))
        except Exception:  # noqa: BLE001 - self.rnn itself is broken: the ElmanRNN checks say how
            return None
        try:
            rnn(x)
        except Exception:  # noqa: BLE001
            return ("self.rnn(x) without h0 crashes while self.rnn(x, zeros (num_layers, batch, hidden_size)) works: "
                    "ElmanRNN's default state is built wrong (the seed's torch.zeros(1, hidden) has no layer or batch "
                    "dimension).",
                    "self.rnn(x) 不传 h0 会崩溃，而 self.rnn(x, 形状为 (num_layers, batch, hidden_size) 的全零张量) 正常："
                    "ElmanRNN 的默认状态构造错了（题目中的 torch.zeros(1, hidden) 缺少层维度和 batch 维度）。")
        return ("self.rnn(x) alone works, so the crash comes from RNNClassifier.forward: a state passed to self.rnn that "
                "is not (num_layers, batch, hidden_size) (a tutorial-style init_hidden() returning torch.zeros(1, "
                "hidden_size) has neither the layer nor the batch dimension; just call self.rnn(x)), or the wrong part "
                "of the RNN's result given to self.fc.",
                "单独调用 self.rnn(x) 正常，所以问题出在 RNNClassifier.forward：传给 self.rnn 的状态形状不是 "
                "(num_layers, batch, hidden_size)（教程式的 init_hidden() 返回 torch.zeros(1, hidden_size)，既没有层维度"
                "也没有 batch 维度；直接调用 self.rnn(x) 即可），或把 RNN 结果中错误的部分交给了 self.fc。")
    return run_learner(f"{label}(x) on x {tuple(x.shape)}", _NEED_CLS, m, x, known=known)


def _logits_shape(y, b, t, c, label):
    if isinstance(y, torch.Tensor) and y.dim() == 3 and tuple(y.shape) == (b, t, c):
        fail(f"{label} on x {(b, t, '...')}: logits have shape {tuple(y.shape)}, one row per time step; expected "
             f"{(b, c)}.",
             f"{label} 处理 x {(b, t, '...')}：logits 形状为 {tuple(y.shape)}，每个时间步一行；应为 {(b, c)}。",
             likely=("self.fc applied to the whole output (batch, seq, hidden): give it only the last step, "
                     "self.fc(output[:, -1]).",
                     "把 self.fc 作用在了整个 output (batch, seq, hidden) 上：只应把最后一步交给它，self.fc(output[:, -1])。"))
    assert_shape(y, (b, c), f"{label} on x {(b, t, '...')}",
                 likely=("returning the (logits, h) pair, or logits of the wrong layout.",
                         "返回了 (logits, h) 二元组，或 logits 的排列不对。"))


@check(points=1, category="correctness")
def test_classifier_structure(ex):
    """RNNClassifier holds self.rnn = ElmanRNN(input_size, hidden_size, num_layers) and self.fc = nn.Linear(hidden_size, num_classes).
    zh: RNNClassifier 含有 self.rnn = ElmanRNN(input_size, hidden_size, num_layers) 和 self.fc = nn.Linear(hidden_size, num_classes)。
    """
    for i, h, c, layers in ((5, 7, 3, 2), (2, 4, 10, 1)):
        with seeded(4):
            m = ex.RNNClassifier(i, h, c, num_layers=layers)
        label = f"RNNClassifier({i}, {h}, {c}, num_layers={layers})"
        rnn, fc = getattr(m, "rnn", None), getattr(m, "fc", None)
        expect(isinstance(rnn, ex.ElmanRNN) and isinstance(fc, nn.Linear),
               f"{label} should hold an ElmanRNN as self.rnn and an nn.Linear as self.fc; found "
               f"rnn={type(rnn).__name__}, fc={type(fc).__name__}.",
               f"{label} 应把 ElmanRNN 存为 self.rnn、把 nn.Linear 存为 self.fc；实际 rnn={type(rnn).__name__}，"
               f"fc={type(fc).__name__}。")
        w_ih, w_hh = getattr(rnn, "weight_ih_l0", None), getattr(rnn, "weight_hh_l0", None)
        got = (w_ih.shape[1] if isinstance(w_ih, torch.Tensor) else None,
               w_hh.shape[0] if isinstance(w_hh, torch.Tensor) else None, _layers(rnn))
        expect(got == (i, h, layers),
               f"{label}.rnn has input_size, hidden_size, num_layers = {got} (read from its parameters); expected "
               f"{(i, h, layers)}.",
               f"{label}.rnn 的 input_size、hidden_size、num_layers 为 {got}（按其参数读出）；应为 {(i, h, layers)}。",
               likely=("num_layers not passed on: ElmanRNN(input_size, hidden_size, num_layers).",
                       "没有把 num_layers 传下去：应为 ElmanRNN(input_size, hidden_size, num_layers)。"))
        expect((fc.in_features, fc.out_features) == (h, c),
               f"{label}.fc is nn.Linear({fc.in_features}, {fc.out_features}); expected nn.Linear({h}, {c}).",
               f"{label}.fc 为 nn.Linear({fc.in_features}, {fc.out_features})；应为 nn.Linear({h}, {c})。")


@check(points=1, category="shape")
def test_classifier_output_shape(ex):
    """RNNClassifier returns logits (batch, num_classes) for several shapes.
    zh: 对多种形状，RNNClassifier 都返回 (batch, num_classes) 的 logits。
    """
    for i, h, c, layers, b, t in ((5, 7, 3, 1, 4, 6), (2, 4, 10, 2, 3, 1), (3, 6, 2, 2, 5, 3)):
        with seeded(4):
            m = _tame(ex.RNNClassifier(i, h, c, num_layers=layers), 4)
        label = f"RNNClassifier({i}, {h}, {c}, num_layers={layers})"
        with torch.no_grad():
            y = _classify(m, torch.randn(b, t, i), label)
        _logits_shape(y, b, t, c, label)


def _close(a, b):
    return tuple(a.shape) == tuple(b.shape) and torch.allclose(a.double(), b.double(), atol=1e-5, rtol=1e-4)


@check(points=2, category="correctness")
def test_classifier_uses_last_step(ex):
    """Logits are self.fc(self.rnn(x)[0][:, -1]) (or their log_softmax): changing only the last step changes them.
    zh: logits 等于 self.fc(self.rnn(x)[0][:, -1])（或其 log_softmax）：只改变最后一步也会改变 logits。
    """
    for i, h, c, layers, b, t in ((4, 6, 3, 1, 3, 5), (3, 5, 4, 2, 2, 4)):
        with seeded(6):
            m = _tame(ex.RNNClassifier(i, h, c, num_layers=layers), 6)
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
            y = _classify(m, x, label)
            _logits_shape(y, b, t, c, label)
            x2 = x.clone()
            x2[:, -1] += 2.0
            diff = (_classify(m, x2, label) - y).abs().max().item()
            expect(diff > 1e-4, f"{label}: changing only x[:, -1] should change the logits; they moved by {diff:.3g}.",
                   f"{label}：只改变 x[:, -1] 应改变 logits；实际变化 {diff:.3g}。",
                   likely=("classifying from the first time step (output[:, 0]) or from a state that does not see the "
                           "last step, instead of output[:, -1].",
                           "用第一个时间步（output[:, 0]）或看不到最后一步的状态来分类，而不是 output[:, -1]。"))
            out, hn = _forward(ex, rnn, x, what="self.rnn")
            want = fc(out[:, -1])
            if _close(log_probs(y), log_probs(want)):
                continue  # logits, or log-probabilities (a final LogSoftmax over the classes)
            z = "self.fc(output[:, -1])"
            causes = [
                (F.softmax(want, dim=1), f"equal softmax({z}): probabilities, not logits.",
                 f"等于 softmax({z})：是概率而不是 logits。",
                 ("a final softmax: return the logits (CrossEntropyLoss applies log_softmax itself), or log_softmax "
                  "for NLLLoss — probabilities train badly with either loss.",
                  "最后加了 softmax：应返回 logits（CrossEntropyLoss 自己会做 log_softmax），或配合 NLLLoss 返回 "
                  "log_softmax——概率配这两种损失都训练不好。")),
                (F.log_softmax(want, dim=0), f"equal log_softmax({z}, dim=0): normalised over the batch, not the classes.",
                 f"等于 log_softmax({z}, dim=0)：是在 batch 维而不是类别维上归一化。",
                 ("nn.LogSoftmax(dim=0); the classes are dim=1 (nn.LogSoftmax(dim=1)).",
                  "用了 nn.LogSoftmax(dim=0)；类别在 dim=1（nn.LogSoftmax(dim=1)）。")),
                (fc(out.mean(dim=1)), "equal self.fc(output.mean(dim=1)): the mean over time, not the last step.",
                 "等于 self.fc(output.mean(dim=1))：是时间维的平均，而不是最后一步。",
                 ("averaging the outputs over time; use output[:, -1].", "对输出在时间维上求了平均；应使用 output[:, -1]。")),
                (fc(out[:, 0]), "equal self.fc(output[:, 0]): the first step, not the last.",
                 "等于 self.fc(output[:, 0])：是第一步而不是最后一步。",
                 ("output[:, 0] used; use output[:, -1].", "用了 output[:, 0]；应使用 output[:, -1]。")),
            ]
            if layers > 1:
                causes.append((fc(hn[0]), "equal self.fc(h_n[0]): the FIRST layer's final state, not the last layer's.",
                               "等于 self.fc(h_n[0])：是第一层而不是最后一层的最终状态。",
                               ("h_n[0] (as PyTorch's one-layer char-RNN tutorial writes hidden[0]) is the first layer "
                                "once num_layers > 1; use h_n[-1] or output[:, -1].",
                                "h_n[0]（PyTorch 单层 char-RNN 教程写作 hidden[0]）在 num_layers > 1 时是第一层；"
                                "应使用 h_n[-1] 或 output[:, -1]。")))
            for cand, en, zh, lk in causes:
                if _close(log_probs(y), log_probs(cand)) or _close(y, cand):
                    fail(f"{label}: the logits {en}", f"{label}：logits {zh}", likely=lk)
            assert_close(log_probs(y), log_probs(want), f"{label}: log_softmax(logits) vs log_softmax({z})",
                         likely=("something between the RNN and self.fc (an activation, another state given to "
                                 "self.rnn), or self.fc not the last layer: the logits are self.fc(output[:, -1]), "
                                 "optionally followed by nn.LogSoftmax(dim=1) and nothing else.",
                                 "在 RNN 与 self.fc 之间多了东西（激活函数、传给 self.rnn 的其他状态），或 self.fc 不是最后一层："
                                 "logits 应为 self.fc(output[:, -1])，之后最多接 nn.LogSoftmax(dim=1)，不能有别的。"))
