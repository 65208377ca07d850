"""What graders import: the @check decorator and assertions that teach.

A grader is a pytest file ``graders/test_NN_slug.py``. Each check is a test
function taking the ``ex`` fixture (the learner's module, loaded by the plugin)::

    from ptquiz.gradelib import check, fail, assert_shape

    @check(points=2, category="shape")
    def test_output_shape(ex):
        '''Output is (batch, 5) for several batch sizes.
        zh: 对不同的 batch 大小，输出形状都是 (batch, 5)。
        '''
        for b in (1, 3, 17):
            assert_shape(ex.MyModule()(torch.randn(b, 10)), (b, 5), "MyModule output")

Points and category must be literals (the kit reads them without running the
grader). A failed check should say what was expected, what was seen and the
likely mistake: raise through :func:`fail` or the ``assert_*`` helpers, each of
which takes ``likely=("english", "中文")``.
"""
from __future__ import annotations

import contextlib
import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode


def _skip_compiler_import() -> int:
    """Spare graders the import of torch._dynamo (2-4 s, more than the rest of a grading run).

    Torch wraps some eager functions (Optimizer.add_param_group, dispatch-mode entry, ...) in
    ``torch._compile._disable_dynamo``, whose wrapper imports the whole compiler on first call just to
    mark them "not for compilation". Graders never compile, so we mark the already-loaded ones
    as done (the wrapper then calls the function directly). Only that first-call import is skipped:
    if learner code does call torch.compile, dynamo imports as usual (functions marked here are
    then traced rather than skipped). Set PT_QUIZ_KEEP_DYNAMO=1 to turn this off.
    """
    if os.environ.get("PT_QUIZ_KEEP_DYNAMO") or "torch._dynamo" in __import__("sys").modules:
        return 0
    import gc
    import types
    import warnings

    import torch._compile

    inner = torch._compile._disable_dynamo(lambda: None).__code__
    n = 0
    with warnings.catch_warnings():  # isinstance() on some deprecated torch objects warns
        warnings.simplefilter("ignore")
        objects = [o for o in gc.get_objects() if isinstance(o, types.FunctionType)]
    for obj in objects:
        if obj.__code__ is inner:
            fn = getattr(obj, "__wrapped__", None)
            if fn is not None and getattr(fn, "__dynamo_disable", None) is None:
                try:
                    fn.__dynamo_disable = fn
                    n += 1
                except (AttributeError, TypeError):
                    pass
    return n


from .catalog import CATEGORIES
from .shadow import DeviceMismatchError, ShadowTensor, shadow_device  # noqa: F401  (re-exported)


class CheckFailed(AssertionError):
    """A failed check with a message in English and Chinese."""

    def __init__(self, en: str, zh: str | None = None):
        super().__init__(en)
        self.en, self.zh = en, zh or en


def _likely(likely) -> tuple[str, str]:
    if not likely:
        return "", ""
    if isinstance(likely, str):
        return f" Likely mistake: {likely}", f" 可能的错误：{likely}"
    en, zh = likely
    return f" Likely mistake: {en}", f" 可能的错误：{zh}"


def fail(en: str, zh: str | None = None, likely=None):
    le, lz = _likely(likely)
    raise CheckFailed(en + le, (zh or en) + lz)


def expect(cond, en: str, zh: str | None = None, likely=None):
    if not cond:
        fail(en, zh, likely)


def check(points: int, category: str, timeout: float | None = None):
    """Mark a test function as a scored check (points and category must be literals)."""
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")

    def deco(fn):
        fn = pytest.mark.ptquiz_check(points=points, category=category)(fn)
        fn = getattr(pytest.mark, category)(fn)
        if timeout is not None:
            fn = pytest.mark.timeout(timeout)(fn)
        return fn

    return deco


# ---------------------------------------------------------------------------
# assertions

def _shape(t):
    return tuple(t.shape) if hasattr(t, "shape") else type(t).__name__


def assert_tensor(t, what: str, likely=None):
    if not isinstance(t, torch.Tensor):
        fail(f"{what}: expected a torch.Tensor, got {type(t).__name__}.",
             f"{what}：应为 torch.Tensor，实际是 {type(t).__name__}。", likely)


def plain(t, what: str = "output", likely=None):
    """The plain ``torch.Tensor`` behind ``t``, so that what the grader compares is the data, not what a tensor
    subclass's own ``__torch_function__`` answers about it (shape, values, device). torch's own tensor types
    (``Tensor``, ``nn.Parameter``, the shadow device's) pass unchanged; a subclass with its own
    ``__torch_dispatch__`` (no plain data behind it) fails the check."""
    cls = type(t)
    if cls is torch.Tensor or cls is nn.Parameter or cls is ShadowTensor or not isinstance(t, torch.Tensor):
        return t
    if getattr(cls, "__torch_dispatch__", None) is not torch.Tensor.__torch_dispatch__:
        fail(f"{what}: expected a plain torch.Tensor, got a {cls.__name__} (a tensor subclass with its own "
             f"__torch_dispatch__). Return ordinary tensors.",
             f"{what}：应为普通 torch.Tensor，实际是 {cls.__name__}（自带 __torch_dispatch__ 的张量子类）。请返回普通张量。",
             likely)
    with torch._C.DisableTorchFunctionSubclass():
        return torch._C.TensorBase.as_subclass(t, torch.Tensor)


def assert_shape(t, expected, what: str = "output", likely=None):
    assert_tensor(t, what, likely)
    t = plain(t, what, likely)
    if tuple(t.shape) != tuple(expected):
        fail(f"{what}: expected shape {tuple(expected)}, got {_shape(t)}.",
             f"{what}：期望形状 {tuple(expected)}，实际为 {_shape(t)}。", likely)


