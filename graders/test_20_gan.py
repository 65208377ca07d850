"""Grader for exercise 20 — a GAN: generator, discriminator (logits), d_step and g_step.

The step checks drive the learner's d_step / g_step with the grader's own tiny G and D and plain SGD
optimizers, so the parameter change is -lr x the gradient the step used: the grader recomputes that
gradient with autograd (and the gradients of the usual wrong losses) and names the one it sees.
"""
import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.gradelib import (accelerator, as_loss, assert_on_device, assert_shape, assert_tensor, check,
                             device_mismatch_explained, expect, fail, run_learner, seeded, to_cpu)

LR = 0.1
DETACH = ("d_step ran the discriminator on fake itself instead of fake.detach(): the discriminator's loss then "
          "backpropagates into the generator (and frees the generator's graph, which g_step needs next).",
          "d_step 直接把 fake 送进判别器，而不是 fake.detach()：判别器的损失于是反向传播到了生成器"
          "（并释放了生成器的计算图，而 g_step 接下来还要用它）。")
LOG_SIGMOID = ("torch.log(torch.sigmoid(logits)) (or a sigmoid at the end of D followed by torch.log): sigmoid(-200) "
               "rounds to 0 in float32 and its log is -inf. Use F.binary_cross_entropy_with_logits / "
               "nn.BCEWithLogitsLoss on the raw logits (it uses the log-sum-exp trick).",
               "用了 torch.log(torch.sigmoid(logits))（或在 D 的末尾加 sigmoid 再取 torch.log）：float32 中 sigmoid(-200) "
               "会舍入为 0，取对数得到 -inf。应对原始 logits 使用 F.binary_cross_entropy_with_logits / "
               "nn.BCEWithLogitsLoss（内部用了 log-sum-exp 技巧）。")

NOT_PROBS = ("the step takes torch.log of the discriminator's output as if it were a probability, but the "
             "discriminator returns logits (here, any real number): apply BCE-with-logits to the logits.",
             "该步骤把判别器的输出当作概率取 torch.log，但判别器返回的是 logits（这里可以是任意实数）："
             "应对 logits 使用 BCE-with-logits。")
NOISE = ("noise shaped (n, z_dim, 1, 1), DCGAN's convention for a convolutional generator (the seed's nn.Linear then "
         "fails on it): these generators are MLPs and take (n, z_dim).",
         "噪声形状为 (n, z_dim, 1, 1)，这是 DCGAN 卷积生成器的约定（原题的 nn.Linear 会因此报错）："
         "这里的生成器是 MLP，输入为 (n, z_dim)。")

DEVICE = ("a tensor (labels, noise) created without device=...: use torch.ones_like(logits) / torch.zeros_like(logits), "
          "or device=real.device.",
          "创建张量（标签、噪声）时没有指定 device=...：应使用 torch.ones_like(logits) / torch.zeros_like(logits)，"
          "或 device=real.device。")
# run_learner's likely mistakes, by a piece of the error text (first match wins)
KNOWN = [
    ("backward through the graph a second time", DETACH),
    ("does not require grad",
     ("nothing in the loss requires grad: the network's parameters frozen with requires_grad_(False) (e.g. D frozen "
      "for a G step and never unfrozen), or the loss computed under torch.no_grad().",
      "损失中没有任何需要梯度的量：网络参数被 requires_grad_(False) 冻结了（例如为 G 的一步冻结了 D 却没有解冻），"
      "或损失是在 torch.no_grad() 下计算的。")),
    ("mat1 and mat2",
     ("a layer's input width does not match: check the shapes of the noise (n, z_dim) and of the data "
      "(B, *data_shape) against the first Linear of each network.",
      "某层的输入宽度不匹配：对照各网络第一个 Linear，检查噪声 (n, z_dim) 和数据 (B, *data_shape) 的形状。")),
    ("device", DEVICE),
]


# ---------------------------------------------------------------------------
# private helpers

def _noise(ex, n, z_dim, device=None):
    args = (n, z_dim) if device is None else (n, z_dim, device)
    what = f"make_noise({n}, {z_dim}{', device' if device is not None else ''})"
    z = _run(ex.make_noise, what, ("return (n, z_dim) noise", "返回 (n, z_dim) 的噪声"), *args)
    assert_shape(z, (n, z_dim), what, likely=NOISE)
    return z


def _run(fn, what, need, *args):
    """fn(*args) through run_learner: a crash fails the check saying what it needed and the likely mistake (KNOWN)."""
    return run_learner(what, need, fn, *args, known=KNOWN)


def _as_float(v, what):
    """The loss a step returned, as a float (gradelib.as_loss: a tensor still attached to the graph is refused)."""
    return as_loss(v, what, number_what=f"{what}'s return value (the loss, loss.item())", attached=(
        "{what} returned the loss tensor itself, still attached to the autograd graph (grad_fn {grad_fn}); a training "
        "loop that keeps the returned losses then keeps every step's graph alive.",
        "{what} 返回的是仍连在自动求导计算图上的损失张量本身（grad_fn {grad_fn}）；训练循环保存这些返回的损失时，"
        "每一步的整张计算图都会一直留在内存里。"),
        likely=("nothing returned, or the per-sample losses returned instead of their mean.",
                "没有返回值，或返回了逐样本的损失而不是其平均值。"))


