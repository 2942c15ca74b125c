"""Safe column expressions for selections, derived quantities and cut-defined labels.

``"(trigE | trigM) & (lep_n >= 1)"`` or ``"lep_pt_0 / met_et"``: the text is parsed with
``ast`` and evaluated by walking a whitelist of nodes (arithmetic, comparisons, ``& | ~``,
``and/or/not``, numeric constants, column names, and the functions in ``FUNCTIONS``) over
numpy arrays. Nothing is ever passed to ``eval``: attributes, subscripts, lambdas and any name
that is not a column are rejected with the offending text.

Evaluation is bounded: the text is at most ``MAX_CHARS`` characters and ``MAX_DEPTH`` levels deep,
functions are called with their exact number of arguments, and powers are computed in float64
(``9**9**9`` is ``inf`` at once, not a Python integer that never finishes). Every failure is one
line naming the expression.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping

import numpy as np

from trigdeploy.errors import TrigdeployError

FUNCTIONS = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "exp": np.exp,
    "cosh": np.cosh,
    "sinh": np.sinh,
    "cos": np.cos,
    "sin": np.sin,
    "arctan2": np.arctan2,
    "hypot": np.hypot,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": np.where,
}
ARITY = {"arctan2": 2, "hypot": 2, "minimum": 2, "maximum": 2, "where": 3}  # the others take one
MAX_CHARS = 4096
MAX_DEPTH = 64


def _power(base, exponent):
    return np.power(np.asarray(base, np.float64), np.asarray(exponent, np.float64))


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: _power,
    ast.Mod: operator.mod,
    ast.BitAnd: np.logical_and,
    ast.BitOr: np.logical_or,
}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: np.logical_not, ast.Invert: np.logical_not}


class Expr:
    """A parsed, validated expression; ``names`` are the columns it reads."""

    def __init__(self, text: str, where: str = "expression"):
        self.text = text
        self.where = where
        if len(text) > MAX_CHARS:
            raise TrigdeployError(f"{where}: expression is {len(text)} characters long (at most {MAX_CHARS})")
        try:
            self._tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise TrigdeployError(f"{where}: cannot parse '{text}': {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise TrigdeployError(f"{where}: expression nested too deeply: '{text[:80]}…'") from None
        names: list[str] = []
        self._check(self._tree.body, names, 0)
        self.names = tuple(dict.fromkeys(names))

    def _bad(self, node: ast.AST) -> TrigdeployError:
        return TrigdeployError(
            f"{self.where}: '{ast.unparse(node)}' is not allowed in '{self.text}' "
            "(columns, numbers, + - * / ** %, comparisons, & | ~, and/or/not, "
            f"and {', '.join(sorted(FUNCTIONS))})"
        )

    def _check(self, node: ast.AST, names: list[str], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise TrigdeployError(f"{self.where}: '{self.text[:80]}' is nested more than {MAX_DEPTH} levels deep")
        depth += 1
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str) or not isinstance(node.value, (int, float, bool)):
                raise self._bad(node)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            self._check(node.left, names, depth)
            self._check(node.right, names, depth)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            self._check(node.operand, names, depth)
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v, names, depth)
        elif isinstance(node, ast.Compare) and all(type(o) in _COMPARE for o in node.ops):
            for v in (node.left, *node.comparators):
                self._check(v, names, depth)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FUNCTIONS
            and not node.keywords
        ):
            want = ARITY.get(node.func.id, 1)
            if len(node.args) != want or any(isinstance(a, ast.Starred) for a in node.args):
                raise TrigdeployError(
                    f"{self.where}: {node.func.id}() takes {want} argument{'s' if want > 1 else ''}, got "
                    f"{len(node.args)} in '{self.text}'"
                )
            for a in node.args:
                self._check(a, names, depth)
        else:
            raise self._bad(node)

    def __call__(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        missing = [n for n in self.names if n not in columns]
        if missing:
            raise TrigdeployError(f"{self.where}: '{self.text}' uses unknown column(s): {', '.join(missing)}")
        n = len(next(iter(columns.values()))) if columns else None
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(self._eval(self._tree.body, columns))
            return out if n is None or out.shape == (n,) else np.broadcast_to(out, (n,)).copy()
        except (ValueError, TypeError, ArithmeticError, MemoryError) as exc:
            raise TrigdeployError(f"{self.where}: '{self.text}' cannot be evaluated: {exc}") from None

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


def derived_order(derived: Mapping[str, str], where: str = "data.derived") -> list[tuple[str, Expr]]:
    """Parsed derived columns in an order where each comes after the derived columns it reads.

    A derived column that reads itself, directly or through others, is an error naming the chain.
    """
    exprs = {k: Expr(v, f"{where}.{k}") for k, v in derived.items()}
    order: list[tuple[str, Expr]] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            loop = chain[chain.index(name) :] + [name]
            raise TrigdeployError(f"{where}.{name}: refers to itself ({' → '.join(loop)})")
        state[name] = "active"
        for dep in exprs[name].names:
            if dep in exprs:
                visit(dep, [*chain, name])
        state[name] = "done"
        order.append((name, exprs[name]))

    for name in exprs:
        visit(name, [])
    return order
