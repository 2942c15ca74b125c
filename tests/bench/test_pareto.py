"""The resource plot's second figure: 1/εB at the quoted efficiency for two classes, the accuracy for K classes
(which have no single background to reject), in the plot's panels, the points and the report's tables."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trigdeploy.bench.pareto import front_of, pareto_entries, pareto_plot, plot_panels, quoted_physics
from trigdeploy.bench.report import _point_rej, _second_column
from trigdeploy.train.metrics import rejection_at
from trigdeploy.train.results import RunMetrics


def _pt(model: str, lut: int, auc: float, **figure) -> dict:
    return {"model": model, "group": "run", "lut": lut, "auc": auc, "lut_source": "yosys", "latency_ns": 20.0, **figure}


@pytest.mark.parametrize(
    "figures, key",
    [
        ({"rejection_quoted": 40.0}, "rejection_quoted"),
        ({"accuracy": 0.7}, "accuracy"),
        ({"rejection_quoted": float("inf"), "accuracy": 0.7}, "accuracy"),  # no finite 1/εB to draw
    ],
    ids=["two-classes", "k-classes", "unbounded-rejection-only"],
)
def test_the_second_panel_draws_what_the_points_have(figures, key):
    panels = plot_panels([_pt("a", 100, 0.9, **figures), _pt("b", 200, 0.95, **figures)], 0.3)
    assert [k for k, _, _ in panels] == ["auc", key, "latency_ns"]


def test_k_class_front_in_accuracy_by_hand(tmp_path):
    """a, b, c on the AUC front; in accuracy b is beaten by a (more LUTs, less accuracy): the accuracy panel's front
    is not the AUC one (the comparison can fail), and the plot draws it."""
    pts = [_pt("a", 100, 0.90, accuracy=0.70), _pt("b", 200, 0.92, accuracy=0.69), _pt("c", 300, 0.93, accuracy=0.72)]
    assert [p["model"] for p in front_of(pts)] == ["a", "b", "c"]
    assert [p["model"] for p in front_of(pts, "accuracy")] == ["a", "c"]
    pareto_plot(pts, tmp_path / "p.png", "t")
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_a_k_class_design_point_carries_its_simulated_accuracy(tmp_path):
    """bench's figures of a design's simulated outputs give its point the accuracy (K classes) or 1/εB (two)."""
    (tmp_path / "metrics.json").write_text(
        json.dumps({"mlp": {"auc": 0.91}, "bdt": {"auc": 0.99, "rejection": {"eff_S=0.3": 50.0}}})
    )
    est = {f"{m} (hls4ml)": {"lut": 20, "ff": 5, "dsp": 0, "latency_ns": 50.0} for m in ("mlp", "bdt")}
    trained = {"mlp": {"auc": 0.912, "accuracy": 0.694}, "bdt": {"auc": 0.99, "rejection": {"eff_S=0.3": 51.0}}}
    labels = {f"{m} (hls4ml)": m for m in ("mlp", "bdt")}
    points = pareto_entries(
        RunMetrics.load(tmp_path / "metrics.json"), est, labels, (None, None, {}), [], (0.3, trained)
    )
    by_model = {p["model"]: p for p in points}
    assert by_model["mlp"]["accuracy"] == 0.694 and "rejection_quoted" not in by_model["mlp"]
    assert by_model["bdt"]["rejection_quoted"] == 51.0 and "accuracy" not in by_model["bdt"]


class _Layout:
    """A scan point's layout as ``quoted_physics`` reads it without a simulated design: its predictions."""

    def __init__(self, path):
        self.path = path

    def predictions(self, kind: str):
        return self.path / f"{kind}.npz"


@pytest.mark.parametrize("k", [2, 3], ids=["two-classes", "three-classes"])
def test_quoted_physics_of_a_point_from_its_predictions(tmp_path, k):
    rng = np.random.default_rng(1)
    y = rng.integers(0, k, 400)
    if k == 2:
        prob = np.clip(0.3 * y + rng.random(400) * 0.7, 0, 1)
    else:
        prob = rng.dirichlet(np.ones(k), 400)
        prob[np.arange(400) % 2 == 0, :] = np.eye(k)[y[np.arange(400) % 2 == 0]]  # half of them right for sure
    np.savez(tmp_path / "mlp.npz", test=prob)
    got = quoted_physics(_Layout(tmp_path), {"point": {"kind": "mlp"}}, 0.3, y)
    if k == 2:
        assert got == {"rejection_quoted": rejection_at(y, prob, 0.3)}
    else:
        right = int((prob.argmax(1) == y).sum())
        assert right >= 200 and got == {"accuracy": right / 400}


@pytest.mark.parametrize(
    "classes, point, header, cell",
    [
        (["b", "s"], {"rejection_quoted": 40.0}, "1/εB @ εS=0.6 [95 % CI]", "40"),
        (["g", "q", "t"], {"accuracy": 0.71275}, "accuracy", "0.7127"),
        (["g", "q", "t"], {}, "accuracy", "–"),
    ],
    ids=["two-classes", "k-classes", "k-classes-no-figure"],
)
def test_report_column_names_what_its_cells_hold(classes, point, header, cell):
    assert _second_column({"classes": classes, "quoted_efficiency": 0.6}) == header
    assert _point_rej(point) == cell
