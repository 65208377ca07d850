"""Grader for exercise 26 — sequence labelling with a BiLSTM-CRF.

The CRF is checked against brute-force enumeration of every tag path (itertools.product) on small
C and T; the BiLSTM against itself (batch independence, appended padding).
"""
import itertools
import math

import torch
from torch import nn

from ptquiz.gradelib import (accelerator, assert_all_params_get_grad, assert_close, assert_on_device, assert_shape,
                             assert_tensor, check, device_mismatch_explained, expect, fail, run_packed, seeded,
                             to_cpu)

PAD = 0

# ---------------------------------------------------------------------------
# private helpers


ENFORCE_SORTED = ("pack_padded_sequence with its default enforce_sorted=True: the lengths of a batch come in any order "
                  "here, so pass enforce_sorted=False (or sort the batch and unsort the result).",
                  "pack_padded_sequence 使用了默认的 enforce_sorted=True：这里一个 batch 的长度顺序任意，"
                  "应传 enforce_sorted=False（或先排序、再把结果恢复原顺序）。")
DEVICE = ("a tensor (the mask, torch.arange(T), a zeros/ones tensor) created without device=...: it stays on the CPU "
          "while the model is on the GPU.",
          "某个张量（掩码、torch.arange(T)、zeros/ones）创建时没有指定 device=...：模型在 GPU 上，它却留在 CPU 上。")
# run_packed's likely mistakes, by a piece of the error text (first match wins); lengths moved to the accelerator
# before packing get run_packed's own PACK_LENGTHS_LIKELY
KNOWN = [("must be sorted", ENFORCE_SORTED), ("enforce_sorted", ENFORCE_SORTED), ("same device", DEVICE)]
# what a check needs of the learner's code, by the name of the function it calls (a module: its forward)
NEED = {
    "forward": ("return emissions (B, T, C) for tokens (B, T) and lengths (B,) on the CPU",
                "对 tokens (B, T) 和 CPU 上的 lengths (B,) 返回 (B, T, C) 的发射分数"),
    "log_partition": ("return log Z of each sequence, shape (B,)", "返回每个序列的 log Z，形状为 (B,)"),
    "neg_log_likelihood": ("return log Z - score(tags), summed over the batch",
                           "返回对 batch 求和的 log Z - score(tags)"),
    "loss": ("return the CRF's negative log-likelihood of the batch, summed", "返回该 batch 的 CRF 负对数似然之和"),
    "decode": ("return one best tag path (a list) per sequence, of its own length",
               "为每个序列返回一条最优标签路径（列表），长度等于该序列的长度"),
    "backward": ("backpropagate the loss to the CRF's parameters", "把损失反向传播到 CRF 的参数"),
    "_train_accuracy": ("train with loss, backward and Adam, then decode held-out sentences",
                        "用 loss、backward 和 Adam 训练，然后解码留出的句子"),
}


def _run(what, fn, *args, **kwargs):
    """fn(*args, **kwargs) through run_packed: a crash fails the check saying what fn had to do (NEED, by its name)
    and the likely mistake (KNOWN)."""
    return run_packed(what, NEED[getattr(fn, "__name__", "forward")], fn, *args, known=KNOWN, **kwargs)


def _crf(ex, C, seed):
    with seeded(seed):
        crf = ex.CRF(C)
    expect(isinstance(crf, nn.Module), f"CRF({C}) should be an nn.Module, got {type(crf).__name__}.",
           f"CRF({C}) 应是 nn.Module，实际是 {type(crf).__name__}。")
    for name, shape in (("start_transitions", (C,)), ("end_transitions", (C,)), ("transitions", (C, C))):
        p = getattr(crf, name, None)
        expect(isinstance(p, nn.Parameter) and tuple(p.shape) == shape,
               f"CRF({C}) should have an nn.Parameter {name} of shape {shape}; found "
               f"{type(p).__name__ if p is not None else 'nothing'}"
               + (f" of shape {tuple(p.shape)}" if isinstance(p, torch.Tensor) else "") + ".",
               f"CRF({C}) 应有形状为 {shape} 的 nn.Parameter {name}；实际为 "
               f"{type(p).__name__ if p is not None else '无'}。",
               likely=("parameters named differently (the grader needs start_transitions, end_transitions, "
                       "transitions as in pytorch-crf), extra START/STOP tags inside transitions (the tutorial's "
                       "layout), or a plain tensor instead of nn.Parameter.",
                       "参数名不同（评分需要与 pytorch-crf 相同的 start_transitions、end_transitions、transitions），"
                       "把 START/STOP 标签放进了 transitions（教程的做法），或用了普通张量而不是 nn.Parameter。"))
    with seeded(seed + 1), torch.no_grad():  # wide random scores, so every mistake shows
        crf.start_transitions.uniform_(-1.5, 1.5)
        crf.end_transitions.uniform_(-1.5, 1.5)
        crf.transitions.uniform_(-1.5, 1.5)
    return crf