def assert_close(actual, expected, what: str = "output", atol: float = 1e-5, rtol: float = 1e-4, likely=None):
    assert_tensor(actual, what, likely)
    actual = plain(actual, what, likely)
    actual = actual.detach().cpu() if isinstance(actual, ShadowTensor) or actual.device.type != "cpu" else actual.detach()
    expected = expected.detach().cpu()
    if tuple(actual.shape) != tuple(expected.shape):
        fail(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}.",
             f"{what}：期望形状 {tuple(expected.shape)}，实际为 {tuple(actual.shape)}。", likely)
    a, e = actual.double(), expected.double()
    if not torch.allclose(a, e, atol=atol, rtol=rtol, equal_nan=True):
        diff = (a - e).abs()
        diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
        idx = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape)) if diff.dim() else ()
        fail(f"{what}: values differ from the expected ones (largest difference {diff.max().item():.3g} "
             f"at index {idx}: expected {e[idx].item():.6g}, got {a[idx].item():.6g}).",
             f"{what}：数值与期望不符（最大差 {diff.max().item():.3g}，位置 {idx}：期望 {e[idx].item():.6g}，"
             f"实际 {a[idx].item():.6g}）。", likely)


def _kind(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"a {v.dtype} tensor of shape {tuple(v.shape)}"
    return type(v).__name__


def as_int(v, what: str, likely=None) -> int:
    """The integer the learner returned, however it is spelled, as a Python int.

    Accepted: a Python int, a numpy integer (``np.prod(p.size())`` gives one), any object with
    ``__index__``, and a 0-dim or 1-element integer tensor. Refused (failing the check): bool, floats
    (even 3.0: ``/`` where ``//`` was meant) and float tensors, with a message saying what came back.
    """
    if isinstance(v, torch.Tensor):
        if v.numel() == 1 and not v.dtype.is_floating_point and not v.dtype.is_complex and v.dtype != torch.bool:
            return int(v.detach().reshape(()).cpu())
    elif not isinstance(v, bool) and not type(v).__name__.startswith("bool"):
        try:
            import operator
            return operator.index(v)
        except TypeError:
            pass
    fail(f"{what} should be an integer, got {_kind(v)} ({v!r:.60}).",
         f"{what} 应为整数，实际是 {_kind(v)}（{v!r:.60}）。", likely)


def as_number(v, what: str, likely=None) -> float:
    """A real number the learner returned (Python or numpy scalar, 0-dim or 1-element tensor) as a float.

    Refused: bool, None, strings, and tensors holding more than one value (said with their shape).
    """
    if isinstance(v, torch.Tensor):
        if v.numel() == 1 and v.dtype != torch.bool and not v.dtype.is_complex:
            return float(v.detach().reshape(()).cpu())
    elif not isinstance(v, (bool, str, bytes)) and v is not None and not type(v).__name__.startswith("bool"):
        import numbers
        if isinstance(v, numbers.Real) or (hasattr(v, "item") and getattr(v, "ndim", 1) == 0):
            try:
                return float(v)
            except (TypeError, ValueError):
                pass
    fail(f"{what} should be a number, got {_kind(v)}.", f"{what} 应为一个数，实际是 {_kind(v)}。", likely)


def assert_uniform(t, bound, what: str, bound_text: str, fix, module: str = "nn.Linear",
                   wrong_fan=("out_features", " out_features ")):
    """``t`` looks like independent draws from U(-bound, bound), with margins a correct init never misses.

    For n draws of U(-b, b): P(max |x| < b (1 - e)) = (1 - e)^n <= exp(-e n), so e = 25 / n (odds e^-25); the
    sample std has relative standard error ~0.447 / sqrt(n) and the mean b / sqrt(3 n): both get 7 standard
    errors. A scaled (kaiming with another a), shifted, constant or normal init misses one of them.
    ``bound_text`` names the bound (e.g. "1/sqrt(in_features)"); ``fix``: (en, zh), how to initialise right, appended
    to each likely mistake; each failure names what it saw first. ``module``: the layer whose init this is (in
    "not nn.Linear's init"); ``wrong_fan``: (en, zh), the size a bound is wrongly computed from (out_features, the
    output channels; the zh text is set between 按 and 计算, spaces included where needed).
    """
    def likely(en, zh):
        return (f"{en} {fix[0]}", f"{zh}{fix[1]}")
    t = t.detach().double().flatten()
    n = t.numel()
    expect(bool(torch.isfinite(t).all()), f"{what}: not every value is finite.", f"{what}：存在非有限值。",
           likely=likely("torch.empty(...) never initialised.", "torch.empty(...) 没有初始化。"))
    top, std, mean = t.abs().max().item(), t.std().item(), t.mean().item()
    want = bound / math.sqrt(3)
    expect(top <= bound * (1 + 1e-6),
           f"{what}: max |value| = {top:.4g} exceeds the bound {bound_text} = {bound:.4g}.",
           f"{what}：最大 |值| = {top:.4g}，超出了边界 {bound_text} = {bound:.4g}。",
           likely=likely("torch.randn (std 1), torch.empty never initialised, xavier_uniform_, kaiming_uniform_ with "
                         f"the default a=0 (bound sqrt(6/fan_in)), or a bound from {wrong_fan[0]}.",
                         "用了 torch.randn（标准差 1）、未初始化的 torch.empty、xavier_uniform_、默认 a=0 的 "
                         f"kaiming_uniform_（边界 sqrt(6/fan_in)），或按{wrong_fan[1]}计算边界。"))
    if n >= 500:
        expect(std > 1e-3 * want,
               f"{what}: all {n} values are the same ({mean:.4g}): a constant, not U(-{bound:.4g}, {bound:.4g}).",
               f"{what}：全部 {n} 个值都相同（{mean:.4g}）：这是常数，而不是 U(-{bound:.4g}, {bound:.4g})。",
               likely=likely(f"zeros_ / constant_ / torch.zeros (a zero bias is a common habit, but not {module}'s "
                             "init).", f"用了 zeros_ / constant_ / torch.zeros（零偏置很常见，但不是 {module} 的初始化）。"))
    else:
        expect(std > 0.3 * want,
               f"{what}: values barely spread (std {std:.3g}); U(-{bound:.4g}, {bound:.4g}) has std {want:.4g}.",
               f"{what}：初值几乎没有离散（标准差 {std:.3g}）；U(-{bound:.4g}, {bound:.4g}) 的标准差为 {want:.4g}。",
               likely=likely("zeros or a constant.", "用了 0 或常数。"))
        return
    near = 25 / n
    expect(top >= bound * (1 - near),
           f"{what}: max |value| = {top:.4g} ({top / bound:.3f} x the bound {bound_text} = {bound:.4g}), but {n} "
           f"draws from U(-{bound:.4g}, {bound:.4g}) come within {100 * near:.2g} % of it: the range is too narrow.",
           f"{what}：最大 |值| = {top:.4g}（边界 {bound_text} = {bound:.4g} 的 {top / bound:.3f} 倍），而从 "
           f"U(-{bound:.4g}, {bound:.4g}) 抽取 {n} 个值时最大值与边界相差不超过 {100 * near:.2g} %：取值范围太窄。",
           likely=likely("a scaled bound: kaiming_uniform_ with another a (a=sqrt(6) gives 0.926 x the bound), "
                         "(torch.rand(n) - 0.5) * bound without the factor 2, or a bound from a larger fan.",
                         "边界被缩放了：kaiming_uniform_ 用了别的 a（a=sqrt(6) 得到 0.926 倍边界），"
                         "(torch.rand(n) - 0.5) * bound 少乘了 2，或按更大的 fan 计算了边界。"))
    tol = 7 * 0.447 / math.sqrt(n)
    expect(abs(std - want) <= tol * want,
           f"{what}: standard deviation {std:.4g}, but U(-{bound:.4g}, {bound:.4g}) has {want:.4g} (bound / sqrt(3)); "
           f"{n} draws stay within {100 * tol:.2g} % of it: the values are not spread uniformly over the range.",
           f"{what}：标准差为 {std:.4g}，而 U(-{bound:.4g}, {bound:.4g}) 的标准差为 {want:.4g}（bound / sqrt(3)）；"
           f"{n} 个值的偏差应在 {100 * tol:.2g} % 以内：取值没有在区间内均匀分布。",
           likely=likely("a normal or truncated normal (kaiming_normal_, trunc_normal_) instead of a uniform.",
                         "用了正态或截断正态分布（kaiming_normal_、trunc_normal_），而不是均匀分布。"))
    expect(abs(mean) <= 7 * want / math.sqrt(n),
           f"{what}: mean {mean:.4g}, but U(-{bound:.4g}, {bound:.4g}) is centred on 0 ({n} draws: |mean| below "
           f"{7 * want / math.sqrt(n):.2g}).",
           f"{what}：均值为 {mean:.4g}，而 U(-{bound:.4g}, {bound:.4g}) 以 0 为中心（{n} 个值的 |均值| 应小于 "
           f"{7 * want / math.sqrt(n):.2g}）。",
           likely=likely("values shifted: torch.rand (in [0, 1)) scaled but not centred.",
                         "取值整体偏移：torch.rand（取值 [0, 1)）缩放了但没有减去中心。"))


def poison_freed_memory(shapes, value=float("nan"), copies: int = 1):
    """Fill ``copies`` tensors of each shape with ``value`` and free them, so that a parameter left as
    ``torch.empty(...)`` (which reuses freed memory) shows it instead of passing for a (zero) init."""
    junk = [torch.full(s, value) for s in shapes for _ in range(copies)]
    del junk


ATTACHED_LOSS = ("{what} is the loss tensor itself, still attached to the autograd graph (grad_fn {grad_fn}); every "
                 "loss kept then keeps its step's whole graph alive.",
                 "{what} 是仍连在自动求导计算图上的损失张量本身（grad_fn {grad_fn}）；保存的每个损失都会让那一步的整张计算图"
                 "一直留在内存里。")
ATTACHED_LOSS_LIKELY = ("`return loss` instead of `return loss.item()` (or float(loss), loss.detach()): the PyTorch "
                        "FAQ's \"don't accumulate history across your training loop\".",
                        "写成了 `return loss`，而不是 `return loss.item()`（或 float(loss)、loss.detach()）：即 PyTorch "
                        "FAQ 中的“不要在训练循环中累积历史”。")


def as_loss(v, what: str, likely=None, attached=ATTACHED_LOSS, attached_likely=ATTACHED_LOSS_LIKELY,
            number_what: str | None = None, number=None) -> float:
    """A loss the learner returned, as a float: any real number (Python, numpy, a one-element tensor), except a
    tensor still attached to the autograd graph (the PyTorch FAQ's "accumulating history" memory leak).

    An attached tensor fails with ``attached`` (en, zh), format strings that may use ``{what}`` and ``{grad_fn}``
    (the name of its grad_fn's type), and ``attached_likely``. Anything else goes to ``number(v, number_what or
    what, likely=likely)`` (default :func:`as_number`), which refuses what is not one number.
    """
    if isinstance(v, torch.Tensor) and (v.requires_grad or v.grad_fn is not None):
        grad_fn = type(v.grad_fn).__name__
        fail(attached[0].format(what=what, grad_fn=grad_fn), attached[1].format(what=what, grad_fn=grad_fn),
             likely=attached_likely)
    return (number or as_number)(v, number_what or what, likely=likely)


def assert_all_params_get_grad(module: torch.nn.Module, what: str = "model", likely=None):
    params = list(module.named_parameters())
    expect(params, f"{what} has no parameters: layers must be attributes (nn.Module or nn.Parameter) to be registered.",
           f"{what} 没有参数：层必须作为属性（nn.Module 或 nn.Parameter）赋值才会被注册。", likely)
    missing = [n for n, p in params if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())]
    zero = [n for n, p in params if p.requires_grad and p.grad is not None and not p.grad.abs().sum() > 0]
    if missing:
        fail(f"{what}: parameters {missing} got no (finite) gradient after backward().",
             f"{what}：参数 {missing} 在 backward() 后没有（有限的）梯度。",
             likely or ("a layer is created but never used in forward, or the graph is cut by .detach()/.item()/numpy.",
                        "某个层创建了但 forward 中没有使用，或计算图被 .detach()/.item()/numpy 切断。"))
    if zero:
        fail(f"{what}: parameters {zero} got an all-zero gradient.",
             f"{what}：参数 {zero} 的梯度全为零。", likely)


