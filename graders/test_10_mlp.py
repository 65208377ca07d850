"""Grader for exercise 10 — a configurable MLP and its training loop."""
import re

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, as_loss, assert_all_params_get_grad, assert_close, assert_learns,
                             assert_on_device, assert_shape, assert_tensor, check, expect, fail, first_line,
                             missing_import, run_learner, seeded, to_cpu)

# (in_dim, hidden_sizes, out_dim, batch)
CONFIGS = [(2, [32, 32], 2, 1), (5, [], 3, 7), (10, [16, 8, 4], 4, 33), (3, [7], 1, 2), (6, [6, 6, 6, 6], 5, 11)]


def _known(e):
    """run_learner's likely mistake for a crash of the learner's code."""
    text = first_line(e)
    if isinstance(e, NameError):
        return missing_import(e)
    got = re.search(r"must be Tensor, not (\w+)", text)
    if "is not a Module subclass" in text or (got and isinstance(getattr(nn, got.group(1), None), type)):
        return ("`activation` is a class (nn.ReLU, nn.Tanh, ...): create one module per hidden layer with "
                "activation(), and put that instance in the model.",
                "`activation` 是一个类（nn.ReLU、nn.Tanh……）：每个隐藏层用 activation() 创建一个模块实例，再放进模型里。")
    if "before Module.__init__() call" in text:
        return ("super().__init__() must be the first line of MLP.__init__, before any layer is assigned.",
                "super().__init__() 必须是 MLP.__init__ 的第一行，在给任何层赋值之前。")
    if "mat1 and mat2 shapes cannot be multiplied" in text:
        return ("the Linear sizes do not chain: layer i maps sizes[i] -> sizes[i + 1] for sizes = [in_dim, "
                "*hidden_sizes, out_dim] (an empty hidden_sizes means one nn.Linear(in_dim, out_dim)).",
                "Linear 层的尺寸没有首尾相接：对 sizes = [in_dim, *hidden_sizes, out_dim]，第 i 层把 sizes[i] 映射为 "
                "sizes[i + 1]（hidden_sizes 为空时只有一个 nn.Linear(in_dim, out_dim)）。")
    if isinstance(e, IndexError) and "list index out of range" in text:
        return ("hidden_sizes indexed directly (hidden_sizes[0], hidden_sizes[-1]): an empty list must give one "
                "nn.Linear(in_dim, out_dim).",
                "直接索引了 hidden_sizes（hidden_sizes[0]、hidden_sizes[-1]）：空列表时应只有一个 nn.Linear(in_dim, out_dim)。")
    if "does not require grad and does not have a grad_fn" in text:
        return ("the loss is cut from the graph (computed under torch.no_grad(), or from .item()/.detach() values) "
                "before backward().",
                "在 backward() 之前损失就与计算图断开了（在 torch.no_grad() 下计算，或由 .item()/.detach() 的值得到）。")
    return None


def _call(what, need, fn, *args, **kw):
    """fn(*args, **kw) through run_learner: a crash says what the check needed and the likely mistake."""
    return run_learner(what, need, fn, *args, known=_known, **kw)


def _fwd(m, x, what):
    """m(x) through run_learner; a result that is not a tensor fails, naming a missing `return` for None."""
    y = _call(f"{what} on input {tuple(x.shape)}", ("map (B, in_dim) to logits (B, out_dim)",
                                                   "把 (B, in_dim) 映射为 logits (B, out_dim)"), m, x)
    assert_tensor(y, f"{what} on input {tuple(x.shape)}",
                  likely=("forward computes the logits but does not return them (a missing `return`).",
                          "forward 计算了 logits 却没有返回（缺少 `return`）。") if y is None else None)
    return y


NEED_STEP = ("do one step (zero_grad, forward, loss, backward, optimizer.step()) and return the loss",
             "完成一步（zero_grad、前向、损失、反向、optimizer.step()）并返回损失")
NEED_TRAIN = ("train with Adam(lr) and CrossEntropyLoss for `steps` steps and return the losses",
              "用 Adam(lr) 和 CrossEntropyLoss 训练 `steps` 步并返回各步损失")


