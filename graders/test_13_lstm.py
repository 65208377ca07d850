"""Grader for exercise 13 — an LSTM written by hand."""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ptquiz.gradelib import (CheckFailed, DeviceMismatchError, RECURRENT_OPS, accelerator, as_int, assert_close,
                             assert_learns, assert_on_device, assert_shape, assert_tensor, check, expect, fail, forbid,
                             poison_freed_memory, run_learner, seeded, to_cpu)

# (input_size, hidden_size, num_layers, batch, seq)
CASES = [(4, 3, 1, 3, 5), (3, 5, 1, 1, 1), (5, 4, 2, 2, 7), (2, 6, 2, 5, 1), (6, 2, 1, 4, 9)]


# ---------------------------------------------------------------------------
# private helpers

def _where(exc, ex):
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == getattr(ex, "__file__", None):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" (line {line} of your file)" if line else ""


def _module(m, what):
    expect(isinstance(m, nn.Module), f"{what} should be an nn.Module, got {type(m).__name__}.",
           f"{what} 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _load(m, ref, what):
    try:
        m.load_state_dict(ref.state_dict())
    except Exception as e:  # noqa: BLE001 - report any loading problem in the learner's terms
        first = str(e).strip().splitlines()[0]
        fail(f"{what}.load_state_dict({type(ref).__name__}(...).state_dict()) failed: {first}",
             f"{what}.load_state_dict({type(ref).__name__}(...).state_dict()) 失败：{first}",
             likely=("parameters not registered directly on the module under PyTorch's names (weight_ih, weight_hh, "
                     "bias_ih, bias_hh; with a _l{k} suffix in LSTM), or not shaped (4*hidden, ...).",
                     "参数没有以 PyTorch 的名字直接注册在模块上（weight_ih、weight_hh、bias_ih、bias_hh；LSTM 中带 _l{k} "
                     "后缀），或形状不是 (4*hidden, ...)。"))


def _wide(ref, seed):
    with seeded(seed):
        for p in ref.parameters():  # wider than the default init, so mistakes show up clearly
            nn.init.uniform_(p, -0.7, 0.7)
    return ref


def _twin(ex, i, h, layers=1, seed=0):
    with seeded(seed):
        ref = _wide(nn.LSTM(i, h, layers, batch_first=True), seed)
        m = _module(ex.LSTM(i, h, layers, batch_first=True), "LSTM(...)")
    _load(m, ref, f"LSTM({i}, {h}, num_layers={layers})")
    return ref, m


def _cell_twin(ex, i, h, seed=0):
    with seeded(seed):
        ref = _wide(nn.LSTMCell(i, h), seed)
        m = _module(ex.LSTMCell(i, h), "LSTMCell(...)")
    _load(m, ref, f"LSTMCell({i}, {h})")
    return ref, m


_LIKELY_STATE = ("the seed's (None, None) handling: with no state given, h and c stay None and the code indexes or "
                 "multiplies them; build zeros instead (nn.LSTM itself also takes state=None, not (None, None)).",
                 "照抄了题目中的 (None, None)：未给状态时 h 和 c 仍为 None，后面的代码却对它们取下标或做乘法；"
                 "应改为创建全零张量（nn.LSTM 本身也只接受 state=None，而不是 (None, None)）。")
_LIKELY_SHAPE = ("the default state has the wrong shape (like the seed's torch.zeros(1, H), or (1, batch, H) whatever "
                 "num_layers is): an LSTM's h0 and c0 are (num_layers, batch, H), batch = x.shape[0] when "
                 "batch_first=True and x.shape[1] otherwise; an LSTMCell's are (batch, H).",
                 "默认状态的形状不对（例如题目中的 torch.zeros(1, H)，或不管 num_layers 是多少都用 (1, batch, H)）："
                 "LSTM 的 h0、c0 应为 (num_layers, batch, H)，batch_first=True 时 batch = x.shape[0]，否则为 x.shape[1]；"
                 "LSTMCell 的应为 (batch, H)。")
_LIKELY_DEVICE = ("the default state created without device=x.device: torch.zeros(...) stays on the CPU while the "
                  "model and the input are on the GPU.",
                  "默认状态创建时没有指定 device=x.device：torch.zeros(...) 留在 CPU 上，而模型和输入在 GPU 上。")

_LIKELY_DTYPE = ("the default state created without dtype=x.dtype: torch.zeros(...) is float32 while the model and "
                 "the input are float64 (model.double()); use torch.zeros(..., device=x.device, dtype=x.dtype) or "
                 "x.new_zeros(...).",
                 "默认状态创建时没有指定 dtype=x.dtype：torch.zeros(...) 是 float32，而模型和输入是 float64（model.double()）；"
                 "应使用 torch.zeros(..., device=x.device, dtype=x.dtype) 或 x.new_zeros(...)。")

_FACTORIES = frozenset({"zeros", "zeros_like", "new_zeros", "empty", "empty_like", "new_empty", "full", "full_like",
                        "new_full", "ones", "ones_like", "new_ones", "randn", "rand"})


class _Created(TorchFunctionMode):
    """Records the shapes of the tensors that factory functions (torch.zeros, x.new_zeros, ...) create."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if str(getattr(func, "__name__", "")).split(".")[0] in _FACTORIES and isinstance(out, torch.Tensor):
            self.shapes.append(tuple(out.shape))
        return out


def _built_state_shape(m, x, hidden, want):
    """The shape of the first tensor ending in `hidden` that m(x) creates (its default state), if it is not `want`."""
    rec = _Created()
    try:
        with rec:
            m(x)
    except Exception:  # noqa: BLE001 - the crash itself is already known
        pass
    shapes = [s for s in rec.shapes if s and s[-1] == hidden and len(s) <= 3]
    return shapes[0] if shapes and shapes[0] != tuple(want) else None


def _unpack(got, what, cell):
    if cell:
        ok = isinstance(got, (tuple, list)) and len(got) == 2
        form, form_zh = "a pair (h, c)", "二元组 (h, c)"
    else:
        ok = (isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[1], (tuple, list))
              and len(got[1]) == 2)
        form, form_zh = "(output, (h_n, c_n))", "(output, (h_n, c_n))"
    if not ok:
        fail(f"{what} should return {form}, got {type(got).__name__}.", f"{what} 应返回 {form_zh}，实际是 {type(got).__name__}。",
             likely=("returning the states flat (output, h_n, c_n) or only the output.",
                     "把状态平铺返回 (output, h_n, c_n)，或只返回了 output。"))
    return got


def _forward(ex, m, x, state=None, what="LSTM", cell=False, batch_dim=0):
    """Call m(x) or m(x, state); if only the default-state path crashes, say why (None state, wrong shape, device)."""
    if state is not None:
        return _unpack(m(x, state), what, cell)
    try:
        return _unpack(m(x), what, cell)
    except CheckFailed:
        raise
    except Exception as e:  # noqa: BLE001
        hidden = m.weight_hh.shape[1] if cell else m.weight_hh_l0.shape[1]
        batch = x.shape[batch_dim]
        shape = (batch, hidden) if cell else (sum(1 for n, _ in m.named_parameters() if n.startswith("weight_ih_l")),
                                              batch, hidden)
        try:
            z = torch.zeros(shape, device=x.device, dtype=x.dtype)
            m(x, (z, z.clone()))
        except Exception:  # noqa: BLE001 - the problem is elsewhere: show the original error
            raise e from None
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        head_en = (f"{what}(x) without a state raised {type(e).__name__}: {msg}{_where(e, ex)}, although the same call "
                   f"with explicit zero (h, c) of shape {shape} works.")
        head_zh = (f"{what}(x) 不传状态时抛出 {type(e).__name__}: {msg}{_where(e, ex)}，而显式传入形状为 {shape} 的全零 "
                   f"(h, c) 则正常。")
        if isinstance(e, DeviceMismatchError) or "same device" in msg:
            fail(f"{head_en} With state=None, create the zeros on the input's device (device=x.device).",
                 f"{head_zh}state=None 时，全零状态应创建在输入所在的设备上（device=x.device）。", likely=_LIKELY_DEVICE)
        if any(w in msg for w in ("dtype", "Double", "scalar type")):  # float32 zeros next to float64 weights
            fail(f"{head_en} With state=None, create the zeros with the input's dtype too (dtype=x.dtype).",
                 f"{head_zh}state=None 时，全零状态还要使用输入的 dtype（dtype=x.dtype）。", likely=_LIKELY_DTYPE)
        if "NoneType" in msg:  # h / c left as None and then used
            fail(f"{head_en} No default state was built: h and c stayed None. With state=None, start h and c from "
                 f"zeros of shape {shape} on the input's device.",
                 f"{head_zh}没有创建默认状态：h 和 c 仍是 None。state=None 时，h 和 c 应从输入所在设备上形状为 "
                 f"{shape} 的全零张量开始。", likely=_LIKELY_STATE)
        built = _built_state_shape(m, x, hidden, shape)
        seen_en = f" (your code built one of shape {built})" if built else ""
        seen_zh = f"（你的代码创建的形状为 {built}）" if built else ""
        fail(f"{head_en} The default state has the wrong shape{seen_en}; it should be {shape}.",
             f"{head_zh}默认状态的形状不对{seen_zh}；应为 {shape}。", likely=_LIKELY_SHAPE)


def _ref_step(x, h, c, w_ih, w_hh, b_ih, b_hh, mistake):
    """One LSTM step with one known mistake, used only to name a mismatch."""
    i, f, g, o = (F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    if mistake == "ifog":
        g, o = o, g
    f = torch.tanh(f) if mistake == "tanh_f" else torch.sigmoid(f)
    c_new = f * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def _ref_lstm(x, h0, c0, ref, mistake):
    """A plain LSTM with one known mistake; returns the output."""
    layer_in = x
    for k in range(ref.num_layers):
        weights = [getattr(ref, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h, c, steps = h0[k], c0[k], []
        for t in range(x.shape[1]):
            h, c_new = _ref_step(layer_in[:, t], h, c, *weights, mistake)
            if mistake != "no_carry":
                c = c_new
            steps.append(h)
        layer_in = torch.stack(steps, 1)
    return layer_in


def _close(a, b):
    return a.shape == b.shape and torch.allclose(a.detach().double(), b.detach().double(), atol=1e-5, rtol=1e-4)


def _name_mistake(got, want, variant, label, mistakes):
    """If got is wrong, fail naming the first known mistake whose numbers equal it."""
    if not isinstance(got, torch.Tensor) or _close(got, want):
        return
    for mistake in mistakes:
        en, zh, l_en, l_zh = _MISTAKES[mistake]
        with torch.no_grad():
            alt = variant(mistake)
        if _close(got, alt):
            fail(f"{label}: differs from PyTorch's; {en}", f"{label}：与 PyTorch 的结果不同；{zh}", likely=(l_en, l_zh))


_MISTAKES = {
    "ifog": ("it equals an LSTM that splits the gates in the order i, f, o, g.",
             "它等于按 i, f, o, g 顺序切分门的 LSTM 的结果。",
             "PyTorch stacks the gates as i, f, g, o: rows [2H:3H] are the cell candidate g (tanh), [3H:4H] the output gate o.",
             "PyTorch 的门按 i, f, g, o 堆叠：第 [2H:3H] 行是候选值 g（tanh），第 [3H:4H] 行是输出门 o。"),
    "no_carry": ("it equals an LSTM whose cell state c is never passed on: every step starts again from the initial c.",
                 "它等于细胞状态 c 从不向后传递的 LSTM：每一步都从初始的 c 重新开始。",
                 "c not carried between time steps (e.g. `h, _ = cell(x_t, h, c)`); keep both: `h, c = cell(x_t, h, c)`.",
                 "细胞状态没有在时间步之间传递（例如 `h, _ = cell(x_t, h, c)`）；两者都要保留：`h, c = cell(x_t, h, c)`。"),
    "tanh_f": ("it equals an LSTM whose forget gate uses tanh instead of sigmoid.",
               "它等于遗忘门使用 tanh 而不是 sigmoid 的 LSTM 的结果。",
               "the forget gate squashed with tanh; i, f and o use sigmoid, only g uses tanh.",
               "遗忘门用了 tanh；i、f、o 都用 sigmoid，只有 g 用 tanh。"),
}

_LIKELY_EQ = ("gate order other than i, f, g, o, a sigmoid/tanh swapped, c not carried between steps, a weight used "
              "without .T, or layer k > 0 fed the input instead of layer k-1's outputs.",
              "门的顺序不是 i, f, g, o、sigmoid/tanh 用反、c 没有在时间步之间传递、权重没有转置，"
              "或第 k > 0 层的输入用了原始输入而不是第 k-1 层的输出。")


def _compare(ref, got, want, x, state, label):
    out, (hn, cn) = got
    r_out, (r_hn, r_cn) = want
    h0, c0 = state if state is not None else (torch.zeros_like(r_hn), torch.zeros_like(r_cn))
    _name_mistake(out, r_out, lambda mistake: _ref_lstm(x, h0, c0, ref, mistake), f"{label}: output", _MISTAKES)
    assert_close(out, r_out, f"{label}: output", likely=_LIKELY_EQ)
    assert_close(hn, r_hn, f"{label}: h_n", likely=("h_n should hold every layer's h at the last step "
                                                    "(h_n[-1] == output[:, -1]).",
                                                    "h_n 应为每一层在最后一步的 h（h_n[-1] == output[:, -1]）。"))
    assert_close(cn, r_cn, f"{label}: c_n", likely=("c_n should hold every layer's cell state after the last step.",
                                                    "c_n 应为每一层在最后一步之后的细胞状态。"))


@check(points=1, category="correctness")
def test_parameters_named_like_torch(ex):
    """Parameters are named and shaped like nn.LSTMCell's and nn.LSTM's (1 and 2 layers), so their state_dicts load.
    zh: 参数的名字和形状与 nn.LSTMCell、nn.LSTM（1 层和 2 层）相同，可以加载它们的 state_dict。
    """
    likely = ("gate weights not stacked into one (4*hidden, ...) matrix, parameters kept in a list or a sub-module "
              "(names get a prefix), or not created for every layer.",
              "四个门的权重没有堆叠成一个 (4*hidden, ...) 矩阵、参数放在列表或子模块中（名字多了前缀），或没有为每一层创建参数。")
    pairs = [(nn.LSTMCell(3, 5), ex.LSTMCell(3, 5), "LSTMCell(3, 5)"),
             (nn.LSTM(4, 6, 1, batch_first=True), ex.LSTM(4, 6, 1, batch_first=True), "LSTM(4, 6, num_layers=1)"),
             (nn.LSTM(3, 2, 2, batch_first=True), ex.LSTM(3, 2, 2, batch_first=True), "LSTM(3, 2, num_layers=2)")]
    for ref, m, label in pairs:
        _module(m, label)
        want = {n: tuple(p.shape) for n, p in ref.named_parameters()}
        got = {n: tuple(p.shape) for n, p in m.named_parameters()}
        expect(got == want, f"{label} parameters should be {want}; got {got}.", f"{label} 的参数应为 {want}；实际为 {got}。",
               likely=likely)
        _load(m, ref, label)


@check(points=2, category="correctness")
def test_cell_matches_nn_lstmcell(ex):
    """LSTMCell gives nn.LSTMCell's (h, c) with the same weights, with and without a state.
    zh: 权重相同时，无论是否传入状态，LSTMCell 的 (h, c) 都与 nn.LSTMCell 一致。
    """
    likely = ("gate order other than i, f, g, o, or a sigmoid/tanh swapped (only g and the output use tanh).",
              "门的顺序不是 i, f, g, o，或 sigmoid/tanh 用反了（只有 g 和输出处用 tanh）。")
    for n, (i, h, b) in enumerate(((4, 3, 2), (3, 5, 1), (2, 4, 6))):
        ref, m = _cell_twin(ex, i, h, seed=40 + n)
        x, h0, c0 = torch.randn(b, i), torch.randn(b, h), torch.randn(b, h)
        with torch.no_grad():
            for state in (None, (h0, c0)):
                want = ref(x) if state is None else ref(x, state)
                got = _forward(ex, m, x, state, what="LSTMCell", cell=True)
                how = "without a state" if state is None else "with a state"
                hc = state if state is not None else (torch.zeros(b, h), torch.zeros(b, h))
                weights = (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
                _name_mistake(got[0], want[0], lambda mistake: _ref_step(x, *hc, *weights, mistake)[0],
                              f"LSTMCell({i}, {h}) on x {(b, i)} {how}: h", ("ifog", "tanh_f"))
                assert_close(got[0], want[0], f"LSTMCell({i}, {h}) on x {(b, i)} {how}: h", likely=likely)
                assert_close(got[1], want[1], f"LSTMCell({i}, {h}) on x {(b, i)} {how}: c", likely=likely)


@check(points=1, category="shape")
def test_output_and_state_shapes(ex):
    """output is (batch, seq, hidden); h_n and c_n are (num_layers, batch, hidden), with and without a state.
    zh: 无论是否传入状态，output 为 (batch, seq, hidden)，h_n 和 c_n 为 (num_layers, batch, hidden)。
    """
    likely = ("the final states not stacked over layers (torch.stack(..., dim=0)), or time-major output although "
              "batch_first=True.", "最终状态没有按层堆叠（torch.stack(..., dim=0)），或 batch_first=True 时仍按时间优先返回。")
    for i, h, layers, b, t in ((4, 6, 1, 3, 5), (3, 5, 2, 2, 1), (2, 7, 2, 1, 3), (5, 4, 3, 4, 2)):
        with seeded(8):
            m = _module(ex.LSTM(i, h, layers, batch_first=True), "LSTM(...)")
        x = torch.randn(b, t, i)
        for state in (None, (torch.randn(layers, b, h), torch.randn(layers, b, h))):
            label = f"LSTM({i}, {h}, num_layers={layers}) on x {(b, t, i)}" + (" with a state" if state else "")
            out, (hn, cn) = _forward(ex, m, x, state)
            assert_shape(out, (b, t, h), f"{label}: output", likely=likely)
            assert_shape(hn, (layers, b, h), f"{label}: h_n", likely=likely)
            assert_shape(cn, (layers, b, h), f"{label}: c_n", likely=likely)


@check(points=3, category="correctness")
def test_matches_nn_lstm_without_state(ex):
    """With state=None, output, h_n and c_n equal nn.LSTM's (several shapes, sequence length 1, 1 and 2 layers).
    zh: state=None 时，output、h_n、c_n 与 nn.LSTM 一致（多种形状、序列长度为 1、1 层和 2 层）。
    """
    for n, (i, h, layers, b, t) in enumerate(CASES):
        ref, m = _twin(ex, i, h, layers, seed=n)
        x = torch.randn(b, t, i)
        with torch.no_grad():
            _compare(ref, _forward(ex, m, x), ref(x), x, None, f"LSTM({i}, {h}, num_layers={layers}) on x {(b, t, i)}")


@check(points=2, category="correctness")
def test_matches_nn_lstm_with_state(ex):
    """With a given (h0, c0), output, h_n and c_n equal nn.LSTM's (both states really are used).
    zh: 传入 (h0, c0) 时，output、h_n、c_n 与 nn.LSTM 一致（两个初始状态都确实被使用）。
    """
    for n, (i, h, layers, b, t) in enumerate(reversed(CASES)):
        ref, m = _twin(ex, i, h, layers, seed=10 + n)
        x = torch.randn(b, t, i)
        state = (torch.randn(layers, b, h), torch.randn(layers, b, h))
        with torch.no_grad():
            _compare(ref, _forward(ex, m, x, state), ref(x, state), x, state,
                     f"LSTM({i}, {h}, num_layers={layers}) on x {(b, t, i)} with (h0, c0)")


@check(points=2, category="gradient")
def test_gradients_match_nn_lstm(ex):
    """Gradients w.r.t. every weight, the input, h0 and c0 equal nn.LSTM's.
    zh: 对每个权重、输入、h0 和 c0 的梯度都与 nn.LSTM 一致。
    """
    for n, (i, h, layers, b, t) in enumerate(((3, 4, 2, 3, 6), (5, 3, 1, 2, 3))):
        ref, m = _twin(ex, i, h, layers, seed=20 + n)
        x, h0, c0 = torch.randn(b, t, i), torch.randn(layers, b, h), torch.randn(layers, b, h)
        w = [torch.randn(b, t, h), torch.randn(layers, b, h), torch.randn(layers, b, h)]

        def run(model, call):
            leaves = [v.clone().requires_grad_() for v in (x, h0, c0)]
            out, (hn, cn) = call(model, leaves)
            ((out * w[0]).sum() + (hn * w[1]).sum() + (cn * w[2]).sum()).backward()
            return leaves

        want = run(ref, lambda mod, l: mod(l[0], (l[1], l[2])))
        got = run(m, lambda mod, l: _forward(ex, mod, l[0], (l[1], l[2])))
        label = f"LSTM({i}, {h}, num_layers={layers})"
        mine = dict(m.named_parameters())
        for name, p in ref.named_parameters():
            expect(mine[name].grad is not None, f"{label}: {name} got no gradient.", f"{label}：{name} 没有梯度。",
                   likely=("the parameter is not used in forward, or the graph is cut by .detach()/.data.",
                           "forward 中没有用到该参数，或计算图被 .detach()/.data 切断。"))
            assert_close(mine[name].grad, p.grad, f"{label}: gradient of {name}",
                         likely=("h or c detached between steps, or the forward pass differs from nn.LSTM's.",
                                 "时间步之间把 h 或 c detach 了，或前向计算与 nn.LSTM 不同。"))
        for g, r, what in zip(got, want, ("the input x", "h0", "c0")):
            expect(g.grad is not None, f"{label}: {what} got no gradient (was it ignored?).",
                   f"{label}：{what} 没有梯度（是否被忽略了？）。")
            assert_close(g.grad, r.grad, f"{label}: gradient of {what}")


@check(points=2, category="device")
def test_runs_on_the_accelerator(ex):
    """LSTM and LSTMCell moved with .to(device) run there without a state and give the CPU's numbers.
    zh: 用 .to(device) 移动后，LSTM 和 LSTMCell 不传状态也能在该设备上运行，且结果与 CPU 一致。
    """
    ref, m = _twin(ex, 3, 4, 2, seed=30)
    cref, cell = _cell_twin(ex, 3, 4, seed=31)
    x, xc = torch.randn(2, 5, 3), torch.randn(3, 3)
    with torch.no_grad():
        want, cwant = ref(x), cref(xc)
        with accelerator() as dev:
            m.to(dev)
            cell.to(dev)
            out, (hn, cn) = _forward(ex, m, x.to(dev))
            for t, what in ((out, "output"), (hn, "h_n"), (cn, "c_n")):
                assert_on_device(t, dev, f"LSTM {what} on the accelerator")
            ch, cc = _forward(ex, cell, xc.to(dev), what="LSTMCell", cell=True)
            assert_on_device(ch, dev, "LSTMCell h on the accelerator")
            assert_on_device(cc, dev, "LSTMCell c on the accelerator")
            got, cgot = to_cpu((out, (hn, cn))), to_cpu((ch, cc))
    assert_close(got[0], want[0], "LSTM output on the accelerator")
    assert_close(got[1][0], want[1][0], "LSTM h_n on the accelerator")
    assert_close(got[1][1], want[1][1], "LSTM c_n on the accelerator")
    assert_close(cgot[0], cwant[0], "LSTMCell h on the accelerator")
    assert_close(cgot[1], cwant[1], "LSTMCell c on the accelerator")


@check(points=1, category="correctness")
def test_no_builtin_lstm(ex):
    """Written by hand: no nn.LSTM / nn.LSTMCell / torch.lstm (or other built-in recurrent op) inside.
    zh: 手写实现：内部没有调用 nn.LSTM / nn.LSTMCell / torch.lstm（或其他内置循环算子）。
    """
    with seeded(2):
        m, cell = ex.LSTM(3, 4, 2, batch_first=True), ex.LSTMCell(3, 4)
    for mod, name in ((_module(m, "LSTM(...)"), "LSTM"), (_module(cell, "LSTMCell(...)"), "LSTMCell")):
        subs = [type(s).__name__ for s in mod.modules() if isinstance(s, (nn.RNNBase, nn.RNNCellBase))]
        expect(not subs, f"{name} holds built-in recurrent modules {subs}; write the gates yourself.",
               f"{name} 内含内置循环模块 {subs}；请自己写出各个门。")
    x, h0, c0 = torch.randn(2, 4, 3, requires_grad=True), torch.randn(2, 2, 4), torch.randn(2, 2, 4)
    with forbid(ops=RECURRENT_OPS, raise_on_use=False) as seen:
        out, (hn, cn) = _forward(ex, m, x, (h0, c0))
        (out.sum() + hn.sum() + cn.sum()).backward()
        h, c = _forward(ex, cell, x[:, 0], (h0[0], c0[0]), what="LSTMCell", cell=True)
        (h.sum() + c.sum()).backward()
    used = sorted(set(seen))
    expect(not used, f"Your LSTM called the built-in recurrent op(s) {used}; the point is to write the gates yourself.",
           f"你的 LSTM 调用了内置循环算子 {used}；本题要求自己写出各个门。",
           likely=("nn.LSTM / nn.LSTMCell / torch.lstm / torch.lstm_cell used inside forward.",
                   "forward 中用了 nn.LSTM / nn.LSTMCell / torch.lstm / torch.lstm_cell。"))


@check(points=2, category="training")
def test_learns_to_remember_the_first_element(ex):
    """LSTM + a linear head learn to output the first element of a length-5 sequence (30 Adam steps).
    zh: LSTM 加一个线性输出层，30 步 Adam 内学会输出长度为 5 的序列的第一个元素。
    """
    with seeded(0):
        m = _module(ex.LSTM(1, 16, 1, batch_first=True), "LSTM(1, 16)")
        head = nn.Linear(16, 1)
        x = torch.randn(32, 5, 1)
    y = x[:, 0, 0]
    opt = torch.optim.Adam(list(m.parameters()) + list(head.parameters()), lr=1e-2)
    losses = []
    for _ in range(30):
        out, _ = _forward(ex, m, x)
        loss = F.mse_loss(head(out[:, -1]).squeeze(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    expect(math.isfinite(losses[0]), f"LSTM remembering the first element: the very first loss is {losses[0]}.",
           f"LSTM 记住第一个元素：第一步的损失就是 {losses[0]}。",
           likely=("parameters left uninitialised (torch.empty(...) without an init holds NaN or huge values), or a "
                   "NaN produced in forward.", "参数没有初始化（torch.empty(...) 不初始化时可能是 NaN 或极大的值），"
                   "或 forward 中产生了 NaN。"))
    assert_learns(losses, "LSTM remembering the first element",
                  likely=("parameters not registered (the optimizer cannot see them), or the gradient cut through time "
                          "by .detach(), or the forget gate / cell state wrong so nothing is remembered.",
                          "参数没有注册（优化器看不到），或 .detach() 切断了沿时间的梯度，或遗忘门/细胞状态有误导致什么也记不住。"))


# ---------------------------------------------------------------------------
# initialisation, the time-major layout, and the constructor's arguments

def _init_problem(p, in_k, hidden):
    """None for values drawn like uniform(-1/sqrt(H), 1/sqrt(H)), else (what was seen, likely mistake), en/zh pairs.

    Safe for a correct init: every parameter checked has >= 256 values, so its largest |value| is within 5 % of the
    bound (failure probability 0.95**256 < 1e-5) and its std within 15 % of bound/sqrt(3) (more than 5 sigma).
    """
    v = p.detach().double().flatten()
    b = 1.0 / math.sqrt(hidden)
    n = v.numel()
    if not bool(torch.isfinite(v).all()) or v.abs().max().item() > 1e3:
        bad = (~torch.isfinite(v)).sum().item()
        seen = (f"holds {bad} NaN/inf values" if bad else f"holds values up to {v.abs().max().item():.3g}",
                f"含有 {bad} 个 NaN/inf" if bad else f"含有大到 {v.abs().max().item():.3g} 的值")
        return seen, ("left uninitialised: torch.empty(...) holds whatever was in memory until an init such as "
                      "nn.init.uniform_(p, -1/sqrt(H), 1/sqrt(H)) fills it.",
                      "参数没有初始化：torch.empty(...) 里是内存中残留的任意值，需要用 "
                      "nn.init.uniform_(p, -1/sqrt(H), 1/sqrt(H)) 之类的初始化填充。")
    top, std, mean = v.abs().max().item(), v.std().item(), v.mean().item()
    if std < 1e-7 and v.abs().max().item() == 0:  # fresh memory from the system is zeros too
        return (("is all zeros", "全为零"),
                ("left uninitialised (torch.empty(...) never filled: fresh memory is often zeros) or a zero init "
                 "(nn.init.zeros_): draw each value from uniform(-1/sqrt(H), 1/sqrt(H)).",
                 "参数没有初始化（torch.empty(...) 没有填充：新分配的内存往往是零）或用了零初始化（nn.init.zeros_）："
                 "每个值都应从 uniform(-1/sqrt(H), 1/sqrt(H)) 中抽取。"))
    if std < 1e-7:
        return ((f"is constant ({mean:.4g} everywhere)", f"是常数（处处为 {mean:.4g}）"),
                ("a constant init (nn.init.zeros_ / constant_ / fill_): every unit then starts alike; draw each value "
                 "from uniform(-1/sqrt(H), 1/sqrt(H)).",
                 "用了常数初始化（nn.init.zeros_ / constant_ / fill_）：所有单元的起点都一样；每个值都应从 "
                 "uniform(-1/sqrt(H), 1/sqrt(H)) 中抽取。"))
    seen = (f"has largest |value| {top:.4g} (= {top * math.sqrt(hidden):.3g}/sqrt(hidden_size)) and std {std:.4g}; "
            f"uniform(-1/sqrt({hidden}), 1/sqrt({hidden})) reaches {b:.4g} with std {b / math.sqrt(3):.4g}",
            f"最大 |值| 为 {top:.4g}（= {top * math.sqrt(hidden):.3g}/sqrt(hidden_size)），标准差 {std:.4g}；"
            f"uniform(-1/sqrt({hidden}), 1/sqrt({hidden})) 的最大值约为 {b:.4g}，标准差 {b / math.sqrt(3):.4g}")
    if top <= b * (1 + 1e-4) and top >= 0.95 * b and abs(std / (b / math.sqrt(3)) - 1) <= 0.15 \
            and abs(mean) <= 6 * b / math.sqrt(3 * n):
        return None
    if top <= b * (1 + 1e-4) and top >= 0.95 * b and abs(std / (b / math.sqrt(3)) - 1) <= 0.15:
        return ((seen[0] + f", but its mean is {mean:.4g}", seen[1] + f"，但均值为 {mean:.4g}"),
                ("values not centred on 0 (uniform_(0, k) instead of uniform_(-k, k)?).",
                 "取值不是以 0 为中心（用了 uniform_(0, k) 而不是 uniform_(-k, k)？）。"))
    fan_in = p.shape[1] if p.dim() == 2 else None
    named = [("1/sqrt(input_size)", 1 / math.sqrt(in_k)) if in_k != hidden else None,
             ("1/hidden_size", 1 / hidden),
             ("1/sqrt(4*hidden_size)", 1 / math.sqrt(4 * hidden)),
             ("xavier_uniform_'s sqrt(6/(fan_in+fan_out))", math.sqrt(6 / (p.shape[0] + p.shape[1])))
             if fan_in else None,
             ("nn.Linear's default 1/sqrt(fan_in), fan_in being this weight's input size", 1 / math.sqrt(fan_in))
             if fan_in and fan_in != hidden else None]
    uniform_like = top < 2.0 * std  # uniform: largest |value| ~ sqrt(3) std; a normal draw of this size: ~3 std
    for name, bound in filter(None, named):
        if uniform_like and abs(top / bound - 1) < 0.05:
            return seen, (f"the bound {name} used instead of 1/sqrt(hidden_size) (nn.LSTM uses 1/sqrt(hidden_size) "
                          f"for every weight and bias).",
                          f"用了 {name} 作为界，而不是 1/sqrt(hidden_size)（nn.LSTM 对所有权重和偏置都用 1/sqrt(hidden_size)）。")
    if not uniform_like:
        return seen, ("not a uniform draw (a normal init such as randn * k, or normal_/xavier_normal_?): nn.LSTM draws "
                      "every value from uniform(-1/sqrt(H), 1/sqrt(H)).",
                      "不是均匀分布（用了 randn * k 或 normal_/xavier_normal_ 之类的正态初始化？）：nn.LSTM 的每个值都"
                      "从 uniform(-1/sqrt(H), 1/sqrt(H)) 中抽取。")
    return seen, ("a scaled bound: the values should fill (-1/sqrt(hidden_size), 1/sqrt(hidden_size)) uniformly, "
                  "no wider and no narrower.",
                  "界被缩放了：取值应均匀地铺满 (-1/sqrt(hidden_size), 1/sqrt(hidden_size))，不宽也不窄。")


@check(points=2, category="correctness")
def test_initialised_like_torch(ex):
    """Every weight and bias is drawn like nn.LSTM's: uniform(-1/sqrt(H), 1/sqrt(H)) (bound and spread, several H).
    zh: 每个权重和偏置都像 nn.LSTM 那样初始化：uniform(-1/sqrt(H), 1/sqrt(H))（检查界和分布，多个 H）。
    """
    for n, (kind, i, h, layers) in enumerate((("LSTMCell", 3, 128, 1), ("LSTM", 200, 72, 2), ("LSTM", 5, 64, 1))):
        shapes = [(4 * h, i), (4 * h, h), (4 * h,)] + ([(4 * h, h)] if layers > 1 else [])
        poison_freed_memory(shapes, float("nan"), copies=3)   # a torch.empty(...) left unfilled then holds NaN
        with seeded(110 + n):
            m = ex.LSTMCell(i, h) if kind == "LSTMCell" else ex.LSTM(i, h, layers, batch_first=True)
        label = f"{kind}({i}, {h})" if kind == "LSTMCell" else f"LSTM({i}, {h}, num_layers={layers})"
        _module(m, label)
        params = dict(m.named_parameters())
        expect(params, f"{label} has no parameters.", f"{label} 没有参数。",
               likely=("parameters not registered as nn.Parameter.", "参数没有注册为 nn.Parameter。"))
        for name, p in params.items():
            layer = int(name.rsplit("_l", 1)[1]) if "_l" in name and name.rsplit("_l", 1)[1].isdigit() else 0
            found = _init_problem(p, i if layer == 0 else h, h)
            if found:
                (seen_en, seen_zh), likely = found
                fail(f"{label}: {name} {seen_en}; every weight and bias should be drawn from "
                     f"uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), like nn.LSTM's.",
                     f"{label}：{name} {seen_zh}；每个权重和偏置都应像 nn.LSTM 那样从 "
                     f"uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) 中抽取。", likely=likely)


def _ignores_layout(out, x, ref, state):
    """Which batch_first mistake out (for x time-major) shows, if one: 'back' or 'ignored', else None."""
    want = ref(x) if state is None else ref(x, state)
    if out.shape == want[0].transpose(0, 1).shape and _close(out, want[0].transpose(0, 1)):
        return "back"
    if state is None:
        bf = nn.LSTM(ref.input_size, ref.hidden_size, ref.num_layers, batch_first=True)
        bf.load_state_dict(ref.state_dict())
        if _close(out, bf(x)[0]):
            return "ignored"
    return None


_LAYOUT = {
    "back": ("the output was left batch-first: with batch_first=False it must be transposed back to (seq, batch, H) "
             "after the loop, as the input was transposed before it.",
             "输出仍是 batch 在前：batch_first=False 时，循环结束后要把输出转置回 (seq, batch, H)，就像循环前转置输入一样。"),
    "ignored": ("batch_first=False ignored: the input (seq, batch, in) was read as (batch, seq, in); transpose it "
                "(x.transpose(0, 1)) before the loop and the output back after it.",
                "忽略了 batch_first=False：把 (seq, batch, in) 的输入当成了 (batch, seq, in)；循环前要转置输入"
                "（x.transpose(0, 1)），循环后再把输出转置回来。"),
}


@check(points=2, category="correctness")
def test_time_major_with_batch_first_false(ex):
    """With batch_first=False, x (seq, batch, in) gives output (seq, batch, H), h_n and c_n equal to nn.LSTM's.
    zh: batch_first=False 时，输入 x 为 (seq, batch, in)，输出 (seq, batch, H)、h_n 和 c_n 与 nn.LSTM 一致。
    """
    for n, (i, h, layers, b, t, with_state) in enumerate(((3, 4, 1, 2, 5, False), (4, 3, 2, 3, 3, False),
                                                         (2, 5, 2, 4, 6, True))):
        with seeded(120 + n):
            ref = _wide(nn.LSTM(i, h, layers, batch_first=False), 120 + n)
            m = _module(ex.LSTM(i, h, layers, batch_first=False), "LSTM(..., batch_first=False)")
            x = torch.randn(t, b, i)
            state = (torch.randn(layers, b, h), torch.randn(layers, b, h)) if with_state else None
        label = (f"LSTM({i}, {h}, num_layers={layers}, batch_first=False) on x (seq={t}, batch={b}, {i})"
                 + (" with (h0, c0)" if with_state else ""))
        _load(m, ref, f"LSTM({i}, {h}, num_layers={layers}, batch_first=False)")
        with torch.no_grad():
            out, (hn, cn) = run_learner(label, ("return output (seq, batch, H) and (h_n, c_n) (num_layers, batch, H)",
                                                "返回 (seq, batch, H) 的输出和 (num_layers, batch, H) 的 (h_n, c_n)"),
                                        _forward, ex, m, x, state, batch_dim=1,
                                        known=lambda e: _LAYOUT["ignored"] if isinstance(e, (RuntimeError, IndexError))
                                        else None)
            want = ref(x) if state is None else ref(x, state)
            assert_tensor(out, f"{label}: output")
            if not _close(out, want[0]):
                kind = _ignores_layout(out, x, ref, state)
                if kind:
                    fail(f"{label}: the output {tuple(out.shape)} differs from nn.LSTM(batch_first=False)'s "
                         f"{tuple(want[0].shape)}; " + ("it is PyTorch's output transposed to (batch, seq, H)."
                                                        if kind == "back" else
                                                        "it equals reading x as (batch, seq, in)."),
                         f"{label}：输出 {tuple(out.shape)} 与 nn.LSTM(batch_first=False) 的 {tuple(want[0].shape)} 不同；"
                         + ("它是 PyTorch 输出转置成 (batch, seq, H) 的结果。" if kind == "back" else
                            "它等于把 x 当成 (batch, seq, in) 读取的结果。"), likely=_LAYOUT[kind])
            assert_close(out, want[0], f"{label}: output", likely=_LIKELY_EQ)
            assert_close(hn, want[1][0], f"{label}: h_n", likely=_LAYOUT["ignored"])
            assert_close(cn, want[1][1], f"{label}: c_n", likely=_LAYOUT["ignored"])


_MISSING = object()


@check(points=1, category="correctness")
def test_keeps_constructor_arguments(ex):
    """Like nn.LSTMCell / nn.LSTM, the modules keep input_size, hidden_size (and num_layers, batch_first) as attributes.
    zh: 与 nn.LSTMCell / nn.LSTM 一样，模块把 input_size、hidden_size（以及 num_layers、batch_first）保存为属性。
    """
    likely = ("the constructor's arguments not stored (self.hidden_size = hidden_size, ...), or stored under other "
              "names (hidden_dim, n_layers): code written for nn.LSTM reads these four.",
              "构造函数的参数没有保存（self.hidden_size = hidden_size 等），或用了别的名字（hidden_dim、n_layers）："
              "为 nn.LSTM 写的代码会读取这四个属性。")
    cases = [("LSTMCell(5, 7)", lambda: ex.LSTMCell(5, 7), dict(input_size=5, hidden_size=7)),
             ("LSTM(3, 6, num_layers=2, batch_first=False)", lambda: ex.LSTM(3, 6, 2, batch_first=False),
              dict(input_size=3, hidden_size=6, num_layers=2, batch_first=False)),
             ("LSTM(4, 2)", lambda: ex.LSTM(4, 2), dict(input_size=4, hidden_size=2, num_layers=1, batch_first=True))]
    for label, make, want in cases:
        with seeded(130):
            m = _module(make(), label)
        for name, value in want.items():
            got = getattr(m, name, _MISSING)
            expect(got is not _MISSING, f"{label} has no attribute {name} (nn.{label.split('(')[0]} has "
                                        f"{name}={value!r}).",
                   f"{label} 没有属性 {name}（nn.{label.split('(')[0]} 有 {name}={value!r}）。", likely=likely)
            if isinstance(value, bool):
                ok = isinstance(got, bool) or type(got).__name__ == "bool_"
                expect(ok and bool(got) == value, f"{label}.{name} should be {value!r}, got {got!r:.60}.",
                       f"{label}.{name} 应为 {value!r}，实际为 {got!r:.60}。", likely=likely)
            else:
                got = as_int(got, f"{label}.{name}", likely=likely)
                expect(got == value, f"{label}.{name} should be {value}, got {got}.",
                       f"{label}.{name} 应为 {value}，实际为 {got}。", likely=likely)


@check(points=1, category="correctness")
def test_float64_without_state(ex):
    """In float64 (model.double(), a double input) and without a state, LSTMCell and LSTM give nn.LSTM's numbers.
    zh: 在 float64 下（model.double()，输入为 double）且不传状态时，LSTMCell 和 LSTM 的结果与 nn.LSTM 一致。
    """
    ref, m = _twin(ex, 3, 5, 2, seed=140)
    cref, cell = _cell_twin(ex, 4, 3, seed=141)
    ref, m, cref, cell = ref.double(), m.double(), cref.double(), cell.double()
    with seeded(142):
        x, xc = torch.randn(2, 4, 3, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    with torch.no_grad():
        out, (hn, cn) = _forward(ex, m, x)
        h, c = _forward(ex, cell, xc, what="LSTMCell", cell=True)
        want, cwant = ref(x), cref(xc)
    for got, exp, what in ((out, want[0], "LSTM output"), (hn, want[1][0], "LSTM h_n"), (cn, want[1][1], "LSTM c_n"),
                           (h, cwant[0], "LSTMCell h"), (c, cwant[1], "LSTMCell c")):
        assert_tensor(got, f"{what} in float64")
        expect(got.dtype == torch.float64, f"{what} in float64: expected a float64 result, got {got.dtype}.",
               f"{what}（float64）：结果应为 float64，实际为 {got.dtype}。", likely=_LIKELY_DTYPE)
        assert_close(got, exp, f"{what} in float64", likely=_LIKELY_EQ)