def learns(losses, k: int = 3, ratio: float = 0.8) -> bool:
    """Mean of the last k losses below ratio x the mean of the first k."""
    losses = [float(x) for x in losses]
    if len(losses) < 2 * k or not all(math.isfinite(x) for x in losses):
        return False
    return sum(losses[-k:]) / k < ratio * sum(losses[:k]) / k


def assert_learns(losses, what: str = "training", k: int = 3, ratio: float = 0.8, likely=None):
    losses = [float(x) for x in losses]
    if not learns(losses, k, ratio):
        shown = ", ".join(f"{x:.4g}" for x in losses[:3]) + " ... " + ", ".join(f"{x:.4g}" for x in losses[-3:])
        fail(f"{what}: the loss should fall below {ratio}x its starting value within {len(losses)} steps; saw {shown}.",
             f"{what}：损失应在 {len(losses)} 步内降到初始值的 {ratio} 倍以下；实际 {shown}。",
             likely or ("optimizer.step() missing, the optimizer not given the trainable parameters, or the loss detached.",
                        "缺少 optimizer.step()、优化器没有拿到可训练参数，或损失被 detach。"))


def assert_learns_over_seeds(run, seeds=(0, 1, 2), what: str = "training", k: int = 3, ratio: float = 0.8, likely=None):
    """``run(seed) -> losses``. Passes when the first seed learns, else when 2 of the 3 seeds do.

    The rule held for 20/20 seeds on tiny MLP, CNN, LSTM and Transformer tasks (Adam, lr 1e-2,
    <= 30 steps); the fallback keeps a correct solution from ever failing on an unlucky seed.
    """
    first = run(seeds[0])
    if learns(first, k, ratio):
        return
    good = 0
    for s in seeds[1:]:
        with seeded(s):
            good += learns(run(s), k, ratio)
    if good < 2:
        assert_learns(first, what, k, ratio, likely)


