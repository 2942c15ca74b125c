"""``bench_run`` end to end on a small exported run: every form agrees where it must, files are written."""

from __future__ import annotations

import json

import pytest

from trigdeploy.bench.pareto import pareto_entries
from trigdeploy.bench.report import _physics_binary, _physics_multiclass
from trigdeploy.bench.run import bench_run
from trigdeploy.io import json_safe

pytestmark = pytest.mark.integration  # end to end through several stages


def _tools() -> tuple[bool, bool, bool]:
    """(alkaid RTL simulated, GHDL present, Yosys present) on this machine."""
    import importlib.util

    from trigdeploy.hdl import tools

    return (
        bool(importlib.util.find_spec("alkaid") and tools.find("verilator")),
        tools.find("ghdl") is not None,
        tools.find("yosys") is not None,
    )


@pytest.fixture(scope="module")
def report(trained_run, exported, tmp_path_factory):
    from trigdeploy.bench.synth import open_synth_run
    from trigdeploy.layout import RunLayout

    root, _ = exported
    out = tmp_path_factory.mktemp("bench")
    if _tools()[2]:  # Yosys counts of the run's RTL designs, read back by bench (the 16-bit PTQ one takes minutes)
        open_synth_run(
            RunLayout.of(trained_run, root / "export", root / "firmware"), designs=["qmlp_rtl", "bdt_vhdl", "bdt_rtl"]
        )
    scan_points(trained_run, root)
    return out, bench_run(trained_run, out, root / "export", root / "firmware", progress=False)


def scan_points(run, root) -> list[dict]:
    """The run's design scan, as bench reads it: a sweep point at 4 bits and (with alkaid) a front point at β 1e-5,
    each a run of its own in ``<run>/scan/`` (trained, exported as RTL, simulated, counted)."""
    from trigdeploy.bench.scan import ScanOptions, rtl_forms, scan_run
    from trigdeploy.bench.scanpoints import front_points, sweep_points
    from trigdeploy.targets import ExportTarget, HLS4MLTarget

    target = ExportTarget(hls4ml=HLS4MLTarget(Backends=("Vitis",)), testbench_events=50, forms=rtl_forms())
    points = sweep_points([4]) + (front_points([1e-5]) if _tools()[0] else [])
    return scan_run(run, points, ScanOptions(target, 100_000, root / "export", root / "firmware"), workers=1)


def test_forms_agree_where_the_chain_is_exact(report):
    _, r = report
    rtl, ghdl, _ = _tools()
    q = r["physics"]["qmlp"]
    assert set(q) == {"PyTorch", "QONNX", "hls4ml Vitis csim"} | ({"alkaid RTL (Verilator)"} if rtl else set())
    for form in set(q) - {"PyTorch"}:  # every firmware form of the QAT model decides exactly as QONNX
        assert q["QONNX"]["auc"] == q[form]["auc"] and q["QONNX"]["at_thresholds"] == q[form]["at_thresholds"], form
    m = r["physics"]["mlp"]
    assert abs(m["ONNX Runtime"]["auc"] - m["PyTorch"]["auc"]) < 1e-6  # float32 rounding only (to_onnx tolerance)
    b = r["physics"]["bdt"]
    assert set(b) == {"XGBoost", "conifer HLS csim"} | ({"conifer VHDL (GHDL)"} if ghdl else set()) | (
        {"alkaid RTL BDT (Verilator)"} if rtl else set()
    )
    if ghdl:
        assert b["conifer VHDL (GHDL)"]["auc"] == b["conifer HLS csim"]["auc"]
    if rtl:  # the ensemble as logic, leaves on their own grid: within the export's gate of XGBoost
        assert b["XGBoost"]["auc"] - b["alkaid RTL BDT (Verilator)"]["auc"] <= 0.005
    for f in m.values():
        assert set(f["rejection"]) == {"eff_S=0.3", "eff_S=0.5"} and f["rejection_limit"] > 0
        assert f["auc_ci"][0] <= f["auc"] <= f["auc_ci"][1] and set(f["rejection_ci"]) == set(f["rejection"])
    # a bit-exact form ranks every pair of events as its reference does: the paired test says identical
    for form in set(q) - {"PyTorch"}:
        assert q[form]["versus"]["form"] == "PyTorch" and q[form]["versus"]["binary"][""]["identical"], form
    assert all(set(f["rates"]["at_efficiency"]) == {"eff_S=0.3", "eff_S=0.5"} for f in b.values())


