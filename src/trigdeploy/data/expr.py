"""Safe column expressions for selections, derived quantities and cut-defined labels.

``"(trigE | trigM) & (lep_n >= 1)"`` or ``"lep_pt_0 / met_et"``: the text is parsed with
``ast`` and evaluated by walking a whitelist of nodes (arithmetic, comparisons, ``& | ~``,
``and/or/not``, numeric constants, column names, and the functions in ``FUNCTIONS``) over
numpy arrays. Nothing is ever passed to ``eval``: attributes, subscripts, lambdas and any name
that is not a column are rejected with the offending text.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping

import numpy as np

from trigdeploy.errors import TrigdeployError

FUNCTIONS = {
    "abs": np.abs, "sqrt": np.sqrt, "log": np.log, "exp": np.exp, "cosh": np.cosh, "sinh": np.sinh,
    "cos": np.cos, "sin": np.sin, "arctan2": np.arctan2, "hypot": np.hypot, "minimum": np.minimum,
    "maximum": np.maximum, "where": np.where,
}
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow, ast.Mod: operator.mod, ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or,
}
_COMPARE = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: np.logical_not, ast.Invert: np.logical_not}


class Expr:
    """A parsed, validated expression; ``names`` are the columns it reads."""

    def __init__(self, text: str, where: str = "expression"):
        self.text = text
        self.where = where
        try:
            self._tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise TrigdeployError(f"{where}: cannot parse '{text}': {exc.msg}") from None
        names: list[str] = []
        self._check(self._tree.body, names)
        self.names = tuple(dict.fromkeys(names))

    def _bad(self, node: ast.AST) -> TrigdeployError:
        return TrigdeployError(
            f"{self.where}: '{ast.unparse(node)}' is not allowed in '{self.text}' "
            "(columns, numbers, + - * / ** %, comparisons, & | ~, and/or/not, "
            f"and {', '.join(sorted(FUNCTIONS))})"
        )

    def _check(self, node: ast.AST, names: list[str]) -> None:
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str) or not isinstance(node.value, (int, float, bool)):
                raise self._bad(node)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            self._check(node.left, names)
            self._check(node.right, names)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            self._check(node.operand, names)
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v, names)
        elif isinstance(node, ast.Compare) and all(type(o) in _COMPARE for o in node.ops):
            for v in (node.left, *node.comparators):
                self._check(v, names)
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
            and not node.keywords
        ):
            for a in node.args:
                self._check(a, names)
        else:
            raise self._bad(node)

    def __call__(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        missing = [n for n in self.names if n not in columns]
        if missing:
            raise TrigdeployError(f"{self.where}: '{self.text}' uses unknown column(s): {', '.join(missing)}")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(self._eval(self._tree.body, columns))

    def _eval(self, node: ast.AST, cols: Mapping[str, np.ndarray]):
        if isinstance(node, ast.Name):
            return cols[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._eval(node.left, cols), self._eval(node.right, cols))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, cols))
        if isinstance(node, ast.BoolOp):
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            values = [self._eval(v, cols) for v in node.values]
            out = values[0]
            for v in values[1:]:
                out = combine(out, v)
            return out
        if isinstance(node, ast.Compare):
            left, out = self._eval(node.left, cols), True
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, cols)
                out = np.logical_and(out, _COMPARE[type(op)](left, right))
                left = right
            return out
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id](*(self._eval(a, cols) for a in node.args))
        raise self._bad(node)  # unreachable: _check validated the tree