def _tiny(seed, z_dim=3, dim=2):
    """The grader's own small G and D (an MLP each; D returns logits (B, 1))."""
    with seeded(seed):
        G = nn.Sequential(nn.Linear(z_dim, 5), nn.Tanh(), nn.Linear(5, dim))
        D = nn.Sequential(nn.Linear(dim, 6), nn.Tanh(), nn.Linear(6, 1))
    return G, D


def _snap(m):
    return [p.detach().clone() for p in m.parameters()]


def _delta_grad(before, m):
    """The gradient an SGD(lr=LR) step used: (before - after) / LR."""
    return [(b - p.detach()) / LR for b, p in zip(before, m.parameters())]


def _bce(logits, label):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(label)))


def _grads(loss, params):
    return [g if g is not None else torch.zeros_like(p)
            for g, p in zip(torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True), params)]


def _close(a, b, tol=1e-4):
    return all(torch.allclose(x, y, atol=tol, rtol=1e-3) for x, y in zip(a, b))


def _scale(gs, c):
    return [g * c for g in gs]


def _add(a, b):
    return [x + y for x, y in zip(a, b)]


def _maxdiff(a, b):
    return max((x - y).abs().max().item() for x, y in zip(a, b))


def _generator(ex, z_dim, shape, hidden, seed):
    with seeded(seed):
        G = _run(ex.Generator, f"Generator({z_dim}, {shape}, hidden={hidden})",
                 ("build the generator", "构建生成器"), z_dim, shape, hidden)
    expect(isinstance(G, nn.Module), f"Generator(...) should be an nn.Module, got {type(G).__name__}.",
           f"Generator(...) 应是 nn.Module，实际是 {type(G).__name__}。")
    return G


def _discriminator(ex, shape, hidden, seed):
    with seeded(seed):
        D = _run(ex.Discriminator, f"Discriminator({shape}, hidden={hidden})",
                 ("build the discriminator", "构建判别器"), shape, hidden)
    expect(isinstance(D, nn.Module), f"Discriminator(...) should be an nn.Module, got {type(D).__name__}.",
           f"Discriminator(...) 应是 nn.Module，实际是 {type(D).__name__}。")
    return D


def _check_logits_shape(out, B, what):
    assert_tensor(out, what)
    if tuple(out.shape) not in ((B, 1), (B,)):
        fail(f"{what}: expected logits of shape ({B}, 1), got {tuple(out.shape)}.",
             f"{what}：期望 logits 形状为 ({B}, 1)，实际为 {tuple(out.shape)}。",
             likely=("the discriminator's first layer sized for another data shape (the seed feeds a 32x32 generator "
                     "output to a discriminator built for 28x28), or the input not flattened: size the layers "
                     "from data_shape (math.prod(data_shape) after nn.Flatten()).",
                     "判别器的第一层按另一种数据形状设定（原题把 32x32 的生成结果送进为 28x28 设计的判别器），"
                     "或输入没有展平：应由 data_shape 决定层的尺寸（nn.Flatten() 之后是 math.prod(data_shape)）。"))


def _d_diagnose(value, obs, D, real, fake, junk):
    """The likely mistake behind a wrong d_step, from its returned loss and the update it made."""
    p = list(D.parameters())
    lr_, lf0 = _bce(D(real), 1), _bce(D(fake), 0)
    lr0, lf1 = _bce(D(real), 0), _bce(D(fake), 1)
    ok, g_ok = (lr_ + lf0).item(), _grads(lr_ + lf0, p)
    g_real = _grads(lr_, p)
    cands = [
        ([ok, ok / 2], [g_ok, _scale(g_ok, 0.5)], None),
        ([(lr_ + lf1).item(), (lr_ + lf1).item() / 2], [_grads(lr_ + lf1, p), _scale(_grads(lr_ + lf1, p), 0.5)],
         ("the fakes labelled as real (1) in d_step: that is the generator's loss. The discriminator wants real -> 1 "
          "and fake -> 0.", "d_step 中把假样本标成了真（1）：那是生成器的损失。判别器要的是真 -> 1、假 -> 0。")),
        ([(lr0 + lf1).item(), (lr0 + lf1).item() / 2], [_grads(lr0 + lf1, p), _scale(_grads(lr0 + lf1, p), 0.5)],
         ("the labels swapped: real should be 1 and fake 0.", "标签反了：真样本应为 1，假样本应为 0。")),
        ([lr_.item(), lf0.item()], [g_real, _grads(lf0, p)],
         ("only one of the two terms used: the discriminator loss is BCE(D(real), 1) + BCE(D(fake.detach()), 0).",
          "只用了两项中的一项：判别器损失是 BCE(D(real), 1) + BCE(D(fake.detach()), 0)。")),
    ]
    if any(abs(value - v) < 1e-4 * max(1.0, abs(v)) for v in (ok, ok / 2)):
        c = 1.0 if abs(value - ok) < 1e-4 * max(1.0, abs(ok)) else 0.5
        if _close(obs, _add(_scale(g_ok, c), junk)):
            return ("the gradients not cleared at the start of d_step (opt_d.zero_grad() missing, or called after "
                    "backward()): the gradients g_step left on the discriminator were added to this step's.",
                    "d_step 开始时没有清空梯度（缺少 opt_d.zero_grad()，或在 backward() 之后才调用）："
                    "g_step 留在判别器上的梯度被加进了这一步的梯度。")
        if _close(obs, _scale(g_real, c)):
            return ("the fake term carries no gradient to D (D(fake) computed under torch.no_grad(), or its logits "
                    "detached): detach the generator's output fake, not the discriminator's logits.",
                    "假样本那一项没有梯度传给 D（D(fake) 在 torch.no_grad() 下计算，或把它的 logits detach 了）："
                    "应 detach 生成器的输出 fake，而不是判别器的 logits。")
        if _close(obs, [torch.zeros_like(g) for g in g_ok], 1e-7):
            return ("the discriminator not updated: opt_d.step() missing, or opt_d.zero_grad() called between "
                    "backward() and step().",
                    "判别器没有被更新：缺少 opt_d.step()，或在 backward() 与 step() 之间调用了 opt_d.zero_grad()。")
    if not math.isfinite(value):
        return NOT_PROBS
    for values, grads, likely in cands[1:]:
        if any(abs(value - v) < 1e-4 * max(1.0, abs(v)) for v in values) or any(_close(obs, g) for g in grads):
            return likely
    return ("the discriminator loss is BCE-with-logits(D(real), 1) + BCE-with-logits(D(fake.detach()), 0), each a mean "
            "over the batch (their average is accepted too), minimised with opt_d.",
            "判别器损失应为 BCE-with-logits(D(real), 1) + BCE-with-logits(D(fake.detach()), 0)，各自在 batch 上取平均"
            "（两者的平均也可以），用 opt_d 最小化。")