# ---------------------------------------------------------------------------
# calling the learner's code

def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's text, cut at a word boundary (with an ellipsis) past ``limit``."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    if len(line) > limit:
        line = line[:limit].rsplit(" ", 1)[0].rstrip(" ,;:(") + " …"
    return line


def learner_line(exc: BaseException) -> str:
    """' (line N of your file, in NAME)' for the innermost frame of the learner's file in exc's traceback, or ''."""
    from .plugin import _learner_line
    where = _learner_line(exc.__traceback__)
    return f" (line {where[1]} of your file, in {where[2]})" if where else ""


# The usual import line for names a learner's file often forgets (NameError -> what to add).
IMPORT_LINES = {"torch": "import torch", "nn": "from torch import nn", "F": "import torch.nn.functional as F",
                "optim": "from torch import optim", "np": "import numpy as np", "math": "import math",
                "models": "from torchvision import models", "v2": "from torchvision.transforms import v2",
                "transforms": "from torchvision import transforms",
                "DataLoader": "from torch.utils.data import DataLoader"}


def missing_import(e: BaseException, imports: dict | None = None):
    """The likely mistake behind NameError ``e``: the import line to add (``imports``: name -> line, default
    :data:`IMPORT_LINES`), else a typo. For ``run_learner(..., known=...)``."""
    fix = (IMPORT_LINES if imports is None else imports).get(getattr(e, "name", None))
    if fix:
        return f"a missing import: add `{fix}` at the top of the file.", f"缺少导入：在文件开头加上 `{fix}`。"
    return ("a name used before it is defined (a typo, or a variable from another function).",
            "使用了未定义的名字（拼写错误，或用了另一个函数里的变量）。")


def _likely_from(known, exc):
    """run_learner's ``known`` applied to ``exc``: a function's answer, or the first matching substring's pair."""
    if callable(known):
        return known(exc)
    msg = first_line(exc).lower()
    return next((lk for sub, lk in known if sub.lower() in msg), None)


def run_learner(what: str, need, fn, *args, known=(), **kwargs):
    """``fn(*args, **kwargs)``; a crash in the learner's code fails the check saying what the check needed.

    ``need``: ``(en, zh)`` completing "This check needs it to ..." ("return (B, C) logits").
    ``known``: ``(substring of the error message, (likely en, likely zh))`` pairs, tried in order, so the
    likely mistake named is the one the error shows; or a function ``exc -> (en, zh) | None`` for cases a
    substring cannot tell (it may also return a pair of its own making, e.g. the import line to add). A failed check, a stub's NotImplementedError, a device
    mismatch on the shadow device and a banned built-in pass through unchanged (they are reported as such).
    """
    try:
        return fn(*args, **kwargs)
    except (CheckFailed, NotImplementedError, DeviceMismatchError, BuiltinUsed, pytest.exit.Exception):
        raise  # pytest.exit(): the plugin fails this check saying the learner's code called it
    except Exception as e:  # noqa: BLE001 - the learner's code may raise anything
        msg = first_line(e)
        likely = _likely_from(known, e)
        ne, nz = need
        fail(f"{what} raised {type(e).__name__}: {msg}{learner_line(e)}. This check needs it to {ne}.",
             f"{what} 抛出了 {type(e).__name__}：{msg}{learner_line(e)}。本项检查需要它{nz}。", likely=likely)


