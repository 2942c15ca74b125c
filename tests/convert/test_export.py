"""Export: ONNX Runtime parity, QONNX parity, hls4ml C simulation bit-exact on the whole test split."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from trigdeploy.convert import to_hls4ml, to_onnx, to_qonnx
from trigdeploy.convert.export import export_run, load_split
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType
from trigdeploy.models.families import load_torch_model
from trigdeploy.targets import ExportTarget, HLS4MLTarget

pytestmark = pytest.mark.integration  # end to end through several stages


def test_onnx_runtime_parity_whole_test_split(trained_run, exported):
    root, manifest = exported
    x, _ = load_split(trained_run, "test")
    model, _ = load_torch_model(trained_run / "mlp.pt")
    onnx_path = root / "export" / "run" / "mlp.onnx"
    # justified in to_onnx.LOGIT_TOLERANCE: float32 summation order only
    p = to_onnx.parity(model, onnx_path, x)
    assert p["ok"] and p["n_events"] == len(x) == manifest["test_events"] == 500
    assert manifest["models"]["mlp"]["onnx"]["ort_parity"]["max_abs_diff_logit"] <= 1e-5
    # dynamic batch axis: one event and all events give the same logits
    np.testing.assert_array_equal(to_onnx.onnx_logits(onnx_path, x[:1]), to_onnx.onnx_logits(onnx_path, x)[:1])


def test_qonnx_equals_brevitas_and_hls4ml_equals_qonnx(exported):
    _, manifest = exported
    q = manifest["models"]["qmlp"]
    assert q["qonnx"]["parity_vs_brevitas"] == {
        "n_events": 500,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
        "ok": True,
    }
    check = q["hls4ml"]["Vitis"]["csim_vs_qonnx"]
    assert (check["n_events"], check["n_mismatch"], check["max_abs_diff"]) == (500, 0, 0.0)
    assert q["input_port"]["hls"].startswith("ap_fixed<8,")


def test_conifer_float_leaf_exact_and_fixed_point_bit_exact(exported):
    root, manifest = exported
    b = manifest["models"]["bdt"]
    cpp = b["projects"]["cpp"]["vs_xgboost"]
    assert (cpp["n_events"], cpp["leaf_agreement"], cpp["n_margin_mismatch"]) == (500, 1.0, 0)
    fixed = b["fixed_point"]
    assert fixed["vs_xgboost_on_quantized_inputs"]["leaf_agreement"] == 1.0
    assert fixed["vs_xgboost_on_quantized_inputs"]["within_bound"]
    hls = b["projects"]["xilinxhls"]["csim_vs_emulation"]
    assert (hls["n_events"], hls["n_mismatch"]) == (500, 0)
    for backend, name in (("xilinxhls", "build_hls.tcl"), ("vhdl", "firmware/BDTTop.vhd")):
        project = root / "firmware" / "run" / f"bdt_{backend}"
        assert (project / name).is_file() and (project / "README.md").is_file()
        assert len((project / "tb_data" / "tb_input_features.dat").read_text().splitlines()) == 50


def test_the_bdt_exports_first_and_the_manifest_keeps_the_kinds_order(exported):
    """conifer's HLS check compiles in the background (``Form.background``), so the BDT is exported before the
    other kinds, beside whose forms that build runs; the manifest lists the projects in the kinds' order."""
    from trigdeploy.models import registry

    _, manifest = exported
    steps = [s["step"] for s in manifest["timing"]["steps"]]
    assert steps.index("bdt conifer") < steps.index("mlp onnx") < steps.index("qmlp qonnx_hls4ml")
    order = list(registry.KINDS)
    kinds = [p["model"] for p in manifest["projects"]]
    assert kinds == sorted(kinds, key=order.index) and kinds[-1] == "bdt" and kinds[0] == "mlp"
    # the QAT RTL is written before the hls4ml projects, and listed after them (the forms' registered order)
    assert steps.index("qmlp rtl") < steps.index("qmlp qonnx_hls4ml")
    assert [p["name"] for p in manifest["projects"] if p["model"] == "qmlp"] == ["qmlp_vitis", "qmlp_rtl"]
    check = manifest["models"]["bdt"]["projects"]["xilinxhls"]
    assert check["check_seconds"] >= check["compile_seconds"] >= 0