# ---------------------------------------------------------------------------
# checks

@check(points=1, category="shape")
def test_noise(ex):
    """make_noise(n, z_dim) is (n, z_dim) standard normal noise.
    zh: make_noise(n, z_dim) 返回形状 (n, z_dim) 的标准正态噪声。
    """
    for n, z in ((5, 3), (1, 7)):
        with seeded(n):
            out = _run(ex.make_noise, f"make_noise({n}, {z})", ("return (n, z_dim) noise", "返回 (n, z_dim) 的噪声"),
                       n, z)
        assert_shape(out, (n, z), f"make_noise({n}, {z})", likely=NOISE)
    with seeded(3):
        big = _run(ex.make_noise, "make_noise(4000, 3)", ("return (n, z_dim) noise", "返回 (n, z_dim) 的噪声"), 4000, 3)
    assert_shape(big, (4000, 3), "make_noise(4000, 3)")
    m, s = big.float().mean().item(), big.float().std().item()
    expect(abs(m) < 0.08 and abs(s - 1) < 0.08,
           f"make_noise should draw from N(0, 1): over 12000 values the mean is {m:.3f} and the std {s:.3f} "
           "(expected about 0 and 1).",
           f"make_noise 应从 N(0, 1) 采样：12000 个值的均值为 {m:.3f}、标准差为 {s:.3f}（应约为 0 和 1）。",
           likely=("torch.rand (uniform on [0, 1)) instead of torch.randn.", "用了 torch.rand（[0, 1) 上的均匀分布）而不是 torch.randn。"))


@check(points=2, category="shape")
def test_generator_output(ex):
    """Generator(z_dim, data_shape)(z) is (B, *data_shape) with values in [-1, 1], for vectors and images.
    zh: Generator(z_dim, data_shape)(z) 的形状为 (B, *data_shape)，取值在 [-1, 1]，向量和图像都适用。
    """
    for i, (z, shape, hidden, B) in enumerate([(4, (2,), 16, 5), (10, (1, 28, 28), 32, 3), (6, (3, 8, 8), 24, 2)]):
        G = _generator(ex, z, shape, hidden, seed=i)
        with seeded(10 + i), torch.no_grad():
            out = _run(G, f"Generator({z}, {shape})(z)", ("map z (B, z_dim) to (B, *data_shape)",
                                                         "把 z (B, z_dim) 映射为 (B, *data_shape)"),
                       torch.randn(B, z) * 3)
        assert_shape(out, (B, *shape), f"Generator({z}, {shape}) on z of shape ({B}, {z})",
                     likely=("the flat output not reshaped to data_shape (out.view(B, *data_shape)), or the last layer "
                             "sized for another shape.",
                             "扁平输出没有重塑为 data_shape（out.view(B, *data_shape)），或最后一层按另一种形状设定。"))
        lo, hi = out.min().item(), out.max().item()
        expect(-1 <= lo and hi <= 1, f"Generator outputs should lie in [-1, 1] (like images scaled to [-1, 1]); "
               f"they range over [{lo:.3g}, {hi:.3g}].",
               f"生成器的输出应位于 [-1, 1]（与缩放到 [-1, 1] 的图像一致）；实际范围为 [{lo:.3g}, {hi:.3g}]。",
               likely=("no nn.Tanh() at the end of the generator.", "生成器末尾没有 nn.Tanh()。"))