def test_budget_verdict_of_every_design_and_source(report):
    out, r = report
    b = r["budget"]
    assert (b["part"], b["device"]["name"], b["budget"]["lut_fraction"]) == ("xcvu13p-flga2577-2-e", "XCVU13P", 0.05)
    rows = {(d["design"], d["source"]): d for d in b["designs"]}
    assert {design for design, _ in rows} >= set(r["fpga"])  # every estimated design has a verdict
    for d in b["designs"]:
        if d.get("lut") is not None:
            assert d["lut_fraction"] == d["lut"] / 1_728_000
            assert d["checks"]["lut_fraction"] == (d["lut"] / 1_728_000 <= 0.05)
        known = [v for v in d["checks"].values() if v is not None]
        assert d["fits"] == (all(known) if known else None)
    md = (out / "run.md").read_text()
    assert "## Budget verdict: xcvu13p-flga2577-2-e (XCVU13P)" in md and "## Trigger rates" in md


def test_latency_fpga_and_sweep_figures(report):
    _, r = report
    engines = r["cpu_latency"]["engines"]
    assert {"mlp: PyTorch eager", "mlp: ONNX Runtime", "bdt: XGBoost inplace_predict"} <= set(engines)
    for e in engines.values():
        s = e["single_event"]
        assert 0 < s["p50_us"] <= s["p99_us"]
        assert 0 < s["p50_quiet_us"] == min(s["block_p50_us"]) and len(s["block_p50_us"]) == 10
        assert set(e["events_per_s"]) == {"1", "64", "4096"}
    assert r["cpu_latency"]["ort_speedup_vs_torch_batch1"] > 0
    assert all(e["estimate"] for e in r["fpga"].values())
    assert {
        "qmlp (hls4ml)",
        "qmlp (alkaid RTL)",
        "mlp PTQ (hls4ml)",
        "mlp (alkaid RTL)",
        "hgq (hls4ml)",
        "hgq (alkaid RTL)",
        "bdt (conifer HLS)",
        "bdt (conifer VHDL)",
        "bdt (alkaid RTL)",
    } == set(r["fpga"])
    # distributed arithmetic: no DSPs, and far fewer LUTs than the multiplier-per-product HLS estimate
    assert r["fpga"]["qmlp (alkaid RTL)"]["dsp"] == 0
    assert r["fpga"]["qmlp (alkaid RTL)"]["lut"] < r["fpga"]["qmlp (hls4ml)"]["lut"]
    (point,) = r["sweep"]
    assert point["weight_bits"] == 4 and 0.5 < point["auc"] <= 1 and point["rejection_quoted"] >= 1
    if _tools()[0]:  # its RTL simulated on the whole test split, 0 mismatches; counted by Yosys where installed
        assert point["lut"] > 0 and point["csim"]["n_mismatch"] == 0 and point["csim"]["n_events"] == r["test_events"]
        assert point["lut_source"] == ("yosys" if _tools()[2] else "alkaid")