def _mask(lengths, T):
    return torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]


def _crf_inputs(C, lengths, T, seed):
    with seeded(seed):
        em = torch.randn(len(lengths), T, C) * 1.5
        tags = torch.randint(0, C, (len(lengths), T))
    return em, tags, _mask(lengths, T)


def _path_score(start, end, trans, em, path):
    s = start[path[0]] + em[0, path[0]]
    for t in range(1, len(path)):
        s = s + trans[path[t - 1], path[t]] + em[t, path[t]]
    return s + end[path[-1]]


def _brute(start, end, trans, em, L):
    """(logZ, best score, all (score, path)) over every path of length L."""
    C = em.shape[1]
    scored = [(_path_score(start, end, trans, em, p), p) for p in itertools.product(range(C), repeat=L)]
    scores = torch.stack([s for s, _ in scored])
    return torch.logsumexp(scores, 0), scores.max(), scored


def _params(crf):
    return crf.start_transitions.detach(), crf.end_transitions.detach(), crf.transitions.detach()


def _variants(crf, em, lengths):
    """Brute-force log-partitions of the usual mistakes, per sequence: name -> ((B,) tensor, likely)."""
    s, e, tr = _params(crf)
    z = torch.zeros_like(s)
    T = em.shape[1]
    out = {}
    table = [
        ("transposed", (s, e, tr.T), None, False,
         ("transitions read as transitions[next, previous] (the PyTorch tutorial's layout); here transitions[i, j] "
          "is the score of moving FROM tag i TO tag j, so add transitions[prev, next].",
          "把 transitions 当成 transitions[下一个, 上一个]（PyTorch 教程的布局）；本题 transitions[i, j] 是从标签 i "
          "转移到标签 j 的分数，应加 transitions[prev, next]。")),
        ("no_end", (s, z, tr), None, False,
         ("end_transitions left out: add end_transitions to the last real step's scores before the final logsumexp.",
          "漏掉了 end_transitions：在最后的 logsumexp 之前，要给最后一个真实位置的分数加上 end_transitions。")),
        ("no_start", (z, e, tr), None, False,
         ("start_transitions left out: the first step's scores are start_transitions + emissions[:, 0].",
          "漏掉了 start_transitions：第一步的分数是 start_transitions + emissions[:, 0]。")),
        ("max", (s, e, tr), None, True,
         ("max instead of logsumexp in the forward algorithm: that is Viterbi's best-path score, not the "
          "log-partition (the log of the SUM over all paths).",
          "前向算法中用了 max 而不是 logsumexp：那是 Viterbi 的最优路径分数，而不是对数配分函数（所有路径之和的对数）。")),
        ("unmasked", (s, e, tr), T, False,
         ("the mask ignored: padded steps were run through the recursion; keep the previous alpha where mask[:, t] "
          "is False (torch.where), so each sequence stops at its own length.",
          "忽略了掩码：填充位置也参与了递推；在 mask[:, t] 为 False 的位置应保留之前的 alpha（torch.where），"
          "使每个序列在自己的长度处结束。")),
    ]
    for name, (ps, pe, ptr), full, use_max, likely in table:
        vals = []
        for b, L in enumerate(lengths):
            logz, best, _ = _brute(ps, pe, ptr, em[b], full or int(L))
            vals.append(best if use_max else logz)
        out[name] = (torch.stack(vals), likely)
    return out


def _diagnose_logz(crf, em, lengths, got):
    got = got.detach().double()
    for name, (vals, likely) in _variants(crf, em, lengths).items():
        if got.shape == vals.shape and torch.allclose(got, vals.double(), atol=1e-4, rtol=1e-4):
            return likely
    return ("the forward algorithm: alpha_0 = start + emissions[:, 0]; alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + "
            "transitions[i, j]) + emissions[:, t, j] on real steps only; log Z = logsumexp(alpha_last + end).",
            "前向算法：alpha_0 = start + emissions[:, 0]；在真实位置上 alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + "
            "transitions[i, j]) + emissions[:, t, j]；log Z = logsumexp(alpha_最后 + end)。")


def _model(ex, V, C, E, H, seed):
    with seeded(seed):
        m = ex.BiLSTMCRF(V, C, embedding_dim=E, hidden_size=H, pad_idx=PAD)
    expect(isinstance(m, nn.Module), f"BiLSTMCRF(...) should be an nn.Module, got {type(m).__name__}.",
           f"BiLSTMCRF(...) 应是 nn.Module，实际是 {type(m).__name__}。")
    expect(isinstance(getattr(m, "crf", None), nn.Module),
           "BiLSTMCRF should hold its CRF as the attribute `crf`.", "BiLSTMCRF 应把 CRF 存为属性 `crf`。")
    return m


