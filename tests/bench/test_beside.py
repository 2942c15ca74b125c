"""``bench.beside``: another run's models benched beside a run's, on the same test events (checked)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SMALL_TRAIN, run_config
from trigdeploy.bench import beside
from trigdeploy.convert.manifest import SCHEMA
from trigdeploy.errors import TrigdeployError
from trigdeploy.layout import RunLayout


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two runs on one generated file and split: ``jets`` (an MLP on jet features, ``bench.beside: [sets]``) and
    ``sets`` (a Deep Sets on the 4 leading particles), both exported (ONNX); bench of ``jets`` (its config names a
    third run, ``ghost``, that does not exist)."""
    from trigdeploy.bench.run import bench_run
    from trigdeploy.convert.export import export_run
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.generators import ToptagGenConfig
    from trigdeploy.targets import ExportTarget
    from trigdeploy.train.run import train_run

    base = tmp_path_factory.mktemp("beside")
    data = base / "t.h5"
    write_toptag(ToptagGenConfig(jets=1500, seed=5, chunk_size=1500), data, progress=False)
    common = {"seed": 7, "scaling": {"sample_rows": 1000}}
    sets = run_config(
        [data],
        name="sets",
        features={"kind": "constituents", "n_constituents": 4},
        train={**SMALL_TRAIN, "deepsets": {"phi": [8], "hidden": [8], "epochs": 2, "batch_size": 128}},
        **common,
    )
    jets = run_config(
        [data],
        name="jets",
        features={"kind": "toptag_jet"},
        train={**SMALL_TRAIN, "mlp": {"hidden": [8], "epochs": 2, "batch_size": 128}},
        bench={"beside": ["sets", "ghost"]},  # ghost: never trained
        **common,
    )
    runs = base / "runs"
    metrics = {name: train_run(cfg, runs / name, progress=False) for name, cfg in (("sets", sets), ("jets", jets))}
    for name in ("sets", "jets"):
        export_run(runs / name, ExportTarget(source="test"), base / "export", base / "firmware")
    report = bench_run(runs / "jets", base / "results", base / "export", base / "firmware", progress=False)
    return base, metrics, report


@pytest.mark.integration
def test_the_run_beside_joins_the_tables_named_by_its_run(pair):
    base, metrics, report = pair
    assert list(report["physics"]) == ["mlp", "sets/deepsets"]
    for model, run, kind in (("mlp", "jets", "mlp"), ("sets/deepsets", "sets", "deepsets")):
        trained = next(iter(report["physics"][model].values()))  # the trained form: the run's own figure
        assert trained["auc"] == pytest.approx(metrics[run][kind]["auc"], abs=1e-12)
    assert "ONNX Runtime" in " ".join(report["physics"]["sets/deepsets"])  # its exported forms too
    assert any(n.startswith("sets/deepsets") for n in report["cpu_latency"]["engines"])
    pairs = [(c["a"], c["b"]) for c in report["model_comparisons"]]
    assert ("mlp", "sets/deepsets") in pairs  # compared on the same events
    sets, ghost = report["beside"]
    assert sets == {"run": str(base / "runs" / "sets"), "prefix": "sets/", "inputs": sets["inputs"]}
    assert "particles' features" in sets["inputs"] and "jet" in report["inputs"]
    assert ghost["run"] == str(base / "runs" / "ghost") and "metrics.json not found" in ghost["skipped"]
    md = (base / "results" / "jets.md").read_text()
    assert "Beside it, as `sets/…`" in md and "| sets/deepsets |" in md
    assert f"Not benched beside it: `{base / 'runs' / 'ghost'}` (bench.beside: " in md
    assert not (base / "results" / "sets.json").exists()  # reading a run beside writes nothing of its own


# _fake_run's manifest: an export of nothing, for a part and a budget
_TARGET = {
    "schema": SCHEMA,
    "run": "",
    "target": "test",
    "device": {"part": "xcvu13p-flga2577-2-e", "clock_ns": 5.0},
    "test_events": 3,
    "models": {},
    "projects": [],
    "budget": {"lut_fraction": 0.05, "latency_ns": 100.0},
}