@check(points=2, category="shape")
def test_generator_fits_discriminator(ex):
    """D(G(z)) runs and gives logits (B, 1) for the same data_shape (vectors, 28x28 and 8x8 images).
    zh: 对同一个 data_shape（向量、28x28 和 8x8 图像），D(G(z)) 能运行并给出 (B, 1) 的 logits。
    """
    for i, (z, shape, hidden, B) in enumerate([(5, (1, 28, 28), 32, 4), (3, (2,), 16, 6), (8, (3, 8, 8), 20, 2)]):
        G = _generator(ex, z, shape, hidden, seed=20 + i)
        D = _discriminator(ex, shape, hidden, seed=30 + i)
        with seeded(40 + i), torch.no_grad():
            fake = _run(G, "Generator(...)(z)", ("generate a batch", "生成一个 batch"), torch.randn(B, z))
            out = _run(D, f"Discriminator({shape}) on the generator's output of shape {tuple(fake.shape)}",
                       ("accept (B, *data_shape), the generator's output shape", "接受生成器输出的形状 (B, *data_shape)"),
                       fake)
            _check_logits_shape(out, B, f"Discriminator({shape})(Generator({z}, {shape})(z))")
            real = torch.rand(B, *shape) * 2 - 1
            _check_logits_shape(_run(D, f"Discriminator({shape}) on real data", ("accept (B, *data_shape)",
                                                                               "接受 (B, *data_shape)"), real),
                                B, f"Discriminator({shape}) on real data of shape {tuple(real.shape)}")


@check(points=1, category="correctness")
def test_discriminator_returns_logits(ex):
    """The discriminator returns logits (any real number), not sigmoid probabilities.
    zh: 判别器返回 logits（任意实数），而不是 sigmoid 之后的概率。
    """
    D = _discriminator(ex, (2,), 16, seed=50)
    with seeded(51), torch.no_grad():
        out = _run(D, "Discriminator((2,))", ("score a batch", "给一个 batch 打分"), torch.randn(256, 2) * 30)
    _check_logits_shape(out, 256, "Discriminator((2,)) on 256 points")
    lo, hi = out.min().item(), out.max().item()
    expect(lo < 0 or hi > 1, f"On 256 far-apart inputs every discriminator output lies in [0, 1] ([{lo:.3g}, {hi:.3g}]): "
           "it looks like probabilities, not logits.",
           f"在 256 个相距很远的输入上，判别器的输出全部落在 [0, 1]（[{lo:.3g}, {hi:.3g}]）：看起来是概率而不是 logits。",
           likely=("nn.Sigmoid() at the end of the discriminator (the seed's design): return the raw logits and let "
                   "BCEWithLogitsLoss apply the sigmoid stably.",
                   "判别器末尾加了 nn.Sigmoid()（原题的写法）：应返回原始 logits，由 BCEWithLogitsLoss 稳定地计算 sigmoid。"))


