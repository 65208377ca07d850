"""Evidence that a grade was earned by the learner's answer, not by changing the grader.

The learner's module runs inside the pytest worker that produces the reports, so in-process Python
cannot be fully closed against it. What this module does instead, in three independent layers:

* :func:`scan_source` (in the engine's own process, on the file's text): flags source that reaches for
  the grading machinery or the interpreter's internals (pytest, ptquiz, ``sys.modules``, ``gc``, frames,
  ``torch._C``, ``ctypes``, writes to imported modules, ``__torch_function__``, ``exec``, ...). Nothing the
  learner's code does at run time can change what this finds.
* :class:`Guard` (in each worker, before the first learner import): remembers the identity of every object
  grading relies on (pytest's report classes and runner, pluggy, xdist's worker, ``ptquiz.plugin`` /
  ``gradelib`` / ``shadow``, the graders' modules, ``torch`` / ``torch.nn`` / ``F`` / ``torch.Tensor`` and
  their methods, ``builtins``) and checks them after the import and after every check: a replaced object,
  a swapped ``__code__``, a new Tensor subclass with its own ``__torch_function__``, torch functions
  disabled by the learner's code are reported (and the originals put back).
* :func:`seal` authenticates what crosses a process boundary (a worker's verdict to the controller, the
  controller's records to the engine) with keys the learner's code is not given.

A flag never grants points; a flagged exercise's score is withheld (see ``runner.score``).
Imports no torch at module level (the engine imports this module for :func:`scan_source`).
"""
from __future__ import annotations

import ast
import re
import hashlib
import hmac
import sys
from operator import attrgetter, is_not, itemgetter, ne
from pathlib import Path


def seal(key: bytes, *parts) -> str:
    """HMAC-SHA256 of ``parts`` (joined by NUL) under ``key``, hex."""
    msg = "\0".join(str(p) for p in parts).encode("utf-8", "surrogatepass")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def same(a: str | None, b: str) -> bool:
    return isinstance(a, str) and hmac.compare_digest(a, b)


def flag(kind: str, en: str, zh: str) -> dict:
    return {"kind": kind, "en": en, "zh": zh}


# ---------------------------------------------------------------------------
# static scan of the learner's source

# top-level modules whose import gives a route into the grading machinery or the interpreter
DENY_MODULES = {
    "pytest": "the test framework that runs the grader", "_pytest": "the test framework that runs the grader",
    "pluggy": "pytest's hook machinery", "xdist": "the parallel grading workers", "execnet": "the parallel grading workers",
    "pytest_timeout": "the time limit", "ptquiz": "the grading engine", "cli": "the grading engine",
    "gc": "the garbage collector (it reaches every object, the grader's included)",
    "inspect": "stack frames and other code's internals",
    "ctypes": "raw memory", "_ctypes": "raw memory", "cffi": "raw memory",
    "builtins": "Python's built-in functions", "importlib": "the import system", "imp": "the import system",
    "runpy": "running other code", "code": "running other code", "codeop": "running other code",
    "marshal": "code objects", "pickle": "unpickling (it runs arbitrary code)", "_pickle": "unpickling",
    "dill": "unpickling", "cloudpickle": "unpickling", "shelve": "unpickling", "copyreg": "pickling hooks",
    "faulthandler": "the time limit's backstop", "signal": "signals (the time limit)",
    "_thread": "interrupting the grader", "subprocess": "starting other programs", "pty": "starting other programs",
    "site": "the interpreter's start-up", "trace": "tracing other code", "_signal": "signals (the time limit)",
}
# torch submodules that bypass what the graders see (private modules are refused too: torch._C, torch._dynamo, ...)
DENY_TORCH = {"torch.overrides": "the torch-function machinery the 'write it yourself' checks rely on",
              "torch.library": "re-registering torch's own operators",
              "torch.utils._python_dispatch": "dispatch modes"}
