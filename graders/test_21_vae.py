"""Grader for exercise 21 — a variational autoencoder.

References are torch's own: torch.distributions.kl_divergence for the KL, F.binary_cross_entropy(_with_logits)
for the likelihood. Whether the learner's decoder returns logits or probabilities is read off vae_loss (the
grader tries both readings), then held against what decode returns.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence as torch_kl

from ptquiz.gradelib import (accelerator, assert_all_params_get_grad, assert_close, assert_learns_over_seeds,
                             assert_on_device, assert_shape, assert_tensor, check, device_mismatch_explained, expect,
                             fail, run_learner, seeded, to_cpu)

NO_SIGMOID = ("decode returns raw scores (logits) but vae_loss applies BCE on probabilities (nn.BCELoss / "
              "F.binary_cross_entropy): the seed's missing sigmoid. End decode with torch.sigmoid, or keep the logits "
              "and use F.binary_cross_entropy_with_logits.",
              "decode 返回的是原始分数（logits），而 vae_loss 用的是针对概率的 BCE（nn.BCELoss / "
              "F.binary_cross_entropy）：这就是原题漏掉的 sigmoid。要么在 decode 末尾加 torch.sigmoid，"
              "要么保留 logits 并使用 F.binary_cross_entropy_with_logits。")

DEVICE = ("eps (or the prior's z) created without device=...: use torch.randn_like(std), or device=mu.device / the "
          "parameters' device.",
          "eps（或先验的 z）创建时没有指定 device=...：应使用 torch.randn_like(std)，或 device=mu.device / 参数所在的设备。")
# run_learner's likely mistakes, by a piece of the error text (first match wins)
KNOWN = [
    ("between 0 and 1", NO_SIGMOID),
    ("mat1 and mat2",
     ("a layer's input width is off: the decoder's first Linear takes z, of width latent_dim (the seed sizes it "
      "hidden_dim), and the encoder's takes in_dim.",
      "某层的输入宽度不对：解码器的第一个 Linear 接收宽度为 latent_dim 的 z（原题写成了 hidden_dim），编码器的第一层接收 in_dim。")),
    ("object is not callable",
     ("a loss module replaced by its result (the seed's `kl_loss = kl_loss(...)`): the second call then finds a "
      "tensor instead of the module. Give the result another name.",
      "损失模块被它的计算结果覆盖了（原题的 `kl_loss = kl_loss(...)`）：第二次调用时拿到的是张量而不是模块。请给结果换个名字。")),
    ("device", DEVICE),
]


# ---------------------------------------------------------------------------
# private helpers

def _run(fn, what, need, *args):
    """fn(*args) through run_learner: a crash fails the check saying what it needed and the likely mistake (KNOWN)."""
    return run_learner(what, need, fn, *args, known=KNOWN)


def _make(ex, in_dim, latent, hidden, seed=0):
    with seeded(seed):
        m = _run(ex.VAE, f"VAE({in_dim}, {latent}, hidden={hidden})", ("build the model", "构建模型"),
                 in_dim, latent, hidden)
    expect(isinstance(m, nn.Module), f"VAE(...) should be an nn.Module, got {type(m).__name__}.",
           f"VAE(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    return m


def _pair(res, what):
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        fail(f"{what} should return a pair (mu, logvar); got {type(res).__name__}"
             + (f" of shape {tuple(res.shape)}" if isinstance(res, torch.Tensor) else "") + ".",
             f"{what} 应返回 (mu, logvar) 二元组；实际为 {type(res).__name__}。",
             likely=("one tensor returned (the seed's encoder outputs 2 numbers with no split into a mean and a "
                     "log-variance): use two heads, or Linear(hidden, 2 * latent_dim) and .chunk(2, dim=-1).",
                     "只返回了一个张量（原题的编码器输出 2 个数，没有拆成均值和对数方差）：用两个输出头，"
                     "或 Linear(hidden, 2 * latent_dim) 再 .chunk(2, dim=-1)。"))
    return res


def _triple(res, what):
    if not (isinstance(res, (tuple, list)) and len(res) == 3):
        fail(f"{what} should return (recon, mu, logvar); got {type(res).__name__}"
             + (f" of length {len(res)}" if isinstance(res, (tuple, list)) else "") + ".",
             f"{what} 应返回 (recon, mu, logvar)；实际为 {type(res).__name__}。",
             likely=("only the reconstruction returned: the loss needs mu and logvar for the KL term.",
                     "只返回了重建结果：损失的 KL 项需要 mu 和 logvar。"))
    return res


def _ref_kl(mu, logvar):
    return torch_kl(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def _bce(recon, x, conv):
    if conv == "logits":
        return F.binary_cross_entropy_with_logits(recon, x, reduction="none")
    return F.binary_cross_entropy(recon, x, reduction="none")


def _loss_inputs(B, D, L, seed):
    with seeded(seed):
        r = torch.rand(B, D) * 0.9 + 0.05
        x = (torch.rand(B, D) > 0.5).float()
        x[0, 0] = 0.3  # grey values are allowed too
        mu, logvar = torch.randn(B, L), torch.randn(B, L) * 0.7
    return r, x, mu, logvar


def _rel_close(a, b, tol=1e-4):
    return math.isfinite(a) and abs(a - b) <= tol * max(1.0, abs(b))


def _convention(ex):
    """'logits' or 'probs': how vae_loss reads recon (None when neither reading matches)."""
    r, x, mu, logvar = _loss_inputs(4, 6, 3, 200)
    v = _run(ex.vae_loss, "vae_loss(recon, x, mu, logvar)", ("return the negative ELBO", "返回负的 ELBO"),
             r, x, mu, logvar)
    v = _scalar(v)
    kl = _ref_kl(mu, logvar)
    if v is None:
        return None
    for conv in ("probs", "logits"):  # the right value first, then the known reduction mistakes
        if _rel_close(v, (_bce(r, x, conv).sum(1) + kl).mean().item()):
            return conv
    for conv in ("probs", "logits"):
        if any(_rel_close(v, val.item()) for val, _ in _loss_cands(r, x, mu, logvar, conv)):
            return conv
    return None


def _scalar(v):
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return float(v.detach().reshape(()))
    return None


def _loss_cands(r, x, mu, logvar, conv):
    """(value, likely mistake) for the usual wrong reductions and terms, reading recon as `conv`."""
    kl = _ref_kl(mu, logvar)
    B = x.shape[0]
    bce = _bce(r, x, conv)
    return [
        ((bce.sum(1) + kl).sum(),
         ("everything summed, over the batch too (pytorch/examples' reduction='sum'): this exercise asks for the "
          "mean over the batch (divide by the batch size), so the loss does not grow with B.",
          "全部求和，连 batch 也加了（pytorch/examples 的 reduction='sum'）：本题要求在 batch 上取平均"
          "（除以 batch 大小），这样损失不会随 B 增大。")),
        (bce.mean() + kl.mean(),
         ("the BCE averaged over the pixels (nn.BCELoss()'s default mean): sum it over the in_dim pixels of each "
          "sample, otherwise the KL term outweighs the reconstruction by a factor in_dim.",
          "BCE 在像素上取了平均（nn.BCELoss() 默认的 mean）：应对每个样本的 in_dim 个像素求和，"
          "否则 KL 项的权重会被放大 in_dim 倍。")),
        (bce.mean() + kl.sum(),
         ("the BCE averaged over every pixel and the KL summed over the batch: both terms should be per-sample "
          "sums (over pixels, over latent dims) averaged over the batch.",
          "BCE 在所有像素上取了平均，KL 却在 batch 上求和：两项都应先对每个样本求和（像素、潜变量维度），"
          "再在 batch 上取平均。")),
        (bce.sum(1).mean(),
         ("the KL term is missing (or always 0, like the seed's KLDivLoss(log_softmax(z), softmax(z))).",
          "缺少 KL 项（或它恒为 0，就像原题的 KLDivLoss(log_softmax(z), softmax(z))）。")),
        ((bce.sum(1) - kl).mean(),
         ("the KL term subtracted: the negative ELBO is reconstruction + KL.",
          "减去了 KL 项：负 ELBO 是重建项 + KL。")),
        (bce.sum(1).mean() + kl.sum(),
         ("the KL summed over the batch while the reconstruction is averaged: average both over the batch.",
          "KL 在 batch 上求和而重建项取了平均：两项都应在 batch 上取平均。")),
        ((bce.sum(1) + kl).mean() * B / x.numel(),
         ("the whole loss divided by the number of elements: divide by the batch size only.",
          "整个损失除以了元素个数：只应除以 batch 大小。")),
    ]


def _loss_diagnose(v, r, x, mu, logvar):
    """The likely reduction / term mistake behind a wrong vae_loss value."""
    for conv in ("probs", "logits"):
        for val, likely in _loss_cands(r, x, mu, logvar, conv):
            if _rel_close(v, val.item()):
                return likely
    return ("the loss is mean over the batch of (BCE summed over the pixels + KL(N(mu, exp(logvar)) || N(0, I))).",
            "损失应为：在 batch 上对（像素上求和的 BCE + KL(N(mu, exp(logvar)) || N(0, I))）取平均。")


def _data(seed, B=32, D=16):
    """Binary patterns: 4 prototypes with 10 % of the bits flipped."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, D, generator=g) > 0.5).float()
    x = protos[torch.randint(0, 4, (B,), generator=g)]
    flip = torch.rand(B, D, generator=g) < 0.1
    return torch.where(flip, 1 - x, x)