@contextlib.contextmanager
def device_mismatch_explained(likely):
    """A device check's block: a mismatch on the shadow device (which :func:`run_learner` lets through) fails
    with its text, the learner's line and ``likely`` (what to move or create on the device)."""
    try:
        yield
    except DeviceMismatchError as e:
        fail(f"On the accelerator: {first_line(e)}{learner_line(e)}.", f"在加速设备上：{first_line(e)}{learner_line(e)}。",
             likely=likely)


# ---------------------------------------------------------------------------
# built-ins that are off limits ("write it yourself")

class BuiltinUsed(Exception):
    """Raised inside :func:`forbid` when the learner's code reaches a banned built-in."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _raiser(label: str):
    def banned(*args, **kwargs):
        raise BuiltinUsed(label)
    banned.__name__ = f"banned_{label}"
    return banned


class _ForbidOps(TorchFunctionMode):
    """Catches banned ops however they are reached (F.x, torch.x, Tensor methods, torch.ops.aten.x)."""

    def __init__(self, names, pattern, seen, raise_on_use):
        super().__init__()
        self.names, self.pattern, self.seen, self.raise_on_use = frozenset(names), pattern, seen, raise_on_use

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = str(getattr(func, "__name__", "") or func)
        base = name.split(".")[0]
        if base in self.names or name in self.names or (self.pattern is not None and self.pattern.search(name)):
            self.seen.append(base)
            if self.raise_on_use:
                raise BuiltinUsed(name)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbid(ex=None, patches=(), ops=(), pattern=None, raise_on_use=True):
    """While the block runs, the banned built-ins raise :class:`BuiltinUsed`.

    ``patches``: ``(object, attribute, label)`` triples replaced by a raiser (e.g. ``(F, "conv2d", "F.conv2d")``,
    ``(nn.Conv2d, "forward", "nn.Conv2d")``); any name in the learner's module ``ex`` bound to one of the
    originals (``from torch.nn.functional import conv2d``) is replaced too. ``ops``: torch-function names
    (``func.__name__`` before any ``.``, e.g. ``"linear"``, ``"lstm"``) and ``pattern`` (a compiled regex on the
    name) are caught by a TorchFunctionMode, which sees every route to the op. A function mode, not a
    dispatch mode: torch's first op under a dispatch mode imports torch._dynamo (seconds of CPU).
    """
    import re
    if isinstance(pattern, str):
        pattern = re.compile(pattern)
    originals = [(obj, attr, label, getattr(obj, attr)) for obj, attr, label in patches if hasattr(obj, attr)]
    by_id = {id(orig): label for _, _, label, orig in originals}
    restore = [(obj, attr, orig) for obj, attr, _, orig in originals]
    aliases = [(ex, k, v) for k, v in list(vars(ex).items()) if id(v) in by_id] if ex is not None else []
    try:
        for obj, attr, label, _ in originals:
            setattr(obj, attr, _raiser(label))
        for obj, attr, orig in aliases:
            setattr(obj, attr, _raiser(by_id[id(orig)]))
        seen: list[str] = []
        with _ForbidOps(ops, pattern, seen, raise_on_use):
            yield seen
    finally:
        for obj, attr, orig in restore + aliases:
            setattr(obj, attr, orig)


# The recurrent ops behind nn.RNN / nn.LSTM / nn.GRU and their cells (torch-function names).
RECURRENT_OPS = frozenset({"rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "lstm", "lstm_cell", "gru",
                           "gru_cell", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "_cudnn_rnn", "miopen_rnn",
                           "quantized_lstm_cell", "_VF"})


# Built-in attention: the public entry points (patched) and the ops behind them (torch-function names).
ATTENTION_PATCHES = [
    (torch.nn.functional, "scaled_dot_product_attention", "F.scaled_dot_product_attention"),
    (torch._C._nn, "scaled_dot_product_attention", "torch._C._nn.scaled_dot_product_attention"),
    (torch.nn.functional, "multi_head_attention_forward", "F.multi_head_attention_forward"),
    (torch.nn.MultiheadAttention, "forward", "nn.MultiheadAttention"),
]
ATTENTION_OPS = frozenset({"scaled_dot_product_attention", "multi_head_attention_forward",
                           "_native_multi_head_attention"})


def without_builtins(ex, what: str, fn, *args, patches=(), ops=(), pattern=None, task=None, likely=None, **kwargs):
    """``fn(*args, **kwargs)`` under :func:`forbid`; a banned call fails the check with a message that says so.

    ``task``: ``(en, zh)``, what the exercise asks instead ("compute x @ weight.T + bias yourself").
    Other exceptions propagate unchanged (the caller words them).
    """
    try:
        with forbid(ex, patches, ops, pattern):
            return fn(*args, **kwargs)
    except BuiltinUsed as e:
        te, tz = task or ("write it yourself", "自己实现")
        fail(f"{what} called the built-in {e.name}; this exercise asks you to {te}, so the grader makes that "
             f"built-in raise while your code runs.",
             f"{what} 调用了内置的 {e.name}；本题要求{tz}，因此评分时禁止调用它。",
             likely or ("delegating to the built-in: the right tool in real code, but here the point is to write it.",
                        "直接调用了内置实现：实际项目中这样做没问题，但本题的目的是自己写出来。"))


# ---------------------------------------------------------------------------
# sequence models: greedy decoding, causality, toy copy / reverse tasks

def greedy_mismatch(step_scores, src, out, max_len, bos, eos, pad):
    """Check ``out`` (B, L) against step-by-step greedy decoding; return None or (kind, (en, zh)).

    ``step_scores(src, tgt_in) -> (B, t, V)`` is the model's teacher-forced forward. Each step is checked
    against the argmax of the scores given the learner's own prefix (ties within 1e-5 accepted), so one
    mismatch is reported where it happens. After a sequence's EOS every position must be ``pad``; an
    output shorter than ``max_len`` is fine only if every sequence has finished. ``kind``: "length",
    "argmax", "after_eos" or "early_stop" (for the caller's likely-mistake text).
    """
    B, L = out.shape
    if L > max_len:
        return "length", (f"greedy_decode(src, max_len={max_len}) returned {L} steps, more than max_len.",
                          f"greedy_decode(src, max_len={max_len}) 返回了 {L} 步，超过了 max_len。")
    if L == 0:
        return "length", ("greedy_decode returned no tokens at all.", "greedy_decode 没有返回任何 token。")
    done = torch.zeros(B, dtype=torch.bool)
    prefix = torch.full((B, 1), bos, dtype=torch.long)
    for t in range(L):
        with torch.no_grad():
            scores = step_scores(src, prefix)[:, t].float()
        best = scores.argmax(dim=-1)
        for i in range(B):
            tok = int(out[i, t])
            if done[i]:
                if tok != pad:
                    return "after_eos", (f"sample {i} produced EOS before step {t}, but step {t} holds token {tok} instead of "
                            f"pad_id={pad}: a finished sequence must stay finished.",
                            f"样本 {i} 在第 {t} 步之前已生成 EOS，但第 {t} 步是 token {tok} 而不是 pad_id={pad}："
                            f"已结束的序列必须保持结束。")
            elif not (0 <= tok < scores.shape[1]) or scores[i, tok] < scores[i].max() - 1e-5:
                return "argmax", (f"sample {i}, step {t}: greedy_decode chose token {tok}, but given the tokens it had produced "
                        f"before, the model's scores have their argmax at {int(best[i])}.",
                        f"样本 {i} 第 {t} 步：greedy_decode 选了 token {tok}，但在它之前生成的 token 条件下，"
                        f"模型分数的 argmax 是 {int(best[i])}。")
        done = done | (out[:, t] == eos)
        prefix = torch.cat([prefix, out[:, t:t + 1]], dim=1)
    if L < max_len and not bool(done.all()):
        left = [i for i in range(B) if not done[i]]
        return "early_stop", (f"greedy_decode stopped after {L} of max_len={max_len} steps although samples {left} had not produced "
                f"EOS yet.",
                f"greedy_decode 在 {L} 步（max_len={max_len}）后就停止了，但样本 {left} 还没有生成 EOS。")
    return None


def prefix_change(scores_fn, tgt_in, t, new_tail):
    """Largest change of scores_fn(tgt_in)[:, :t+1] when tgt_in[:, t+1:] is replaced by new_tail."""
    with torch.no_grad():
        a = scores_fn(tgt_in)
        tgt2 = tgt_in.clone()
        tgt2[:, t + 1:] = new_tail
        b = scores_fn(tgt2)
    return (F.log_softmax(a[:, :t + 1].double(), -1) - F.log_softmax(b[:, :t + 1].double(), -1)).abs().max().item()


def passes_over_seeds(run, threshold, seeds=(0, 1, 2)):
    """``run(seed) -> score``. Passes when the first seed reaches threshold, else when 2 of the 3 do; returns scores."""
    scores = [run(seeds[0])]
    if scores[0] >= threshold:
        return True, scores
    scores += [run(s) for s in seeds[1:]]
    return sum(s >= threshold for s in scores) >= 2, scores


def _output_linear(m, vocab):
    lins = [l for l in m.modules() if isinstance(l, nn.Linear) and l.out_features == vocab and l.bias is not None]
    return lins[-1] if lins else None


def favour_eos(m, scores_fn, src, vocab, bos, eos, pad, q=0.1):
    """Make a random model's greedy outputs end at varied lengths (for a greedy-decoding check).

    Re-draws the last ``nn.Linear(..., vocab)`` with larger weights (the output then depends strongly on the
    input token), rules out PAD and BOS (as in a trained model: after EOS only padding can give PAD) and raises
    the EOS bias so that EOS wins about a tenth of the teacher-forced steps. ``scores_fn(src, tgt_in)``.
    """
    lin = _output_linear(m, vocab)
    if lin is None:
        return
    with torch.no_grad():
        g = torch.Generator().manual_seed(5)
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * (4.0 / lin.in_features ** 0.5))
        lin.bias[pad] -= 50.0
        lin.bias[bos] -= 50.0
        tgt_in = torch.randint(3, vocab, (src.shape[0], 6), generator=g)
        tgt_in[:, 0] = bos
        s = scores_fn(src, tgt_in).float()
        others = torch.cat([s[..., :eos], s[..., eos + 1:]], dim=-1).amax(-1)
        lin.bias[eos] += torch.quantile((others - s[..., eos]).flatten(), q) + 1e-3


def end_some_at_first_step(m, scores_fn, src, vocab, bos, eos, min_gap=1e-2):
    """Raise the EOS bias of ``m``'s last ``nn.Linear(..., vocab)`` so that, given BOS alone, EOS is the argmax for
    some samples (about half) and not for the others: a greedy decoder must then pad the finished ones while the
    rest go on, whatever the random model does later. Returns the (B,) bool mask of the samples that end at step 0,
    or None when no split with a margin of at least ``min_gap`` exists (no output layer, or scores that do not
    depend on the source). ``scores_fn(src, tgt_in)``; call it after :func:`favour_eos` (which rules out PAD).
    """
    lin = _output_linear(m, vocab)
    B = src.shape[0]
    if lin is None or B < 2:
        return None
    with torch.no_grad():
        s = scores_fn(src, torch.full((B, 1), bos, dtype=torch.long))[:, 0].float().cpu()
        gap = torch.cat([s[:, :eos], s[:, eos + 1:]], dim=-1).amax(-1) - s[:, eos]   # > 0: EOS loses
        if not bool(torch.isfinite(gap).all()):
            return None
        srt = gap.sort().values
        ks = range(max(1, B // 4), max(2, B - B // 4))   # split after the k smallest gaps, k near B / 2
        k = max(ks, key=lambda k: float(srt[k] - srt[k - 1]))
        if float(srt[k] - srt[k - 1]) < min_gap:
            return None
        cut = float(srt[k - 1] + srt[k]) / 2
        lin.bias[eos] += cut
        return gap < cut


def copy_task_batch(g, B, V, lo, hi, reverse, pad, eos, first=3):
    """(src (B, S), targets (B, S + 1)): random ids first..V-1 of lengths lo..hi, right-padded; the target is the
    source (reversed if ``reverse``) followed by EOS, then padding."""
    lengths = torch.randint(lo, hi + 1, (B,), generator=g).tolist()
    S = max(lengths)
    src = torch.randint(first, V, (B, S), generator=g)
    tgt = torch.full((B, S + 1), pad)
    for i, n in enumerate(lengths):
        src[i, n:] = pad
        tgt[i, :n] = src[i, :n].flip(0) if reverse else src[i, :n]
        tgt[i, n] = eos
    return src, tgt


def padded_ids(lengths, T, vocab, pad, seed, first=3):
    """(B, T) random token ids in first..vocab-1 (seeded), right-padded with ``pad`` after each ``lengths[i]``.

    The draw depends only on (B, T, vocab, first, seed), not on the lengths, so two batches of one seed differ
    only in where the padding starts. Ids below ``first`` are left to PAD / BOS / EOS.
    """
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(first, vocab, (len(lengths), T), generator=g)
    for i, n in enumerate(lengths):
        ids[i, int(n):] = pad
    return ids


def shift_right_ids(tgt, bos):
    """Teacher-forcing decoder input: [bos, y_0, ..., y_{T-2}] for targets (B, T)."""
    return torch.cat([torch.full_like(tgt[:, :1], bos), tgt[:, :-1]], dim=1)


def log_probs(scores):
    """Detached float64 log_softmax over the last axis: compares a learner's logits or log-probabilities alike."""
    return F.log_softmax(scores.detach().double(), dim=-1)


def lacks_batch_first(m) -> bool:
    """True if ``m`` holds a recurrent layer, an nn.Transformer or a Transformer encoder/decoder layer built without
    batch_first=True (it then reads (B, T, ...) as (T, B, ...)): for the likely mistake behind a crash or a shape."""
    for l in m.modules():
        if isinstance(l, (nn.RNNBase, nn.Transformer)) and not l.batch_first:
            return True
        if isinstance(l, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)) and not l.self_attn.batch_first:
            return True
    return False