def test_project_is_a_vendor_handoff(exported):
    root, manifest = exported
    project = root / "firmware" / "run" / "qmlp_vitis"
    for name in (
        "build_prj.tcl",
        "README.md",
        "firmware/myproject.cpp",
        "tb_data/tb_input_features.dat",
        "tb_data/tb_output_predictions.dat",
        "myproject_test.cpp",
    ):
        assert (project / name).is_file(), name
    assert len((project / "tb_data" / "tb_input_features.dat").read_text().splitlines()) == 50
    assert not list((root / "firmware" / "run").glob("*.partial"))
    on_disk = json.loads((root / "export" / "run" / "manifest.json").read_text())
    assert on_disk["models"]["qmlp"]["source"]["sha256"] == manifest["models"]["qmlp"]["source"]["sha256"]
    assert (root / "export" / "run" / "preprocess.json").is_file()


def test_check_catches_a_corrupted_reference(trained_run, exported, tmp_path):
    root, _ = exported
    x, _ = load_split(trained_run, "test")
    model, saved = load_torch_model(trained_run / "qmlp.pt")
    quantizer = to_qonnx.input_quantizer(model)
    m = to_qonnx.export_qonnx(model, saved["n_inputs"], tmp_path / "q.onnx", [])
    xg = quantizer.quantize(x[:200])
    ref = to_qonnx.execute(m, xg)
    hm = to_hls4ml.convert(m, HLS4MLTarget(), "Vitis", tmp_path / "prj", quantizer, None, [])
    assert to_hls4ml.check(hm, xg, ref, tmp_path / "cache")["n_mismatch"] == 0
    corrupted = ref.copy()
    corrupted[17] += quantizer.scale / 64  # one event off by less than any input step
    result = to_hls4ml.check(hm, xg, corrupted, tmp_path / "cache")
    assert (result["n_mismatch"], result["ok"]) == (1, False)


def test_input_quantizer_grid(trained_run):
    model, _ = load_torch_model(trained_run / "qmlp.pt")
    q = to_qonnx.input_quantizer(model)
    assert np.log2(q.scale) == round(np.log2(q.scale))
    x = np.array([[0.0, q.scale * 0.5, q.scale * 1.5, 1e6, -1e6]], np.float32)
    # round half to even, then saturate to the signed range
    np.testing.assert_array_equal(
        q.quantize(x)[0], [0.0, 0.0, 2 * q.scale, (2 ** (q.bits - 1) - 1) * q.scale, -(2 ** (q.bits - 1)) * q.scale]
    )