# ---------------------------------------------------------------------------
# checks

@check(points=2, category="shape")
def test_shapes(ex):
    """encode gives (mu, logvar) each (B, latent_dim); decode gives (B, in_dim); forward gives all three.
    zh: encode 给出各为 (B, latent_dim) 的 (mu, logvar)；decode 给出 (B, in_dim)；forward 返回这三者。
    """
    for i, (D, L, H, B) in enumerate([(12, 2, 16, 3), (20, 5, 8, 1), (7, 3, 24, 4)]):
        m = _make(ex, D, L, H, seed=i)
        m.train()
        with seeded(10 + i):
            x = torch.rand(B, D)
        mu, logvar = _pair(_run(m.encode, f"VAE({D}, {L}).encode(x)", ("return (mu, logvar)", "返回 (mu, logvar)"), x),
                           f"VAE({D}, {L}).encode(x)")
        assert_shape(mu, (B, L), f"VAE({D}, {L}): mu")
        assert_shape(logvar, (B, L), f"VAE({D}, {L}): logvar")
        with seeded(20 + i):
            z = torch.randn(B, L)
        out = _run(m.decode, f"VAE({D}, {L}).decode(z) with z of shape ({B}, {L})",
                   ("map z (B, latent_dim) to (B, in_dim)", "把 z (B, latent_dim) 映射为 (B, in_dim)"), z)
        assert_shape(out, (B, D), f"VAE({D}, {L}).decode(z)")
        recon, mu2, lv2 = _triple(_run(m, f"VAE({D}, {L})(x)", ("return (recon, mu, logvar)", "返回 (recon, mu, logvar)"),
                                       x), f"VAE({D}, {L})(x)")
        assert_shape(recon, (B, D), f"VAE({D}, {L})(x): recon")
        assert_shape(mu2, (B, L), f"VAE({D}, {L})(x): mu")
        assert_shape(lv2, (B, L), f"VAE({D}, {L})(x): logvar")