def per_sequence(fn, padded, lengths):
    """The "last real step" reference without packing: ``fn`` run on each sequence ALONE over its real steps.

    ``padded`` (B, T, ...) batch-first, ``lengths`` (B,); ``fn(x (1, n, ...)) -> (1, ...)``. Returns the rows
    concatenated on dim 0. E.g. ``per_sequence(lambda x: last_layer_state(rnn(x)[1], rnn.bidirectional), x, lengths)``.
    """
    return torch.cat([fn(padded[b:b + 1, :int(n)]) for b, n in enumerate(lengths)], dim=0)


def last_layer_state(h_n, bidirectional):
    """The last layer's final hidden state (B, H * D) from an RNN's h_n (an LSTM's (h_n, c_n) taken as h_n):
    h_n[-1], or cat(h_n[-2], h_n[-1]) when bidirectional (forward first, the layout of the RNN's output)."""
    if isinstance(h_n, (tuple, list)):
        h_n = h_n[0]
    return torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else h_n[-1]


def pack_lengths_on_device(exc) -> bool:
    """Whether ``exc`` is pack_padded_sequence refusing lengths on the accelerator (real CUDA or the stand-in)."""
    text = str(exc)  # CUDA: "'lengths' argument should be a 1D CPU int64 tensor, but got 1D cuda:0 Long tensor"
    return "'lengths' argument" in text and "CPU" in text