def _loss(v, what):
    """A loss the learner returned, as a float (gradelib.as_loss: a tensor still attached to the graph is refused)."""
    return as_loss(v, what, attached=(
        "{what} is the loss tensor itself, still attached to the autograd graph (grad_fn {grad_fn}); each loss kept "
        "in train()'s list then keeps its whole graph alive.",
        "{what} 是仍连在自动求导计算图上的损失张量本身（grad_fn {grad_fn}）；train() 保存的每个损失都会让整张计算图"
        "一直留在内存里。"),
        likely=("train_step does not return the loss (a missing `return`).",
                "train_step 没有返回损失（缺少 `return`）。") if v is None else
        ("the loss should be one number: return loss.item() (a per-sample loss, reduction='none', is not "
         "what CrossEntropyLoss() gives).",
         "损失应是一个数：返回 loss.item()（逐样本的损失 reduction='none' 不是 CrossEntropyLoss() 给出的）。"))


def _losses(v, n, what):
    """The `n` losses train() returned, as floats: a list, tuple, 1-D tensor or array of numbers."""
    if isinstance(v, torch.Tensor) and v.dim() == 1:
        v = list(v)
    ok = isinstance(v, (list, tuple)) or (hasattr(v, "__len__") and hasattr(v, "__getitem__")
                                          and not isinstance(v, (str, bytes, dict, torch.Tensor)))
    count = len(v) if ok else "?"
    expect(ok and count == n, f"{what} should return a list of {n} losses, one per step; got {type(v).__name__} of "
           f"length {count}.",
           f"{what} 应返回含 {n} 个损失的列表（每步一个）；实际为 {type(v).__name__}，长度 {count}。",
           likely=("train returns nothing (a missing `return`)." if v is None else
                   "not collecting train_step's return value every step.",
                   "train 没有返回值（缺少 `return`）。" if v is None else "没有在每一步收集 train_step 的返回值。"))
    return [_loss(x, f"{what}[{i}]") for i, x in enumerate(v)]