@check(points=2, category="gradient")
def test_d_step_leaves_generator_alone(ex):
    """After d_step(D, real, G(z), opt_d) the generator has no gradient and is unchanged.
    zh: d_step(D, real, G(z), opt_d) 之后，生成器没有梯度，参数也没有变化。
    """
    G, D = _tiny(60)
    with seeded(61):
        real, z = torch.randn(7, 2) + 1, torch.randn(7, 3)
    fake = G(z)
    before = _snap(G)
    opt_d = torch.optim.SGD(D.parameters(), lr=LR)
    _as_float(_run(ex.d_step, "d_step(D, real, fake, opt_d)", ("update the discriminator only", "只更新判别器"),
                   D, real, fake, opt_d), "d_step")
    got = [n for n, p in G.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    expect(not got, f"After d_step the generator's parameters should have no gradient; {got} received one.",
           f"d_step 之后生成器的参数不应有梯度；{got} 收到了梯度。", likely=DETACH)
    moved = [n for (n, p), b in zip(G.named_parameters(), before) if not torch.equal(p.detach(), b)]
    expect(not moved, f"d_step changed the generator's parameters {moved}; it should update the discriminator only.",
           f"d_step 改变了生成器的参数 {moved}；它只应更新判别器。",
           likely=("an optimizer over the generator's parameters stepped inside d_step.", "d_step 里对生成器参数的优化器做了 step。"))


@check(points=3, category="correctness")
def test_d_step_loss_and_update(ex):
    """d_step returns BCE-with-logits(real->1) + (fake->0) (or their average) and takes one step on exactly its gradient.
    zh: d_step 返回 BCE-with-logits(真->1) + (假->0)（或二者的平均），并且恰好按该损失的梯度更新一步。
    """
    for i, B in enumerate((6, 9)):
        G, D = _tiny(70 + i)
        with seeded(72 + i):
            real, z, z2 = torch.randn(B, 2) * 0.7 + 0.5, torch.randn(B, 3), torch.randn(B, 3)
        _bce(D(G(z2)), 1).backward()  # what a G step leaves on D
        junk = [p.grad.detach().clone() for p in D.parameters()]
        G.zero_grad(set_to_none=True)
        fake = G(z)
        ref = copy.deepcopy(D)
        before = _snap(D)
        opt_d = torch.optim.SGD(D.parameters(), lr=LR)
        value = _as_float(_run(ex.d_step, "d_step(D, real, fake, opt_d)", ("update the discriminator", "更新判别器"),
                               D, real, fake, opt_d), "d_step")
        obs = _delta_grad(before, D)
        fk = fake.detach()
        ok = (_bce(ref(real), 1) + _bce(ref(fk), 0))
        g_ok = _grads(ok, list(ref.parameters()))
        c = None
        for cc in (1.0, 0.5):
            if abs(value - cc * ok.item()) < 1e-4 * max(1.0, abs(ok.item())):
                c = cc
        if c is None or not _close(obs, _scale(g_ok, c)):
            likely = _d_diagnose(value, obs, ref, real, fk, junk)
            if c is None:
                fail(f"B={B}: d_step returned {value:.6g}; BCE-with-logits(D(real), 1) + BCE-with-logits(D(fake), 0) "
                     f"is {ok.item():.6g} (or {ok.item() / 2:.6g} averaged).",
                     f"B={B}：d_step 返回 {value:.6g}；BCE-with-logits(D(real), 1) + BCE-with-logits(D(fake), 0) "
                     f"应为 {ok.item():.6g}（取平均则为 {ok.item() / 2:.6g}）。", likely=likely)
            fail(f"B={B}: the loss value is right, but the discriminator's update is not one SGD step on that loss's "
                 f"gradient (largest difference {_maxdiff(obs, _scale(g_ok, c)):.3g}).",
                 f"B={B}：损失值正确，但判别器的更新不是按该损失的梯度走的一步 SGD（最大差 "
                 f"{_maxdiff(obs, _scale(g_ok, c)):.3g}）。", likely=likely)


@check(points=2, category="gradient")
def test_g_step_leaves_discriminator_unchanged(ex):
    """g_step(D, fake, opt_g) updates the generator but leaves the discriminator unchanged and still trainable.
    zh: g_step(D, fake, opt_g) 更新生成器，但判别器保持不变且仍然可训练。
    """
    G, D = _tiny(80)
    with seeded(81):
        z = torch.randn(8, 3)
    fake = G(z)
    before_d, before_g = _snap(D), _snap(G)
    opt_g = torch.optim.SGD(G.parameters(), lr=LR)
    _as_float(_run(ex.g_step, "g_step(D, fake, opt_g)", ("update the generator", "更新生成器"), D, fake, opt_g),
              "g_step")
    moved = [n for (n, p), b in zip(D.named_parameters(), before_d) if not torch.equal(p.detach(), b)]
    expect(not moved, f"g_step changed the discriminator's parameters {moved}; only the generator should move.",
           f"g_step 改变了判别器的参数 {moved}；只有生成器应该变化。",
           likely=("an optimizer over the discriminator's parameters stepped inside g_step.",
                   "g_step 里对判别器参数的优化器做了 step。"))
    frozen = [n for n, p in D.named_parameters() if not p.requires_grad]
    expect(not frozen, f"After g_step the discriminator's parameters {frozen} no longer require grad, so the next "
           "d_step cannot train them.",
           f"g_step 之后判别器的参数 {frozen} 不再需要梯度，下一次 d_step 就无法训练它们。",
           likely=("D frozen with requires_grad_(False) for the G step and never unfrozen: restore requires_grad_(True) "
                   "before returning (or don't freeze: opt_g only steps the generator anyway).",
                   "为 G 的一步用 requires_grad_(False) 冻结了 D，却没有恢复：返回前要 requires_grad_(True)"
                   "（也可以不冻结：opt_g 本来就只更新生成器）。"))
    same = all(torch.equal(p.detach(), b) for p, b in zip(G.parameters(), before_g))
    expect(not same, "g_step left the generator unchanged; it should take one opt_g step.",
           "g_step 没有改变生成器；它应让 opt_g 更新一步。",
           likely=("fake detached in g_step (the gradient must flow through D(fake) into G), opt_g.step() missing, or "
                   "zero_grad() called between backward() and step().",
                   "g_step 中把 fake detach 了（梯度必须经过 D(fake) 传回 G），缺少 opt_g.step()，"
                   "或在 backward() 与 step() 之间调用了 zero_grad()。"))


@check(points=3, category="correctness")
def test_g_step_loss_and_update(ex):
    """g_step returns the non-saturating loss BCE-with-logits(D(fake), 1) and steps the generator on exactly its gradient.
    zh: g_step 返回非饱和损失 BCE-with-logits(D(fake), 1)，并恰好按其梯度更新生成器一步。
    """
    for i, B in enumerate((5, 8)):
        G, D = _tiny(90 + i)
        with seeded(92 + i):
            z, z2 = torch.randn(B, 3), torch.randn(B, 3)
            with torch.no_grad():
                D[-1].bias.fill_(-1.0)  # D rejects the fakes: where the saturating loss has almost no gradient
        _bce(D(G(z2)), 1).backward()  # what an earlier G step leaves on G
        junk = [p.grad.detach().clone() for p in G.parameters()]
        D.zero_grad(set_to_none=True)
        fake = G(z)
        gp = list(G.parameters())
        logits = D(fake)
        ok, sat, zero = _bce(logits, 1), -_bce(logits, 0), _bce(logits, 0)
        g_ok, g_sat, g_zero = _grads(ok, gp), _grads(sat, gp), _grads(zero, gp)
        before = _snap(G)
        opt_g = torch.optim.SGD(G.parameters(), lr=LR)
        value = _as_float(_run(ex.g_step, "g_step(D, fake, opt_g)", ("update the generator", "更新生成器"),
                               D, fake, opt_g), "g_step")
        obs = _delta_grad(before, G)
        tol = 1e-4 * max(1.0, abs(ok.item()))
        if abs(value - ok.item()) < tol and _close(obs, g_ok):
            continue
        likely = ("the generator's loss is BCE-with-logits(D(fake), 1) (mean over the batch), minimised with opt_g.",
                  "生成器损失应为 BCE-with-logits(D(fake), 1)（在 batch 上取平均），用 opt_g 最小化。")
        if not math.isfinite(value):
            likely = NOT_PROBS
        elif abs(value - sat.item()) < tol or _close(obs, g_sat):
            likely = ("the saturating loss log(1 - D(G(z))) minimised (the seed's textbook minimax form): where D "
                      "rejects the fakes its gradient vanishes. Use the non-saturating loss -log D(G(z)) = "
                      "BCE-with-logits(D(fake), 1).",
                      "最小化了饱和损失 log(1 - D(G(z)))（教科书上的极小极大形式）：当 D 识破假样本时梯度几乎为零。"
                      "应使用非饱和损失 -log D(G(z)) = BCE-with-logits(D(fake), 1)。")
        elif abs(value - zero.item()) < tol or _close(obs, g_zero):
            likely = ("the fakes labelled 0 in g_step: that is the discriminator's target. The generator wants D to "
                      "call its samples real (label 1).",
                      "g_step 中把假样本标成了 0：那是判别器的目标。生成器希望 D 把它的样本判为真（标签 1）。")
        elif abs(value - ok.item()) < tol and _close(obs, _add(g_ok, junk)):
            likely = ("the generator's gradients not cleared first (opt_g.zero_grad() missing): old gradients were added "
                      "to this step's.",
                      "没有先清空生成器的梯度（缺少 opt_g.zero_grad()）：旧的梯度被加进了这一步。")
        elif abs(value - ok.item()) < tol and _close(obs, [torch.zeros_like(g) for g in g_ok], 1e-7):
            likely = ("the generator not updated: fake detached in g_step, opt_g.step() missing, or zero_grad() called "
                      "between backward() and step().",
                      "生成器没有被更新：g_step 中把 fake detach 了、缺少 opt_g.step()，或在 backward() 与 step() "
                      "之间调用了 zero_grad()。")
        if not abs(value - ok.item()) < tol:
            fail(f"B={B}: g_step returned {value:.6g}; the non-saturating loss BCE-with-logits(D(fake), 1) is "
                 f"{ok.item():.6g}.",
                 f"B={B}：g_step 返回 {value:.6g}；非饱和损失 BCE-with-logits(D(fake), 1) 应为 {ok.item():.6g}。",
                 likely=likely)
        fail(f"B={B}: the loss value is right, but the generator's update is not one SGD step on that loss's gradient "
             f"(largest difference {_maxdiff(obs, g_ok):.3g}).",
             f"B={B}：损失值正确，但生成器的更新不是按该损失的梯度走的一步 SGD（最大差 {_maxdiff(obs, g_ok):.3g}）。",
             likely=likely)


@check(points=2, category="correctness")
def test_finite_at_large_logits(ex):
    """At logits of +-200 both steps return the exact finite BCE-with-logits loss and keep the parameters finite.
    zh: logits 为 ±200 时，两个步骤都返回精确且有限的 BCE-with-logits 损失，参数保持有限。
    """
    D = nn.Linear(2, 1)
    G = nn.Linear(1, 2)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[200.0, 0.0]]))
        D.bias.zero_()
        G.weight.copy_(torch.tensor([[-1.0], [0.0]]))
        G.bias.zero_()
    B = 4
    real = torch.tensor([[-1.0, 0.0]]).repeat(B, 1)  # D says "fake" at logit -200
    fake = G(torch.ones(B, 1))                           # (-1, 0): logit -200
    fake_d = -fake.detach()                                # (+1, 0): logit +200 (D says "real")
    opt_d = torch.optim.SGD(D.parameters(), lr=1e-3)
    dv = _as_float(_run(ex.d_step, "d_step at logits +-200", ("return a finite loss", "返回有限的损失"),
                        D, real, fake_d, opt_d), "d_step")
    want = 400.0
    finite_d = all(torch.isfinite(p).all() for p in D.parameters())
    if not (math.isfinite(dv) and finite_d):
        fail(f"D step with D(real) = -200 and D(fake) = +200: the loss should be {want:g} (or {want / 2:g} averaged); "
             f"d_step returned {dv} and the discriminator's parameters are "
             f"{'finite' if finite_d else 'no longer finite (nan/inf)'}.",
             f"D 的一步，D(real) = -200、D(fake) = +200：损失应为 {want:g}（取平均则为 {want / 2:g}）；d_step 返回 {dv}，"
             f"判别器参数{'有限' if finite_d else '已不再有限（nan/inf）'}。", likely=LOG_SIGMOID)
    expect(abs(dv - want) < 1e-2 or abs(dv - want / 2) < 1e-2,
           f"D step with D(real) = -200 and D(fake) = +200: the loss should be {want:g} (or {want / 2:g} averaged); "
           f"d_step returned {dv:.6g}.",
           f"D 的一步，D(real) = -200、D(fake) = +200：损失应为 {want:g}（取平均则为 {want / 2:g}）；d_step 返回 {dv:.6g}。",
           likely=("probabilities clamped before the log (nn.BCELoss / F.binary_cross_entropy clamp log at -100, an eps "
                   "does the same): the loss is wrong exactly where D is most wrong. Use BCE-with-logits on the logits.",
                   "取对数前对概率做了截断（nn.BCELoss / F.binary_cross_entropy 会把 log 截在 -100，加 eps 也一样）："
                   "恰恰在 D 错得最离谱的地方损失不对。应对 logits 使用 BCE-with-logits。"))
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[200.0, 0.0]]))
        D.bias.zero_()
    opt_g = torch.optim.SGD(G.parameters(), lr=1e-3)
    gv = _as_float(_run(ex.g_step, "g_step at logits -200", ("return a finite loss", "返回有限的损失"),
                        D, fake, opt_g), "g_step")
    finite_g = all(torch.isfinite(p).all() for p in G.parameters())
    if abs(gv) < 1e-3:
        fail(f"G step with D(fake) = -200 (D rejects the fakes): the non-saturating loss -log D(G(z)) should be 200; "
             f"g_step returned {gv:.3g}.",
             f"G 的一步，D(fake) = -200（D 识破了假样本）：非饱和损失 -log D(G(z)) 应为 200；g_step 返回 {gv:.3g}。",
             likely=("the saturating loss log(1 - D(G(z))): it is ~0, with ~0 gradient, exactly when D rejects the "
                     "fakes. Use BCE-with-logits(D(fake), 1).",
                     "用了饱和损失 log(1 - D(G(z)))：恰好在 D 识破假样本时它约为 0，梯度也约为 0。"
                     "应使用 BCE-with-logits(D(fake), 1)。"))
    expect(math.isfinite(gv) and finite_g and abs(gv - 200.0) < 1e-2,
           f"G step with D(fake) = -200: the non-saturating loss should be 200; g_step returned {gv:.6g} and the "
           f"generator's parameters are {'finite' if finite_g else 'no longer finite (nan/inf)'}.",
           f"G 的一步，D(fake) = -200：非饱和损失应为 200；g_step 返回 {gv:.6g}，"
           f"生成器参数{'有限' if finite_g else '已不再有限（nan/inf）'}。",
           likely=LOG_SIGMOID if not (math.isfinite(gv) and finite_g) else
           ("probabilities clamped before the log, or a loss other than BCE-with-logits(D(fake), 1).",
            "取对数前对概率做了截断，或用了 BCE-with-logits(D(fake), 1) 以外的损失。"))


