"""Mutation testing of the graders: plausible one-line PyTorch bugs planted in a reference.

``pt-quiz validate --mutants`` takes each exercise's reference, plants one plausible mistake at a
time in the code the learner writes (between the SOLUTION markers only), grades every such
*mutant*, and lists those that still get full marks (*survivors*). A survivor is either a bug the
grader misses (add a check and a ``tests/wrong/`` fixture) or a change that truly alters nothing a
learner should be marked on (record it as equivalent, with the reason, in
``<pack>/tests/mutants/NN_slug.toml``)::

    [[equivalent]]
    mutant = "drop-kwarg: inplace=True -> (dropped) in `nn.ReLU(inplace=True)`"
    why = "in-place or not, the values and gradients are the same"

A mutant's key (the ``mutant =`` text) names the operator, the code before and after, and the
source line it sits on, so it survives edits elsewhere in the file.

The operators are the mistakes interviews and the seed are full of:

=================  =================================================================
drop-kwarg         a keyword argument left out (``dim=``, ``batch_first=``, ``keepdim=``, ...)
flip-bool          a literal True/False keyword flipped (``batch_first=False``)
drop-method        ``.detach()``, ``.contiguous()``, ``.clone()``, ``.to(dev)`` ... left out
drop-call          a statement such as ``opt.zero_grad()``, ``model.eval()`` left out
drop-no-grad       ``with torch.no_grad():`` left out (its body kept)
swap-fn            ``relu``/``tanh``, ``softmax``/``log_softmax``, ``mean``/``sum``, ``tril``/``triu`` ...
swap-op            ``+``/``-``, ``*``/``/``, ``//``→``/``, ``<``/``<=``, ...
swap-args          the first two positional arguments swapped (``nn.Linear(out, in)``)
constant           an integer off by one, a float doubled, a sign dropped
=================  =================================================================

Never imports torch (mutants are graded through the runner in child processes).
"""
from __future__ import annotations

import ast
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .stubs import BEGIN, END

SWAPS = {
    "relu": "tanh", "tanh": "relu", "sigmoid": "tanh", "gelu": "relu", "silu": "relu", "elu": "relu",
    "ReLU": "Tanh", "Tanh": "ReLU", "Sigmoid": "Tanh", "GELU": "ReLU", "SiLU": "ReLU",
    "softmax": "log_softmax", "log_softmax": "softmax", "Softmax": "LogSoftmax", "LogSoftmax": "Softmax",
    "max": "min", "min": "max", "amax": "amin", "amin": "amax", "argmax": "argmin", "argmin": "argmax",
    "mean": "sum", "sum": "mean", "tril": "triu", "triu": "tril", "cat": "stack", "stack": "cat",
    "zeros": "ones", "ones": "zeros", "zeros_like": "ones_like", "ones_like": "zeros_like",
    "max_pool2d": "avg_pool2d", "avg_pool2d": "max_pool2d", "MaxPool2d": "AvgPool2d", "AvgPool2d": "MaxPool2d",
    "uniform_": "normal_", "xavier_uniform_": "kaiming_uniform_", "kaiming_uniform_": "xavier_uniform_",
    "randn": "rand", "rand": "randn", "exp": "log", "log": "exp", "sqrt": "square",
    "eval": "train", "train": "eval", "LSTM": "GRU", "GRU": "LSTM", "Dropout": "Identity",
    "BatchNorm1d": "LayerNorm", "binary_cross_entropy_with_logits": "binary_cross_entropy",
    "cross_entropy": "nll_loss", "nll_loss": "cross_entropy", "mse_loss": "l1_loss", "l1_loss": "mse_loss",
}
METHODS_DROPPED = {"detach", "contiguous", "clone", "to", "cpu", "cuda", "float", "requires_grad_", "item",
                   "squeeze", "unsqueeze", "t", "exp", "sqrt", "abs", "neg", "mean", "sum", "flatten",
                   "eval", "train", "long", "bool", "softmax", "log_softmax", "relu", "tanh", "sigmoid",
                   "masked_fill", "transpose", "permute", "reshape", "view"}
STMTS_DROPPED = {"zero_grad", "eval", "train", "step", "backward", "detach_", "requires_grad_", "clip_grad_norm_",
                 "clip_grad_value_", "manual_seed", "zero_", "fill_", "copy_", "uniform_", "normal_", "xavier_uniform_",
                 "kaiming_uniform_", "kaiming_normal_", "xavier_normal_", "constant_", "ones_", "zeros_",
                 "register_buffer", "load_state_dict", "append", "update", "add_", "mul_", "clamp_", "sort",
                 "to", "cuda", "cpu", "save", "seed", "set_grad_enabled", "requires_grad"}
BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
          ast.Pow: ast.Mult}
CMPOPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
          ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
OPERATORS = ("drop-kwarg", "flip-bool", "drop-method", "drop-call", "drop-no-grad", "swap-fn", "swap-op",
             "swap-args", "constant")


@dataclass(frozen=True)
class Mutant:
    op: str
    line: int
    before: str
    after: str
    context: str  # the stripped source line the change sits on
    source: str = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.op}: {self.before} -> {self.after} in `{self.context}`"

    @property
    def label(self) -> str:
        """A short, file-name-safe, stable label (used to name the graded job)."""
        return "mutant:" + hashlib.sha256(self.key.encode()).hexdigest()[:12]


def solution_lines(text: str) -> set[int]:
    """1-based numbers of the lines between BEGIN/END SOLUTION markers (the learner's part)."""
    inside, out = False, set()
    for i, line in enumerate(text.splitlines(), 1):
        if BEGIN.match(line):
            inside = True
        elif END.match(line):
            inside = False
        elif inside:
            out.add(i)
    return out


class _Source:
    """Maps AST positions (lines, UTF-8 byte columns) to the text and replaces spans."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for ln in self.lines:
            self.starts.append(self.starts[-1] + len(ln))

    def offset(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="ignore"))

    def span(self, node) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def segment(self, node) -> str:
        a, b = self.span(node)
        return self.text[a:b]

    def replace(self, a: int, b: int, new: str) -> str:
        return self.text[:a] + new + self.text[b:]

    def context(self, lineno: int) -> str:
        return " ".join(self.lines[lineno - 1].split())


def _short(s: str, n: int = 60) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def generate(text: str) -> list[Mutant]:
    """Every mutant of ``text`` whose change lies wholly inside a SOLUTION block, deduplicated, in source order."""
    tree = ast.parse(text)
    src = _Source(text)
    allowed = solution_lines(text)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    found: dict[str, Mutant] = {}

    def inside(node) -> bool:
        return all(i in allowed for i in range(node.lineno, node.end_lineno + 1))

    def add(op, node, a, b, new, before=None, after=None):
        mutated = src.replace(a, b, new)
        if mutated == text:
            return
        try:
            ast.parse(mutated)
        except SyntaxError:
            return
        m = Mutant(op, node.lineno, _short(before if before is not None else text[a:b]),
                   _short(after if after is not None else new), src.context(node.lineno), mutated)
        found.setdefault(m.key, m)

    parents = {}
    for p in ast.walk(tree):
        for c in ast.iter_child_nodes(p):
            parents[id(c)] = p
    in_fstring = {id(c) for j in ast.walk(tree) if isinstance(j, ast.JoinedStr) for c in ast.walk(j)}

    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or id(node) in in_fstring or not inside(node):
            continue
        if isinstance(node, ast.Call):
            _call_mutants(node, src, add, statement=isinstance(parents.get(id(node)), ast.Expr))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            f = node.value.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name in STMTS_DROPPED or name in METHODS_DROPPED and isinstance(f, ast.Attribute):
                a, b = src.span(node)
                add("drop-call", node, a, b, "pass", before=src.segment(node), after="(dropped)")
        elif isinstance(node, ast.With) and len(node.items) == 1:
            ctx = node.items[0].context_expr
            seg = src.segment(ctx)
            if re.search(r"\b(no_grad|inference_mode)\b", seg):
                a, b = src.span(ctx)
                add("drop-no-grad", node, a, b, "__import__('contextlib').nullcontext()", before=f"with {seg}",
                    after="(dropped)")
        elif isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            _op_mutant(node, node.left, node.right, BINOPS[type(node.op)](), src, add)
        elif isinstance(node, ast.AugAssign) and type(node.op) in BINOPS:
            _op_mutant(node, node.target, node.value, BINOPS[type(node.op)](), src, add)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in CMPOPS:
            _op_mutant(node, node.left, node.comparators[0], CMPOPS[type(node.ops[0])](), src, add)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            if isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)) \
                    and not isinstance(node.operand.value, bool):
                v = node.operand.value
                a, b = src.span(node)
                for new in ({-v + 1, -v - 1} if isinstance(v, int) else {-v * 2}):
                    add("constant", node, a, b, repr(new))
            elif not isinstance(node.operand, ast.Constant):
                a, b = src.span(node)
                add("constant", node, a, b, src.segment(node.operand), after=f"{src.segment(node.operand)} (sign dropped)")
        elif isinstance(node, ast.Constant) and id(node) not in docstrings:
            v = node.value
            par = parents.get(id(node))
            if isinstance(par, ast.UnaryOp):
                continue  # handled with its sign
            a, b = src.span(node)
            if isinstance(v, bool):
                add("flip-bool", node, a, b, repr(not v))
            elif isinstance(v, int):
                for new in sorted({v + 1, v - 1} - {v}):
                    add("constant", node, a, b, repr(new))
            elif isinstance(v, float):
                add("constant", node, a, b, repr(v * 2 if v else 1.0))
        elif isinstance(node, (ast.Attribute, ast.Name)):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name in SWAPS and not isinstance(node.ctx, ast.Store):
                a, b = src.span(node)
                seg = text[a:b]
                if seg.endswith(name):
                    add("swap-fn", node, b - len(name), b, SWAPS[name], before=seg,
                        after=seg[: len(seg) - len(name)] + SWAPS[name])
    return sorted(found.values(), key=lambda m: (m.line, m.key))


def _op_mutant(node, left, right, new_op, src, add):
    a, lb = src.span(left)
    ra, b = src.span(right)
    between = src.text[lb:ra]
    sym = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**",
           ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
    old = {v: k for k, v in sym.items()}
    m = re.fullmatch(r"(\s*\)*\s*)(\*\*|//|<=|>=|==|!=|is not|not in|[-+*/<>]|is|in)(\s*\(*\s*)", between)
    if not m or type(new_op) not in sym or old.get(m.group(2)) is None:
        return
    new_between = m.group(1) + sym[type(new_op)] + m.group(3)
    if isinstance(node, ast.AugAssign):
        return _aug(node, src, add, sym[type(new_op)])
    before = src.text[a:b]
    after = src.text[a:lb] + new_between + src.text[ra:b]
    add("swap-op", node, lb, ra, new_between, before=before, after=after)


def _aug(node, src, add, new_sym):
    a, b = src.span(node)
    seg = src.text[a:b]
    m = re.match(r"^(.*?)(\*\*|//|[-+*/])=", seg, re.S)
    if m:
        add("swap-op", node, a + m.start(2), a + m.end(2), new_sym, before=seg, after=seg[:m.start(2)] + new_sym + seg[m.end(2):])


def _call_mutants(node: ast.Call, src: _Source, add, statement: bool = False):
    text = src.text
    # drop a keyword argument (with its comma)
    for kw in node.keywords:
        if kw.arg is None:
            continue
        ka = src.offset(kw.lineno, kw.col_offset)
        kb = src.offset(kw.end_lineno, kw.end_col_offset)
        # take the comma before it (or after it, when it is the first argument)
        j = ka
        while j > 0 and text[j - 1] in " \t\n":
            j -= 1
        if text[j - 1] == ",":
            a, b = j - 1, kb
        else:
            b = kb
            while b < len(text) and text[b] in " \t\n":
                b += 1
            if b < len(text) and text[b] == ",":
                b += 1
            a = ka
        add("drop-kwarg", kw, a, b, "", before=src.segment(kw), after="(dropped)")
    # drop a method call: x.detach() -> x
    f = node.func
    if isinstance(f, ast.Attribute) and f.attr in METHODS_DROPPED and not _is_module(f.value) and not statement:
        a, b = src.span(node)
        inner = src.segment(f.value)
        add("drop-method", node, a, b, inner, before=src.segment(node), after=inner)
    # swap the first two positional arguments: nn.Linear(out, in), x.transpose(2, 1), ...
    pos = [a for a in node.args if not isinstance(a, ast.Starred)]
    if len(pos) >= 2 and src.segment(pos[0]) != src.segment(pos[1]) and \
            not all(isinstance(a, ast.Constant) for a in pos[:2]) and pos[0].end_lineno == pos[1].lineno:
        a0, b0 = src.span(pos[0])
        a1, b1 = src.span(pos[1])
        s0, s1 = text[a0:b0], text[a1:b1]
        add("swap-args", node, a0, b1, s1 + text[b0:a1] + s0, before=f"{s0}, {s1}", after=f"{s1}, {s0}")


MODULES = {"torch", "F", "nn", "math", "np", "numpy", "init", "functional", "random", "os", "sys"}


def _is_module(node) -> bool:
    """torch, F, nn.init, torch.nn.functional, math ...: a module, not a value whose method could be dropped."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in MODULES and True