@check(points=3, category="correctness")
def test_kl_matches_torch_distributions(ex):
    """kl_divergence(mu, logvar) is (B,) and equals torch.distributions.kl_divergence(q, N(0, I)) summed over dims.
    zh: kl_divergence(mu, logvar) 形状为 (B,)，等于 torch.distributions.kl_divergence(q, N(0, I)) 在各维上的和。
    """
    for i, (B, L) in enumerate([(5, 3), (2, 8), (1, 1)]):
        with seeded(30 + i):
            mu, logvar = torch.randn(B, L) * 1.5, torch.randn(B, L)
        got = _run(ex.kl_divergence, f"kl_divergence(mu, logvar) for ({B}, {L})",
                   ("return the per-sample KL (B,)", "返回逐样本的 KL (B,)"), mu, logvar)
        want = _ref_kl(mu, logvar)
        assert_tensor(got, "kl_divergence")
        if tuple(got.shape) != (B,):
            likely = ("the KL reduced over the batch too (torch.sum without dim=, or .mean()): keep one value per "
                      "sample, summed over dim=-1; vae_loss takes the mean over the batch.",
                      "KL 连 batch 维也归约了（torch.sum 没有指定 dim=，或用了 .mean()）：每个样本保留一个值，"
                      "在 dim=-1 上求和；在 batch 上取平均交给 vae_loss。")
            if tuple(got.shape) == (B, L):
                likely = ("the KL per latent dimension returned: sum it over dim=-1.", "返回的是每个潜变量维度的 KL：应在 dim=-1 上求和。")
            fail(f"kl_divergence for mu of shape ({B}, {L}) should be ({B},), one value per sample; got {tuple(got.shape)}.",
                 f"mu 形状为 ({B}, {L}) 时 kl_divergence 应为 ({B},)，每个样本一个值；实际为 {tuple(got.shape)}。",
                 likely=likely)
        likely = ("the closed form is -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) over the latent dimensions (logvar is "
                  "the log of the variance).", "闭式解是在潜变量维度上求和的 -0.5 * sum(1 + logvar - mu^2 - exp(logvar))"
                  "（logvar 是方差的对数）。")
        g = got.detach().double()
        if g.abs().max().item() < 1e-6:
            likely = ("the KL is identically 0: the seed's KLDivLoss(log_softmax(z), softmax(z)) compares a distribution "
                      "with itself. Use the closed form against N(0, I).",
                      "KL 恒为 0：原题的 KLDivLoss(log_softmax(z), softmax(z)) 是拿一个分布和它自己比较。"
                      "应使用相对 N(0, I) 的闭式解。")
        elif torch.allclose(g, 2 * want.double(), rtol=1e-4, atol=1e-6):
            likely = ("the factor 0.5 missing.", "漏掉了系数 0.5。")
        elif torch.allclose(g, _ref_kl(mu, 2 * logvar).double(), rtol=1e-4, atol=1e-6):
            likely = ("logvar used as the log of the standard deviation (exp(2 * logvar) as the variance); it is the log "
                      "of the variance.", "把 logvar 当成了标准差的对数（把 exp(2 * logvar) 当方差）；它是方差的对数。")
        elif L > 1 and torch.allclose(g, want.double() / L, rtol=1e-4, atol=1e-6):
            likely = ("the KL averaged over the latent dimensions: sum them.", "KL 在潜变量维度上取了平均：应求和。")
        elif torch.allclose(g, -want.double(), rtol=1e-4, atol=1e-6):
            likely = ("the sign flipped: KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) is >= 0.",
                      "符号反了：KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) 应 >= 0。")
        assert_close(got, want, f"kl_divergence for ({B}, {L}) vs torch.distributions.kl_divergence", atol=1e-5,
                     likely=likely)


