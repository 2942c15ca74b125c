"""metrics.json read back typed: the figures later stages judge at, and one line for a file train did not write."""

from __future__ import annotations

import json
import math

import pytest

from trigdeploy.errors import TrigdeployError
from trigdeploy.train.results import RunMetrics

BINARY = {
    "auc": 0.98,
    "rejection": {"eff_S=0.3": None, "eff_S=0.5": 460.1},
    "thresholds": {"eff_S=0.3": {"threshold": 0.99, "f1": 0.4}, "youden": {"threshold": 0.55}},
}
THREE = {
    "auc": 0.91,
    "classes": ["q", "w", "t"],
    "per_class": {c: {"thresholds": {"eff_S=0.5": {"threshold": 0.1 * (i + 1)}}} for i, c in enumerate("qwt")},
}


def _load(tmp_path, raw) -> RunMetrics:
    (tmp_path / "metrics.json").write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return RunMetrics.load(tmp_path / "metrics.json")


def test_binary_and_multiclass_entries_are_typed(tmp_path):
    m = _load(tmp_path, {"bdt": BINARY, "mlp": THREE})
    b, k = m["bdt"], m["mlp"]
    assert (b.auc, b.multiclass, k.multiclass, k.classes) == (0.98, False, True, ("q", "w", "t"))
    assert b.rejection == {"eff_S=0.3": math.inf, "eff_S=0.5": 460.1}  # null: no background passes
    assert k.rejection is None  # K classes: no single background
    assert b.operating_points() == {"eff_S=0.3": (None, 0.99), "youden": (None, 0.55)}
    assert k.operating_points() == {
        "q eff_S=0.5": (0, 0.1),
        "w eff_S=0.5": (1, 0.2),
        "t eff_S=0.5": (2, 0.30000000000000004),
    }
    assert "bdt" in m and "rf" not in m


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[1", "JSONDecodeError"),
        ({"bdt": {"rejection": {}}}, "KeyError: 'auc'"),
        ({"bdt": {**BINARY, "thresholds": {"f1": {}}}}, "KeyError: 'threshold'"),
        ({"mlp": {**THREE, "classes": ["q", "w", "t", "z"]}}, "KeyError: 'z'"),
    ],
    ids=["not-json", "no-auc", "threshold-without-value", "a-class-without-its-figures"],
)
def test_a_metrics_file_train_did_not_write_is_one_line(tmp_path, raw, message):
    with pytest.raises(TrigdeployError, match=r"metrics\.json: not a metrics\.json of this trigdeploy \(" + message):
        _load(tmp_path, raw)


def test_a_missing_file_says_to_train(tmp_path):
    with pytest.raises(TrigdeployError, match="metrics.json not found: run trigdeploy train first"):
        RunMetrics.load(tmp_path / "metrics.json")