# ---------------------------------------------------------------------------
# equivalent mutants recorded by the author

def equivalents_path(ex) -> Path:
    return ex.pack / "tests" / "mutants" / f"{ex.name}.toml"


def load_equivalents(ex) -> dict[str, str]:
    """{mutant key: why} recorded as equivalent for this exercise; raises ValueError with a fix if malformed."""
    p = equivalents_path(ex)
    if not p.is_file():
        return {}
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{p}: not valid TOML ({e}); fix its syntax") from None
    out = {}
    for i, row in enumerate(data.get("equivalent", []), 1):
        if not isinstance(row, dict) or not isinstance(row.get("mutant"), str) or not str(row.get("why", "")).strip():
            raise ValueError(f"{p}: [[equivalent]] entry {i} needs mutant = \"<key as printed>\" and why = \"<reason>\"")
        out[row["mutant"]] = row["why"]
    return out


def sample(mutants: list[Mutant], n: int | None, salt: str) -> list[Mutant]:
    """A deterministic sample of n mutants (all when n is None), spread over the operators."""
    if n is None or n >= len(mutants):
        return list(mutants)
    by_op: dict[str, list[Mutant]] = {}
    for m in sorted(mutants, key=lambda m: hashlib.sha256((salt + m.key).encode()).hexdigest()):
        by_op.setdefault(m.op, []).append(m)
    out = []
    while len(out) < n:
        for op in OPERATORS:
            if by_op.get(op) and len(out) < n:
                out.append(by_op[op].pop(0))
    return sorted(out, key=lambda m: (m.line, m.key))