@check(points=2, category="correctness")
def test_kl_zero_only_at_prior(ex):
    """The KL is exactly 0 at mu = 0, logvar = 0 and positive wherever q differs from N(0, I).
    zh: 在 mu = 0、logvar = 0 处 KL 恰好为 0，只要 q 与 N(0, I) 不同，KL 就为正。
    """
    zero = _run(ex.kl_divergence, "kl_divergence(0, 0)", ("return 0 at the prior", "在先验处返回 0"),
                torch.zeros(3, 4), torch.zeros(3, 4))
    assert_tensor(zero, "kl_divergence(0, 0)")
    expect(zero.numel() > 0 and zero.abs().max().item() < 1e-6,
           f"kl_divergence(mu=0, logvar=0) should be exactly 0 (q is the prior); got {zero.detach().flatten()[:4].tolist()}.",
           f"kl_divergence(mu=0, logvar=0) 应恰好为 0（q 就是先验）；实际为 {zero.detach().flatten()[:4].tolist()}。",
           likely=("a term of the closed form wrong: at mu = 0, logvar = 0, 1 + logvar - mu^2 - exp(logvar) = 0.",
                   "闭式解的某一项不对：在 mu = 0、logvar = 0 时，1 + logvar - mu^2 - exp(logvar) = 0。"))
    with seeded(40):
        cases = [("mu != 0, logvar = 0", torch.randn(4, 3) + 0.5, torch.zeros(4, 3)),
                 ("mu = 0, logvar != 0", torch.zeros(4, 3), torch.tensor([[0.5], [-0.5], [2.0], [-3.0]]).expand(4, 3)),
                 ("random mu, logvar", torch.randn(4, 3), torch.randn(4, 3))]
    for what, mu, logvar in cases:
        kl = _run(ex.kl_divergence, f"kl_divergence ({what})", ("return the per-sample KL", "返回逐样本的 KL"), mu,
                  logvar.contiguous())
        assert_tensor(kl, "kl_divergence")
        expect(bool((kl.detach() > 1e-4).all()),
               f"kl_divergence ({what}) should be > 0 for every sample; got {[round(v, 4) for v in kl.detach().flatten().tolist()]}.",
               f"kl_divergence（{what}）对每个样本都应 > 0；实际为 {[round(v, 4) for v in kl.detach().flatten().tolist()]}。",
               likely=("the KL ignores " + ("the mean (the mu^2 term)" if "logvar = 0" in what else "the variance (the "
                       "logvar - exp(logvar) terms)" if "mu = 0" in what else "part of q") + ", has the wrong sign, or is "
                       "the seed's KLDivLoss between z and itself (always 0).",
                       "KL 忽略了" + ("均值（mu^2 项）" if "logvar = 0" in what else "方差（logvar - exp(logvar) 项）"
                       if "mu = 0" in what else "q 的一部分") + "、符号反了，或是原题中 z 与自身之间的 KLDivLoss（恒为 0）。"))


@check(points=2, category="gradient")
def test_gradient_reaches_mu_and_logvar(ex):
    """In training mode, z = reparameterize(mu, logvar) passes gradients to both: dz/dmu = 1, dz/dlogvar = (z - mu) / 2.
    zh: 训练模式下 z = reparameterize(mu, logvar) 把梯度传给两者：dz/dmu = 1，dz/dlogvar = (z - mu) / 2。
    """
    m = _make(ex, 6, 3, 8, seed=50).train()
    with seeded(51):
        mu = torch.randn(4, 3).requires_grad_()
        logvar = (torch.randn(4, 3) * 0.5).requires_grad_()
        R = torch.randn(4, 3)
        z = _run(m.reparameterize, "reparameterize(mu, logvar) in training mode",
                 ("return mu + eps * exp(logvar / 2)", "返回 mu + eps * exp(logvar / 2)"), mu, logvar)
    assert_shape(z, (4, 3), "reparameterize(mu, logvar)")
    expect(z.requires_grad, "z = reparameterize(mu, logvar) carries no gradient at all (z.requires_grad is False).",
           "z = reparameterize(mu, logvar) 完全不带梯度（z.requires_grad 为 False）。",
           likely=("z sampled with torch.normal(mu, std) / Normal(mu, std).sample() (not differentiable), or under "
                   "torch.no_grad(): write z = mu + eps * std (or use .rsample()).",
                   "z 是用 torch.normal(mu, std) / Normal(mu, std).sample() 采样的（不可微），或在 torch.no_grad() 下计算："
                   "应写成 z = mu + eps * std（或使用 .rsample()）。"))
    (z * R).sum().backward()
    NO_REPARAM = ("no reparameterisation: z does not depend on logvar (the seed passes the encoder's output straight "
                  "to the decoder), or the noise is sampled in a way that cuts the graph. z = mu + eps * exp(logvar / 2).",
                  "没有重参数化：z 不依赖 logvar（原题把编码器输出直接送进解码器），或采样方式切断了计算图。"
                  "应为 z = mu + eps * exp(logvar / 2)。")
    expect(mu.grad is not None, "No gradient reached mu through z.", "梯度没有经过 z 传到 mu。",
           likely=("mu detached, or z sampled without the graph.", "mu 被 detach，或 z 的采样不在计算图中。"))
    assert_close(mu.grad, R, "gradient of sum(R * z) w.r.t. mu (should be R: dz/dmu = 1)",
                 likely=("z is not mu + (something independent of mu).", "z 不是 mu + （与 mu 无关的量）。"))
    expect(logvar.grad is not None and logvar.grad.abs().sum() > 0, "No gradient reached logvar through z.",
           "梯度没有经过 z 传到 logvar。", likely=NO_REPARAM)
    want = R * (z.detach() - mu.detach()) / 2
    if not torch.allclose(logvar.grad, want, atol=1e-5, rtol=1e-4):
        likely = ("z should be mu + eps * exp(logvar / 2): then dz/dlogvar = eps * exp(logvar / 2) / 2 = (z - mu) / 2.",
                  "z 应为 mu + eps * exp(logvar / 2)：此时 dz/dlogvar = eps * exp(logvar / 2) / 2 = (z - mu) / 2。")
        if torch.allclose(logvar.grad, 2 * want, atol=1e-5, rtol=1e-4):
            likely = ("exp(logvar) used as the standard deviation: that is the variance; std = exp(logvar / 2).",
                      "把 exp(logvar) 当成了标准差：那是方差；标准差是 exp(logvar / 2)。")
        assert_close(logvar.grad, want, "gradient of sum(R * z) w.r.t. logvar (R * (z - mu) / 2)", likely=likely)