# attribute names (on anything) that reach into code, frames, the import system or torch's dispatch
DENY_ATTRS = {
    "__dict__": "an object's namespace", "__globals__": "a function's globals", "__code__": "a function's code",
    "__closure__": "a function's closure", "__builtins__": "the built-ins", "__subclasses__": "every subclass of a class",
    "__setattr__": "setting attributes behind the class's back", "__delattr__": "deleting attributes",
    "__getattribute__": "attribute lookup", "__import__": "the import system", "__loader__": "the import system",
    "__spec__": "the import system", "f_back": "the caller's frame", "f_globals": "a frame's globals",
    "f_locals": "a frame's locals", "f_builtins": "a frame's built-ins", "tb_frame": "a traceback's frames",
    "gi_frame": "a generator's frame", "cr_frame": "a coroutine's frame", "ag_frame": "a generator's frame",
    "_getframe": "stack frames", "_current_frames": "stack frames", "settrace": "tracing", "setprofile": "profiling",
    "meta_path": "the import system", "path_hooks": "the import system", "path_importer_cache": "the import system",
    "_C": "torch's C core (torch._C)", "__torch_function__": "a tensor subclass that answers for torch functions",
    "__torch_dispatch__": "a tensor subclass that answers for torch operators",
    "_make_wrapper_subclass": "wrapper tensor subclasses", "DisableTorchFunction": "switching torch functions off",
    "DisableTorchFunctionSubclass": "switching torch functions off", "_disabled_torch_function_impl": "torch functions",
    "TorchFunctionMode": "torch-function modes", "TorchDispatchMode": "dispatch modes",
    "_pop_mode": "torch-function modes", "_push_mode": "torch-function modes", "_pop_mode_temporarily": "torch-function modes",
    "_pop_torch_function_stack": "torch-function modes", "_push_on_torch_function_stack": "torch-function modes",
}
# attributes refused only on a given module (sys.modules, os.kill, ...)
DENY_MODULE_ATTRS = {
    "sys": {"modules": "the table of loaded modules", "path": "where imports come from",
            "addaudithook": "audit hooks", "settrace": "tracing", "setprofile": "profiling", "_getframe": "stack frames"},
    "types": {"CodeType": "building code objects", "FunctionType": "building functions from code objects"},
    "traceback": {"walk_stack": "stack frames", "walk_tb": "stack frames"},
    "os": {"kill": "signalling the grading processes", "killpg": "signalling the grading processes",
           "system": "starting other programs", "popen": "starting other programs", "fork": "starting other processes",
           "forkpty": "starting other processes", "setsid": "escaping the grader's process group",
           "setpgid": "escaping the grader's process group", "posix_spawn": "starting other programs",
           "posix_spawnp": "starting other programs", "execv": "replacing the process", "execve": "replacing the process",
           "execvp": "replacing the process", "execvpe": "replacing the process", "execl": "replacing the process",
           "execle": "replacing the process", "execlp": "replacing the process", "execlpe": "replacing the process",
           "spawnv": "starting other programs", "spawnve": "starting other programs", "spawnvp": "starting other programs",
           "spawnl": "starting other programs", "spawnlp": "starting other programs",
           "pidfd_open": "signalling the grading processes"},
}
DENY_NAMES = {"exec": "running code built at run time", "eval": "running code built at run time",
              "compile": "building code at run time", "__import__": "the import system", "globals": "the module's namespace",
              "vars": "an object's namespace", "breakpoint": "the debugger", "__builtins__": "the built-ins"}
PRIVATE_CLASS = re.compile(r"^_[A-Z][a-z][A-Za-z0-9]*$")  # _BatchNorm, _ConvNd; not _C
WRITE_OK = {("torch", "backends"), ("os", "environ")}  # writes a correct answer may make (cudnn flags, env vars)


def _dotted(node) -> list[str] | None:
    """['torch', 'nn', 'Module'] for torch.nn.Module (Names and Attributes only), else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _root(node):
    """The Name at the bottom of an attribute / subscript / call chain."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