def _batch(V, lengths, T, seed, C=None):
    with seeded(seed):
        tokens = torch.randint(1, V, (len(lengths), T))
        tags = torch.randint(0, C or 2, (len(lengths), T))
    tokens[~_mask(lengths, T)] = PAD
    return tokens, tags, torch.tensor(lengths, dtype=torch.int64)


def _emissions(m, tokens, lengths, what="BiLSTMCRF.forward(tokens, lengths)"):
    em = _run(what, m, tokens, lengths)
    assert_tensor(em, what)
    return em


def _lstm_not_batch_first(m):
    return any(isinstance(x, nn.LSTM) and not x.batch_first for x in m.modules())


_LIKELY_BATCH_FIRST = ("nn.LSTM without batch_first=True fed a (B, T, E) tensor (the seed's encoder): it reads the "
                       "batch axis as time, so sequences of a batch mix; pass batch_first=True (and pack the batch).",
                       "nn.LSTM 没有设置 batch_first=True 却收到 (B, T, E) 的输入（原题编码器的问题）：它把 batch 维当成时间，"
                       "同一 batch 的序列互相混合；应设置 batch_first=True（并对 batch 打包）。")
_LIKELY_PACK = ("the BiLSTM run on the padded tensor: its backward direction starts at the padding and carries it "
                "into every real token. Pack first: pack_padded_sequence(emb, lengths, batch_first=True, "
                "enforce_sorted=False), then pad_packed_sequence(out, batch_first=True, total_length=T).",
                "BiLSTM 直接处理了带填充的张量：反向方向从填充处开始，把填充的影响带到每个真实位置。应先打包："
                "pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)，再 "
                "pad_packed_sequence(out, batch_first=True, total_length=T)。")


def _check_paths(paths, lengths, what):
    expect(isinstance(paths, (list, tuple)) and len(paths) == len(lengths),
           f"{what} should return a list with one tag list per sequence ({len(lengths)}); got "
           f"{type(paths).__name__}" + (f" of length {len(paths)}" if isinstance(paths, (list, tuple)) else "") + ".",
           f"{what} 应返回列表，每个序列一个标签列表（共 {len(lengths)} 个）；实际为 {type(paths).__name__}。",
           likely=("returning a padded (B, T) tensor instead of a list of lists.", "返回了补齐的 (B, T) 张量而不是列表的列表。"))
    out = []
    for b, (p, L) in enumerate(zip(paths, lengths)):
        p = p.tolist() if isinstance(p, torch.Tensor) else list(p)
        ok = all(hasattr(v, "__index__") and not isinstance(v, bool) and not getattr(v, "is_floating_point", bool)()
                 for v in p)
        expect(ok, f"{what}: the path of sequence {b} should hold integer tag ids; got {p!r}.",
               f"{what}：序列 {b} 的路径应由整数标签组成；实际为 {p!r}。")
        p = [int(v) for v in p]
        expect(len(p) == int(L), f"{what}: sequence {b} has length {int(L)} but its path has {len(p)} tags ({p}).",
               f"{what}：序列 {b} 的长度为 {int(L)}，但路径有 {len(p)} 个标签（{p}）。",
               likely=("the path not cut at the sequence's own length, or backtracking started at T - 1 instead of "
                       "length - 1.", "路径没有在序列自己的长度处截断，或者回溯从 T - 1 而不是 length - 1 开始。"))
        out.append(p)
    return out


# ---------------------------------------------------------------------------
# checks: the BiLSTM emissions


@check(points=2, category="shape")
def test_emissions_shape(ex):
    """forward(tokens, lengths) gives emissions (B, T, C) for unsorted lengths, also when T > max(lengths).
    zh: forward(tokens, lengths) 对未排序的长度给出 (B, T, C) 的发射分数，T > max(lengths) 时也是如此。
    """
    # (V, C, E, H, lengths, T)
    for i, (V, C, E, H, lengths, T) in enumerate([(12, 5, 8, 6, [3, 5, 2], 5), (9, 3, 6, 4, [1, 4, 2, 4], 7),
                                                  (20, 7, 10, 5, [6], 6)]):
        m = _model(ex, V, C, E, H, seed=i)
        tokens, _, lens = _batch(V, lengths, T, seed=i)
        em = _emissions(m, tokens, lens)
        likely = None
        if tuple(em.shape[:1]) + tuple(em.shape[2:]) == (len(lengths), C) and em.shape[1] == max(lengths) != T:
            likely = ("pad_packed_sequence without total_length=T: it pads only to the longest length in the batch.",
                      "pad_packed_sequence 没有传 total_length=T：它只补齐到 batch 中最长的长度。")
        assert_shape(em, (len(lengths), T, C), f"emissions (lengths={lengths}, T={T}, C={C})", likely=likely)
        expect(em.is_floating_point(), f"emissions should be floating point, got {em.dtype}.",
               f"发射分数应为浮点数，实际为 {em.dtype}。")