@check(points=2, category="training")
def test_alternating_iterations(ex):
    """Five iterations (fake = G(z); d_step(D, real, fake); g_step(D, fake)) run with your G and D on 8x8 images.
    zh: 用你的 G 和 D 在 8x8 图像上运行 5 次迭代（fake = G(z)；d_step(D, real, fake)；g_step(D, fake)）。
    """
    shape, z_dim, B = (1, 8, 8), 6, 8
    G = _generator(ex, z_dim, shape, 32, seed=100)
    D = _discriminator(ex, shape, 32, seed=101)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    g0, d0 = _snap(G), _snap(D)
    with seeded(102):
        for it in range(5):
            real = torch.rand(B, *shape) * 2 - 1
            fake = _run(G, "Generator(...)(make_noise(B, z_dim))", ("generate a batch", "生成一个 batch"),
                        _noise(ex, B, z_dim))
            dl = _as_float(_run(ex.d_step, f"d_step in iteration {it + 1}", ("run with the fake that g_step reuses",
                                                                            "在 g_step 还要复用 fake 的情况下运行"),
                                D, real, fake, opt_d), "d_step")
            gl = _as_float(_run(ex.g_step, f"g_step in iteration {it + 1} (after d_step on the same fake)",
                                ("backpropagate through the generator's graph, which d_step must leave intact",
                                 "沿生成器的计算图反向传播，而 d_step 必须保留这张图"), D, fake, opt_g), "g_step")
            expect(math.isfinite(dl) and math.isfinite(gl), f"Iteration {it + 1}: losses d={dl}, g={gl} should be finite.",
                   f"第 {it + 1} 次迭代：损失 d={dl}、g={gl} 应为有限值。")
    for what, m, b in (("generator", G, g0), ("discriminator", D, d0)):
        expect(any(not torch.equal(p.detach(), q) for p, q in zip(m.parameters(), b)),
               f"After 5 iterations the {what}'s parameters have not changed.", f"5 次迭代后{'生成器' if what == 'generator' else '判别器'}的参数没有变化。",
               likely=("the step never calls its optimizer's step(), or the gradient never reaches the parameters.",
                       "该步骤没有调用优化器的 step()，或梯度没有传到参数。"))