class _Scan(ast.NodeVisitor):
    def __init__(self, local_names: set[str]):
        self.found: list[tuple[int, str, str]] = []  # (line, what, why)
        self.imported: dict[str, str] = {}  # local name -> the module path it names ("torch.nn", "os.kill", ...)
        self.local_names = local_names

    def hit(self, node, what, why):
        self.found.append((getattr(node, "lineno", 0), what, why or "the interpreter's internals"))

    # imports ---------------------------------------------------------------
    def _module(self, node, full: str):
        top = full.split(".")[0]
        if top in DENY_MODULES:
            self.hit(node, f"import {full}", DENY_MODULES[top])
        elif top in self.local_names:
            self.hit(node, f"import {full}", "a file grading does not scan (only the exercise file is graded)")
        elif top == "torch":
            for name, why in DENY_TORCH.items():
                if full == name or full.startswith(name + "."):
                    self.hit(node, f"import {full}", why)
                    return
            # a private module (torch._C, torch._dynamo, ...) is off limits; a private *class* from a public
            # module is a well-known idiom (isinstance(m, _BatchNorm) in mmcv/mmdet, _ConvNd, _LRScheduler)
            if any(p.startswith("_") and not PRIVATE_CLASS.match(p) for p in full.split(".")[1:]):
                self.hit(node, f"import {full}", "torch's private internals")

    def visit_Import(self, node):
        for a in node.names:
            self._module(node, a.name)
            self.imported[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level:
            self.hit(node, "a relative import", "a file grading does not scan (only the exercise file is graded)")
            return
        mod = node.module or ""
        self._module(node, mod)
        for a in node.names:
            full = f"{mod}.{a.name}"
            self.imported[a.asname or a.name] = full
            if a.name == "*":
                continue
            if mod == "torch" or mod.startswith("torch."):
                self._module(node, full)
            deny = DENY_MODULE_ATTRS.get(mod, {})
            if a.name in deny or a.name in DENY_ATTRS:
                self.hit(node, f"from {mod} import {a.name}", deny.get(a.name) or DENY_ATTRS.get(a.name))
        self.generic_visit(node)

    # names and attributes --------------------------------------------------
    def visit_Name(self, node):
        if node.id in DENY_NAMES:
            self.hit(node, node.id, DENY_NAMES[node.id])

    def visit_Attribute(self, node):
        if node.attr in DENY_ATTRS:
            self.hit(node, f".{node.attr}", DENY_ATTRS[node.attr])
        else:
            root = _dotted(node.value)
            if root and len(root) == 1:
                mod = self.imported.get(root[0], "")
                deny = DENY_MODULE_ATTRS.get(mod, {})
                if node.attr in deny:
                    self.hit(node, f"{root[0]}.{node.attr}", deny[node.attr])
        if isinstance(node.ctx, (ast.Store, ast.Del)) and node.attr in ("__class__", "__bases__"):
            self.hit(node, f"assigning .{node.attr}", "changing an object's class")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and node.value in DENY_ATTRS and node.value.startswith("_"):
            self.hit(node, repr(node.value), DENY_ATTRS[node.value])
        elif isinstance(node.value, str) and node.value.startswith("/proc/"):
            self.hit(node, repr(node.value[:40]), "other processes' /proc entries (the grader's among them)")

    def visit_FunctionDef(self, node):
        if node.name in ("__torch_function__", "__torch_dispatch__"):
            self.hit(node, f"def {node.name}", DENY_ATTRS[node.name])
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    # writes to what was imported --------------------------------------------
    def _write(self, target, node):
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._write(t, node)
            return
        if isinstance(target, ast.Starred):
            return self._write(target.value, node)
        if not isinstance(target, (ast.Attribute, ast.Subscript)):
            return
        root = _root(target)
        if root in self.imported:
            chain = _dotted(target.value if isinstance(target, ast.Subscript) else target) or [root]
            mod = self.imported[root].split(".")
            full = mod + chain[1:]
            if (full[0], full[1] if len(full) > 1 else "") in WRITE_OK:
                return
            self.hit(node, "assigning to " + ".".join(chain) + ("[...]" if isinstance(target, ast.Subscript) else ""),
                     f"changing {'.'.join(mod)}, which the grader uses too")

    def visit_Assign(self, node):
        for t in node.targets:
            self._write(t, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._write(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._write(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for t in node.targets:
            self._write(t, node)
        self.generic_visit(node)

    def visit_Call(self, node):
        fn = node.func.id if isinstance(node.func, ast.Name) else None
        if fn in ("setattr", "delattr") and node.args:
            root = _root(node.args[0])
            if root in self.imported:
                self.hit(node, f"{fn}({ast.unparse(node.args[0])}, ...)", f"changing {self.imported[root]}, which the grader uses too")
        if fn == "getattr" and len(node.args) >= 2 and _root(node.args[0]) in self.imported:
            name = node.args[1]
            if not isinstance(name, ast.Constant):
                mod = self.imported[_root(node.args[0])].split(".")[0]
                if mod in ("torch", "sys", "os", "builtins"):
                    self.hit(node, f"getattr({ast.unparse(node.args[0])}, <computed name>)",
                             f"reaching {mod} attributes by a name built at run time")
        for kw in node.keywords:
            if (kw.arg, getattr(kw.value, "value", None)) in (("weights_only", False), ("allow_pickle", True)):
                self.hit(node, f"{kw.arg}={kw.value.value}", "unpickling (it runs arbitrary code)")
        self.generic_visit(node)


_LISTED: dict[tuple[str, int], frozenset] = {}


def _importable_names(d: Path) -> frozenset:
    """Module names a file in ``d`` or a package folder in ``d`` would answer to (cached per folder version)."""
    try:
        key = (str(d), d.stat().st_mtime_ns)
    except OSError:
        return frozenset()
    if key not in _LISTED:
        names = set()
        try:
            for p in d.iterdir():
                if not p.stem.isidentifier():
                    continue  # NN_slug.py and dot-folders cannot be imported by name
                if p.suffix == ".py" or (p.is_dir() and ((p / "__init__.py").exists() or any(p.glob("*.py")))):
                    names.add(p.stem if p.suffix == ".py" else p.name)
        except OSError:
            pass
        _LISTED[key] = frozenset(names)
    return _LISTED[key]


def scan_source(path: Path, local_dirs=()) -> list[dict]:
    """Flags for the learner's file at ``path`` (empty when nothing in it reaches for the grading machinery).

    ``local_dirs``: folders whose ``*.py`` files and packages are not scanned (the learner's folder, the
    folder grading runs in): importing one of them is flagged. A file that does not parse gives no flags
    (it cannot be imported, so it earns nothing)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    try:
        tree = ast.parse(data, filename=str(path))  # bytes: honours a coding cookie, as the import does
    except (SyntaxError, ValueError):
        return []
    local = set()
    for d in local_dirs:
        local |= _importable_names(Path(d))
    local.discard(Path(path).stem)
    local -= {"torch", "torchvision", "numpy"}
    scan = _Scan(local)
    scan.visit(tree)
    if not scan.found:
        return []
    seen, lines = set(), []
    for line, what, why in sorted(scan.found):
        if (what, why) in seen:
            continue
        seen.add((what, why))
        lines.append((line, what, why))
    shown = "; ".join(f"line {line}: {what} ({why})" for line, what, why in lines[:6])
    more = f"; and {len(lines) - 6} more" if len(lines) > 6 else ""
    shown_zh = "；".join(f"第 {line} 行：{what}（{why}）" for line, what, why in lines[:6])
    return [flag("source",
                 f"Your file reaches for the grading machinery or the interpreter's internals, so grading cannot vouch for "
                 f"this result: {shown}{more}. A correct answer needs none of this: remove it and grade again.",
                 f"你的文件触及了评分机制或解释器内部，因此无法确认该成绩：{shown_zh}{more}。正确答案不需要这些：删除后重新评分。")]


# ---------------------------------------------------------------------------
# run-time guard (inside a grading worker)

_MODULES = ("builtins", "math", "operator", "copy", "functools", "json", "json.encoder", "hmac", "hashlib",
            "_pytest.reports", "_pytest.runner", "_pytest.python", "_pytest.outcomes", "_pytest.fixtures",
            "_pytest.main", "_pytest.nodes", "_pytest.skipping", "_pytest.config", "pluggy._callers", "pluggy._hooks",
            "pluggy._manager", "pytest_timeout", "xdist.remote", "xdist.plugin", "execnet.gateway_base",
            "ptquiz.plugin", "ptquiz.gradelib", "ptquiz.shadow", "ptquiz.integrity", "ptquiz.catalog",
            "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.utils.rnn", "torch.autograd",
            "torch.testing", "torch.overrides", "torch.random", "torch.optim", "torch.linalg", "torch.fft",
            "torch.nn.modules.module", "torch._tensor", "torch.utils._python_dispatch", "torch.utils._pytree",
            "torch._C", "torch._C._nn", "numpy")
# namespaces whose classes (all of them, wherever defined) are checked attribute by attribute
_DEEP = ("torch", "torch.nn", "torch.optim", "torch.autograd", "_pytest.reports", "_pytest.runner", "_pytest.python",
         "_pytest.outcomes", "_pytest.fixtures", "_pytest.main", "_pytest.nodes", "pluggy._callers", "pluggy._hooks",
         "pluggy._manager", "xdist.remote", "execnet.gateway_base", "ptquiz.plugin", "ptquiz.gradelib", "ptquiz.shadow",
         "ptquiz.integrity", "json.encoder")
_MISSING = object()
_GUARDS: list = []
# compared after every check (the rest of _MODULES after each import and between exercises)
_HOT = {"builtins", "_pytest.reports", "_pytest.runner", "_pytest.python", "_pytest.outcomes", "_pytest.fixtures",
        "pluggy._callers", "pluggy._hooks", "xdist.remote", "execnet.gateway_base", "ptquiz.plugin", "ptquiz.gradelib",
        "ptquiz.shadow", "ptquiz.integrity", "torch", "torch.nn.functional", "json", "json.encoder", "hmac"}


class Guard:
    """Identities of what grading relies on, taken before the learner's code first runs; :meth:`check` says
    what changed since and puts the originals back.

    Each namespace (a module's dict, or a class's live ``__dict__``) is compared in C-speed passes
    (``map``/``operator.is_not``): a check costs well under a millisecond."""

    def __init__(self):
        # one flat row per remembered attribute: (label, owner, the namespace's real dict, key) and its object
        self.rows: list[tuple[str, object, dict, object]] = []
        self.dicts: list = []
        self.keys: list = []
        self.objs: list = []
        self.classes: list[tuple[str, type]] = []
        self.lens: list[int] = []
        self.class_keys: list[set] = []
        self.class_dicts: list[dict] = []
        self.funcs: tuple = ()
        self.codes: tuple = ()
        self.func_labels: list[str] = []
        self.hot: tuple = ()  # (dicts, keys, objs, funcs, codes) of what every check is compared on (see check)
        self.learner_files: set[str] = set()
        self.subclasses: set[int] = set()
        self.torch_fn_used: list[str] = []
        self._tensor = None
        self.taken = False

    # baseline ----------------------------------------------------------------
    def take(self, extra_modules=()) -> None:
        import gc
        import types

        torch = sys.modules.get("torch")
        if torch is not None:
            self._wrap_torch_function_switches(torch)  # first: the wrappers are the baseline
        seen: set[int] = set()
        funcs, codes, hot_rows, hot_funcs = [], [], [], []

        def add(label, owner, mapping, deep, data=False, hot=False):
            if id(mapping) in seen:
                return
            seen.add(id(mapping))
            for k, v in list(mapping.items()):
                if v is None or not (callable(v) or data or isinstance(v, (types.ModuleType, classmethod, staticmethod,
                                                                             property))):
                    continue
                if hot:
                    hot_rows.append(len(self.rows))
                self.rows.append((label, owner, mapping, k))
                self.dicts.append(mapping)
                self.keys.append(k)
                self.objs.append(v)
                fn = getattr(v, "__func__", v) if isinstance(v, (classmethod, staticmethod, types.MethodType)) else v
                if type(fn) is types.FunctionType:
                    if hot:
                        hot_funcs.append(len(funcs))
                    funcs.append(fn)
                    codes.append(fn.__code__)
                    self.func_labels.append(f"{label}.{k}")
                if deep and isinstance(v, type):
                    add_class(f"{label}.{k}", v, hot and (owner is not torch))

        def add_class(label, cls, hot=False):
            real = next((d for d in gc.get_referents(cls.__dict__) if isinstance(d, dict)), None)
            if real is None or id(real) in seen:
                return
            add(label, cls, real, False, hot=hot)
            self.classes.append((label, cls))
            self.class_dicts.append(real)
            self.lens.append(len(real))
            self.class_keys.append(set(real))

        modules = {}
        for name in _MODULES:
            mod = sys.modules.get(name)
            if mod is not None and isinstance(getattr(mod, "__dict__", None), dict):
                modules[name] = mod
        for name, mod in modules.items():
            hot_rows.append(len(self.rows))
            self.rows.append(("sys.modules", sys.modules, sys.modules, name))
            self.dicts.append(sys.modules)
            self.keys.append(name)
            self.objs.append(mod)
        for mod in extra_modules:  # the graders: their helpers and constants
            add(f"grader {mod.__name__}", mod, mod.__dict__, True, data=True, hot=True)
        if torch is not None:
            for cls in (torch.Tensor, torch._C.TensorBase, torch.nn.Module):
                add_class(f"{cls.__module__}.{cls.__qualname__}", cls, hot=True)
        for name, mod in modules.items():
            add(name, mod, mod.__dict__, name in _DEEP, hot=name in _HOT)
        if torch is not None:
            self._tensor = torch.Tensor
            for cls in (torch.nn.Parameter,):
                add_class(f"{cls.__module__}.{cls.__qualname__}", cls)
            for cls in _all_subclasses(torch.nn.Module) + _all_subclasses(torch.optim.Optimizer):
                if (cls.__module__ or "").startswith("torch."):
                    add_class(f"{cls.__module__}.{cls.__qualname__}", cls)
            self.subclasses = {id(c) for c in _all_subclasses(torch.Tensor)}
        self.funcs, self.codes = tuple(funcs), tuple(codes)
        getters, objs = _getters([(self.dicts[i], self.keys[i], self.objs[i]) for i in hot_rows])
        self.hot = (getters, objs, tuple(funcs[i] for i in hot_funcs), tuple(codes[i] for i in hot_funcs))
        self.taken = True

    def _wrap_torch_function_switches(self, torch):
        """``torch._C.DisableTorchFunction`` (and popping the mode stack) switches off the mode that catches
        banned built-ins: wrap them so that a use from the learner's file is noted (they work as before).
        Done before the baseline is compared, so the wrappers are what the learner's import sees. The wrappers
        report to the newest guard of the process."""
        _GUARDS[:] = [self]
        for name in ("DisableTorchFunction", "_pop_torch_function_stack"):
            orig = getattr(torch._C, name, None)
            if orig is None or getattr(orig, "_ptquiz_wrapped", False):
                continue
            if isinstance(orig, type):
                def make(orig=orig, name=name):
                    class Wrapped:
                        _ptquiz_wrapped = True

                        def __init__(self, *a, **k):
                            _GUARDS[0]._note_torch_fn(name)
                            self._inner = orig(*a, **k)

                        def __enter__(self):
                            return self._inner.__enter__()

                        def __exit__(self, *exc):
                            return self._inner.__exit__(*exc)
                    Wrapped.__name__ = Wrapped.__qualname__ = name
                    return Wrapped
            else:
                def make(orig=orig, name=name):
                    def wrapped(*a, **k):
                        _GUARDS[0]._note_torch_fn(name)
                        return orig(*a, **k)
                    wrapped._ptquiz_wrapped = True
                    return wrapped
            setattr(torch._C, name, make())

    def _quick_extras(self) -> bool:
        """Anything the cheap tier must hand on to the full comparison: a new Tensor subclass, a noted
        DisableTorchFunction, a trace function."""
        return bool(self.torch_fn_used) or sys.gettrace() is not None or sys.getprofile() is not None or \
            (self._tensor is not None and len(_all_subclasses(self._tensor)) != len(self.subclasses))

    def _note_torch_fn(self, name):
        if not self.learner_files:
            return
        f, depth = sys._getframe(2), 0
        while f is not None and depth < 40:
            if f.f_code.co_filename in self.learner_files:
                self.torch_fn_used.append(f"torch._C.{name} (used at line {f.f_lineno} of your file)")
                return
            f, depth = f.f_back, depth + 1

    # verification ------------------------------------------------------------
    def check(self, full: bool = True) -> list[str]:
        """What changed since :meth:`take` (one line each), each put back; [] when nothing did.

        ``full=False`` (after each check) compares only what reports, scores and compares values (pytest's
        reports and runner, pluggy, xdist, the engine, the graders, ``builtins``, torch's functions, ``F``,
        ``torch.Tensor``): a few milliseconds. The full comparison (every ``nn`` layer's methods, ...) runs after
        each import of a learner's file and whenever a worker moves on to another exercise, so a change is
        caught before anything of another exercise runs on a changed worker."""
        if not self.taken:
            return []
        changed = []
        if not full:
            getters, objs, funcs, codes = self.hot
            now = []
            try:
                for d, get in getters:
                    now.extend(get(d))
            except KeyError:
                now = None
            if now is not None and not any(map(is_not, now, objs)) and \
                    not any(map(is_not, map(_CODE, funcs), codes)) and not self._quick_extras():
                return []
        now = list(map(dict.get, self.dicts, self.keys))  # one pass in C over every remembered attribute
        if any(map(is_not, now, self.objs)):
            for i, (cur, obj) in enumerate(zip(now, self.objs)):
                if cur is obj:
                    continue
                label, owner, mapping, k = self.rows[i]
                if _torch_hook(owner, k, cur, obj, self.learner_files):
                    self.objs[i] = cur  # torch wrapping Optimizer.step in its profiling hook: the new baseline
                    continue
                what = "removed" if cur is None else "replaced"
                changed.append(f"{label}[{k!r}] was {what}" if owner is sys.modules else f"{label}.{k} was {what}")
                _put(owner, mapping, k, obj)
        if any(map(ne, map(len, self.class_dicts), self.lens)):
            for i, ((label, cls), real, before) in enumerate(zip(self.classes, self.class_dicts, self.class_keys)):
                if len(real) == self.lens[i]:
                    continue
                for k in [k for k in list(real) if k not in before]:
                    if _benign_addition(cls, k, real[k], self.learner_files):
                        before.add(k)
                        continue
                    changed.append(f"{label}.{k} was added")
                    _put(cls, real, k, _MISSING)
                self.lens[i] = len(real)
        if any(map(is_not, map(_CODE, self.funcs), self.codes)):
            for label, fn, code in zip(self.func_labels, self.funcs, self.codes):
                if fn.__code__ is not code:
                    changed.append(f"{label} had its code swapped")
                    fn.__code__ = code
        if self._tensor is not None:
            current = _all_subclasses(self._tensor)
            seen, self.subclasses = self.subclasses, {id(c) for c in current}
            for c in current:
                if id(c) not in seen:
                    if _answers_for_torch(c) and not _installed_code(c, self.learner_files):
                        changed.append(f"a Tensor subclass {c.__qualname__} with its own __torch_function__ / "
                                       f"__torch_dispatch__ was defined")
        if self.torch_fn_used:
            changed += [f"{u}" for u in dict.fromkeys(self.torch_fn_used)]
            self.torch_fn_used.clear()
        if sys.gettrace() is not None or sys.getprofile() is not None:
            changed.append("a trace or profile function was installed")
            sys.settrace(None)
            sys.setprofile(None)
        return changed


_CODE = attrgetter("__code__")


def _getters(rows):
    """[(dict, itemgetter of its keys)], and the objects in the order those getters return them: reading many
    keys of one dict in one C call is several times faster than a dict.get per key."""
    by_dict: dict[int, tuple] = {}
    for d, k, o in rows:
        by_dict.setdefault(id(d), (d, [], []))
        by_dict[id(d)][1].append(k)
        by_dict[id(d)][2].append(o)
    getters, objs = [], []
    for d, keys, os_ in by_dict.values():
        if len(keys) == 1:
            keys, os_ = keys * 2, os_ * 2  # itemgetter of one key returns the value, not a tuple
        getters.append((d, itemgetter(*keys)))
        objs.extend(os_)
    return getters, tuple(objs)


def _put(owner, mapping, k, obj) -> None:
    try:
        if isinstance(owner, type):
            if obj is _MISSING:
                type.__delattr__(owner, k)
            else:
                type.__setattr__(owner, k, obj)
        elif obj is _MISSING:
            del mapping[k]
        else:
            mapping[k] = obj
    except (TypeError, AttributeError, KeyError):
        pass


def _all_subclasses(cls) -> list[type]:
    out, todo, seen = [], [cls], set()
    while todo:
        c = todo.pop()
        try:
            subs = type.__subclasses__(c)
        except TypeError:
            continue
        for s in subs:
            if id(s) not in seen:
                seen.add(id(s))
                out.append(s)
                todo.append(s)
    return out


def _answers_for_torch(c) -> bool:
    return "__torch_function__" in c.__dict__ or "__torch_dispatch__" in c.__dict__


def _torch_hook(owner, k, cur, obj, learner_files) -> bool:
    """torch.optim.Optimizer.__init__ replaces its class's ``step`` by ``profile_hook_step(step)`` (marked
    ``hooked``) the first time the class is used: that change is torch's own."""
    optim = sys.modules.get("torch.optim")
    return (k == "step" and optim is not None and isinstance(owner, type) and issubclass(owner, optim.Optimizer)
            and getattr(cur, "hooked", False) and _unhooked(getattr(cur, "__wrapped__", None)) is _unhooked(obj)
            and _library_code(cur, learner_files))


def _unhooked(fn):
    """Optimizer.step under any number of torch's profiling hooks."""
    while getattr(fn, "hooked", False) and getattr(fn, "__wrapped__", None) is not None:
        fn = fn.__wrapped__
    return fn


def _benign_addition(cls, k, v, learner_files) -> bool:
    """What Python and torch add to classes by themselves while grading runs: copyreg's ``__slotnames__`` cache
    (pickling, e.g. torch.save), and Optimizer.step's profiling hook on a subclass that inherited ``step``."""
    if k == "__slotnames__" and isinstance(v, list):
        return True
    inherited = next((b.__dict__[k] for b in cls.__mro__[1:] if k in b.__dict__), None)
    return inherited is not None and _torch_hook(cls, k, v, inherited, learner_files)


def _library_roots() -> set[str]:
    import sysconfig

    return {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}


def _library_code(fn, learner_files) -> bool:
    """``fn``'s code lives in an installed library (not in the learner's file, nor anywhere else)."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return False
    f = code.co_filename
    return f not in learner_files and any(f.startswith(r + "/") for r in _library_roots())


def _installed_code(c, learner_files) -> bool:
    """The class's __torch_function__ / __torch_dispatch__ code lives in an installed library (torchvision's
    tv_tensors, ...), not in the learner's file or anywhere else outside the interpreter's libraries."""
    for name in ("__torch_function__", "__torch_dispatch__"):
        v = c.__dict__.get(name)
        if v is not None and not _library_code(v, learner_files):
            return False
    return True