@check(points=2, category="correctness")
def test_batch_independence(ex):
    """Each sequence's emissions are the same in a batch (equal lengths) as alone.
    zh: 每个序列的发射分数在 batch 中（长度相同）与单独计算时相同。
    """
    V, C, T = 11, 4, 6
    m = _model(ex, V, C, 8, 6, seed=10)
    m.eval()
    tokens, _, lens = _batch(V, [T] * 4, T, seed=10)
    with torch.no_grad():
        em = _emissions(m, tokens, lens)
        assert_shape(em, (4, T, C), "emissions")
        for b in range(4):
            alone = _emissions(m, tokens[b:b + 1], lens[b:b + 1])
            diff = (em[b] - alone[0]).abs().max().item()
            if diff > 1e-5:
                fail(f"Sequence {b}'s emissions change with the other sequences in the batch (largest difference "
                     f"{diff:.3g} between the batch of 4 and the sequence alone; all lengths {T}, no padding).",
                     f"序列 {b} 的发射分数会随 batch 中其他序列而变化（4 个一批与单独计算的最大差 {diff:.3g}；"
                     f"长度都为 {T}，没有填充）。",
                     likely=_LIKELY_BATCH_FIRST if _lstm_not_batch_first(m) else
                     ("something mixes the batch axis: a reshape/transpose that swaps B and T, or a batch_first "
                      "mismatch between pack/pad and the LSTM.",
                      "某处混合了 batch 维：交换了 B 和 T 的 reshape/transpose，或打包/解包与 LSTM 的 batch_first 不一致。"))


@check(points=3, category="correctness")
def test_padding_invariance(ex):
    """Real tokens' emissions never depend on padding: the same alone, padded in a batch, and with more padding.
    zh: 真实位置的发射分数与填充无关：单独计算、在 batch 中被填充、追加更多填充时都相同。
    """
    V, C = 13, 5
    m = _model(ex, V, C, 8, 7, seed=20)
    m.eval()
    lengths = [2, 6, 4, 1, 5]
    with torch.no_grad():
        for extra in (0, 3):
            T = max(lengths) + extra
            tokens, _, lens = _batch(V, lengths, T, seed=20)
            em = _emissions(m, tokens, lens)
            assert_shape(em, (len(lengths), T, C), f"emissions (T={T})")
            for b, L in enumerate(lengths):
                alone = _emissions(m, tokens[b:b + 1, :L], lens[b:b + 1])
                diff = (em[b, :L] - alone[0, :L]).abs().max().item()
                if diff > 1e-5:
                    fail(f"Sequence {b} (length {L}) padded to T={T} in a batch: its real tokens' emissions differ "
                         f"from the sequence alone by up to {diff:.3g}; padding must never reach a real token.",
                         f"序列 {b}（长度 {L}）在 batch 中被填充到 T={T}：其真实位置的发射分数与单独计算时最多相差 "
                         f"{diff:.3g}；填充绝不能影响真实位置。",
                         likely=_LIKELY_BATCH_FIRST if _lstm_not_batch_first(m) else _LIKELY_PACK)


# ---------------------------------------------------------------------------
# checks: the CRF against brute force


@check(points=3, category="correctness")
def test_log_partition_brute_force(ex):
    """CRF.log_partition equals the log-sum-exp of the scores of all C**L paths (variable lengths).
    zh: CRF.log_partition 等于所有 C**L 条路径分数的 log-sum-exp（长度各不相同）。
    """
    for i, (C, lengths, T) in enumerate([(3, [4, 1, 3, 2], 4), (2, [5, 3], 5), (4, [3, 2, 3], 3)]):
        crf = _crf(ex, C, seed=30 + i)
        em, _, mask = _crf_inputs(C, lengths, T, seed=30 + i)
        got = _run("CRF.log_partition(emissions, mask)", crf.log_partition, em, mask)
        assert_shape(got, (len(lengths),), f"log_partition (B={len(lengths)})",
                     likely=("summed over the batch: log_partition returns one value per sequence, (B,).",
                             "在 batch 上求和了：log_partition 应为每个序列返回一个值，形状 (B,)。"))
        s, e, tr = _params(crf)
        want = torch.stack([_brute(s, e, tr, em[b], L)[0] for b, L in enumerate(lengths)])
        if not torch.allclose(got.detach().double(), want.double(), atol=1e-4, rtol=1e-4):
            assert_close(got, want, f"log_partition, C={C}, lengths={lengths} (vs. enumerating all paths)",
                         atol=1e-4, likely=_diagnose_logz(crf, em, lengths, got))