TARGET_MEAN = torch.tensor([0.5, -0.4])
TARGET_STD = torch.tensor([0.35, 0.25])


def _toy_run(ex, seed, steps=400, B=64, z_dim=4):
    """Train on N(TARGET_MEAN, diag TARGET_STD^2); the generator's mean and std over the last third of the steps."""
    with seeded(seed):
        G = _generator(ex, z_dim, (2,), 32, seed)
        D = _discriminator(ex, (2,), 32, seed + 1000)
        opt_g = torch.optim.Adam(G.parameters(), lr=5e-3, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=5e-3, betas=(0.5, 0.999))
        ms, ss = [], []
        for i in range(steps):
            real = TARGET_MEAN + TARGET_STD * torch.randn(B, 2)
            fake = G(torch.randn(B, z_dim))
            if i >= steps * 2 // 3:
                f = fake.detach().reshape(B, 2)
                ms.append(f.mean(0))
                ss.append(f.std(0))
            _run(ex.d_step, "d_step", ("train the discriminator", "训练判别器"), D, real, fake, opt_d)
            _run(ex.g_step, "g_step", ("train the generator", "训练生成器"), D, fake, opt_g)
    return torch.stack(ms).mean(0), torch.stack(ss).mean(0)


def _toy_ok(m, s):
    return (m - TARGET_MEAN).abs().max().item() < 0.15 and 0.4 < (s.norm() / TARGET_STD.norm()).item() < 2.5


