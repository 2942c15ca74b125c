"""Design scans as runs (``bench.scan``): the points, their configs, a cached and resumable scan, Dask."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from trigdeploy.bench import scan, scanpoints, scanread
from trigdeploy.errors import TrigdeployError


def _rtl_tools() -> bool:
    import importlib.util

    from trigdeploy.hdl import tools

    return bool(importlib.util.find_spec("alkaid") and tools.find("verilator"))


def test_points_of_the_sweep_the_front_and_a_grid():
    (w3,) = scanpoints.sweep_points([3])
    assert (w3.kind, dict(w3.changes), w3.group, w3.label, w3.name) == (
        "qmlp",
        {"weight_bits": 3, "act_bits": 5, "input_bits": 5},
        "sweep",
        "uniform w3a5",
        "qmlp-w3a5",
    )
    assert [p.name for p in scanpoints.front_points([2e-5, 1e-6, 2e-5])] == ["hgq-beta1e-06", "hgq-beta2e-05"]
    grid = scanpoints.grid_points(["hgq.beta=1e-6,2e-6", "hgq.epochs=3,4", "qmlp.weight_bits=4"])
    assert [p.name for p in grid] == [
        "hgq-beta1e-06-epochs3",
        "hgq-beta1e-06-epochs4",
        "hgq-beta2e-06-epochs3",
        "hgq-beta2e-06-epochs4",
        "qmlp-weight_bits4",
    ]  # a kind's keys: their product; another kind: its own points
    assert dict(grid[1].changes) == {"beta": 1e-6, "epochs": 4} and grid[1].group == "grid"


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ("hgq.beta", "expected kind.key=v1,v2"),
        ("beta=1", "expected kind.key"),
        ("hgq.beta={a: 1}", "numbers"),
        ("hgq.hidden=[32,16", "lists of them"),
        ("hgq.hidden=[]", "lists of them"),
        ("hgq.hidden=[[32],[16]]", "lists of them"),
    ],
    ids=["no-values", "no-kind", "a-mapping", "unclosed-list", "empty-list", "nested-list"],
)
def test_a_bad_grid_is_one_line(axis, message):
    with pytest.raises(TrigdeployError, match=message):
        scanpoints.grid_points([axis])


def test_a_grid_of_layer_widths_is_one_point_per_list():
    """Commas inside [ ] belong to the value: two widths × one β are two points, each named by its widths."""
    points = scanpoints.grid_points(["hgq.hidden=[32,16],[16]", "hgq.beta=1e-6"])
    assert [p.name for p in points] == ["hgq-hidden32x16-beta1e-06", "hgq-hidden16-beta1e-06"]
    assert points[0].label == "hgq hidden=[32, 16], beta=1e-06"
    assert points[0].as_dict()["changes"] == {"hidden": [32, 16], "beta": 1e-6}  # JSON-able: a list
    assert scan.data_changes(points[0]) == ({}, {"hidden": [32, 16], "beta": 1e-6})  # a list in the config
    assert scan.own_shape(points[1]) == {"hidden": [16]}
    assert scan.own_shape(scanpoints.front_points([1e-6])[0]) == {}  # the run's shape: the run's float model


def test_a_point_of_other_widths_starts_from_a_float_mlp_of_its_widths(trained_run):
    from trigdeploy.config import parse_config
    from trigdeploy.layout import RunLayout

    (point,) = scanpoints.grid_points(["hgq.hidden=[8]"])
    raw = scan.point_config(RunLayout.of(trained_run), point)
    assert raw["train"]["mlp"]["hidden"] == [8] and raw["train"]["hgq"]["hidden"] == [8]
    assert raw["train"]["mlp"]["epochs"] == 2 and raw["train"]["hgq"]["init"] == "float"  # the run's otherwise
    assert parse_config(raw).train.model("hgq").hidden == (8,)  # init: float accepts it: the shapes agree
    (scratch,) = scanpoints.grid_points(["hgq.hidden=[8]", "hgq.init=scratch"])
    raw = scan.point_config(RunLayout.of(trained_run), scratch)
    assert {k for k, v in raw["train"].items() if isinstance(v, dict)} == {"hgq"}  # no float model to start from
    assert raw["train"]["hgq"]["init"] == "scratch" and raw["train"]["hgq"]["hidden"] == [8]
    assert parse_config(raw).train.model("hgq").init == "scratch"


@pytest.mark.parametrize(
    ("cores", "workers", "on_dask", "threads"),
    [(2, 1, False, 2), (2, 2, False, 1), (16, 3, False, 5), (2, 5, False, 1), (64, 2, True, 1)],
    ids=["one-worker-all-cores", "two-on-two", "sixteen-over-three", "more-workers-than-cores", "dask-one-each"],
)
def test_a_point_s_share_of_the_cores(cores, workers, on_dask, threads):
    """Two points at once on two cores run one compiler each, not two each; a Dask worker's point one, whatever
    the machine it runs on has."""
    assert scan.point_threads(cores, workers, on_dask) == threads


def test_two_points_of_one_run_folder_are_one_line_naming_both(tmp_path):
    """--pareto 1e-5 and --grid hgq.beta=1e-5 are one run folder: refused before anything runs, both named."""
    points = scanpoints.front_points([1e-5]) + scanpoints.grid_points(["hgq.beta=1e-5,2e-5"])
    opts = scan.ScanOptions(target=None, max_lut_estimate=1)
    with pytest.raises(TrigdeployError) as err:
        scan.scan_run(tmp_path / "never-trained", points, opts, workers=1)
    assert str(err.value) == (
        "scan: point hgq-beta1e-05 is given twice: hgq β=1e-05 (front) and hgq beta=1e-05 (grid) are one run"
    )
    assert not any(tmp_path.iterdir())  # nothing written
    # the distinct points alone pass this check (and stop at the untrained run, one line)
    with pytest.raises(TrigdeployError, match="train the run first"):
        scan.scan_run(tmp_path / "never-trained", points[1:], opts, workers=1)


def test_a_point_config_trains_only_its_kind_from_the_float_mlp(trained_run):
    from trigdeploy.layout import RunLayout

    (point,) = scanpoints.front_points([2e-5])
    raw = scan.point_config(RunLayout.of(trained_run), point)
    models = {k for k, v in raw["train"].items() if isinstance(v, dict)}
    assert models == {"mlp", "hgq"} and raw["name"] == "exp.hgq-beta2e-05"
    assert raw["train"]["hgq"]["beta"] == 2e-5 and raw["train"]["hgq"]["init"] == "float"
    assert raw["train"]["hgq"]["epochs"] == 2  # the run's own settings for the rest


def test_a_bdt_point_is_trained_from_the_data_stage_alone(trained_run):
    from trigdeploy.config import parse_config
    from trigdeploy.layout import RunLayout

    (point,) = scanpoints.grid_points(["bdt.input_frac=2"])
    raw = scan.point_config(RunLayout.of(trained_run), point)
    assert {k for k, v in raw["train"].items() if isinstance(v, dict)} == {"bdt"} and raw[
        "name"
    ] == "exp.bdt-input_frac2"
    assert raw["train"]["bdt"]["input_frac"] == 2 and raw["train"]["bdt"]["n_estimators"] == 6  # the run's others
    assert parse_config(raw).train.model("bdt").input_frac == 2
    assert scan.parent_print(RunLayout.of(trained_run), None).keys() == {"data"}  # no model it starts from


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ("qdeepsets.weight_bits=3", r"fine-tuned from a model the run does not train \(deepsets\)"),
        ("gbdt.max_depth=2", "'gbdt' is not a model kind"),
    ],
    ids=["source-not-trained", "unknown-kind"],
)
def test_a_point_the_run_cannot_make_is_one_line(trained_run, axis, message):
    from trigdeploy.layout import RunLayout

    with pytest.raises(TrigdeployError, match=message):
        scan.point_config(RunLayout.of(trained_run), scanpoints.grid_points([axis])[0])


def test_a_deep_sets_point_starts_from_the_float_deep_sets_with_its_shape(tmp_path):
    from conftest import run_config
    from trigdeploy.config import dump_config, parse_config
    from trigdeploy.layout import RunLayout

    cfg = run_config(
        [tmp_path / "x.h5"],
        features={"kind": "constituents", "n_constituents": 8},
        train={"deepsets": {"phi": [12, 10], "hidden": [6], "epochs": 3}},
    )
    run = tmp_path / "runs" / "t"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(cfg))
    (point,) = scanpoints.grid_points(["qdeepsets.weight_bits=3"])
    raw = scan.point_config(RunLayout.of(run), point)
    section = raw["train"]["qdeepsets"]
    assert (section["phi"], section["hidden"], section["particle_features"]) == ([12, 10], [6], 3)
    assert section["weight_bits"] == 3 and "epochs" not in section  # the kind's own defaults for the rest
    assert parse_config(raw).train.model("qdeepsets").phi == (12, 10)  # init: float accepts it


def test_a_parallel_scan_starts_the_longest_points_first(tmp_path):
    from conftest import run_config
    from trigdeploy.config import dump_config
    from trigdeploy.layout import RunLayout

    cfg = run_config(
        [tmp_path / "x.h5"],
        train={"mlp": {"hidden": [8], "epochs": 3}, "hgq": {"hidden": [8], "epochs": 40}, "bdt": {"n_estimators": 5}},
    )
    run = tmp_path / "runs" / "t"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(cfg))
    axes = ["bdt.max_depth=3", "hgq.epochs=10,80", "hgq.beta=1e-6", "hgq.hidden=[4]", "qmlp.weight_bits=4"]
    points = [p for axis in axes for p in scanpoints.grid_points([axis])]  # a kind's axes in one call multiply
    work = {p.name: scan.expected_work(RunLayout.of(run), p) for p in points}
    assert work == {
        "bdt-max_depth3": (False, False, 0),  # no epochs: the shortest
        "hgq-epochs10": (False, False, 10),
        "hgq-epochs80": (False, False, 80),
        "hgq-beta1e-06": (False, False, 40),  # the run's section's epochs
        "hgq-hidden4": (False, True, 40),  # a float model of its own widths trained first
        "qmlp-weight_bits4": (False, False, 30),  # the kind's default (the run has no qmlp section)
    }, work
    order = sorted(work, key=work.get, reverse=True)
    assert order[:2] == ["hgq-hidden4", "hgq-epochs80"] and order[-1] == "bdt-max_depth3"


def test_a_features_key_gives_the_point_its_own_data_stage_and_source_model(tmp_path):
    from conftest import run_config
    from trigdeploy.config import dump_config, parse_config
    from trigdeploy.layout import RunLayout

    cfg = run_config(
        [tmp_path / "x.h5"],
        features={"kind": "constituents", "n_constituents": 8},
        train={"deepsets": {"phi": [12], "hidden": [6]}, "hgq_deepsets": {"phi": [12], "hidden": [6], "beta": 1e-6}},
    )
    run = tmp_path / "runs" / "t"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(cfg))
    points = scanpoints.grid_points(["hgq_deepsets.features.n_constituents=4,16", "hgq_deepsets.beta=2e-6"])
    assert [p.name for p in points] == [
        "hgq_deepsets-features.n_constituents4-beta2e-06",
        "hgq_deepsets-features.n_constituents16-beta2e-06",
    ]
    assert scan.data_changes(points[0]) == ({"n_constituents": 4}, {"beta": 2e-6})
    raw = scan.point_config(RunLayout.of(run), points[0])
    parsed = parse_config(raw)
    assert parsed.features.n_constituents == 4 and parsed.train.model("hgq_deepsets").beta == 2e-6
    assert parsed.train.model("deepsets").phi == (12,)  # the model it starts from, trained on its data stage too
    assert scan.data_changes(scanpoints.front_points([1e-6])[0])[0] == {}  # every other point: the parent's data stage


def test_a_point_without_the_model_it_starts_from_is_one_line(trained_run, tmp_path):
    from conftest import own_copy
    from trigdeploy.config import load_config
    from trigdeploy.layout import RunLayout
    from trigdeploy.train.run import train_run

    parent = RunLayout.of(own_copy(trained_run, tmp_path))
    (point,) = scanpoints.front_points([2e-5])
    layout = RunLayout.of(parent.scan_run(point.name))
    scan._link_data_stage(parent, layout, "mlp.pt")
    (layout.run_dir / "mlp.pt").unlink()
    layout.config.write_text(yaml.safe_dump(scan.point_config(parent, point)))
    with pytest.raises(TrigdeployError, match=r"train\.hgq starts from the mlp model \(mlp\.pt\), which this run"):
        train_run(load_config(layout.config), layout.run_dir, progress=False, reuse_data=True, models=["hgq"])
    assert not layout.metrics.exists() and not (layout.run_dir / "hgq.pt").exists()


@pytest.mark.parametrize(
    ("forms", "wanted", "expected"),
    [
        (("qonnx", "rtl", "qonnx_hls4ml"), ("rtl", "rtl_hgq"), ["qonnx", "rtl"]),
        (("hls4ml_hgq", "rtl_hgq"), ("rtl", "rtl_hgq"), ["rtl_hgq"]),
        (("onnx", "hls4ml_ptq", "rtl_ptq"), None, ["onnx", "hls4ml_ptq", "rtl_ptq"]),
        (("conifer", "rtl_bdt"), ("onnx",), []),
    ],
    ids=["with-its-requirement", "alone", "all", "none"],
)
def test_the_forms_a_target_selects(forms, wanted, expected):
    from trigdeploy.convert.export import selected_forms

    assert selected_forms(forms, wanted) == expected


def _options(root):
    from trigdeploy.targets import ExportTarget, HLS4MLTarget

    target = ExportTarget(hls4ml=HLS4MLTarget(Backends=("Vitis",)), testbench_events=50, forms=scan.rtl_forms())
    return scan.ScanOptions(target, 100_000, root / "export", root / "firmware")


def _figures(records: list[dict]) -> list[dict]:
    """A point's record without what differs between two machines' runs of it: times and paths."""
    drop = ("seconds", "run")
    return [
        {k: v for k, v in r.items() if k not in drop}
        | {"training": {k: v for k, v in r["training"].items() if k != "seconds"}}
        for r in records
    ]


@pytest.fixture(scope="module")
def three_points():
    return scanpoints.front_points([1e-5, 2e-5]) + scanpoints.grid_points(["hgq.beta=5e-5"])


@pytest.mark.slow  # three points trained, exported, simulated and counted, then read back, resumed, and run on
# worker processes and on Dask with the builds cached: ~1.5 min; CI runs make test-slow
@pytest.mark.skipif(not _rtl_tools(), reason="alkaid and Verilator (the [rtl] extra) are needed for RTL points")
def test_a_scan_is_cached_resumes_and_gives_the_same_records_on_workers_and_dask(
    trained_run, tmp_path, monkeypatch, three_points
):
    """Three resource-aware points, each a run: exported as RTL, simulated on the whole test split with 0
    mismatches. A second scan runs no stage; a point whose record is gone (killed before it was written) is the
    only one run again, with the same figures. The same points two at a time in worker processes and as tasks
    on a Dask LocalCluster of two workers give the same records, to the last digit, except times and paths.
    A changed float model leaves the points out of bench."""
    from trigdeploy.config import DaskClusterConfig
    from trigdeploy.layout import RunLayout

    def copy(name: str):  # runs under one root: their points share its build and synthesis caches
        return shutil.copytree(trained_run, tmp_path / "runs" / name, ignore=shutil.ignore_patterns("scan"))

    run, opts = copy("a"), _options(tmp_path)
    ran = []
    stages = scan._stages
    monkeypatch.setattr(scan, "_stages", lambda *a: ran.append(a[2].name) or stages(*a))
    first = scan.scan_run(run, three_points, opts, workers=1)
    assert ran == [p.name for p in three_points]
    for r in first:
        assert r["csim"]["n_mismatch"] == 0 and r["csim"]["n_events"] == 500 and r["design"]["lut"] > 0
    assert first[0]["auc"] != first[2]["auc"]  # the comparisons below can fail: different points differ
    ran.clear()
    assert _figures(scan.scan_run(run, three_points, opts, workers=1)) == _figures(first)
    assert ran == []
    (run / "scan" / three_points[1].name / scan.RECORD).unlink()
    again = scan.scan_run(run, three_points, opts, workers=1)
    assert ran == [three_points[1].name] and _figures(again) == _figures(first)
    # a feature cache the point kept from an earlier data stage of the run (another key) is dropped when it is
    # trained again: it reads the run's alone (two caches stopped its export)
    caches = run / "scan" / three_points[1].name / "cache"
    (kept,) = caches.iterdir()
    shutil.copytree(kept, caches / "0000000000000000")
    (run / "scan" / three_points[1].name / scan.RECORD).unlink()
    ran.clear()
    again = scan.scan_run(run, three_points, opts, workers=1)
    assert ran == [three_points[1].name] and _figures(again) == _figures(first)
    assert [p.name for p in caches.iterdir()] == [kept.name]
    pooled = scan.scan_run(copy("b"), three_points, opts, workers=2)
    dask = scan.scan_run(copy("c"), three_points, opts, dask=DaskClusterConfig(workers=2))
    assert _figures(pooled) == _figures(first) == _figures(dask)
    parent = RunLayout.of(run, tmp_path / "export", tmp_path / "firmware")
    assert [p["point"] for p in scanread.read_points(parent)] == [p.name for p in three_points]
    ran.clear()  # the front's β = 1e-5 asked for as a grid point: the same run, read back, named as asked
    (as_grid,) = scan.scan_run(run, scanpoints.grid_points(["hgq.beta=1e-5"]), opts, workers=1)
    assert (
        ran == []
        and as_grid["point"]["group"] == "grid"
        and _figures([as_grid])[0] | {"point": None} == (_figures(first)[0] | {"point": None})
    )
    assert [p["group"] for p in scanread.read_points(parent)] == ["front", "grid", "grid"]
    (run / "mlp.pt").write_bytes((run / "mlp.pt").read_bytes() + b"\0")  # another float model
    assert scanread.read_points(parent) == []


@pytest.mark.slow  # a BDT trained, exported as logic, simulated and counted by Yosys (~40 s); CI runs make test-slow
@pytest.mark.skipif(not (_rtl_tools() and shutil.which("yosys")), reason="alkaid, Verilator and Yosys are needed")
def test_a_bdt_point_is_logic_simulated_counted_and_read_by_bench(trained_run, tmp_path):
    """A BDT trained with its thresholds on 2^-2 (``bdt.input_frac=2``) from the run's data stage alone: exported
    as logic (conifer's quantized ensemble and float C++ check only, none of conifer's HLS or VHDL projects),
    simulated in Verilator on the whole test split with 0 mismatches, counted by Yosys, then read by bench as
    a point of kind bdt. It does not start from the float MLP, so another float model leaves it in bench, and
    another data stage leaves it out."""
    from trigdeploy.convert.manifest import Manifest
    from trigdeploy.layout import RunLayout

    run = shutil.copytree(trained_run, tmp_path / "runs" / "a", ignore=shutil.ignore_patterns("scan"))
    (point,) = scanpoints.grid_points(["bdt.input_frac=2"])
    (r,) = scan.scan_run(run, [point], _options(tmp_path), workers=1)
    assert r["csim"] == {"projects": ["bdt_rtl"], "n_events": 500, "n_mismatch": 0}
    assert r["design"]["lut_source"] == "yosys" and r["design"]["design"] == "bdt_rtl" and r["design"]["lut"] > 0
    assert r["parent"].keys() == {"data"} and r["physics_from"] == "bdt_rtl"  # the design's simulated physics,
    assert 0.5 < r["auc"] <= 1 and 0.5 < r["model_auc"] <= 1  # XGBoost's beside it
    layout = RunLayout.of(run / "scan" / point.name, tmp_path / "export", tmp_path / "firmware")
    entry = Manifest.load(layout.manifest).models["bdt"]
    assert sorted(entry["projects"]) == ["cpp"] and "rtl" in entry  # conifer's HLS and VHDL projects not written
    fmt = entry["fixed_point"]["precision"]  # ap_fixed<18,8>: 8 integer bits; thresholds on 2^-2 need 2 more
    assert fmt == "ap_fixed<18,8>" and entry["rtl"]["ensemble_as_logic"]["comparison_input_bits"]["mean"] <= 10
    parent = RunLayout.of(run, tmp_path / "export", tmp_path / "firmware")
    (p,) = scanread.read_points(parent)
    assert (p["kind"], p["group"], p["input_frac"], p["lut_source"]) == ("bdt", "grid", 2, "yosys")
    (run / "mlp.pt").write_bytes((run / "mlp.pt").read_bytes() + b"\0")  # another float model: still this BDT
    assert [q["point"] for q in scanread.read_points(parent)] == [point.name]
    (run / "splits.npz").write_bytes((run / "splits.npz").read_bytes() + b"\0")  # another data stage: left out
    assert scanread.read_points(parent) == []


@pytest.mark.integration
def test_a_failing_point_is_one_line_and_leaves_no_record(trained_run, tmp_path):
    from conftest import own_copy

    run = own_copy(trained_run, tmp_path)
    (bad,) = scanpoints.grid_points(["hgq.beta=-1"])
    with pytest.raises(TrigdeployError, match="beta"):
        scan.scan_run(run, [bad], _options(tmp_path), workers=1)
    assert not (run / "scan" / bad.name / scan.RECORD).exists()


@pytest.mark.slow  # a set run and a point on its own data stage: trained, exported, simulated (12 s); CI: test-slow
@pytest.mark.skipif(not _rtl_tools(), reason="alkaid and Verilator (the [rtl] extra) are needed for RTL points")
def test_a_point_on_its_own_data_stage_is_trained_simulated_and_read_on_the_same_events(tmp_path):
    """``hgq_deepsets.features.n_constituents=2`` on a 3-particle run: the point prepares its own data stage
    (2 particles), trains the float Deep Sets it starts from and the resource-aware one there, exports the RTL and
    simulates it on the whole test split (0 mismatches); bench reads it against the parent's labels (the same test
    events), and leaves it out when the parent's split is no longer the point's."""
    import numpy as np

    from conftest import SMALL_TRAIN, run_config
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.generators import ToptagGenConfig
    from trigdeploy.layout import RunLayout
    from trigdeploy.train.run import train_run

    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=1000, seed=6, chunk_size=1000), data, progress=False)
    shape = {"phi": [4], "hidden": [4], "batch_size": 128}
    cfg = run_config(
        [data],
        name="sets",
        features={"kind": "constituents", "n_constituents": 3},
        scaling={"sample_rows": 600},
        train={**SMALL_TRAIN, "deepsets": {**shape, "epochs": 2}},
    )
    run = tmp_path / "runs" / "sets"
    train_run(cfg, run, progress=False)
    (point,) = scanpoints.grid_points(["hgq_deepsets.features.n_constituents=2", "hgq_deepsets.epochs=1"])
    (r,) = scan.scan_run(run, [point], _options(tmp_path), workers=1)
    assert r["parent"]["own_data_stage"] is True and set(r["parent"]) == {"data", "own_data_stage"}
    assert r["csim"] == {"projects": ["hgq_deepsets_rtl"], "n_events": 200, "n_mismatch": 0}
    layout = RunLayout.of(run / "scan" / point.name, tmp_path / "export", tmp_path / "firmware")
    assert [f for f in json.loads(layout.features.read_text())["features"] if f.startswith("p")][-1].startswith("p1_")
    assert (layout.run_dir / "deepsets.pt").is_file()  # the model it starts from, trained on its data stage
    parent = RunLayout.of(run, tmp_path / "export", tmp_path / "firmware")
    (p,) = scanread.read_points(parent)
    assert (p["kind"], p["features.n_constituents"], p["csim"]["n_mismatch"]) == ("hgq_deepsets", 2, 0)
    with np.load(run / "splits.npz") as z:
        splits = {k: z[k] for k in z.files}
    np.savez(run / "splits.npz", **{**splits, "test": splits["test"][::-1].copy()})  # other test rows than the point's
    assert scanread.read_points(parent) == []


@pytest.mark.slow  # a float MLP and a resource-aware one at other widths: trained, exported, simulated (~15 s)
@pytest.mark.skipif(not _rtl_tools(), reason="alkaid and Verilator (the [rtl] extra) are needed for RTL points")
def test_a_point_of_other_widths_trains_its_own_float_mlp_on_the_run_s_data_stage(trained_run, tmp_path):
    """``hgq.hidden=[8]`` on a run of 16-8 MLPs: the point trains a float 8-wide MLP on the run's data stage
    (linked), the resource-aware MLP from it, exports the RTL, simulates it on the whole test split (0 mismatches);
    bench reads it while the run's data stage is the one it was made on, whatever the run's float MLP, and not
    after the data stage changed."""
    import torch

    from conftest import own_copy
    from trigdeploy.layout import RunLayout

    run = own_copy(trained_run, tmp_path)
    (point,) = scanpoints.grid_points(["hgq.hidden=[8]"])
    (r,) = scan.scan_run(run, [point], _options(tmp_path), workers=1)
    assert r["parent"][scan.OWN_SOURCE] is True and set(r["parent"]) == {"data", scan.OWN_SOURCE}
    assert r["csim"] == {"projects": ["hgq_rtl"], "n_events": 500, "n_mismatch": 0}
    own = torch.load(run / "scan" / point.name / "mlp.pt", weights_only=False)
    weights = [v for k, v in _state(own).items() if k.endswith("weight")]
    assert [tuple(w.shape) for w in weights] == [(8, weights[0].shape[1]), (1, 8)]  # its own 8-wide float MLP
    parent = RunLayout.of(run, tmp_path / "export", tmp_path / "firmware")
    (run / "mlp.pt").write_bytes((run / "mlp.pt").read_bytes() + b"\0")  # another float model of the run
    (p,) = scanread.read_points(parent)
    assert (p["kind"], p["hidden"], p["csim"]["n_mismatch"]) == ("hgq", [8], 0)
    (run / "splits.npz").write_bytes((run / "splits.npz").read_bytes() + b"\0")  # another data stage
    assert scanread.read_points(parent) == []


def _state(saved) -> dict:
    """A saved model file's weights (a state dict, or the dict that holds one)."""
    if isinstance(saved, dict) and "state_dict" in saved:
        return saved["state_dict"]
    return saved if isinstance(saved, dict) else saved.state_dict()