@check(points=2, category="correctness")
def test_nll_brute_force(ex):
    """neg_log_likelihood = sum over the batch of log Z - score(tags), as enumeration gives it.
    zh: neg_log_likelihood 等于对 batch 求和的 log Z - score(tags)，与枚举结果一致。
    """
    for i, (C, lengths, T) in enumerate([(3, [3, 1, 4], 4), (4, [2, 3], 3)]):
        crf = _crf(ex, C, seed=40 + i)
        em, tags, mask = _crf_inputs(C, lengths, T, seed=40 + i)
        got = _run("CRF.neg_log_likelihood(emissions, tags, mask)", crf.neg_log_likelihood, em, tags, mask)
        assert_tensor(got, "neg_log_likelihood")
        expect(got.numel() == 1, f"neg_log_likelihood should be a scalar (summed over the batch); got shape "
                                 f"{tuple(got.shape)}.",
               f"neg_log_likelihood 应为标量（对 batch 求和）；实际形状为 {tuple(got.shape)}。",
               likely=("no reduction: sum the per-sequence values.", "没有做归约：应把每个序列的值求和。"))
        s, e, tr = _params(crf)
        per = []
        for b, L in enumerate(lengths):
            logz = _brute(s, e, tr, em[b], L)[0]
            per.append(logz - _path_score(s, e, tr, em[b], tags[b, :L].tolist()))
        want = torch.stack(per).sum()
        g = got.detach().reshape(())
        if not torch.allclose(g.double(), want.double(), atol=1e-4, rtol=1e-4):
            likely = None
            if math.isclose(g.item(), want.item() / len(lengths), rel_tol=1e-4, abs_tol=1e-4):
                likely = ("the mean over the batch: this exercise states reduction = sum (pytorch-crf's default).",
                          "对 batch 取了平均：本题规定归约方式为求和（pytorch-crf 的默认）。")
            elif math.isclose(g.item(), -want.item(), rel_tol=1e-4, abs_tol=1e-4):
                likely = ("the sign: this is the NEGATIVE log-likelihood, log Z - score(tags) (pytorch-crf's forward "
                          "returns the log-likelihood itself).",
                          "符号反了：这里要的是负对数似然 log Z - score(tags)（pytorch-crf 的 forward 返回的是对数似然本身）。")
            else:
                logz = _run("CRF.log_partition(emissions, mask)", crf.log_partition, em, mask).detach()
                brute = torch.stack([_brute(s, e, tr, em[b], L)[0] for b, L in enumerate(lengths)])
                if torch.allclose(logz.reshape(-1).double(), brute.double(), atol=1e-4, rtol=1e-4):
                    likely = ("the gold path's score: start_transitions[y_0] + emissions of the gold tags + "
                              "transitions[y_{t-1}, y_t] on real steps + end_transitions of the LAST REAL tag "
                              "(index length - 1, not T - 1); padded tags must not count.",
                              "标准路径的分数：start_transitions[y_0] + 各标准标签的发射分数 + 真实位置上的 "
                              "transitions[y_{t-1}, y_t] + 最后一个真实标签（下标 length - 1，不是 T - 1）的 "
                              "end_transitions；填充位置的标签不能计入。")
                else:
                    likely = _diagnose_logz(crf, em, lengths, logz.reshape(-1))
            fail(f"neg_log_likelihood, C={C}, lengths={lengths}: expected {want.item():.6g} (sum over the batch of "
                 f"log Z - score(tags), by enumeration), got {g.item():.6g}.",
                 f"neg_log_likelihood，C={C}，lengths={lengths}：期望 {want.item():.6g}（枚举得到的对 batch 求和的 "
                 f"log Z - score(tags)），实际为 {g.item():.6g}。", likely=likely)


@check(points=3, category="correctness")
def test_viterbi_brute_force(ex):
    """CRF.decode returns, for each sequence, a best-scoring path of its own length (vs. enumeration).
    zh: CRF.decode 为每个序列返回一条得分最高、长度等于该序列长度的路径（与枚举比较）。
    """
    for i, (C, lengths, T) in enumerate([(3, [4, 2, 1, 3], 4), (4, [3, 3, 2], 3), (2, [5, 1, 4], 5)]):
        crf = _crf(ex, C, seed=50 + i)
        em, _, mask = _crf_inputs(C, lengths, T, seed=50 + i)
        paths = _check_paths(_run("CRF.decode(emissions, mask)", crf.decode, em, mask), lengths, "CRF.decode")
        s, e, tr = _params(crf)
        for b, (p, L) in enumerate(zip(paths, lengths)):
            expect(all(0 <= v < C for v in p), f"CRF.decode: sequence {b}'s path {p} holds ids outside 0..{C - 1}.",
                   f"CRF.decode：序列 {b} 的路径 {p} 含有 0..{C - 1} 之外的标签。")
            _, best, scored = _brute(s, e, tr, em[b], L)
            score = _path_score(s, e, tr, em[b], p)
            if score.item() < best.item() - 1e-4:
                best_path = list(max(scored, key=lambda sp: sp[0].item())[1])
                likely = ("backtracking: follow the stored argmax pointers from the best final tag (after adding "
                          "end_transitions) back to step 0, then reverse the list.",
                          "回溯有误：应从（加上 end_transitions 之后）最优的最后一个标签出发，沿保存的 argmax 指针回到第 0 步，"
                          "再把列表反转。")
                if p == list(max(_brute(s, e, tr.T, em[b], L)[2], key=lambda sp: sp[0].item())[1]):
                    likely = _variants(crf, em[b:b + 1], [L])["transposed"][1]
                elif p[::-1] == best_path:
                    likely = ("the path is reversed: backtracking collects tags from the last step to the first; "
                              "reverse the list.", "路径是反的：回溯是从最后一步往前收集标签的，需要把列表反转。")
                elif p == list(max(_brute(s, torch.zeros_like(e), tr, em[b], L)[2], key=lambda sp: sp[0].item())[1]):
                    likely = _variants(crf, em[b:b + 1], [L])["no_end"][1]
                fail(f"CRF.decode, C={C}, sequence {b} (length {L}): path {p} scores {score.item():.5g}, but the best "
                     f"path {best_path} scores {best.item():.5g}.",
                     f"CRF.decode，C={C}，序列 {b}（长度 {L}）：路径 {p} 的分数为 {score.item():.5g}，而最优路径 "
                     f"{best_path} 的分数为 {best.item():.5g}。", likely=likely)