def test_the_quoted_working_point_is_computed_from_each_points_simulated_outputs(trained_run, exported, report):
    """bench quotes 1/εB at ``bench.quoted_efficiency`` for every scan point from the outputs csim saved for its
    design (read, nothing retrained): equal to ``rejection_at`` of those outputs at each efficiency asked, and
    different between two efficiencies (the comparison can fail)."""
    from trigdeploy.bench.scanread import read_points
    from trigdeploy.convert.manifest import Manifest
    from trigdeploy.csim.run import saved_outputs
    from trigdeploy.data.cache import load_split
    from trigdeploy.layout import RunLayout
    from trigdeploy.logits import as_logits, probabilities
    from trigdeploy.train.metrics import rejection_at

    root, _ = exported
    parent = RunLayout.of(trained_run, root / "export", root / "firmware")
    _, y = load_split(trained_run, "test")
    by_eff = {e: {p["point"]: p["rejection_quoted"] for p in read_points(parent, e)} for e in (0.3, 0.6)}
    for name in by_eff[0.6]:
        point = RunLayout.of(trained_run / "scan" / name, root / "export", root / "firmware")
        record = json.loads((point.run_dir / "point.json").read_text())
        logits = saved_outputs(point, Manifest.load(point.manifest), record["physics_from"])
        prob = probabilities(as_logits(logits, len(y)))
        assert {e: by_eff[e][name] for e in by_eff} == {e: rejection_at(y, prob, e) for e in by_eff}
    assert by_eff[0.3] != by_eff[0.6]


def test_pareto_list_names_every_point_and_its_lut_source(report):
    _, r = report
    rtl, _, yosys = _tools()
    keys = {
        "model",
        "group",
        "auc",
        "rejection_quoted",
        "lut",
        "ff",
        "dsp",
        "lut_source",
        "latency_ns",
        "ii",
        "on_front",
        "csim",
        "kind",
    }
    assert all(set(p) == keys for p in r["pareto"])
    assert all(p["kind"] == p["model"].split(" ")[0] for p in r["pareto"] if p["group"] == "run")
    by_model = {p["model"]: p for p in r["pareto"]}
    qmlp = by_model["qmlp (qmlp_rtl)"] if yosys and rtl else by_model["qmlp"]
    assert qmlp["lut_source"] == ("yosys" if yosys and rtl else "alkaid" if rtl else "estimate")
    assert qmlp["auc"] == r["physics"]["qmlp"]["PyTorch"]["auc"]
    assert {p["group"] for p in r["pareto"]} == {"run", "sweep"} | ({"front"} if rtl else set())
    if rtl:
        (front,) = r["front"]
        assert (
            front["beta"] == 1e-5
            and front["lut_source"] == ("yosys" if yosys else "alkaid")
            and 0 < front["weights_kept"] <= front["weights"]
        )
        assert front["latency_ns"] == 5.0 * front["latency_cycles"] > 0 and front["csim"]["n_mismatch"] == 0
        sweep = [p for p in r["pareto"] if p["group"] == "sweep"]
        assert front["dominated_by_uniform_sweep"] == any(
            s["lut"] <= front["lut"] and s["auc"] >= front["auc"] for s in sweep
        )
        assert by_model["uniform w4a6"]["lut_source"] == front["lut_source"]  # counted the same way as the front


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ({"lut": 100, "auc": 0.95}, True),
        ({"lut": 50, "auc": 0.90}, False),
        ({"lut": 80, "auc": 0.97}, False),
        ({"lut": 80, "auc": 0.96}, False),
    ],
    ids=["more-luts-less-auc", "cheaper", "better", "equal"],
)
def test_dominance_by_hand(point, expected):
    from trigdeploy.bench.pareto import dominated

    assert dominated(point, [{"lut": 80, "auc": 0.96}]) is expected


