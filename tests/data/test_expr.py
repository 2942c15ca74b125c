"""Safe expressions: evaluated by walking a whitelisted AST, never eval."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.data.expr import Expr
from trigdeploy.errors import TrigdeployError

COLS = {"a": np.array([1.0, -2.0, 3.0]), "b": np.array([0, 1, 1]), "t": np.array([True, False, True])}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a * 2 + 1", [3.0, -3.0, 7.0]),
        ("abs(a) > 1.5", [False, True, True]),
        ("(b == 1) & t", [False, False, True]),
        ("(b == 1) | t", [True, True, True]),
        ("~t", [False, True, False]),
        ("0 < a <= 3", [True, False, True]),
        ("t and b", [False, False, True]),
        ("sqrt(a ** 2) / 1", [1.0, 2.0, 3.0]),
        ("where(t, a, -a)", [1.0, 2.0, 3.0]),
    ],
    ids=["arith", "abs", "and", "or", "not", "chained", "boolop", "pow", "where"],
)
def test_evaluates(text, expected):
    np.testing.assert_array_equal(Expr(text)(COLS), expected)


def test_names():
    assert Expr("(lep_E_0 > 100000) & (abs(lep_eta_0) > 1.0) & (lep_pt_0 > 40000)").names == (
        "lep_E_0", "lep_eta_0", "lep_pt_0")


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('true')", "a.real", "a[0]", "open('x')", "lambda: 1", "'s' == a", "[a]", "a if t else b"],
    ids=["import", "attribute", "subscript", "call", "lambda", "string", "list", "ifexp"],
)
def test_rejects_everything_else(text):
    with pytest.raises(TrigdeployError, match="not allowed"):
        Expr(text, "data.selection")


def test_syntax_and_unknown_column():
    with pytest.raises(TrigdeployError, match="cannot parse"):
        Expr("a >")
    with pytest.raises(TrigdeployError, match="unknown column.*zz"):
        Expr("zz > 1")(COLS)
