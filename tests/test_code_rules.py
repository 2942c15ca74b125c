"""The code stays readable in pieces: in ``src/``, no function over 60 lines, no module over 500, and a
docstring on every public function and method.

A function's lines run from its ``def`` (decorators aside) to its last statement, docstring and
comments included; a nested function counts within its parent too. Split a long function into named
steps (each with its docstring) rather than raising the limits. Public: a module-level function or a
method of a module-level class whose names do not start with ``_`` (nested helpers are private).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trigdeploy"
FUNCTION_LINES = 60
MODULE_LINES = 500


def oversized(root: Path) -> list[str]:
    """Every function over ``FUNCTION_LINES`` and every module over ``MODULE_LINES`` under ``root``."""
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MODULE_LINES:
            out.append(f"{path.relative_to(root)}: {lines} lines (module limit {MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > FUNCTION_LINES:
                    out.append(
                        f"{path.relative_to(root)}:{node.lineno}: {node.name} is {n} lines "
                        f"(function limit {FUNCTION_LINES})"
                    )
    return out


def undocumented(root: Path) -> list[str]:
    """Every public function and method under ``root`` without a docstring."""
    out = []

    def visit(path: Path, body: list, where: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not node.name.startswith("_") and ast.get_docstring(node) is None:
                    out.append(f"{path.relative_to(root)}:{node.lineno}: {where}{node.name}")
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(path, node.body, f"{node.name}.")

    for path in sorted(root.rglob("*.py")):
        visit(path, ast.parse(path.read_text()).body, "")
    return out


def test_every_public_function_has_a_docstring():
    assert undocumented(SRC) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("def f():\n    pass\n", ["m.py:1: f"]),
        ("class A:\n    def g(self):\n        pass\n", ["m.py:2: A.g"]),
        ("def _f():\n    def g():\n        pass\n", []),
        ('def f():\n    """Doc."""\n', []),
    ],
    ids=["function", "method", "private-and-nested", "documented"],
)
def test_the_docstring_check_finds_what_is_undocumented(tmp_path, source, found):
    (tmp_path / "m.py").write_text(source)
    assert undocumented(tmp_path) == found


def test_no_function_or_module_is_over_its_limit():
    assert oversized(SRC) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("def f():\n" + "    x = 1\n" * FUNCTION_LINES, "f is 61 lines"),
        ("class A:\n    def g(self):\n" + "        pass\n" * FUNCTION_LINES, "g is 61 lines"),
        ("x = 1\n" * (MODULE_LINES + 1), "501 lines (module limit"),
    ],
    ids=["function", "method", "module"],
)
def test_the_check_finds_what_is_over(tmp_path, source, found):
    (tmp_path / "m.py").write_text(source)
    (problem,) = oversized(tmp_path)
    assert found in problem


def test_the_check_passes_what_is_at_the_limit(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n" + "    x = 1\n" * (FUNCTION_LINES - 1))
    assert oversized(tmp_path) == []