@check(points=2, category="correctness")
def test_loss_ignores_padding(ex):
    """The loss ignores padding: junk emissions/tags there, extra padding, and batch = sum of sequences alone.
    zh: 损失忽略填充：填充处的发射分数和标签是随意值、追加更多填充、batch 的损失等于各序列单独损失之和。
    """
    C, lengths, T = 3, [2, 4, 1], 4
    crf = _crf(ex, C, seed=60)
    em, tags, mask = _crf_inputs(C, lengths, T, seed=60)
    base = _run("CRF.neg_log_likelihood(emissions, tags, mask)", crf.neg_log_likelihood, em, tags, mask).detach()
    em2, tags2 = em.clone(), tags.clone()
    with seeded(61):
        em2[~mask] = torch.randn(int((~mask).sum()), C) * 5
        tags2[~mask] = torch.randint(0, C, (int((~mask).sum()),))
    junk = _run("CRF.neg_log_likelihood", crf.neg_log_likelihood, em2, tags2, mask).detach()
    expect(torch.allclose(junk.reshape(()), base.reshape(()), atol=1e-4),
           f"CRF.neg_log_likelihood changed from {base.reshape(()).item():.6g} to {junk.reshape(()).item():.6g} when "
           f"only the emissions and tags at padded positions changed (lengths={lengths}).",
           f"只改变填充位置的发射分数和标签，CRF.neg_log_likelihood 就从 {base.reshape(()).item():.6g} 变成了 "
           f"{junk.reshape(()).item():.6g}（lengths={lengths}）。",
           likely=("the mask not applied somewhere: padded steps must be skipped in the forward recursion "
                   "(torch.where(mask[:, t, None], new, old)) and in the gold score (emissions, transitions, and the "
                   "end transition of the last REAL tag).",
                   "某处没有应用掩码：前向递推中要跳过填充位置（torch.where(mask[:, t, None], new, old)），"
                   "标准路径分数中也要跳过（发射分数、转移分数，以及最后一个真实标签的结束转移）。"))
    # model level
    V = 10
    m = _model(ex, V, C, 6, 5, seed=62)
    m.eval()
    toks, mtags, lens = _batch(V, [3, 5, 2], 5, seed=62, C=C)
    with torch.no_grad():
        full = _run("BiLSTMCRF.loss(tokens, tags, lengths)", m.loss, toks, mtags, lens)
        assert_tensor(full, "BiLSTMCRF.loss")
        pad = torch.full((3, 3), PAD, dtype=torch.int64)
        longer = _run("BiLSTMCRF.loss", m.loss, torch.cat([toks, pad], 1),
                      torch.cat([mtags, torch.randint(0, C, (3, 3))], 1), lens)
        alone = sum(_run("BiLSTMCRF.loss", m.loss, toks[b:b + 1, :L], mtags[b:b + 1, :L], lens[b:b + 1]
                         ).reshape(()) for b, L in enumerate([3, 5, 2]))
    f = full.reshape(()).item()
    expect(math.isclose(longer.reshape(()).item(), f, rel_tol=1e-4, abs_tol=1e-4),
           f"BiLSTMCRF.loss changed from {f:.6g} to {longer.reshape(()).item():.6g} when 3 padding columns were "
           f"appended (junk tags there).",
           f"追加 3 列填充（其中标签为随意值）后，BiLSTMCRF.loss 从 {f:.6g} 变成了 {longer.reshape(()).item():.6g}。",
           likely=_LIKELY_PACK if _lstm_not_batch_first(m) is False else _LIKELY_BATCH_FIRST)
    expect(math.isclose(alone.item(), f, rel_tol=1e-4, abs_tol=1e-4),
           f"BiLSTMCRF.loss of a batch of 3 is {f:.6g}, but the three sequences alone add up to {alone.item():.6g}; "
           f"the loss is the SUM over the batch.",
           f"3 个序列一批时 BiLSTMCRF.loss 为 {f:.6g}，但三个序列单独计算之和为 {alone.item():.6g}；损失应是对 batch 的求和。",
           likely=_LIKELY_BATCH_FIRST if _lstm_not_batch_first(m) else
           ("the mean over the batch: reduction must be sum.", "对 batch 取了平均：归约应为求和。")
           if math.isclose(f * 3, alone.item(), rel_tol=1e-4, abs_tol=1e-4) else
           ("padding or the other sequences of the batch reaching the loss.", "填充或 batch 中的其他序列影响了损失。"))