@check(points=3, category="correctness")
def test_z_distribution(ex):
    """Over 20000 draws, z has mean mu and std exp(logvar / 2); every row and every call gets fresh noise.
    zh: 在 20000 次采样中，z 的均值为 mu、标准差为 exp(logvar / 2)；每一行、每一次调用都使用新的噪声。
    """
    m = _make(ex, 5, 3, 8, seed=60).train()
    N = 20000
    mu0 = torch.tensor([0.5, -1.0, 2.0])
    lv0 = torch.tensor([1.0, -1.5, 0.6])
    mu, logvar = mu0.expand(N, 3).contiguous(), lv0.expand(N, 3).contiguous()
    with seeded(61), torch.no_grad():
        z = _run(m.reparameterize, f"reparameterize on ({N}, 3)", ("sample z", "采样 z"), mu, logvar)
        z2 = _run(m.reparameterize, f"reparameterize on ({N}, 3), second call", ("sample z", "采样 z"), mu, logvar)
    assert_shape(z, (N, 3), "reparameterize(mu, logvar)")
    want_std = torch.exp(lv0 / 2)
    mean, std = z.float().mean(0), z.float().std(0)
    show = (f"mean {[round(v, 3) for v in mean.tolist()]} (want {mu0.tolist()}), std {[round(v, 3) for v in std.tolist()]} "
            f"(want {[round(v, 3) for v in want_std.tolist()]})")
    if bool((std < 1e-6).all()):
        likely = ("no noise at all in training mode: z = mu (no reparameterisation, or the training flag read the wrong "
                  "way round), or the same eps for every row (eps of shape (latent_dim,) drawn once in __init__).",
                  "训练模式下完全没有噪声：z = mu（没有重参数化，或训练标志判断反了），或每一行都用同一个 eps"
                  "（在 __init__ 中只采样一次、形状为 (latent_dim,) 的 eps）。")
        fail(f"In training mode the {N} rows of z (all with the same mu, logvar) are identical: {show}.",
             f"训练模式下 z 的 {N} 行（mu、logvar 都相同）完全一样：{show}。", likely=likely)
    if not torch.allclose(std, want_std, rtol=0.05):
        likely = ("z should be mu + eps * exp(logvar / 2) with eps ~ N(0, I).", "z 应为 mu + eps * exp(logvar / 2)，eps ~ N(0, I)。")
        if torch.allclose(std, torch.exp(lv0), rtol=0.05):
            likely = ("exp(logvar) used as the standard deviation: that is the variance. std = exp(logvar / 2) "
                      "= exp(0.5 * logvar).", "把 exp(logvar) 当成了标准差：那是方差。标准差 = exp(logvar / 2) = exp(0.5 * logvar)。")
        elif torch.allclose(std, want_std / math.sqrt(12), rtol=0.05):
            likely = ("eps drawn with torch.rand (uniform on [0, 1)) instead of torch.randn.", "eps 用 torch.rand（[0, 1) 上的均匀分布）而不是 torch.randn 采样。")
        elif torch.allclose(std, lv0.abs(), rtol=0.05):
            likely = ("logvar used as the standard deviation itself.", "直接把 logvar 当成了标准差。")
        fail(f"z = reparameterize(mu, logvar) over {N} draws: {show}.", f"z = reparameterize(mu, logvar) 的 {N} 次采样：{show}。",
             likely=likely)
    if not torch.allclose(mean, mu0, atol=0.05 * want_std.max().item()):
        likely = ("eps should have mean 0 (torch.randn_like), and z = mu + eps * std.", "eps 的均值应为 0（torch.randn_like），且 z = mu + eps * std。")
        if torch.allclose(mean, mu0 + 0.5 * want_std * math.sqrt(12), atol=0.1):
            likely = ("eps drawn with torch.rand (uniform on [0, 1)) instead of torch.randn.", "eps 用 torch.rand（[0, 1) 上的均匀分布）而不是 torch.randn 采样。")
        fail(f"z = reparameterize(mu, logvar) over {N} draws: {show}.", f"z = reparameterize(mu, logvar) 的 {N} 次采样：{show}。",
             likely=likely)
    expect(not torch.equal(z, z2), "Two calls of reparameterize with the same mu, logvar gave the same z: the noise is reused.",
           "用相同的 mu、logvar 调用两次 reparameterize 得到了相同的 z：噪声被重复使用了。",
           likely=("eps drawn once (in __init__, or cached) and reused: draw a fresh torch.randn_like(std) at every call.",
                   "eps 只采样了一次（在 __init__ 中或被缓存）并重复使用：每次调用都应重新 torch.randn_like(std)。"))


@check(points=2, category="correctness")
def test_eval_mode_uses_mean(ex):
    """In eval mode reparameterize returns mu and forward is deterministic (recon = decode(mu)); in training mode it is not.
    zh: eval 模式下 reparameterize 返回 mu，forward 是确定性的（recon = decode(mu)）；训练模式下则不是。
    """
    m = _make(ex, 9, 2, 12, seed=70)
    with seeded(71):
        x = torch.rand(5, 9)
        mu, logvar = torch.randn(5, 2), torch.randn(5, 2)
    m.eval()
    with torch.no_grad():
        z = _run(m.reparameterize, "reparameterize in eval mode", ("return mu", "返回 mu"), mu, logvar)
        EVAL = ("reparameterize samples in eval mode too: check self.training and return mu when it is False.",
                "eval 模式下 reparameterize 仍在采样：应检查 self.training，为 False 时返回 mu。")
        assert_close(z, mu, "reparameterize(mu, logvar) after model.eval()", atol=0, rtol=0, likely=EVAL)
        r1, mu1, _ = _triple(_run(m, "VAE(...)(x) in eval mode", ("reconstruct x", "重建 x"), x), "VAE(...)(x)")
        r2, _, _ = _triple(m(x), "VAE(...)(x)")
        assert_close(r2, r1, "two eval-mode forward passes on the same x", atol=0, rtol=0, likely=EVAL)
        assert_close(r1, m.decode(mu1), "eval-mode recon vs decode(mu)", atol=1e-6, likely=EVAL)
    m.train()
    with torch.no_grad():
        t1, _, _ = _triple(m(x), "VAE(...)(x)")
        t2, _, _ = _triple(m(x), "VAE(...)(x)")
    expect(not torch.equal(t1, t2), "In training mode two forward passes on the same x gave the same reconstruction: "
           "z should be sampled.", "训练模式下对同一个 x 前向两次得到了相同的重建：z 应该是采样得到的。",
           likely=("forward decodes mu instead of reparameterize(mu, logvar) (the seed decodes the encoder's output "
                   "directly), or the training flag read the wrong way round.",
                   "forward 解码的是 mu 而不是 reparameterize(mu, logvar)（原题直接解码编码器的输出），或训练标志判断反了。"))