def test_incomplete_run_is_refused(trained_run, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(trained_run, partial, ignore=shutil.ignore_patterns("metrics.json"))
    with pytest.raises(TrigdeployError, match="incomplete \\(no metrics.json\\)"):
        export_run(partial, ExportTarget(), tmp_path / "e", tmp_path / "f")
    assert not (tmp_path / "e").exists()


def test_unsupported_input_quantizers_are_refused(trained_run):
    """Brevitas' default float-scale quantizer (what hls4ml turns into inexact scale layers) and a model
    without an input quantizer give a clear error instead of firmware."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brevitas.nn import QuantIdentity
        from brevitas.quant import Int8ActPerTensorFloat

    model, _ = load_torch_model(trained_run / "qmlp.pt")
    model[0] = QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
    model.train()
    with torch.no_grad():
        model(torch.randn(64, model[1].in_features) * 3.7)  # calibrate the float scale
    model.eval()
    with pytest.raises(TrigdeployError, match="not a power of two"):
        to_qonnx.input_quantizer(model)
    model[0] = torch.nn.Identity()
    with pytest.raises(TrigdeployError, match="not a QuantIdentity"):
        to_qonnx.input_quantizer(model)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hls4ml: {Part: x, Clock: 5}\n", "unknown key 'hls4ml.Clock'"),
        ("hls4ml: {Backends: [Quartus]}\n", "Backends"),
        (None, "export target file not found"),
    ],
    ids=["unknown-key", "bad-backend", "missing"],
)
def test_bad_target_file(tmp_path, content, message):
    from trigdeploy.targets import load_target

    path = tmp_path / "t.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TrigdeployError, match=message):
        load_target(path)


def test_ptq_against_the_float_model(exported):
    root, manifest = exported
    ptq_entry = manifest["models"]["mlp"]["hls4ml_ptq"]
    stats = ptq_entry["backends"]["Vitis"]["vs_float"]
    assert stats["n_events"] == 500
    # 16-bit results with 1 headroom bit: errors of a few LSBs (2^-10 ≈ 1e-3) per layer, summed over 3 layers
    assert stats["max_abs_diff_logit"] < 0.05
    assert abs(stats["auc_change"]) < 0.005
    assert ptq_entry["overflow_on_test"] == []
    assert ptq_entry["precisions"]["port"].endswith(",RND,SAT>")
    assert (root / "firmware" / "run" / "mlp_vitis" / "README.md").is_file()


@pytest.fixture(scope="module")
def bdt_export(trained_run, tmp_path_factory):
    """A BDT-only copy of ``trained_run`` and a first, good export of it (VHDL project only: no harness build)."""
    from trigdeploy.targets import ConiferTarget

    base = tmp_path_factory.mktemp("bdtonly")
    run = base / "bdtrun"
    # every network file left out (the HGQ one too: otherwise each export also writes and checks its projects)
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("mlp.pt", "qmlp.pt", "seed_mlp.pt", "hgq.pt"))
    target = ExportTarget(conifer=ConiferTarget(Backends=("vhdl",)), testbench_events=20, source="test")
    export_run(run, target, base / "export", base / "firmware")
    return run, base, target


def _snapshot(root):
    files = {str(p.relative_to(root.parent)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    assert any(name.endswith("manifest.json") or "bdt_vhdl" in name for name in files)
    return files


def _no_partials(base):
    return [p for p in base.rglob("*") if ".partial-" in p.name]


@pytest.mark.parametrize(
    ("precision", "message"),
    [
        (
            "ap_fixed<8,8>",
            r"bdt: conifer Precision ap_fixed<8,8>: test AUC 0\.\d+ \(XGBoost\) → 0\.\d+ \(fixed point\) "
            r"loses more than bdt_max_auc_loss 0.005 .*widen conifer Precision",
        ),
        ("ap_fixed<2,1>", r"bdt: .*ap_fixed<2,1>.*widen conifer Precision"),
    ],
    ids=["integer-grid", "two-bits"],
)
def test_bdt_export_that_loses_auc_is_refused_and_keeps_the_previous_export(bdt_export, precision, message):
    import dataclasses

    from trigdeploy.targets import ConiferTarget

    run, base, target = bdt_export
    before = _snapshot(base / "export" / "bdtrun") | _snapshot(base / "firmware" / "bdtrun")
    coarse = dataclasses.replace(target, conifer=ConiferTarget(Backends=("vhdl",), Precision=precision))
    with pytest.raises(TrigdeployError, match=message):
        export_run(run, coarse, base / "export", base / "firmware")
    assert _snapshot(base / "export" / "bdtrun") | _snapshot(base / "firmware" / "bdtrun") == before
    assert (base / "export" / "bdtrun.export-failed.log").is_file()
    assert not _no_partials(base)


def test_interrupted_export_leaves_the_previous_one(bdt_export, monkeypatch):
    from trigdeploy.convert import to_conifer

    run, base, target = bdt_export
    before = _snapshot(base / "export" / "bdtrun") | _snapshot(base / "firmware" / "bdtrun")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what SIGINT/SIGTERM raise, after the projects were written

    monkeypatch.setattr(to_conifer, "write_readme", killed)
    with pytest.raises(KeyboardInterrupt):
        export_run(run, target, base / "export", base / "firmware")
    assert _snapshot(base / "export" / "bdtrun") | _snapshot(base / "firmware" / "bdtrun") == before
    assert (base / "export" / "bdtrun.export-failed.log").is_file()
    assert not _no_partials(base)


@pytest.mark.parametrize("failing", ["background-check", "later-form"], ids=["background-check", "later-form"])
def test_a_failure_beside_the_background_check_writes_nothing(bdt_export, monkeypatch, failing):
    """conifer's HLS check runs in the background (its vendor build) while the BDT's next form exports: a
    mismatch found there, or an error of the form beside it, fails the export as one error, after the
    background work ended (its compiler reads the staging folders), and leaves the previous export."""
    import dataclasses
    import threading

    from trigdeploy.convert.forms import FORMS
    from trigdeploy.cxx import harness
    from trigdeploy.targets import ConiferTarget

    run, base, target = bdt_export
    hls = dataclasses.replace(target, conifer=ConiferTarget(Backends=("xilinxhls",)))
    before = _snapshot(base / "export" / "bdtrun") | _snapshot(base / "firmware" / "bdtrun")
    if failing == "background-check":
        run_batch = harness.Harness.run
        one_lsb = FixedType.parse(hls.conifer.Precision).lsb

        def off_by_one_lsb(self, x):  # the compiled design disagrees on one event by one LSB of the score
            y = run_batch(self, x)
            y[len(y) // 2, 0] += one_lsb
            return y

        monkeypatch.setattr(harness.Harness, "run", off_by_one_lsb)
        message = r"bdt xilinxhls: C simulation differs from the fixed-point emulation on 1 of 500 test events"
    else:

        def boom(kind, ex):
            raise TrigdeployError("rtl_bdt: refused")

        monkeypatch.setitem(FORMS, "rtl_bdt", dataclasses.replace(FORMS["rtl_bdt"], export=boom))
        message = "rtl_bdt: refused"
    with pytest.raises(TrigdeployError, match=message):
        export_run(run, hls, base / "export", base / "firmware")
    assert not [t for t in threading.enumerate() if t.name.startswith("td-export")]
    assert _snapshot(base / "export" / "bdtrun") | _snapshot(base / "firmware" / "bdtrun") == before
    assert not _no_partials(base)


def test_failing_compiler_is_one_line_naming_tool_project_and_log(bdt_export, monkeypatch, tmp_path):
    from trigdeploy.convert import conifer_emulation

    run, base, target = bdt_export
    monkeypatch.setattr(conifer_emulation, "json_include", lambda: tmp_path)  # as on a machine without the JSON headers
    with pytest.raises(TrigdeployError) as info:
        export_run(run, target, tmp_path / "export", tmp_path / "firmware")
    message = str(info.value)
    log = tmp_path / "export" / "bdtrun.export-failed.log"
    assert "\n" not in message
    assert message.startswith("g++ (conifer C++ emulation) failed on ") and "bdt_cpp" in message
    assert message.endswith(f"full log: {log}")
    assert "json.hpp" in log.read_text()
    assert not (tmp_path / "export" / "bdtrun").exists() and not (tmp_path / "firmware" / "bdtrun").exists()


def test_export_leaves_no_stray_files(exported):
    root, _ = exported
    stray = [p for p in root.rglob("*") if ".partial" in p.name or p.name.endswith(".data")]
    assert stray == []
    assert (root / "export" / "run" / ".trigdeploy-export").is_file()


def test_foreign_folder_is_never_replaced(bdt_export, tmp_path):
    run, _, target = bdt_export
    foreign = tmp_path / "firmware" / "bdtrun"
    foreign.mkdir(parents=True)
    (foreign / "my_design.v").write_text("module x; endmodule\n")
    with pytest.raises(TrigdeployError, match="was not written by trigdeploy export"):
        export_run(run, target, tmp_path / "export", tmp_path / "firmware")
    assert (foreign / "my_design.v").is_file()


@pytest.mark.parametrize(
    ("model", "against"),
    [("qmlp", "QONNX execution"), ("mlp", "hls4ml Vitis PTQ C simulation")],
    ids=["qat-vs-qonnx", "ptq-vs-hls4ml-csim"],
)
def test_rtl_is_bit_exact_on_the_whole_split(exported, model, against):
    pytest.importorskip("alkaid")
    root, manifest = exported
    rtl = manifest["models"][model]["rtl"]
    assert rtl["checked_against"] == against
    assert rtl["check"] == {"n_events": 500, "n_mismatch": 0, "max_abs_diff": 0.0, "mean_abs_diff": 0.0, "ok": True}
    project = root / "firmware" / "run" / f"{model}_rtl"
    assert (project / "build_vivado_prj.tcl").is_file() and list((project / "src").glob("*.v"))
    assert list((project / "open_synth" / "src").glob("*.v")) and (project / "open_synth" / "metadata.json").is_file()
    assert rtl["project"] == str(project) and rtl["latency_ns"] == rtl["pipeline_stages"] * rtl["clock_period_ns"]
    listed = {p["name"]: p for p in manifest["projects"]}[f"{model}_rtl"]
    assert (listed["simulator"], listed["exact"]) == ("verilator", model == "qmlp")