def _make(ex, in_dim, hidden, out_dim, seed=1, **kw):
    with seeded(seed):
        m = _call(_desc(in_dim, hidden, out_dim, **kw), ("build the MLP", "构建该 MLP"), ex.MLP, in_dim, list(hidden),
                  out_dim, **kw)
    expect(isinstance(m, nn.Module), f"MLP(...) should be an nn.Module, got {type(m).__name__}.",
           f"MLP(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _desc(in_dim, hidden, out_dim, **kw):
    extra = "".join(f", {k}={getattr(v, '__name__', v)}" for k, v in kw.items())
    return f"MLP({in_dim}, {list(hidden)}, {out_dim}{extra})"


def _linears(m, x):
    """The model's nn.Linear layers in the order forward() calls them (registration order as a fallback)."""
    regs = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
    calls = []
    hooks = [lin.register_forward_hook(lambda mod, inp, out: calls.append(mod)) for lin in regs]
    try:
        with torch.no_grad():
            m(x)
    finally:
        for h in hooks:
            h.remove()
    if len(calls) == len(regs) and len({id(c) for c in calls}) == len(regs):
        return calls
    return regs


def _stack(linears, activation, x):
    """What the MLP should compute (no dropout): Linear, activation, ..., Linear (no activation at the end)."""
    h = x
    for lin in linears[:-1]:
        h = activation()(F.linear(h, lin.weight, lin.bias))
    return F.linear(h, linears[-1].weight, linears[-1].bias)


def _xor_data(seed, n=256):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    x = x + 0.1 * torch.sign(x)  # a small margin around the axes
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()
    return x, y


@check(points=2, category="shape")
def test_output_shape(ex):
    """Output is (B, out_dim) for several batch sizes and hidden_sizes, including an empty list.
    zh: 对不同的 batch 大小和 hidden_sizes（包括空列表），输出都是 (B, out_dim)。
    """
    for in_dim, hidden, out_dim, b in CONFIGS:
        m = _make(ex, in_dim, hidden, out_dim)
        assert_shape(_fwd(m, torch.randn(b, in_dim), _desc(in_dim, hidden, out_dim)), (b, out_dim),
                     f"{_desc(in_dim, hidden, out_dim)} on input ({b}, {in_dim})",
                     likely=("layer sizes hard-coded instead of chained from in_dim through hidden_sizes to out_dim.",
                             "层的尺寸写死了，没有按 in_dim → hidden_sizes → out_dim 依次连接。"))


@check(points=2, category="correctness")
def test_linear_layers_follow_hidden_sizes(ex):
    """The model has len(hidden_sizes) + 1 Linear layers chaining in_dim -> *hidden_sizes -> out_dim.
    zh: 模型有 len(hidden_sizes) + 1 个 Linear 层，尺寸依次为 in_dim → *hidden_sizes → out_dim。
    """
    for in_dim, hidden, out_dim, b in CONFIGS:
        m = _make(ex, in_dim, hidden, out_dim)
        lins = _linears(m, torch.randn(b, in_dim))
        what = _desc(in_dim, hidden, out_dim)
        expect(len(lins) == len(hidden) + 1,
               f"{what} should have {len(hidden) + 1} nn.Linear layers (len(hidden_sizes) + 1), found {len(lins)}.",
               f"{what} 应有 {len(hidden) + 1} 个 nn.Linear 层（len(hidden_sizes) + 1），实际有 {len(lins)} 个。",
               likely=("hidden_sizes ignored (a fixed number of layers, e.g. only hidden_sizes[0]), or layers kept in a "
                       "plain list instead of nn.Sequential / nn.ModuleList.",
                       "忽略了 hidden_sizes（层数固定，例如只用了 hidden_sizes[0]），或把层放在普通列表里而不是 "
                       "nn.Sequential / nn.ModuleList。"))
        want = [in_dim, *hidden, out_dim]
        got = [lins[0].in_features] + [lin.out_features for lin in lins]
        expect(got == want, f"{what}: the Linear layers should map sizes {want}, they map {got}.",
               f"{what}：各 Linear 层的尺寸应为 {want}，实际为 {got}。",
               likely=("hidden_sizes ignored or read in the wrong order.", "忽略了 hidden_sizes，或顺序用错了。"))


@check(points=2, category="correctness")
def test_forward_matches_layer_stack(ex):
    """In eval mode, forward = Linear, activation(), ..., Linear with the given activation and raw logits at the end.
    zh: eval 模式下 forward 等于 Linear、activation()、……、Linear，使用给定的激活函数，最后输出原始 logits。
    """
    for (in_dim, hidden, out_dim, b), act in zip(CONFIGS, [nn.Tanh, nn.ReLU, nn.GELU, nn.ReLU, nn.Tanh]):
        m = _make(ex, in_dim, hidden, out_dim, activation=act).eval()
        x = torch.randn(b, in_dim)
        what = _desc(in_dim, hidden, out_dim, activation=act)
        y = _fwd(m, x, what)
        lins = _linears(m, x)
        assert_shape(y, (b, out_dim), f"{what} output")
        want = _stack(lins, act, x)
        if torch.allclose(y, act()(want), atol=1e-5) and not torch.allclose(y, want, atol=1e-5):
            fail(f"{what}: the output equals activation(last Linear): the logits are squashed by an activation.",
                 f"{what}：输出等于 activation(最后一个 Linear)：logits 被激活函数压缩了。",
                 likely=("an activation applied after the last layer; the output must be raw logits for CrossEntropyLoss.",
                         "在最后一层之后也加了激活函数；输出必须是原始 logits，交给 CrossEntropyLoss。"))
        if hidden and act is not nn.ReLU and torch.allclose(y, _stack(lins, nn.ReLU, x), atol=1e-5):
            fail(f"{what}: the output matches a ReLU network, not {act.__name__}.",
                 f"{what}：输出与 ReLU 网络一致，而不是 {act.__name__}。",
                 likely=("the activation argument ignored (ReLU hard-coded).", "忽略了 activation 参数（写死了 ReLU）。"))
        assert_close(y, want, f"{what} output",
                     likely=("an activation after the last layer, a missing activation between hidden layers, or layers "
                             "applied in a different order than in_dim -> hidden_sizes -> out_dim.",
                             "最后一层之后多了激活函数、隐藏层之间缺少激活函数，或层的顺序不是 in_dim → hidden_sizes → out_dim。"))


@check(points=2, category="correctness")
def test_dropout_active_in_train_mode(ex):
    """With dropout=0.5 in train mode, two calls on the same input give different outputs.
    zh: dropout=0.5 且处于 train 模式时，同一输入两次调用的输出不同。
    """
    m = _make(ex, 8, [64, 64], 4, dropout=0.5).train()
    x = torch.randn(9, 8)
    with seeded(3):
        a, b = m(x), m(x)
    expect(not torch.allclose(a, b),
           "MLP(8, [64, 64], 4, dropout=0.5) in train mode gave the same output twice: dropout is not active.",
           "MLP(8, [64, 64], 4, dropout=0.5) 在 train 模式下两次输出相同：dropout 没有生效。",
           likely=("the dropout argument ignored (no nn.Dropout in the model).", "忽略了 dropout 参数（模型里没有 nn.Dropout）。"))


@check(points=2, category="correctness")
def test_dropout_off_in_eval_mode(ex):
    """With dropout=0.5 in eval mode, outputs are deterministic and equal the network without dropout.
    zh: dropout=0.5 且处于 eval 模式时，输出是确定的，并等于不含 dropout 的网络。
    """
    m = _make(ex, 7, [40, 24], 3, dropout=0.5)
    x = torch.randn(13, 7)
    lins = _linears(m.eval(), x)
    with seeded(4):
        a, b = m(x), m(x)
    assert_shape(a, (13, 3), "MLP(7, [40, 24], 3, dropout=0.5) output")
    likely = ("dropout forced on, e.g. F.dropout(x, p, training=True); use nn.Dropout or pass training=self.training.",
              "强制开启了 dropout，例如 F.dropout(x, p, training=True)；应使用 nn.Dropout 或传入 training=self.training。")
    expect(torch.equal(a, b), "MLP(7, [40, 24], 3, dropout=0.5) in eval mode gave different outputs for the same input: "
           "dropout is still active in eval mode.",
           "MLP(7, [40, 24], 3, dropout=0.5) 在 eval 模式下同一输入的输出不同：dropout 在 eval 模式下仍然生效。", likely=likely)
    assert_close(a, _stack(lins, nn.ReLU, x), "MLP(7, [40, 24], 3, dropout=0.5) output in eval mode",
                 likely=("dropout (or a 1-p rescaling) applied in eval mode, where nn.Dropout is the identity; or an "
                         "activation after the last layer.",
                         "eval 模式下仍应用了 dropout（或 1-p 缩放），而此时 nn.Dropout 应是恒等映射；或最后一层之后多了激活函数。"))


@check(points=1, category="gradient")
def test_every_parameter_gets_a_gradient(ex):
    """After loss.backward(), every parameter of MLP(5, [9, 6], 3) has a non-zero gradient.
    zh: loss.backward() 之后，MLP(5, [9, 6], 3) 的每个参数都有非零梯度。
    """
    m = _make(ex, 5, [9, 6], 3, activation=nn.Tanh)
    x, y = torch.randn(12, 5), torch.arange(12) % 3
    F.cross_entropy(m(x), y).backward()
    assert_all_params_get_grad(m, "MLP(5, [9, 6], 3)")


@check(points=2, category="gradient")
def test_train_step_does_not_accumulate_gradients(ex):
    """Three train_step calls (SGD, lr=0) on one batch leave one batch's gradient, not three summed.
    zh: 在同一 batch 上调用三次 train_step（SGD，lr=0）后，梯度是一个 batch 的梯度，而不是三次之和。
    """
    m = _make(ex, 4, [10], 3)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 2, 1, 0])
    loss_fn = nn.CrossEntropyLoss()
    params = [p for p in m.parameters()]
    loss = loss_fn(m(x), y)
    want = torch.autograd.grad(loss, params)
    opt = torch.optim.SGD(params, lr=0.0)
    for i in range(3):
        got = _loss(_call("train_step(model, SGD(lr=0), x, y, CrossEntropyLoss())", NEED_STEP, ex.train_step, m, opt,
                          x, y, loss_fn), "train_step's return value")
        expect(abs(got - loss.item()) < 1e-5, f"train_step call {i + 1} returned {got:.6g}; the loss on this batch is "
               f"{loss.item():.6g} (lr=0, so it never changes).",
               f"第 {i + 1} 次调用 train_step 返回 {got:.6g}；该 batch 的损失是 {loss.item():.6g}（lr=0，不会变化）。")
    for (name, p), g in zip(m.named_parameters(), want):
        if p.grad is None or not p.grad.abs().sum() > 0:
            continue  # zero_grad() after step() also keeps gradients from piling up
        if torch.allclose(p.grad, 3 * g, atol=1e-6, rtol=1e-4):
            fail(f"After 3 train_step calls on the same batch, {name}.grad is 3x one batch's gradient: "
                 "gradients accumulated across steps.",
                 f"在同一 batch 上调用 3 次 train_step 后，{name}.grad 是单个 batch 梯度的 3 倍：梯度在各步之间累加了。",
                 likely=("optimizer.zero_grad() missing: backward() adds into .grad, so each step uses the sum of all "
                         "past gradients. A falling loss does not reveal this under Adam.",
                         "缺少 optimizer.zero_grad()：backward() 会累加到 .grad，每一步都用到了之前所有梯度之和。"
                         "在 Adam 下损失仍会下降，所以看不出来。"))
        assert_close(p.grad, g, f"{name}.grad after 3 train_step calls",
                     likely=("gradients not cleared with optimizer.zero_grad() before backward().",
                             "backward() 之前没有用 optimizer.zero_grad() 清空梯度。"))