PACK_LENGTHS_LIKELY = ("the lengths moved to the accelerator: pack_padded_sequence wants them on the CPU even when the "
                       "data is on the GPU (leave them where they came from, or pass lengths.cpu()).",
                       "把 lengths 移到了加速设备上：即使数据在 GPU 上，pack_padded_sequence 也要求 lengths 在 CPU 上"
                       "（保持原位，或传 lengths.cpu()）。")


def run_packed(what, need, fn, *args, known=(), lengths_likely=PACK_LENGTHS_LIKELY, **kwargs):
    """:func:`run_learner` for code that packs padded sequences.

    pack_padded_sequence refusing lengths on the accelerator fails the check with ``lengths_likely``, worded the
    same on real CUDA (a RuntimeError) and on the stand-in (whose DeviceMismatchError run_learner would let
    through). ``known`` as in :func:`run_learner`, for every other crash.
    """
    def call(*a, **k):
        try:
            return fn(*a, **k)
        except DeviceMismatchError as e:
            if pack_lengths_on_device(e):  # as CUDA raises it
                raise RuntimeError(str(e)).with_traceback(e.__traceback__) from None
            raise

    def likely(e):
        return lengths_likely if pack_lengths_on_device(e) else _likely_from(known, e)

    return run_learner(what, need, call, *args, known=likely, **kwargs)