@check(points=2, category="shape")
def test_sample(ex):
    """sample(n) returns (n, in_dim) probabilities in [0, 1], different across samples, with no autograd graph.
    zh: sample(n) 返回 (n, in_dim)、取值在 [0, 1] 的概率，各样本互不相同，且不构建计算图。
    """
    for i, (D, L, n) in enumerate([(10, 2, 6), (4, 3, 50)]):
        m = _make(ex, D, L, 16, seed=80 + i)
        with seeded(82 + i):
            s = _run(m.sample, f"VAE({D}, {L}).sample({n})", ("decode n draws from N(0, I)", "解码 n 个来自 N(0, I) 的样本"), n)
        assert_shape(s, (n, D), f"VAE({D}, {L}).sample({n})",
                     likely=("z drawn with the wrong width (it is latent_dim), or the decoder output reshaped.",
                             "z 的宽度不对（应为 latent_dim），或解码器输出被改变了形状。"))
        lo, hi = s.min().item(), s.max().item()
        expect(0 <= lo and hi <= 1, f"sample({n}) should return probabilities in [0, 1]; got values in [{lo:.3g}, {hi:.3g}].",
               f"sample({n}) 应返回 [0, 1] 内的概率；实际取值范围为 [{lo:.3g}, {hi:.3g}]。",
               likely=("decode returns logits and sample does not apply torch.sigmoid to them.",
                       "decode 返回 logits，而 sample 没有对它们应用 torch.sigmoid。"))
        expect(not torch.allclose(s, s[:1].expand_as(s)), f"All {n} samples are identical: z should be drawn per sample.",
               f"{n} 个样本完全相同：z 应对每个样本分别采样。",
               likely=("one z of shape (latent_dim,) or zeros decoded for every sample.", "对所有样本解码的是同一个形状为 (latent_dim,) 的 z 或全零。"))
        expect(not s.requires_grad, f"sample({n}) built an autograd graph (its output requires grad).",
               f"sample({n}) 构建了计算图（输出需要梯度）。",
               likely=("sampling not wrapped in torch.no_grad() (decorate sample with @torch.no_grad()).",
                       "采样没有放在 torch.no_grad() 中（给 sample 加上 @torch.no_grad()）。"))


@check(points=1, category="correctness")
def test_sample_draws_from_the_prior(ex):
    """sample(n) decodes latent vectors drawn from the prior N(0, I): mean 0, spread 1, negative half the time.
    zh: sample(n) 解码的潜向量来自先验 N(0, I)：均值 0、标准差 1、一半为负。
    """
    D, L, n = 9, 3, 4000
    m = _make(ex, D, L, 16, seed=86)
    seen = []

    def grab(mod, args):
        if not seen and args and isinstance(args[0], torch.Tensor) and args[0].shape[-1] == L:
            seen.append(args[0].detach().float().reshape(-1, L).clone())
    # the decoder's first layer is the one Linear that takes latent_dim inputs (the encoder's take in_dim or hidden)
    hooks = [mod.register_forward_pre_hook(grab) for mod in m.modules()
             if isinstance(mod, nn.Linear) and mod.in_features == L]
    try:
        with seeded(87), torch.no_grad():
            _run(m.sample, f"VAE({D}, {L}).sample({n})", ("decode n draws from N(0, I)", "解码 n 个来自 N(0, I) 的样本"), n)
    finally:
        for h in hooks:
            h.remove()
    expect(bool(seen), f"VAE({D}, {L}).sample({n}) never ran the decoder's first Linear (latent_dim -> hidden) on z.",
           f"VAE({D}, {L}).sample({n}) 从未把 z 送入解码器的第一个 Linear（latent_dim -> hidden）。",
           likely=("sample decodes something other than z of shape (n, latent_dim).",
                   "sample 解码的不是形状为 (n, latent_dim) 的 z。"))
    z = seen[0]
    mean, std, neg = z.mean().item(), z.std().item(), (z < 0).float().mean().item()
    expect(abs(mean) < 0.1 and 0.85 < std < 1.15 and 0.4 < neg < 0.6,
           f"sample({n}) decoded z with mean {mean:.3g}, standard deviation {std:.3g} and {neg:.0%} negative entries; "
           f"draws from the prior N(0, I) have mean 0, standard deviation 1, and are negative half the time.",
           f"sample({n}) 解码的 z 均值为 {mean:.3g}、标准差为 {std:.3g}、负值占 {neg:.0%}；来自先验 N(0, I) 的样本均值为 0、"
           f"标准差为 1，且一半为负。",
           likely=("z drawn with torch.rand (uniform on [0, 1)) instead of torch.randn (standard normal), or scaled/shifted."
                   if neg < 0.05 else "z scaled or shifted: the prior is the standard normal, torch.randn(n, latent_dim).",
                   "用 torch.rand（[0, 1) 上的均匀分布）代替了 torch.randn（标准正态）采样 z，或对其做了缩放/平移。"
                   if neg < 0.05 else "z 被缩放或平移了：先验是标准正态，torch.randn(n, latent_dim)。"))