@check(points=1, category="correctness")
def test_train_step_is_one_optimizer_step(ex):
    """One train_step with SGD(lr=0.1) returns the batch loss and moves each parameter by -0.1 x its gradient.
    zh: 使用 SGD(lr=0.1) 调用一次 train_step，返回该 batch 的损失，且每个参数移动 -0.1 × 梯度。
    """
    m = _make(ex, 3, [8, 5], 2, activation=nn.Tanh)
    x, y = torch.randn(9, 3), torch.arange(9) % 2
    params = list(m.parameters())
    loss = F.cross_entropy(m(x), y)
    grads = torch.autograd.grad(loss, params)
    want = [(p - 0.1 * g).detach() for p, g in zip(params, grads)]
    got = _loss(_call("train_step(model, SGD(lr=0.1), x, y, CrossEntropyLoss())", NEED_STEP, ex.train_step, m,
                      torch.optim.SGD(params, lr=0.1), x, y, nn.CrossEntropyLoss()), "train_step's return value")
    expect(abs(got - loss.item()) < 1e-5,
           f"train_step should return the loss before the step ({loss.item():.6g}), got {got:.6g}.",
           f"train_step 应返回更新前的损失（{loss.item():.6g}），实际为 {got:.6g}。",
           likely=("the loss computed again after optimizer.step().", "返回的是 optimizer.step() 之后重新计算的损失。"))
    for (name, p), w in zip(m.named_parameters(), want):
        assert_close(p, w, f"{name} after one train_step",
                     likely=("optimizer.step() missing, or backward() called on something other than the loss.",
                             "缺少 optimizer.step()，或对损失以外的量调用了 backward()。"))