@check(points=3, category="training", timeout=120)
def test_learns_toy_distribution(ex):
    """On a 2-D Gaussian, 400 iterations bring the generated mean within 0.15 of the target's and the spread near it.
    zh: 在一个二维高斯分布上，400 次迭代后生成样本的均值与目标相差不超过 0.15，离散程度也接近目标。
    """
    runs = [_toy_run(ex, 0)]
    if not _toy_ok(*runs[0]):
        runs += [_toy_run(ex, s) for s in (1, 2)]
        if sum(_toy_ok(*r) for r in runs[1:]) >= 2:
            return
    else:
        return
    m, s = runs[0]
    fail(f"After 400 iterations the generated samples should have mean ~{TARGET_MEAN.tolist()} (within 0.15) and "
         f"std ~{TARGET_STD.tolist()} (overall spread within 0.4x-2.5x); saw mean {[round(v, 3) for v in m.tolist()]}, "
         f"std {[round(v, 3) for v in s.tolist()]}.",
         f"400 次迭代后，生成样本的均值应接近 {TARGET_MEAN.tolist()}（误差不超过 0.15），标准差接近 "
         f"{TARGET_STD.tolist()}（总体离散程度在 0.4 到 2.5 倍之间）；实际均值 {[round(v, 3) for v in m.tolist()]}、"
         f"标准差 {[round(v, 3) for v in s.tolist()]}。",
         likely=("one of the steps does not train its network (no optimizer step, a detached fake in g_step, the "
                 "discriminator frozen), the labels swapped, or the generator's output squashed or rescaled.",
                 "某个步骤没有训练它的网络（没有优化器 step、g_step 中 fake 被 detach、判别器被冻结），标签反了，"
                 "或生成器的输出被压缩或缩放了。"))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator, make_noise(device=...), G, D, d_step and g_step run there and the parameters stay there.
    zh: 在加速设备上，make_noise(device=...)、G、D、d_step 和 g_step 都在该设备上运行，参数也留在该设备上。
    """
    shape, z_dim, B = (3, 4, 4), 5, 4
    G = _generator(ex, z_dim, shape, 16, seed=110)
    D = _discriminator(ex, shape, 16, seed=111)
    with seeded(112):
        real = torch.rand(B, *shape) * 2 - 1
    with device_mismatch_explained(DEVICE):
        with accelerator() as dev:
            G.to(dev)
            D.to(dev)
            opt_g = torch.optim.Adam(G.parameters(), lr=1e-3)
            opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
            z = _noise(ex, B, z_dim, dev)
            assert_on_device(z, dev, "make_noise(n, z_dim, device=dev)",
                             likely=("torch.randn(n, z_dim) without device=device.", "torch.randn(n, z_dim) 没有传 device=device。"))
            fake = _run(G, "Generator(...) on the accelerator", ("run on the noise's device", "在噪声所在的设备上运行"), z)
            assert_on_device(fake, dev, "generator output")
            dl = _as_float(_run(ex.d_step, "d_step on the accelerator", ("run on the data's device", "在数据所在的设备上运行"),
                                D, real.to(dev), fake, opt_d), "d_step")
            gl = _as_float(_run(ex.g_step, "g_step on the accelerator", ("run on the data's device", "在数据所在的设备上运行"),
                                D, fake, opt_g), "g_step")
            for what, m in (("generator", G), ("discriminator", D)):
                for n, p in m.named_parameters():
                    assert_on_device(p, dev, f"{what} parameter {n} after the steps")
            state = to_cpu([p for p in D.parameters()])
    expect(math.isfinite(dl) and math.isfinite(gl) and all(torch.isfinite(p).all() for p in state),
           f"On the accelerator the losses (d={dl}, g={gl}) and the parameters should stay finite.",
           f"在加速设备上，损失（d={dl}、g={gl}）和参数都应保持有限。")
