"""Safe expressions: evaluated by walking a whitelisted AST, never eval."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.errors import TrigdeployError
from trigdeploy.expr import Expr

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
        "lep_E_0",
        "lep_eta_0",
        "lep_pt_0",
    )


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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sqrt()", r"sqrt\(\) takes 1 argument, got 0"),
        ("where(a > 1)", r"where\(\) takes 3 arguments, got 1"),
        ("hypot(a, b, a)", r"hypot\(\) takes 2 arguments, got 3"),
        ("abs(*a)", r"abs\(\) takes 1 argument"),
        ("-" * 200 + "a", "nested"),
        ("a + " * 2000 + "a", "characters long"),
    ],
    ids=["no-args", "where-one-arg", "hypot-three", "starred", "deep", "long"],
)
def test_bad_calls_and_sizes_are_one_line_at_parse(text, message):
    with pytest.raises(TrigdeployError, match=message) as info:
        Expr(text, "data.selection")
    assert "\n" not in str(info.value) and str(info.value).startswith("data.selection: ")


def test_huge_powers_are_float_and_immediate():
    # 9**9**9 as Python integers would take hours; in float64 it is inf at once
    np.testing.assert_array_equal(Expr("9**9**9 > 1")(COLS), [True, True, True])
    np.testing.assert_array_equal(Expr("a ** 2")(COLS), [1.0, 4.0, 9.0])


def test_constant_expression_has_one_value_per_row():
    assert Expr("1 > 0")(COLS).shape == (3,)


def test_evaluation_failure_names_the_expression():
    cols = {"a": np.array([1.0, 2.0]), "s": np.array(["x", "y"])}
    with pytest.raises(TrigdeployError, match="data.derived.d: 'a - s' cannot be evaluated"):
        Expr("a - s", "data.derived.d")(cols)


def test_derived_order_follows_dependencies_and_refuses_cycles():
    from trigdeploy.expr import derived_order

    assert [n for n, _ in derived_order({"c": "b * 2", "b": "a + 1"})] == ["b", "c"]
    with pytest.raises(TrigdeployError, match="refers to itself"):
        derived_order({"x": "y", "y": "z", "z": "x"})