@check(points=2, category="training")
def test_train_loss_decreases(ex):
    """train(model, x, y, 30, 1e-2) returns 30 losses (numbers) that fall on a small 3-class problem.
    zh: train(model, x, y, 30, 1e-2) 返回 30 个损失（数值），并在一个小型三分类问题上下降。
    """
    g = torch.Generator().manual_seed(5)
    centers = torch.randn(3, 6, generator=g) * 2
    y = torch.arange(45) % 3
    x = centers[y] + torch.randn(45, 6, generator=g)
    m = _make(ex, 6, [16], 3, seed=2)
    losses = _losses(_call("train(MLP(6, [16], 3), x, y, 30, 1e-2)", NEED_TRAIN, ex.train, m, x, y, 30, 1e-2), 30,
                     "train(..., steps=30, ...)")
    assert_learns(losses, "train(MLP(6, [16], 3), ..., steps=30, lr=1e-2)")


@check(points=2, category="training")
def test_train_sets_train_mode(ex):
    """train() puts the model in training mode, even one left in eval mode by an earlier evaluation.
    zh: train() 会把模型切换到训练模式，即使它之前因评估而留在 eval 模式。
    """
    with seeded(7):
        model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
        x, y = torch.randn(24, 6), torch.arange(24) % 3
    model.eval()  # as an evaluation pass before training leaves it
    seen = []
    hooks = [mod.register_forward_pre_hook(lambda mod, inp: seen.append(mod.training)) for mod in model.modules()]
    try:
        with seeded(8):
            _call("train(model, x, y, 4, 1e-2) on a model with BatchNorm and Dropout", NEED_TRAIN, ex.train, model, x, y,
                  4, 1e-2)
    finally:
        for h in hooks:
            h.remove()
    bn = model[1]
    expect(seen or int(bn.num_batches_tracked) > 0,
           "train(model, x, y, 4, 1e-2) never called the model.", "train(model, x, y, 4, 1e-2) 从未调用模型。")
    if not all(seen) or int(bn.num_batches_tracked) == 0:
        fail("train(model, ...) ran a model that arrived in eval mode (as after an evaluation) without switching it to "
             f"training mode: {seen.count(False)} of its {len(seen)} module calls ran in eval mode, so Dropout was off "
             "and BatchNorm normalised with (and never updated) its running statistics.",
             f"train(model, ...) 收到一个处于 eval 模式的模型（例如刚评估过）却没有把它切回训练模式：{len(seen)} 次模块调用中有 "
             f"{seen.count(False)} 次在 eval 模式下运行，于是 Dropout 被关闭，BatchNorm 用（且从不更新）运行统计量。",
             likely=("model.train() missing at the start of train(), or written `model.train` without the parentheses "
                     "(which does nothing); a model is not in training mode just because it is being trained.",
                     "train() 开头缺少 model.train()，或写成了不带括号的 `model.train`（什么也不做）；模型不会因为正在被训练"
                     "就自动处于训练模式。"))