@check(points=2, category="gradient")
def test_gradients(ex):
    """The loss's gradient reaches every parameter; the transitions' gradient equals enumeration's.
    zh: 损失的梯度能传到每个参数；transitions 的梯度与枚举得到的一致。
    """
    C, lengths, T = 3, [3, 2], 3
    crf = _crf(ex, C, seed=70)
    em, tags, mask = _crf_inputs(C, lengths, T, seed=70)
    nll = _run("CRF.neg_log_likelihood", crf.neg_log_likelihood, em, tags, mask)
    _run("neg_log_likelihood(...).backward()", nll.sum().backward)
    ref = [p.detach().clone().requires_grad_() for p in _params(crf)]
    total = 0
    for b, L in enumerate(lengths):
        total = total + _brute(*ref, em[b], L)[0] - _path_score(*ref, em[b], tags[b, :L].tolist())
    total.backward()
    for name, r in zip(("start_transitions", "end_transitions", "transitions"), ref):
        g = getattr(crf, name).grad
        expect(g is not None, f"CRF.{name} got no gradient from neg_log_likelihood.",
               f"CRF.{name} 没有从 neg_log_likelihood 得到梯度。",
               likely=("the parameter detached (.detach(), .data, .item()) or not used in the loss.",
                       "参数被切断了（.detach()、.data、.item()）或没有在损失中使用。"))
        assert_close(g, r.grad, f"gradient of CRF.{name} (vs. enumerating all paths)", atol=1e-4,
                     likely=("the loss is wrong in a way the other checks name; the gradient follows the value.",
                             "损失的数值本身有误（其他检查会指出原因）；梯度随数值而定。"))
    m = _model(ex, 10, 4, 6, 5, seed=71)
    toks, mtags, lens = _batch(10, [4, 2, 3], 4, seed=71, C=4)
    loss = _run("BiLSTMCRF.loss(tokens, tags, lengths)", m.loss, toks, mtags, lens)
    loss.sum().backward()
    assert_all_params_get_grad(m, "BiLSTMCRF")


@check(points=1, category="correctness")
def test_model_decode(ex):
    """BiLSTMCRF.decode = its crf.decode over its own emissions and the lengths' mask, one list per sequence.
    zh: BiLSTMCRF.decode 等于它的 crf.decode 作用在自身发射分数和长度掩码上的结果，每个序列一个列表。
    """
    V, C, lengths, T = 12, 4, [4, 1, 6, 3], 7
    m = _model(ex, V, C, 6, 5, seed=80)
    m.eval()
    toks, _, lens = _batch(V, lengths, T, seed=80)
    with torch.no_grad():
        em = _emissions(m, toks, lens)
    paths = _check_paths(_run("BiLSTMCRF.decode(tokens, lengths)", m.decode, toks, lens), lengths,
                         "BiLSTMCRF.decode")
    mask = _mask(lengths, T)
    want = _check_paths(_run("BiLSTMCRF.crf.decode(emissions, mask)", m.crf.decode, em, mask), lengths,
                        "BiLSTMCRF.crf.decode")
    for b, (p, w) in enumerate(zip(paths, want)):
        expect(p == w, f"BiLSTMCRF.decode: sequence {b} (length {lengths[b]}) got path {p}, but the model's own "
                       f"crf.decode(emissions, mask) over its emissions gives {w}.",
               f"BiLSTMCRF.decode：序列 {b}（长度 {lengths[b]}）得到路径 {p}，但模型自己的 crf.decode(emissions, mask) "
               f"在其发射分数上给出 {w}。",
               likely=("decode not running self.crf.decode on self(tokens, lengths) with the mask of the lengths "
                       "(t < lengths[b]).", "decode 没有用长度对应的掩码（t < lengths[b]）对 self(tokens, lengths) "
                       "调用 self.crf.decode。"))


# ---------------------------------------------------------------------------
# training and device

_V, _C = 8, 4