def test_open_synthesis_side_by_side(report):
    out, r = report
    rtl, ghdl, yosys = _tools()
    if not (yosys and rtl):
        pytest.skip("Yosys or the alkaid/Verilator RTL path is not installed")
    rows = r["fpga_side_by_side"]

    def row(design: str, source: str) -> dict:
        (found,) = [x for x in rows if x["design"] == design and source in x["source"]]
        return found

    count, like = row("qmlp_rtl", "Yosys"), row("qmlp_rtl", "like for like")
    assert count["lut"] > 0 and count["dsp"] == 0
    # the row shows the estimate rounded to a whole LUT; the ratio is of the unrounded one
    assert like["ratio_to_yosys"] == pytest.approx(like["lut"] / count["lut"], abs=0.5 / count["lut"])
    assert row("qmlp_rtl", "the Vivado design")["ratio_to_yosys"] is None  # ternary adders: not comparable
    assert not any(x["design"] == "mlp_rtl" for x in rows)  # not asked for: no row, no figure
    if ghdl:
        conifer = row("bdt_vhdl", "conifer VHDL")
        assert conifer["ratio_to_yosys"] == pytest.approx(conifer["lut"] / row("bdt_vhdl", "Yosys")["lut"])
    # the ensemble as logic is another architecture than conifer's: its estimate stands beside, with no ratio
    other = row("bdt_rtl", "conifer VHDL")
    assert other["ratio_to_yosys"] is None and "another architecture" in other["source"]
    assert row("bdt_rtl", "like for like")["ratio_to_yosys"] > 0
    md = (out / "run.md").read_text()
    assert "Yosys (open synthesis, not Vivado)" in md and "estimate / Yosys" in md


