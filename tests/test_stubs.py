"""Stubs are generated from solutions, kept in sync, and keep signatures, docstrings and TODOs."""
import ast

import pytest

from ptquiz.catalog import Catalog
from ptquiz.stubs import StubError, make_stub, solution_lines, todo_functions

from conftest import KIT

SOLUTION = '''"""Doc."""
import torch


def helper(x):
    """Keep me."""
    # BEGIN SOLUTION
    # TODO: double it
    y = x * 2
    return y
    # END SOLUTION


class M:
    def f(self):
        # BEGIN SOLUTION
        # STUB: return None
        return 1
        # END SOLUTION


# BEGIN SOLUTION
def _solution_only():
    return 3
# END SOLUTION
'''


def test_blocks_become_todo_and_raise():
    stub = make_stub(SOLUTION)
    assert '"""Keep me."""' in stub and "# TODO: double it" in stub
    assert "y = x * 2" not in stub and "_solution_only" not in stub
    assert 'raise NotImplementedError("TODO: write this part")' in stub
    assert "        return None\n" in stub and "return 1" not in stub
    ast.parse(stub)
    assert todo_functions(stub) == ["helper"]
    assert solution_lines(SOLUTION) == ["def _solution_only():"]  # short lines like "return 1" are not


@pytest.mark.parametrize("text, err", [
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    # END SOLUTION\n", "inside the block"),
])
def test_unbalanced_markers_are_reported_with_line(text, err):
    with pytest.raises(StubError, match=err):
        make_stub(text, "sol.py")


def test_committed_stubs_are_in_sync_with_solutions():
    stale = []
    for ex in Catalog(KIT):
        expected = make_stub(ex.solution_path.read_text(encoding="utf-8"), str(ex.solution_path))
        if ex.exercise_path.read_text(encoding="utf-8") != expected:
            stale.append(ex.name)
    assert not stale, f"stale stubs (run `pt-quiz build`): {stale}"


def test_stubs_keep_the_api_and_ask_for_work():
    for ex in Catalog(KIT):
        stub = ex.exercise_path.read_text(encoding="utf-8")
        sol = ex.solution_path.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in stub, ex.name
        assert todo_functions(stub), f"{ex.name}: stub asks for nothing"
        defs = lambda src: sorted(n.name for n in ast.walk(ast.parse(src))
                                  if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_"))
        assert set(defs(stub)) <= set(defs(sol)), ex.name