def _context_task(n, seed):
    """Tag of token t = (token t-1) % 3, tag 3 at t = 0: the token itself says nothing about its tag."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 9, (n,), generator=g)
    T = int(lengths.max())
    tokens = torch.randint(1, _V, (n, T), generator=g)
    tags = torch.full((n, T), 3, dtype=torch.int64)
    tags[:, 1:] = tokens[:, :-1] % 3
    tokens[~_mask(lengths, T)] = PAD
    return tokens, tags, lengths


_STEPS, _BATCH, _LR = 32, 8, 0.05  # small batches: a per-sentence CRF (the tutorial's loops) trains in a fraction of a second


def _train_accuracy(ex, seed):
    with seeded(seed):
        m = ex.BiLSTMCRF(_V, _C, embedding_dim=32, hidden_size=32, pad_idx=PAD)
    opt = torch.optim.Adam(m.parameters(), lr=_LR)
    tokens, tags, lengths = _context_task(_BATCH * _STEPS, seed=100 + seed)
    m.train()
    for step in range(_STEPS):
        sl = slice(_BATCH * step, _BATCH * (step + 1))
        loss = m.loss(tokens[sl], tags[sl], lengths[sl])
        opt.zero_grad()
        (loss.sum() / _BATCH).backward()
        opt.step()
    m.eval()
    tt, ttags, tl = _context_task(64, seed=999)
    paths = _check_paths(m.decode(tt, tl), tl.tolist(), "BiLSTMCRF.decode")
    right = sum(int(v == ttags[b, t]) for b, p in enumerate(paths) for t, v in enumerate(p))
    return right / int(tl.sum())


@check(points=3, category="training")
def test_learns_context_task(ex):
    """Trained 32 Adam steps on a task whose tags depend on the previous token, decode gets >= 90% of held-out tags.
    zh: 在标签取决于前一个词的任务上用 Adam 训练 32 步后，decode 在留出数据上的标签准确率 >= 90%。
    """
    accs = [_run("training (BiLSTMCRF.loss, backward, Adam, then decode)", _train_accuracy, ex, 0)]
    if accs[0] < 0.9:  # an unlucky seed never fails a correct model: then 2 of 2 more seeds must pass
        accs += [_run("training", _train_accuracy, ex, s) for s in (1, 2)]
        if sum(a >= 0.9 for a in accs[1:]) < 2:
            fail(f"After {_STEPS} Adam steps (lr {_LR}, batches of {_BATCH}) on 'tag = previous token % 3', held-out "
                 f"tag accuracy was {', '.join(f'{a:.0%}' for a in accs)} over 3 seeds; expected >= 90% (a model that "
                 f"sees only the current token gets about half: only the first tag, always 3, comes free).",
                 f"在“标签 = 前一个词 % 3”的任务上用 Adam（lr {_LR}，每批 {_BATCH} 个）训练 {_STEPS} 步后，3 个随机种子的留出准确率为 "
                 f"{', '.join(f'{a:.0%}' for a in accs)}；期望 >= 90%（只看当前词的模型约为一半：只有总是 3 的第一个标签是白送的）。",
                 likely=("the loss or decode is wrong (see the CRF checks), the BiLSTM reads padding or mixes the "
                         "batch, or the emissions do not use the LSTM's output.",
                         "损失或解码有误（见 CRF 的检查），BiLSTM 读到了填充或混合了 batch，或者发射分数没有使用 LSTM 的输出。"))


@check(points=2, category="device")
def test_runs_on_accelerator(ex):
    """On an accelerator (lengths on the CPU) emissions, loss and decode run there and match the CPU.
    zh: 在加速设备上（lengths 留在 CPU）发射分数、损失和解码都能运行，结果与 CPU 一致。
    """
    V, C, lengths, T = 10, 3, [3, 5, 1], 6
    m = _model(ex, V, C, 6, 5, seed=90)
    m.eval()
    toks, tags, lens = _batch(V, lengths, T, seed=90, C=C)
    with torch.no_grad():
        ref_em = _emissions(m, toks, lens).detach()
        ref_loss = _run("BiLSTMCRF.loss", m.loss, toks, tags, lens).detach()
    ref_paths = _run("BiLSTMCRF.decode", m.decode, toks, lens)
    with device_mismatch_explained(DEVICE):
        with accelerator() as dev:
            m.to(dev)
            with torch.no_grad():
                em = _emissions(m, toks.to(dev), lens, "forward(tokens, lengths) on the accelerator")
                assert_on_device(em, dev, "emissions")
                loss = _run("BiLSTMCRF.loss(...) on the accelerator", m.loss, toks.to(dev), tags.to(dev), lens)
                assert_on_device(loss, dev, "loss")
            paths = _run("BiLSTMCRF.decode(...) on the accelerator", m.decode, toks.to(dev), lens)
            em, loss = to_cpu(em), to_cpu(loss)
    assert_close(em, ref_em, "emissions on the accelerator")
    assert_close(loss.reshape(()), ref_loss.reshape(()), "loss on the accelerator", atol=1e-4)
    expect(_check_paths(paths, lengths, "decode on the accelerator") == _check_paths(ref_paths, lengths, "decode"),
           "decode on the accelerator gave other paths than on the CPU.", "在加速设备上 decode 得到的路径与 CPU 上不同。")