def test_files_written(report):
    out, r = report
    on_disk = json.loads((out / "run.json").read_text())
    assert on_disk["physics"] == json.loads(json.dumps(json_safe(r["physics"])))  # inf 1/εB: null
    md = (out / "run.md").read_text()
    assert "estimates" in md and "![ROC](run_roc.png)" in md
    for png in ("run_roc.png", "run_pareto.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_ort_single_event_binding_equals_batched_run(exported):
    import numpy as np

    from trigdeploy.bench.latency import OrtEngine

    root, _ = exported
    engine = OrtEngine(root / "export" / "run" / "mlp.onnx")
    x = np.random.default_rng(1).normal(size=(40, engine._in.shape[1])).astype(np.float32)
    one_by_one = np.concatenate([engine(x[i : i + 1]).reshape(-1) for i in range(len(x))])
    np.testing.assert_array_equal(one_by_one, engine(x).reshape(-1))


def test_figures_are_the_run_s_own_values(report, trained_run):
    """Not only the keys: each figure equals the value computed from the run's own scores."""
    import numpy as np

    from trigdeploy.data.cache import load_split
    from trigdeploy.train.metrics import rejection_at, roc_auc

    _, r = report
    metrics = json.loads((trained_run / "metrics.json").read_text())
    _, y = load_split(trained_run, "test")
    for model, form in (("mlp", "PyTorch"), ("qmlp", "PyTorch"), ("bdt", "XGBoost")):
        scores = np.load(trained_run / "predictions" / f"{model}.npz")["test"]
        figures = r["physics"][model][form]
        assert figures["auc"] == pytest.approx(metrics[model]["auc"], abs=1e-12) == roc_auc(y, scores)
        assert figures["rejection"]["eff_S=0.3"] == rejection_at(y, scores, 0.3)
    # fixed point moves the BDT's AUC by far less than the export gate allows
    assert abs(r["physics"]["bdt"]["conifer HLS csim"]["auc"] - r["physics"]["bdt"]["XGBoost"]["auc"]) < 0.005
    # 4-bit weights cost fewer LUTs than the run's 6-bit QAT design, by the same model
    if _tools()[0]:
        assert r["sweep"][0]["alkaid_lut" if _tools()[2] else "lut"] < r["fpga"]["qmlp (alkaid RTL)"]["lut"]


def test_synth_of_an_unknown_design_is_one_line(trained_run, exported):
    from trigdeploy.bench.synth import open_synth_run
    from trigdeploy.errors import TrigdeployError
    from trigdeploy.layout import RunLayout

    root, _ = exported
    layout = RunLayout.of(trained_run, root / "export", root / "firmware")
    with pytest.raises(TrigdeployError, match=r"--design qmlp_vitis: not an RTL design of .*manifest.json"):
        open_synth_run(layout, designs=["qmlp_vitis"])


def test_synth_skips_with_a_reason_and_writes_no_figure(trained_run, exported, monkeypatch, tmp_path):
    """A design above the LUT budget and one whose tool is missing: each skipped with its line, no count."""
    import importlib.util

    from trigdeploy.bench import synth
    from trigdeploy.hdl import tools
    from trigdeploy.layout import RunLayout

    if not importlib.util.find_spec("alkaid"):
        pytest.skip("alkaid is not installed: no RTL MLP in the export")
    real = tools.find
    monkeypatch.setattr(tools, "find", lambda name: None if name == "ghdl" else real(name))
    root, _ = exported
    (tmp_path / trained_run.name).mkdir()  # a run folder of the same name: the export's, its own synth.json
    layout = RunLayout.of(tmp_path / trained_run.name, root / "export", root / "firmware")
    out = synth.open_synth_run(layout, max_lut_estimate=1)
    d = out["designs"]
    assert set(d) == {"qmlp_rtl", "mlp_rtl", "hgq_rtl", "bdt_vhdl", "bdt_rtl"} and all(
        "lut" not in x for x in d.values()
    )
    assert "above --max-lut-estimate 1" in d["qmlp_rtl"]["skipped"] and "--design mlp_rtl" in d["mlp_rtl"]["skipped"]
    assert tools.missing("ghdl") in d["bdt_vhdl"]["skipped"]
    assert json.loads(layout.synth_json.read_text()) == json.loads(json.dumps(out))


_BINARY = {
    "physics": {
        "bdt": {
            "XGBoost": {
                "auc": 0.99,
                "rejection": {"eff_S=0.3": float("inf"), "eff_S=0.5": 123.4},
                "rejection_limit": 500.0,
                "at_thresholds": {},
            }
        }
    }
}


@pytest.mark.parametrize("read_back", [False, True], ids=["in-memory", "from-json"])
def test_unbounded_rejection_is_shown_as_above_the_background_count(read_back):
    # no background passes at εS = 0.3: 1/εB is above the 500 test background events, not "inf"
    r = json.loads(json.dumps(json_safe(_BINARY))) if read_back else _BINARY
    row = _physics_binary(r)[2]
    assert row.startswith("| bdt | XGBoost | 0.99000 | > 500 | 123 |"), row


def test_unbounded_rejection_per_class_names_the_other_class_count():
    inf = float("inf")
    f = {
        "auc": 0.9,
        "accuracy": 0.8,
        "n_test_per_class": {"a": 40, "b": 60},
        "per_class": {
            "a": {"auc": 0.9, "rejection": {"eff_S=0.3": {"b": inf}, "eff_S=0.5": {"b": 7.6}}, "thresholds": {}},
            "b": {"auc": 0.9, "rejection": {"eff_S=0.3": {"a": 12.0}, "eff_S=0.5": {"a": None}}, "thresholds": {}},
        },
        "confusion_matrix": [[30, 10], [5, 55]],
    }
    lines = _physics_multiclass({"classes": ["a", "b"], "physics": {"mlp": {"PyTorch": f}}})
    rows = [x for x in lines if x.startswith("| mlp | PyTorch | a | ") or x.startswith("| mlp | PyTorch | b | ")]
    assert rows == [
        "| mlp | PyTorch | a | 0.90000 |  | > 60 |  | 8 |  |",
        "| mlp | PyTorch | b | 0.90000 | 12 |  | > 40 |  |  |",
    ]


def test_pareto_point_reads_null_rejection_as_unbounded(tmp_path):
    from trigdeploy.train.results import RunMetrics

    (tmp_path / "metrics.json").write_text(
        json.dumps({"bdt": {"auc": 0.99, "rejection": {"eff_S=0.3": None}}, "mlp": {"auc": 0.9}})
    )
    metrics = RunMetrics.load(tmp_path / "metrics.json")
    est = {
        "bdt (conifer HLS)": {"lut": 10, "ff": 5, "dsp": 0, "latency_ns": 50.0},
        "mlp (hls4ml)": {"lut": 20, "ff": 5, "dsp": 0, "latency_ns": 50.0},
    }
    points = pareto_entries(metrics, est, {"bdt (conifer HLS)": "bdt", "mlp (hls4ml)": "mlp"}, (None, None, {}), [])
    by_model = {p["model"]: p for p in points}
    assert by_model["bdt"]["rejection_quoted"] == float("inf")
    assert "rejection_quoted" not in by_model["mlp"]  # K classes: no single background, no figure


def test_each_counted_design_is_a_point_with_its_own_simulated_physics(tmp_path):
    """A model with two synthesized designs (the BDT's conifer VHDL and its LUT-native RTL) gives two points,
    each with its Yosys count and the physics of its own simulated outputs; a design without simulated
    physics falls back on its model's; a design another model owns does not leak into this model's points."""
    from trigdeploy.bench.synthreport import DesignCount, SynthReport
    from trigdeploy.train.results import RunMetrics

    (tmp_path / "metrics.json").write_text(json.dumps({"bdt": {"auc": 0.99, "rejection": {"eff_S=0.3": 500.0}}}))

    def count(name, model, lut, source):
        return DesignCount(name, model, "Yosys", "yosys", lut, 10, 5, 0, 1.0, source)

    synth = SynthReport(tmp_path / "synth.json", "a" * 64, {
        "bdt_vhdl": count("bdt_vhdl", "bdt", 11_000, "conifer VHDL (ghdl synth)"),
        "bdt_rtl": count("bdt_rtl", "bdt", 2_300, "alkaid"),
        "q_rtl": count("q_rtl", "qmlp", 50_000, "alkaid")}, {})  # fmt: skip
    est = {
        "bdt (conifer VHDL)": {"lut": 38_000, "ff": 5, "dsp": 0, "latency_ns": 65.0},
        "bdt (alkaid RTL)": {"lut": 3_500, "ff": 5, "dsp": 0, "latency_ns": 15.0},
    }
    labels = {"bdt (conifer VHDL)": "bdt", "bdt (alkaid RTL)": "bdt"}
    simulated = {"bdt_rtl": {"auc": 0.985, "rejection": {"eff_S=0.3": float("inf")}}}
    metrics = RunMetrics.load(tmp_path / "metrics.json")
    points = pareto_entries(metrics, est, labels, (synth, None, simulated), [])
    got = [(p["model"], p["lut"], p["auc"], p["rejection_quoted"], p["latency_ns"]) for p in points]
    assert got == [("bdt (bdt_vhdl)", 11_000, 0.99, 500.0, 65.0), ("bdt (bdt_rtl)", 2_300, 0.985, float("inf"), 15.0)]
    assert [p["on_front"] for p in points] == [True, True]


def test_synth_refuses_a_design_changed_after_export(trained_run, exported, tmp_path):
    """An ``open_synth/`` (or any) file added after export is not counted."""
    import shutil

    from trigdeploy.bench.synth import open_synth_run
    from trigdeploy.errors import TrigdeployError
    from trigdeploy.layout import RunLayout

    root, _ = exported
    firmware = tmp_path / "firmware"
    shutil.copytree(root / "firmware", firmware, ignore=shutil.ignore_patterns(".csim-cache", ".synth-cache"))
    extra = firmware / "run" / "qmlp_rtl" / "open_synth" / "src" / "extra.v"
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_text("module extra; endmodule\n")
    with pytest.raises(TrigdeployError, match=f"{extra}: added since export"):
        open_synth_run(RunLayout.of(trained_run, root / "export", firmware), designs=["qmlp_rtl"])


@pytest.mark.skipif(not _tools()[2], reason="needs Yosys (make hdl-tools)")
def test_sigterm_stops_synth_at_once(trained_run, exported, tmp_path):
    """SIGTERM to ``trigdeploy synth`` while Yosys runs: exit 143 within seconds (not when every running and
    queued Yosys job has finished), no Yosys left running, no synth.json."""
    import shutil

    from conftest import sigterm_once_running

    root, _ = exported
    run = tmp_path / "runs" / trained_run.name
    shutil.copytree(trained_run, run)
    (run / "synth.json").unlink(missing_ok=True)
    firmware = tmp_path / "firmware"
    shutil.copytree(root / "firmware", firmware, ignore=shutil.ignore_patterns(".csim-cache", ".synth-cache"))
    designs = [
        a for d in ("qmlp_rtl", "hgq_rtl", "bdt_vhdl") if (firmware / "run" / d).is_dir() for a in ("--design", d)
    ]
    sigterm_once_running(
        [
            "synth",
            "--run",
            str(run),
            "--export-root",
            str(root / "export"),
            "--firmware-root",
            str(firmware),
            "--jobs",
            "1",
            *designs,
        ],
        ("yosys", "ghdl"),
        20,
    )
    assert not (run / "synth.json").exists()


def test_a_second_bench_with_nothing_changed_trains_nothing(trained_run, exported, report, monkeypatch):
    """bench reads the scan points' runs; it trains nothing, and a second one gives the same points."""
    from trigdeploy.bench import latency
    from trigdeploy.train import run as train

    out, first = report

    def no_training(*args, **kwargs):
        raise AssertionError("bench trained a model")

    monkeypatch.setattr(train, "train_run", no_training)
    # what this test is about is the scan: the CPU latency (half a minute of timing loops) is the first bench's
    monkeypatch.setattr(latency, "measure", lambda *args, **kwargs: first["cpu_latency"])
    root, _ = exported
    again = bench_run(trained_run, out, root / "export", root / "firmware", progress=False)
    assert json_safe(again["sweep"]) == json_safe(first["sweep"]) and json_safe(again["front"]) == json_safe(
        first["front"]
    )


def test_the_plot_front_by_hand(tmp_path):
    """The resource plot's front: b is beaten by a (more LUTs, less AUC), d by c (same LUTs, less AUC); e is the
    cheapest; f has no AUC and takes no part. The plot draws every group with its front and grey points."""
    from trigdeploy.bench.pareto import front_of, pareto_plot

    def pt(model, lut, auc, group="front", source="alkaid"):
        return {"model": model, "group": group, "lut": lut, "auc": auc, "lut_source": source, "latency_ns": 20.0}

    pts = [pt("a", 100, 0.97), pt("b", 200, 0.96, "sweep"), pt("c", 300, 0.98, "run", "yosys"), pt("d", 300, 0.975),
           pt("e", 50, 0.90, "sweep"), pt("f", 400, float("nan"))]  # fmt: skip
    assert [p["model"] for p in front_of(pts)] == ["e", "a", "c"]
    assert [p["model"] for p in front_of(pts[:2])] == ["a"]  # a comparison that leaves one out
    pareto_plot(pts, tmp_path / "p.png", "t")
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_grid_points_are_squares_one_colour_per_kind(tmp_path):
    """Points of a --grid scan (any kind, the BDT's among them) are drawn as squares, one colour and legend
    entry per kind, beside the run's models (diamonds) and the sweep (circles)."""
    from trigdeploy.bench.pareto import _style, pareto_plot

    def pt(model, group, kind=None):
        return {"model": model, "group": group, "lut": 100, "auc": 0.9, "lut_source": "yosys", "latency_ns": 15.0} | (
            {"kind": kind} if kind else {}
        )

    pts = [pt("bdt (bdt_rtl)", "run"), pt("bdt input_frac=2", "grid", "bdt"), pt("bdt input_frac=3", "grid", "bdt"),
           pt("hgq beta=5e-5", "grid", "hgq"), pt("uniform w4a6", "sweep", "qmlp")]  # fmt: skip
    styles = [_style(p, pts) for p in pts]
    assert [m for m, _, _ in styles] == ["D", "s", "s", "s", "o"]
    assert styles[1] == styles[2] and styles[1][1] != styles[3][1]  # one colour per kind: the comparison can fail
    assert styles[1][2] == "bdt grid scan (yosys)" and styles[3][2] == "hgq grid scan (yosys)"
    pareto_plot(pts, tmp_path / "p.png", "t")
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_the_csim_report_is_read_for_this_export_only(tmp_path):
    """bench takes csim.json's results only for the export they were simulated from; a file csim did not write
    is one line naming it; a comparison that fails shows up as mismatches, not as nothing."""
    from trigdeploy.csim.report import CsimReport
    from trigdeploy.errors import TrigdeployError
    from trigdeploy.train.results import RunMetrics

    def proj(model, exact, n_mismatch):
        return {"model": model, "simulator": "hls", "reference": "QONNX", "bit_exact_required": exact,
                "n_events": 500, "n_mismatch": n_mismatch, "max_abs_diff": 0.0, "ok": n_mismatch == 0}  # fmt: skip

    raw = {"manifest_sha256": "a" * 64, "ok": False, "projects": {"q_hls": proj("qmlp", True, 0),
           "q_rtl": proj("qmlp", True, 3), "m_hls": proj("mlp", False, 500)}}  # fmt: skip
    (tmp_path / "csim.json").write_text(json.dumps(raw))
    report = CsimReport.load(tmp_path / "csim.json")
    (tmp_path / "metrics.json").write_text(json.dumps({"qmlp": {"auc": 0.9}, "mlp": {"auc": 0.8}}))
    cost = {"lut": 10, "ff": 5, "dsp": 0, "latency_ns": 5.0}
    est = {"qmlp (alkaid RTL)": cost, "mlp PTQ (hls4ml)": cost}
    labels = {"qmlp (alkaid RTL)": "qmlp", "mlp PTQ (hls4ml)": "mlp"}
    sim = {"projects": ["qmlp_rtl"], "n_events": 500, "n_mismatch": 0}
    sweep = [{"model": "uniform w4a6", "group": "sweep", "auc": 0.85, "lut": 20, "ff": 5, "dsp": 0, "csim": sim,
              "lut_source": "yosys"}]  # fmt: skip
    points = pareto_entries(RunMetrics.load(tmp_path / "metrics.json"), est, labels, (None, report, {}), sweep)
    assert [(p["model"], p["group"]) for p in points] == [("qmlp", "run"), ("mlp", "run"), ("uniform w4a6", "sweep")]
    assert [p["csim"] for p in points] == [
        {"projects": ["q_hls", "q_rtl"], "n_events": 500, "n_mismatch": 3},
        None,
        sim,  # a scan point's own simulation
    ]
    (tmp_path / "csim.json").write_text(json.dumps({**raw, "projects": {"q": {"model": "qmlp"}}}))
    with pytest.raises(
        TrigdeployError, match=r"csim\.json: not a csim\.json of this trigdeploy \(KeyError: 'simulator'\)"
    ):
        CsimReport.load(tmp_path / "csim.json")


@pytest.mark.parametrize(
    ("section", "counted"),
    [
        ({"kind": "constituents", "inputs": "l1"}, True),
        ({"kind": "constituents"}, False),
        ({"kind": "toptag_jet"}, False),
        ({"kind": "columns"}, False),
    ],
    ids=["l1-words", "particle-features", "jet-features", "columns"],
)
def test_bench_states_which_inputs_each_design_assumes_given(section, counted):
    from trigdeploy.bench.run import inputs_given
    from trigdeploy.config import FeaturesConfig
    from trigdeploy.schema import build

    text = inputs_given(build(FeaturesConfig, section, "features", "run.yaml"))
    assert ("in the design (in its LUTs and latency)" in text) == counted
    assert ("not in their LUTs or latency" in text) == (not counted)


def test_bench_names_the_jet_s_values_given_beside_a_set():
    from trigdeploy.bench.run import inputs_given
    from trigdeploy.config import FeaturesConfig
    from trigdeploy.schema import build

    section = {"kind": "constituents", "jet_features": ["log(j_multiplicity)"]}
    text = inputs_given(build(FeaturesConfig, section, "features", "run.yaml"))
    assert text.startswith("the particles' features and the jet's log(j_multiplicity) beside them, computed in float64")


def test_the_report_says_what_the_ports_take(report):
    out, r = report
    assert r["inputs"].startswith("toptag_jet features, computed in float64")
    assert f"Inputs at each design's port: {r['inputs']}." in (out / "run.md").read_text()