@check(points=3, category="training")
def test_train_reaches_xor_accuracy(ex):
    """MLP(2, [32, 32], 2) trained with train(..., 40, 1e-2) reaches >= 90% accuracy on XOR-like 2-D data.
    zh: MLP(2, [32, 32], 2) 用 train(..., 40, 1e-2) 训练后，在类 XOR 的二维数据上准确率 >= 90%。
    """
    x, y = _xor_data(6)
    m = _make(ex, 2, [32, 32], 2, seed=6)
    _call("train(MLP(2, [32, 32], 2), x, y, 40, 1e-2)", NEED_TRAIN, ex.train, m, x, y, 40, 1e-2)
    m.eval()
    with torch.no_grad():
        out = _fwd(m, x, "MLP(2, [32, 32], 2)")
    assert_shape(out, (256, 2), "MLP(2, [32, 32], 2) output")
    acc = (out.argmax(1) == y).float().mean().item()
    expect(acc >= 0.9, f"After train(..., steps=40, lr=1e-2) the XOR training accuracy should be >= 90%, got {acc:.1%}.",
           f"train(..., steps=40, lr=1e-2) 之后 XOR 训练集准确率应 >= 90%，实际为 {acc:.1%}。",
           likely=("XOR is not linearly separable: hidden layers or their activations missing, an activation on the "
                   "logits, or the training loop not using Adam(lr) with CrossEntropyLoss.",
                   "XOR 不是线性可分的：缺少隐藏层或其激活函数、在 logits 上加了激活，或训练循环没有用 Adam(lr) 和 CrossEntropyLoss。"))


@check(points=2, category="device")
def test_runs_on_device(ex):
    """Moved with .to(device), forward and one train_step run there and match the CPU numbers.
    zh: 用 .to(device) 移动后，forward 和一次 train_step 都在该设备上运行，且与 CPU 结果一致。
    """
    x, y = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    cpu = _make(ex, 4, [8, 8], 3).eval()
    ref_out = cpu(x).detach()
    ref_loss = _loss(_call("train_step on the CPU", NEED_STEP, ex.train_step, cpu, torch.optim.SGD(cpu.parameters(),
                                                                                                  lr=0.1),
                           x, y, nn.CrossEntropyLoss()), "train_step's return value")
    m = _make(ex, 4, [8, 8], 3).eval()
    with accelerator() as dev:
        m.to(dev)
        out = m(x.to(dev))
        assert_on_device(out, dev, "MLP output")
        out = to_cpu(out)
        loss = ex.train_step(m, torch.optim.SGD(m.parameters(), lr=0.1), x.to(dev), y.to(dev), nn.CrossEntropyLoss())
        state = to_cpu(dict(m.state_dict()))
    assert_close(out, ref_out, "MLP output on the accelerator")
    loss = _loss(loss, "train_step's return value on the accelerator")
    expect(abs(loss - ref_loss) < 1e-5,
           f"train_step on the accelerator should return {ref_loss:.6g}, like on the CPU; got {loss:.6g}.",
           f"在加速设备上 train_step 应像在 CPU 上一样返回 {ref_loss:.6g}；实际为 {loss:.6g}。")
    for k, v in cpu.state_dict().items():
        assert_close(state[k], v, f"{k} after train_step on the accelerator")
