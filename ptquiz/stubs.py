"""Generate a learner's stub from a reference solution (nbgrader/otter-style markers).

In a solution, the code the learner must write sits between two marker lines::

        # BEGIN SOLUTION
        # TODO: project q, k and v, then split the heads     <- kept in the stub
        # STUB: return None                                   <- emitted in the stub, uncommented
        q = self.q_proj(x) ...                                 <- removed
        # END SOLUTION

In the stub, the block becomes its ``# TODO`` lines followed by its ``# STUB:``
lines or, when there are none, ``raise NotImplementedError(...)``. A block at
module level (no indentation) without STUB lines is removed entirely (for
solution-only helpers). Everything outside the blocks is copied unchanged.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
TODO = re.compile(r"^\s*# TODO\b")
STUB = re.compile(r"^\s*# STUB: ?(.*)$")
RAISE = 'raise NotImplementedError("TODO: write this part")'


class StubError(Exception):
    pass


def make_stub(solution_text: str, filename: str = "<solution>") -> str:
    out: list[str] = []
    block: list[str] | None = None
    indent = ""
    start = 0
    for lineno, line in enumerate(solution_text.splitlines(keepends=True), 1):
        m = BEGIN.match(line)
        if m:
            if block is not None:
                raise StubError(f"{filename}:{lineno}: BEGIN SOLUTION inside the block opened at line {start}; close it with # END SOLUTION first")
            block, indent, start = [], m.group(1), lineno
            continue
        if END.match(line):
            if block is None:
                raise StubError(f"{filename}:{lineno}: END SOLUTION without a BEGIN SOLUTION above it")
            todos = [indent + ln.strip() + "\n" for ln in block if TODO.match(ln)]
            stubs = [indent + STUB.match(ln).group(1) + "\n" for ln in block if STUB.match(ln)]
            if stubs:
                out += todos + stubs
            elif indent:
                out += todos + [indent + RAISE + "\n"]
            block = None
            continue
        if block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise StubError(f"{filename}:{start}: BEGIN SOLUTION is never closed; add # END SOLUTION")
    stub = "".join(out)
    try:
        ast.parse(stub, filename=filename)
    except SyntaxError as e:
        raise StubError(f"{filename}: the generated stub is not valid Python (line {e.lineno}: {e.msg}); "
                        f"check the indentation of the SOLUTION markers") from None
    return stub


def solution_lines(solution_text: str) -> list[str]:
    """The non-trivial lines inside solution blocks (used to check that exports leak none)."""
    lines, inside = [], False
    for line in solution_text.splitlines():
        if BEGIN.match(line):
            inside = True
        elif END.match(line):
            inside = False
        elif inside and not TODO.match(line) and not STUB.match(line):
            s = line.strip()
            if len(s) >= 20 and not s.startswith("#"):
                lines.append(s)
    return lines


def todo_functions(source: str) -> list[str]:
    """Qualified names of the functions whose body raises NotImplementedError: what to implement."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []

    def visit(node, prefix=""):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(child):
                    if isinstance(sub, ast.Raise) and sub.exc is not None:
                        exc = sub.exc.func if isinstance(sub.exc, ast.Call) else sub.exc
                        if getattr(exc, "id", None) == "NotImplementedError":
                            found.append(f"{prefix}{child.name}")
                            break
    visit(tree)
    return found


def stub_for(solution: Path) -> str:
    return make_stub(solution.read_text(encoding="utf-8"), str(solution))


def pristine_stub(ex) -> str | None:
    """The starting stub of an exercise: generated from its solution, or (in a student copy, which has no
    solutions) the pristine copy under graders/stubs/. None when neither exists."""
    if ex.solution_path.exists():
        return stub_for(ex.solution_path)
    copy = ex.pack / "graders" / "stubs" / f"{ex.name}.py"
    return copy.read_text(encoding="utf-8") if copy.exists() else None