@dataclass
class ExerciseMutants:
    name: str
    generated: int
    graded: list = field(default_factory=list)  # (Mutant, ExerciseResult | str error)
    equivalent: dict = field(default_factory=dict)  # key -> why (recorded for this exercise)
    keys: set = field(default_factory=set)  # every generated mutant's key (graded or not)

    @property
    def survivors(self) -> list[Mutant]:
        return [m for m, r in self.graded if not isinstance(r, str) and r.score == r.max_score]

    @property
    def unexplained(self) -> list[Mutant]:
        return [m for m in self.survivors if m.key not in self.equivalent]

    @property
    def errors(self) -> list:
        """(Mutant, message) whose grading could not run at all (neither killed nor surviving)."""
        return [(m, r) for m, r in self.graded if isinstance(r, str)]

    @property
    def killed(self) -> int:
        return len(self.graded) - len(self.survivors) - len(self.errors)

    @property
    def kill_rate(self) -> float | None:
        """Killed over graded mutants not recorded as equivalent."""
        n = len(self.graded) - len(self.errors) - len([m for m in self.survivors if m.key in self.equivalent])
        return self.killed / n if n else None

    @property
    def stale(self) -> list[str]:
        """Equivalent entries that no generated mutant matches any more (the code moved on)."""
        return [k for k in self.equivalent if k not in self.keys]


def run(exercises, root: Path, *, per_exercise: int | None = None, jobs: int = 1, workers: int | None = None,
        progress=None, grade_fn=None) -> list[ExerciseMutants]:
    """Generate, sample and grade the mutants of each exercise's reference (batched like validate)."""
    from .runner import GradingError, grade
    from .validate import _run_round, make_rounds

    grade_fn = grade_fn or grade
    say = progress or (lambda msg: None)
    out, jobs_list, by_name, by_label = [], [], {}, {}
    for ex in exercises:
        text = ex.solution_path.read_text(encoding="utf-8")
        every = generate(text)
        em = ExerciseMutants(ex.name, len(every), equivalent=load_equivalents(ex), keys={m.key for m in every})
        out.append(em)
        by_name[ex.name] = ex
        for m in sample(every, per_exercise, ex.name):
            jobs_list.append((ex.name, m.label, m.source))
            by_label[(ex.name, m.label)] = m
    rounds = make_rounds(jobs_list)
    say(f"grading {len(jobs_list)} mutant(s) of {len(out)} exercise(s) in {len(rounds)} run(s)")
    results: dict = {}
    import time
    from concurrent.futures import ThreadPoolExecutor
    t0 = time.monotonic()

    def one(i_rnd):
        i, rnd = i_rnd
        try:
            got, err = _run_round(by_name, rnd, root, workers, grade_fn), None
        except GradingError as e:
            got, err = {}, str(e)
        say(f"  run {i + 1}/{len(rounds)} done ({time.monotonic() - t0:.0f} s)")
        return rnd, got, err

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for rnd, got, err in pool.map(one, enumerate(rounds)):
            for name, (label, _) in rnd.items():
                results[(name, label)] = got.get(name) if err is None else err
    for em in out:
        em.graded = [(m, results.get((em.name, m.label), "not graded")) for (n, _), m in by_label.items()
                     if n == em.name]
    return out


def diff_line(m: Mutant) -> str:
    return f"line {m.line}: {m.before}  ->  {m.after}"