@check(points=3, category="correctness")
def test_vae_loss_value(ex):
    """vae_loss = mean over the batch of (BCE summed over the pixels + KL), for logits or probabilities as decode returns.
    zh: vae_loss = 在 batch 上对（像素上求和的 BCE + KL）取平均，按 decode 的输出解读为 logits 或概率。
    """
    conv = _convention(ex)
    for i, (B, D, L) in enumerate([(3, 8, 2), (7, 5, 4)]):
        r, x, mu, logvar = _loss_inputs(B, D, L, 210 + i)
        v = _run(ex.vae_loss, f"vae_loss for B={B}, in_dim={D}", ("return the negative ELBO", "返回负的 ELBO"),
                 r, x, mu, logvar)
        assert_tensor(v, "vae_loss(...)")
        expect(v.numel() == 1, f"vae_loss should return a scalar; got shape {tuple(v.shape)}.",
               f"vae_loss 应返回标量；实际形状为 {tuple(v.shape)}。",
               likely=("the per-sample losses returned: take their mean over the batch.", "返回了逐样本的损失：应在 batch 上取平均。"))
        val = _scalar(v)
        kl = _ref_kl(mu, logvar)
        wants = {c: (_bce(r, x, c).sum(1) + kl).mean().item() for c in ("probs", "logits")}
        if conv is not None and _rel_close(val, wants[conv]):
            continue
        likely = _loss_diagnose(val, r, x, mu, logvar)
        shown = (f"{wants[conv]:.6g}" if conv else f"{wants['logits']:.6g} reading recon as logits, or "
                 f"{wants['probs']:.6g} reading it as probabilities")
        fail(f"B={B}, in_dim={D}, latent_dim={L}: vae_loss returned {val:.6g}; mean over the batch of "
             f"(BCE summed over the pixels + KL) is {shown}.",
             f"B={B}，in_dim={D}，latent_dim={L}：vae_loss 返回 {val:.6g}；在 batch 上对（像素上求和的 BCE + KL）"
             f"取平均应为 {shown}。", likely=likely)


@check(points=2, category="correctness")
def test_decoder_matches_likelihood(ex):
    """decode's output is what vae_loss expects: probabilities in [0, 1] for BCE, or logits (not squashed) for BCE-with-logits.
    zh: decode 的输出与 vae_loss 的要求一致：BCE 需要 [0, 1] 内的概率，BCE-with-logits 需要（未经压缩的）logits。
    """
    conv = _convention(ex)
    expect(conv is not None, "vae_loss matches neither reading of recon (logits with BCE-with-logits, probabilities with "
           "BCE), so the decoder cannot be matched to it; see the vae_loss value check.",
           "vae_loss 与 recon 的两种解读（logits 配 BCE-with-logits、概率配 BCE）都不符，因此无法判断解码器是否匹配；"
           "请参看 vae_loss 数值那项检查。")
    m = _make(ex, 12, 3, 16, seed=90)
    with seeded(91), torch.no_grad():
        out = _run(m.decode, "decode(z)", ("return logits or probabilities", "返回 logits 或概率"), torch.randn(64, 3) * 3)
    lo, hi = out.min().item(), out.max().item()
    if conv == "probs":
        expect(0 <= lo and hi <= 1, f"vae_loss reads recon as probabilities (BCE), but decode returns values in "
               f"[{lo:.3g}, {hi:.3g}].", f"vae_loss 把 recon 当作概率（BCE），但 decode 返回的值在 [{lo:.3g}, {hi:.3g}]。",
               likely=NO_SIGMOID)
    else:
        expect(not (0 <= lo and hi <= 1), f"vae_loss reads recon as logits (BCE-with-logits), but every decode output over "
               f"64 latent draws lies in [0, 1] ([{lo:.3g}, {hi:.3g}]): they look like probabilities.",
               f"vae_loss 把 recon 当作 logits（BCE-with-logits），但 64 个潜变量样本的 decode 输出全部在 [0, 1] 内"
               f"（[{lo:.3g}, {hi:.3g}]）：看起来是概率。",
               likely=("a sigmoid at the end of decode and BCE-with-logits in the loss: the sigmoid is applied twice. "
                       "Drop one of them.", "decode 末尾有 sigmoid，而损失又用了 BCE-with-logits：sigmoid 被用了两次。去掉其中一个。"))