def assert_greedy_decode(m, scores_fn, src, max_len, bos, eos, pad, known=(), likely=None):
    """``m.greedy_decode(src, max_len)`` (no grad) checked against :func:`greedy_mismatch` of ``scores_fn``.

    Integer (B, L) output with L <= max_len required. ``known``: for :func:`run_learner`'s crash wording.
    ``likely``: entries replacing :data:`GREEDY_LIKELY`'s (keys "length", "argmax", "after_eos", "early_stop",
    and "shape" for a non-(B, L) or float output). Returns the output.
    """
    likely = {**GREEDY_LIKELY, **(likely or {})}
    with torch.no_grad():
        out = run_learner("greedy_decode(src, max_len)", ("return the greedy tokens (B, L), L <= max_len",
                                                          "返回贪心解码的 token (B, L)，L <= max_len"),
                          m.greedy_decode, src, max_len, known=known)
    assert_tensor(out, "greedy_decode(src, max_len)")
    expect(out.dim() == 2 and out.shape[0] == src.shape[0] and not out.is_floating_point(),
           f"greedy_decode(src {tuple(src.shape)}, max_len={max_len}) should return integer tokens (B, L) with L <= "
           f"max_len; got {out.dtype} {tuple(out.shape)}.",
           f"greedy_decode(src {tuple(src.shape)}, max_len={max_len}) 应返回 (B, L) 的整数 token，L <= max_len；"
           f"实际为 {out.dtype} {tuple(out.shape)}。", likely=likely["shape"])
    bad = greedy_mismatch(scores_fn, src, out.long(), max_len, bos, eos, pad)
    if bad:
        kind, (en, zh) = bad
        fail(en, zh, likely=likely[kind])
    return out


def seq2seq_on_device(m, dev, scores_fn, src, tgt_in, max_len, likely):
    """Move ``m`` to ``dev``; return CPU copies of ``scores_fn(src, tgt_in)`` and ``m.greedy_decode(src, max_len)``
    computed there (no grad), both checked to be on the device. Call inside ``with accelerator() as dev``.

    Any crash there (a device mismatch included) fails with ``likely`` (the exercise's device mistakes).
    """
    m.to(dev)
    try:
        with torch.no_grad():
            scores = run_learner("On the accelerator, forward", ("run on the device", "在该设备上运行"),
                                 scores_fn, src.to(dev), tgt_in.to(dev), known=lambda e: likely)
            out = run_learner("On the accelerator, greedy_decode", ("run on the device", "在该设备上运行"),
                              m.greedy_decode, src.to(dev), max_len, known=lambda e: likely)
    except DeviceMismatchError as e:
        fail(f"On the accelerator, forward/greedy_decode raised {type(e).__name__}: {first_line(e)}{learner_line(e)}",
             f"在加速设备上，forward/greedy_decode 抛出 {type(e).__name__}：{first_line(e)}{learner_line(e)}",
             likely=likely)
    assert_on_device(scores, dev, "forward scores", likely=likely)
    assert_on_device(out, dev, "greedy_decode output", likely=likely)
    return to_cpu(scores), to_cpu(out)


GREEDY_LIKELY = {
    "shape": ("returning the BOS column too, or (L, B) instead of (B, L).",
              "把 BOS 列也一起返回了，或返回了 (L, B) 而不是 (B, L)。"),
    "length": ("the loop runs for the wrong number of steps (range(max_len)), or the BOS column is returned too.",
               "循环的步数不对（应为 range(max_len)），或把 BOS 列也一起返回了。"),
    "argmax": ("the decoder state not carried from one step to the next (decode each step from the previous step's "
               "state), or the argmax token not fed back as the next input.",
               "解码器状态没有从一步传到下一步（每一步都要从上一步的状态继续解码），或 argmax 得到的 token 没有作为下一步的输入。"),
    "after_eos": ("finished sequences are not padded: keep a done mask, next.masked_fill(done, pad_id), then "
                  "done |= next == eos_id.",
                  "已结束的序列没有填充：维护一个 done 掩码，next.masked_fill(done, pad_id)，然后 done |= next == eos_id。"),
    "early_stop": ("the loop stops when ANY sequence has produced EOS; stop only when all of them have (done.all()).",
                   "只要有一个序列生成了 EOS 循环就停了；应在所有序列都结束时（done.all()）才停止。"),
}


# ---------------------------------------------------------------------------
# "pretrained" models made in the grader (nothing is downloaded)

def pretend_pretrained(model: nn.Module, passes: int = 3, batch=(8, 3, 32, 32)) -> nn.Module:
    """Give a freshly built CNN pretrained-like BatchNorm layers, in place, and return it in eval mode.

    Perturbs every BatchNorm's affine weights (so they are not the 1/0 defaults) and sets its running
    statistics to those of ``passes`` random batches (cumulative average), so that a model left in train mode
    visibly moves them. Seed the caller (``with seeded(s):``) around building the model and this call.
    """
    bns = [mod for mod in model.modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.1)
            bn.momentum = None  # cumulative average: running stats = the data's statistics
        model.train()
        for _ in range(passes):
            model(torch.randn(*batch) * 1.3 + 0.2)
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()


# ---------------------------------------------------------------------------
# devices and randomness

@contextlib.contextmanager
def accelerator():
    """Yield a non-CPU device: real CUDA when present, else the shadow stand-in.

    Build models on the CPU *before* entering (or inside, then move them): the point
    is to check that the learner's code moves things / creates tensors on the right device.
    """
    if torch.cuda.is_available():
        yield torch.device("cuda")
    else:
        with shadow_device() as dev:
            yield dev


def on_device(t, dev) -> bool:
    return isinstance(t, torch.Tensor) and plain(t).device.type == torch.device(dev).type


def assert_on_device(t, dev, what: str = "output", likely=None):
    assert_tensor(t, what, likely)
    if not on_device(t, dev):
        fail(f"{what}: expected it on the accelerator ({torch.device(dev).type}), found it on {t.device}.",
             f"{what}：应位于加速设备上，实际位于 {t.device}。",
             likely or ("a tensor created without device=..., or .cpu() called inside the model.",
                        "创建张量时没有指定 device=...，或在模型内部调用了 .cpu()。"))


def to_cpu(x):
    """Detach and bring a tensor (or nested structure) back to plain CPU."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, (list, tuple)):
        return type(x)(to_cpu(v) for v in x)
    if isinstance(x, dict):
        return {k: to_cpu(v) for k, v in x.items()}
    return x


@contextlib.contextmanager
def seeded(seed: int = 0):
    """Run a block with a fixed seed without disturbing the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


_skip_compiler_import()  # last: after this module's own imports (shadow.py pulls in the dispatch machinery)