def _fake_run(root, name: str, *, files=("a.h5",), test=(1, 4, 7), n_rows=10, classes=None, done=True, target=_TARGET):
    """A run folder holding only what ``layout_beside`` reads: features.json, splits.npz, metrics, manifest."""
    run = root / "runs" / name
    run.mkdir(parents=True)
    label = {"classes": classes} if classes else {}
    (run / "features.json").write_text(json.dumps({"files": list(files), "label": label}))
    np.savez(run / "splits.npz", test=np.array(test), val=np.array([0]), n_rows=np.array(n_rows))
    layout = RunLayout.of(run)
    if done:
        (run / "metrics.json").write_text("{}")
        layout.manifest.parent.mkdir(parents=True, exist_ok=True)
        layout.manifest.write_text(json.dumps(target))
    return layout


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"files": ("b.h5",)}, "other data files"),
        (
            {"target": {**_TARGET, "device": {"part": "xc7a100t", "clock_ns": 5.0}}},
            r"exported for another part \(xc7a100t\)",
        ),
        ({"target": {**_TARGET, "budget": {"lut_fraction": 0.1}}}, "exported for another budget"),
        ({"test": (1, 4, 8)}, "other test rows"),
        ({"n_rows": 11}, "other rows"),
        ({"classes": ["g", "q", "t"]}, "other classes"),
        ({"done": False}, "metrics.json not found: run trigdeploy train"),
    ],
    ids=["files", "other-part", "other-budget", "test-rows", "rows", "classes", "not-trained"],
)
def test_a_run_on_other_events_is_refused_in_one_line(tmp_path, other, message):
    main = _fake_run(tmp_path, "main")
    _fake_run(tmp_path, "other", **other)
    with pytest.raises(TrigdeployError, match=message) as e:
        beside.layout_beside(main, "other")
    assert "\n" not in str(e.value) and "other" in str(e.value)


def test_the_same_events_pass_and_share_the_roots(tmp_path):
    main = _fake_run(tmp_path, "main")
    _fake_run(tmp_path, "other")
    other = beside.layout_beside(main, "other")
    assert other.run_dir == main.run_dir.parent / "other" and other.export_root == main.export_root
    with pytest.raises(TrigdeployError, match="names the run itself"):
        beside.layout_beside(main, "main")


def test_other_labels_on_the_same_rows_are_refused(tmp_path):
    main, other = _fake_run(tmp_path, "main"), _fake_run(tmp_path, "other")
    beside.check_labels(main, other, np.array([0, 1, 1]), np.array([0, 1, 1]))
    with pytest.raises(TrigdeployError, match=r"labels differ .* \(1 of 3\)"):
        beside.check_labels(main, other, np.array([0, 1, 1]), np.array([0, 1, 0]))


@pytest.mark.parametrize(
    ("names", "message"),
    [(["../x"], "no path"), (["a/b"], "no path"), ([".hidden"], "no path"), (["s", "s"], "named twice")],
    ids=["parent", "path", "dot", "twice"],
)
def test_bad_names_are_refused_at_load(names, message):
    with pytest.raises(TrigdeployError, match=f"bench.beside.*{message}"):
        run_config(["a.h5"], bench={"beside": names})


def _measured(points: list[dict]) -> beside.Measured:
    return beside.Measured(np.zeros(2), {}, {}, {"engines": {}}, {}, points, [], "inputs")


def test_the_front_is_taken_again_over_both_runs_points():
    own = [{"model": "qmlp", "group": "run", "auc": 0.98, "lut": 1000, "lut_source": "yosys", "on_front": True}]
    other = [{"model": "qdeepsets", "group": "run", "auc": 0.985, "lut": 900, "lut_source": "yosys"}]
    m = beside.merged(_measured(own), [beside.prefixed(_measured(other), "sets")])
    assert [(p["model"], p["on_front"]) for p in m.points] == [("qmlp", False), ("sets/qdeepsets", True)]
    assert m.points[1]["beside"] == "sets" and "beside" not in m.points[0]


def test_a_run_beside_is_drawn_as_stars():
    from trigdeploy.bench.pareto import _style

    pts = [
        {"model": "qmlp", "group": "run", "lut_source": "yosys"},
        {"model": "sets/qdeepsets", "group": "run", "lut_source": "yosys", "beside": "sets"},
    ]
    (m0, c0, _), (m1, c1, name) = _style(pts[0], pts), _style(pts[1], pts)
    assert (m0, m1) == ("D", "*") and name.startswith("sets/qdeepsets")
    assert c0 == c1  # each run's models take the colours in order: the marker tells the runs apart
