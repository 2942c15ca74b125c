"""K-class export end to end: every network exports its K logits and the BDT its K tree sets bit-exactly
(hls4ml and alkaid RTL C simulation / Verilator / GHDL on the whole test split), csim compares every
logit of every event, bench reports per class; a corrupted logit of one class is caught."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import own_copy, reseal
from trigdeploy.errors import TrigdeployError

pytestmark = pytest.mark.integration

EXACT = ["qmlp_vitis", "qmlp_rtl", "hgq_vitis", "hgq_rtl", "bdt_xilinxhls", "bdt_vhdl", "bdt_rtl"]


@pytest.fixture(scope="module")
def mc_exported(three_class_run, tmp_path_factory):
    """The three-class run exported (Vitis only, 50 testbench events), C-simulated and benchmarked."""
    from trigdeploy.bench.run import bench_run
    from trigdeploy.convert.export import export_run
    from trigdeploy.csim.run import csim_run
    from trigdeploy.targets import ExportTarget, HLS4MLTarget

    run, _, _ = three_class_run
    root = tmp_path_factory.mktemp("mc_out")
    target = ExportTarget(hls4ml=HLS4MLTarget(Backends=("Vitis",)), testbench_events=50, ptq_rtl=True, source="test")
    manifest = export_run(run, target, root / "export", root / "firmware")
    csim = csim_run(run, root / "export", root / "firmware")
    bench = bench_run(run, root / "bench", root / "export", root / "firmware", progress=False)
    return run, root, manifest, csim, bench


def test_manifest_names_the_classes_and_every_reference_has_k_logits(mc_exported):
    run, root, manifest, _, _ = mc_exported
    assert manifest["classes"] == ["g", "q", "t"]
    n_test = manifest["test_events"]
    for p in manifest["projects"]:
        with np.load(root / "export" / "run" / p["reference_file"]) as f:
            assert f["logits"].shape == (n_test, 3), p["name"]
    assert manifest["models"]["bdt"]["ensemble"]["n_classes"] == 3
    assert len(manifest["models"]["bdt"]["ensemble"]["base_margin"]) == 3


@pytest.mark.parametrize("project", EXACT, ids=EXACT)
def test_every_exact_project_equals_its_reference_on_every_logit(mc_exported, project):
    _, _, manifest, csim, _ = mc_exported
    p = csim["projects"][project]
    assert p["bit_exact_required"] and p["n_logits"] == 3
    assert (p["n_events"], p["n_mismatch"], p["max_abs_diff"]) == (manifest["test_events"], 0, 0.0)
    assert p["testbench"]["ok"] and p["decision_flips"]["argmax"] == 0
    assert p["auc_csim"] == p["auc_reference"]


def test_export_checks_are_whole_split_and_exact(mc_exported):
    _, _, manifest, _, _ = mc_exported
    m, n = manifest["models"], manifest["test_events"]
    assert m["mlp"]["onnx"]["ort_parity"]["ok"]
    assert m["qmlp"]["qonnx"]["parity_vs_brevitas"]["n_mismatch"] == 0
    assert m["qmlp"]["hls4ml"]["Vitis"]["csim_vs_qonnx"]["n_events"] == n
    for model in ("mlp", "qmlp", "hgq", "bdt"):
        assert (m[model]["rtl"]["check"]["n_events"], m[model]["rtl"]["check"]["n_mismatch"]) == (n, 0), model
    bdt = m["bdt"]
    assert bdt["projects"]["cpp"]["vs_xgboost"]["ok"]  # float emulation: same leaves, same margins
    assert bdt["fixed_point"]["vs_xgboost_on_quantized_inputs"]["leaf_agreement"] == 1.0
    assert bdt["projects"]["xilinxhls"]["csim_vs_emulation"]["n_mismatch"] == 0


def test_ptq_reports_its_error_on_all_logits(mc_exported):
    _, _, manifest, csim, _ = mc_exported
    stats = manifest["models"]["mlp"]["hls4ml_ptq"]["backends"]["Vitis"]["vs_float"]
    # PTQ is not exact: an error exists and is small for 18-bit types on logits of order 1
    assert 0 < stats["max_abs_diff_logit"] < 0.05
    assert abs(stats["auc_change"]) < 0.002
    assert not csim["projects"]["mlp_vitis"]["bit_exact_required"]


def test_bench_reports_per_class_figures_consistent_with_training(mc_exported):
    run, root, _, _, bench = mc_exported
    metrics = json.loads((run / "metrics.json").read_text())
    assert bench["classes"] == ["g", "q", "t"]
    for model in ("mlp", "qmlp", "hgq", "bdt"):
        trained = next(iter(bench["physics"][model].values()))  # the trained form, from predictions/
        for c in "gqt":
            assert trained["per_class"][c]["auc"] == pytest.approx(metrics[model]["per_class"][c]["auc"], abs=1e-12)
            assert set(trained["per_class"][c]["rejection"]["eff_S=0.5"]) == set("gqt") - {c}
        assert trained["accuracy"] == pytest.approx(metrics[model]["accuracy"], abs=1e-12)
        assert trained["confusion_matrix"] == metrics[model]["confusion_matrix"]
    # bit-exact forms: identical per-class figures to their reference
    qmlp = bench["physics"]["qmlp"]
    assert qmlp["hls4ml Vitis csim"]["per_class"] == qmlp["QONNX"]["per_class"]
    md = (root / "bench" / "run.md").read_text()
    header = "| model | form | macro AUC [95 % CI] | accuracy [95 % CI] | AUC g | AUC q | AUC t | vs the model's first form |"
    assert header in md and "Confusion matrices" in md
    # each run point of the resource plot carries its model's simulation on this export: every exact project
    sims = {p["model"].split(" (")[0]: p["csim"] for p in bench["pareto"] if p["group"] == "run"}
    assert sims["qmlp"] == {"projects": ["qmlp_rtl", "qmlp_vitis"], "n_events": 1200, "n_mismatch": 0}
    assert sims["bdt"]["n_mismatch"] == 0 and set(sims["bdt"]["projects"]) == {"bdt_xilinxhls", "bdt_vhdl", "bdt_rtl"}
    for plot in ("run_roc.png", "run_confusion.png"):
        assert (root / "bench" / plot).stat().st_size > 10_000


def test_one_corrupted_logit_of_one_class_fails_csim(three_class_run, mc_exported, tmp_path):
    from trigdeploy.csim.run import csim_run

    run, root, _, _, _ = mc_exported
    export_root = tmp_path / "export"
    shutil.copytree(root / "export", export_root)
    ref_path = export_root / "run" / "references" / "bdt.npz"
    with np.load(ref_path) as f:
        inputs, logits = f["inputs"], f["logits"].copy()
    logits[7, 2] += 2.0**-10  # one LSB of class t on one event
    np.savez(ref_path, inputs=inputs, logits=logits)
    reseal(export_root / "run" / "manifest.json", "reference_file", "references/bdt.npz", ref_path)
    run = own_copy(run, tmp_path)
    with pytest.raises(TrigdeployError, match="bdt_xilinxhls, bdt_vhdl"):
        csim_run(run, export_root, root / "firmware")
    report = json.loads((run / "csim.json").read_text())
    assert report["projects"]["bdt_xilinxhls"]["n_mismatch"] == 1
    assert report["projects"]["bdt_vhdl"]["n_mismatch"] == 1
    assert report["projects"]["qmlp_vitis"]["n_mismatch"] == 0