@check(points=1, category="correctness")
def test_decoder_reads_negative_latents(ex):
    """decode tells apart latent vectors whose entries are all negative (z ~ N(0, I) is negative half the time).
    zh: decode 能区分各分量全为负的不同潜向量（z ~ N(0, I) 有一半的时间为负）。
    """
    m = _make(ex, 12, 3, 16, seed=92)
    with seeded(93), torch.no_grad():
        z = -(torch.rand(16, 3) + 0.5)
        out = _run(m.decode, "decode(z)", ("return logits or probabilities", "返回 logits 或概率"), z)
    assert_tensor(out, "decode(z)")
    spread = (out - out[:1]).abs().max().item()
    expect(spread > 1e-6, f"decode gave the same output for 16 different latent vectors z whose entries are all "
           f"negative (largest difference {spread:.3g}): the decoder throws negative z values away.",
           f"decode 对 16 个各分量全为负的不同潜向量 z 给出了相同的输出（最大差异 {spread:.3g}）：解码器丢掉了 z 的负值。",
           likely=("an activation applied to z before the decoder's first Linear, e.g. nn.Sequential(nn.ReLU(), "
                   "nn.Linear(latent_dim, hidden), ...): the activation belongs between the Linear layers.",
                   "在解码器第一个 Linear 之前就对 z 用了激活函数，例如 nn.Sequential(nn.ReLU(), "
                   "nn.Linear(latent_dim, hidden), ...)：激活函数应放在两个 Linear 之间。"))


@check(points=2, category="gradient")
def test_all_parameters_get_gradient(ex):
    """vae_loss(*model(x), ...) backpropagates into every parameter (both encoder heads and the decoder).
    zh: vae_loss(*model(x), ...) 的梯度能传到每个参数（编码器的两个输出头和解码器）。
    """
    m = _make(ex, 10, 2, 12, seed=100).train()
    x = _data(101, 6, 10)
    with seeded(102):
        recon, mu, logvar = _triple(_run(m, "VAE(...)(x)", ("reconstruct x", "重建 x"), x), "VAE(...)(x)")
        loss = _run(ex.vae_loss, "vae_loss(recon, x, mu, logvar)", ("return a differentiable loss", "返回可微的损失"),
                    recon, x, mu, logvar)
    assert_tensor(loss, "vae_loss")
    expect(loss.requires_grad, "The loss carries no gradient.", "损失不带梯度。",
           likely=("the loss computed from .item()/.detach() values, or under torch.no_grad().",
                   "损失由 .item()/.detach() 的值算出，或在 torch.no_grad() 下计算。"))
    loss.backward()
    assert_all_params_get_grad(m, "VAE",
                               likely=("a head that never reaches the loss: the log-variance only gets a gradient through "
                                       "z = mu + eps * exp(logvar / 2) and the KL term (the seed has neither).",
                                       "某个输出头没有连到损失：对数方差只能通过 z = mu + eps * exp(logvar / 2) 和 KL 项得到梯度"
                                       "（原题两者都没有）。"))


@check(points=2, category="training")
def test_loss_decreases(ex):
    """30 Adam steps on toy binary patterns lower the loss (model(x) -> vae_loss -> backward -> step, every iteration).
    zh: 在二值模式的小数据上用 Adam 训练 30 步，损失下降（每次迭代：model(x) -> vae_loss -> backward -> step）。
    """
    def run(seed):
        m = _make(ex, 16, 2, 32, seed=seed).train()
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        x = _data(seed + 1)
        losses = []
        with seeded(seed + 2):
            for it in range(30):
                opt.zero_grad()
                recon, mu, logvar = _triple(_run(m, f"VAE(...)(x) at iteration {it + 1}", ("reconstruct x", "重建 x"), x),
                                            "VAE(...)(x)")
                loss = _run(ex.vae_loss, f"vae_loss at iteration {it + 1}",
                            ("be callable again at every iteration", "在每次迭代中都能再次调用"), recon, x, mu, logvar)
                assert_tensor(loss, "vae_loss")
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses

    assert_learns_over_seeds(run, what="VAE training on binary patterns",
                             likely=("the loss does not depend on the parameters as it should (KL always 0, decoder "
                                     "output detached), or the reconstruction compares the wrong tensors.",
                                     "损失对参数的依赖不对（KL 恒为 0、解码器输出被 detach），或重建项比较的张量不对。"))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator, a training-mode forward (eps on the input's device), the loss, backward and sample(n) run there.
    zh: 在加速设备上，训练模式的前向（eps 在输入所在的设备上）、损失、反向传播和 sample(n) 都在该设备上运行。
    """
    m = _make(ex, 8, 3, 16, seed=110).train()
    x = _data(111, 4, 8)
    with device_mismatch_explained(DEVICE):
        with accelerator() as dev:
            m.to(dev)
            xd = x.to(dev)
            recon, mu, logvar = _triple(_run(m, "VAE(...)(x) on the accelerator", ("sample eps on x's device",
                                                                                   "在 x 所在的设备上采样 eps"), xd),
                                        "VAE(...)(x)")
            assert_on_device(recon, dev, "recon", likely=("eps created with torch.randn(mu.shape) without device=: use "
                                                          "torch.randn_like(std).",
                                                          "eps 用 torch.randn(mu.shape) 创建且没有指定 device=：应使用 torch.randn_like(std)。"))
            loss = _run(ex.vae_loss, "vae_loss on the accelerator", ("compute the loss on the data's device",
                                                                     "在数据所在的设备上计算损失"), recon, xd, mu, logvar)
            assert_on_device(loss, dev, "vae_loss")
            loss.backward()
            s = _run(m.sample, "sample(5) on the accelerator", ("draw z on the model's device", "在模型所在的设备上采样 z"), 5)
            assert_on_device(s, dev, "sample(5)", likely=("z created with torch.randn(n, latent_dim) without device=: use the "
                                                          "parameters' device (next(self.parameters()).device).",
                                                          "z 用 torch.randn(n, latent_dim) 创建且没有指定 device=：应使用参数所在的设备"
                                                          "（next(self.parameters()).device）。"))
            s = to_cpu(s)
    assert_shape(s, (5, 8), "sample(5) on the accelerator")
