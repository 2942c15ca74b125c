"""C simulation: batched harness = hls4ml predict() bit for bit; reports catch corrupted references; testbenches run."""

from __future__ import annotations

import ctypes
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import own_copy, reseal
from trigdeploy.csim.run import compare, csim_run
from trigdeploy.cxx import harness, hls_project, testbench
from trigdeploy.errors import TrigdeployError

pytestmark = pytest.mark.integration  # end to end through several stages


@pytest.fixture(scope="module")
def simulated(trained_run, exported):
    """The tiny run C-simulated with the fast headers on every project (the default, ``auto``, would pick
    the vendor build for its 500 events: ``test_auto_...`` covers that choice)."""
    root, _ = exported
    return csim_run(trained_run, root / "export", root / "firmware", threads=2, arithmetic="fast")


@pytest.mark.parametrize("arithmetic", ["vendor", "fast"], ids=["vendor-headers", "fast-headers"])
def test_harness_equals_hls4ml_predict_bit_for_bit(trained_run, exported, tmp_path, arithmetic):
    from qonnx.core.modelwrapper import ModelWrapper

    from trigdeploy.convert import to_hls4ml, to_qonnx
    from trigdeploy.models.families import load_torch_model
    from trigdeploy.targets import HLS4MLTarget

    root, _ = exported
    quantizer = to_qonnx.input_quantizer(load_torch_model(trained_run / "qmlp.pt")[0])
    m = ModelWrapper(str(root / "export" / "run" / "qmlp.qonnx.onnx"))
    hm = to_hls4ml.convert(m, HLS4MLTarget(), "Vitis", tmp_path / "prj", quantizer, None, [])
    x = np.loadtxt(root / "firmware" / "run" / "qmlp_vitis" / "tb_data" / "tb_input_features.dat", ndmin=2)
    x = np.concatenate([x, -x, 3 * x, x + 0.01])  # also off the grid and beyond the port's range
    hm.compile()  # hls4ml's own build and C simulation (its build_lib.sh, -O3): what the harness must reproduce
    expected = np.asarray(hm.predict(np.ascontiguousarray(x))).reshape(len(x), -1)
    for threads in (1, 2):
        h, b = harness.load(tmp_path / "prj", tmp_path / "cache", threads, arithmetic)
        assert (b.arithmetic, b.fallback) == (arithmetic, "")
        np.testing.assert_array_equal(h.run(x), expected)


@pytest.mark.parametrize("corruption", ["wrong", "unsupported"], ids=["fast-headers-wrong", "fast-headers-refuse"])
def test_fast_arithmetic_falls_back_to_the_vendor_headers(exported, tmp_path, monkeypatch, corruption):
    """A fast build that differs from the vendor build on the sample, or does not compile, is not used."""
    from trigdeploy.cxx.simulate import simulate

    root, _ = exported
    project = root / "firmware" / "run" / "qmlp_vitis"
    broken = tmp_path / "fast_ap"
    shutil.copytree(harness.FAST_AP, broken)
    header = broken / "ap_fixed.h"
    text = header.read_text()
    if corruption == "wrong":  # off by one LSB on about one output in eight
        bad = text.replace(
            "double to_double() const { return (double)V * INV_SCALE; }",
            "double to_double() const { return (double)(V + ((V & 7) == 3)) * INV_SCALE; }",
        )
    else:
        bad = text.replace("#define TD_FAST_AP_FIXED_H", "#define TD_FAST_AP_FIXED_H\n#error not covered")
    assert bad != text
    header.write_text(bad)
    monkeypatch.setattr(harness, "FAST_AP", broken)
    x = np.loadtxt(project / "tb_data" / "tb_input_features.dat", ndmin=2)
    x = np.concatenate([x, 2 * x, -x])
    y, info = simulate(project, tmp_path / "cache", x, threads=2)
    vendor, _ = harness.load(project, tmp_path / "cache", 2, "vendor")
    np.testing.assert_array_equal(y, vendor.run(x))
    assert info["arithmetic"] == "vendor"
    if corruption == "wrong":
        assert info["vendor_cross_check"]["differ"] > 0
    else:
        assert "do not cover" in info["fast_fallback"] and "not covered" in info["fast_fallback"]


@pytest.mark.parametrize("project", ["qmlp_vitis", "bdt_xilinxhls"], ids=["hls4ml", "conifer"])
def test_auto_runs_a_small_split_on_the_vendor_build_and_compiles_fast_only_beyond_the_budget(
    exported, tmp_path, monkeypatch, project
):
    """``auto``: the vendor build (export's, cached) runs a split it handles within the budget, and no fast
    build is compiled; with a budget it exceeds, the fast build is compiled and cross-checked; once that
    is cached, ``auto`` uses it. The outputs are the same whole arrays every time."""
    from trigdeploy.cxx import simulate as csim

    root, _ = exported
    path = root / "firmware" / "run" / project
    x = np.loadtxt(path / "tb_data" / "tb_input_features.dat", ndmin=2)
    x = np.concatenate([x, 2 * x, -x])
    cache, prj = tmp_path / "cache", hls_project.inspect(path)
    harness.build(prj, cache, "vendor")  # what export leaves
    y_vendor, info = csim.simulate(path, cache, x, threads=2, arithmetic="auto")
    assert (info["arithmetic"], "vendor_cross_check" in info) == ("vendor", False)
    assert info["arithmetic_choice"].startswith("auto: the vendor build runs the split in about")
    assert not harness.is_built(prj, cache, "fast")
    monkeypatch.setattr(csim, "VENDOR_SPLIT_BUDGET_S", 0.0)
    y_fast, info = csim.simulate(path, cache, x, threads=2, arithmetic="auto")
    assert info["arithmetic"] == "fast" and info["vendor_cross_check"]["differ"] == 0
    assert "would take about" in info["arithmetic_choice"] and harness.is_built(prj, cache, "fast")
    monkeypatch.setattr(csim, "VENDOR_SPLIT_BUDGET_S", 1e9)
    y_cached, info = csim.simulate(path, cache, x, threads=2, arithmetic="auto")
    assert (info["arithmetic"], info["arithmetic_choice"]) == ("fast", "auto: the fast build is cached")
    np.testing.assert_array_equal(y_fast, y_vendor)
    np.testing.assert_array_equal(y_cached, y_vendor)


def _rtl_projects() -> tuple[set[str], set[str]]:
    """The RTL projects the default export lists (alkaid installed: the three MLPs and the BDT as logic; the
    VHDL BDT always), and those csim can run here (Verilator, GHDL)."""
    import importlib.util

    from trigdeploy.hdl import tools

    mlps = {"qmlp_rtl", "mlp_rtl", "hgq_rtl", "bdt_rtl"} if importlib.util.find_spec("alkaid") else set()
    runnable = (mlps if tools.find("verilator") else set()) | ({"bdt_vhdl"} if tools.find("ghdl") else set())
    return mlps | {"bdt_vhdl"}, runnable


def test_default_run_is_bit_exact_where_required(simulated):
    p = simulated["projects"]
    listed, runnable = _rtl_projects()
    assert set(p) == {"qmlp_vitis", "mlp_vitis", "hgq_vitis", "bdt_xilinxhls"} | runnable
    assert set(simulated.get("skipped", {})) == listed - runnable  # a missing simulator is said, not hidden
    for name in ("qmlp_vitis", "hgq_vitis", "bdt_xilinxhls", *(runnable - {"mlp_rtl"})):
        assert (p[name]["n_events"], p[name]["n_mismatch"], p[name]["max_abs_diff"]) == (500, 0, 0.0), name
        assert p[name]["auc_csim"] == p[name]["auc_reference"]
        assert set(p[name]["decision_flips"].values()) == {0}
    if "mlp_rtl" in runnable:  # the PTQ RTL computes what the hls4ml PTQ project computes: the same error
        assert not p["mlp_rtl"]["bit_exact_required"]
        for key in ("max_abs_diff", "mean_abs_diff", "auc_csim", "decision_flips"):
            assert p["mlp_rtl"][key] == p["mlp_vitis"][key], key
    ptq = p["mlp_vitis"]
    assert not ptq["bit_exact_required"] and 0 < ptq["max_abs_diff"] < 0.1
    for name in {"mlp_vitis", "mlp_rtl"} & set(p):  # judged all the same: export's outputs exactly, export's gate
        v = p[name]["vs_export"]
        assert v["n_mismatch"] == 0 and v["ok"] and v["auc_loss"] <= v["max_auc_loss"], name
    assert simulated["ok"]


@pytest.mark.parametrize("project", ["qmlp_vitis", "hgq_vitis", "mlp_vitis"], ids=["qat", "hgq", "ptq"])
def test_csim_reuses_the_build_export_checked_with(simulated, exported, project):
    """Export checks every hls4ml project by the harness on the vendor headers, into the run's build cache;
    csim's testbench and vendor cross-check find that build instead of compiling it again."""
    _, manifest = exported
    step = f"compile {project} (vendor)"
    made = [s["cached"] for s in manifest["timing"]["steps"] if s["step"] == step]
    found = [s["cached"] for s in simulated["timing"]["steps"] if s["step"] == step]
    assert made[0] is False and all(made[1:]), "export compiled it once (its testbench's build found it)"
    assert found and all(found), "csim reused it every time"
    assert simulated["timing"]["cache_hits"] >= 3


def test_csim_finds_the_simulator_builds_export_compiled_beforehand(simulated, exported):
    """``prebuild_csim``: export compiled each project's csim build (Verilator models, HLS testbenches) in the
    background, once; csim's own builds of them are all cache hits."""
    _, manifest = exported
    kinds = ("Verilator build ", "testbench ")
    made, found = {}, {}
    for steps, into in ((manifest["timing"]["steps"], made), (simulated["timing"]["steps"], found)):
        for s in steps:
            if s["step"].startswith(kinds):
                into.setdefault(s["step"], []).append(s["cached"])
    rtl = {p["name"] for p in manifest["projects"] if p["simulator"] == "verilator"}
    assert {f"Verilator build {n}" for n in rtl} <= set(made) and rtl >= {"qmlp_rtl", "hgq_rtl", "bdt_rtl"}
    assert all(c[0] is False and all(c[1:]) for c in made.values()), "export compiled each once"
    assert set(found) == set(made) and all(all(c) for c in found.values()), "csim found every one built"


def test_a_fast_run_simulates_on_the_fast_headers_and_agrees_with_the_vendor_build(simulated):
    for name, p in simulated["projects"].items():
        if p["simulator"] != "hls":  # an RTL simulator: the design itself, no C++ arithmetic
            assert p["simulator"] in ("verilator", "ghdl") and "vendor_cross_check" not in p, name
            continue
        if name.startswith(("qmlp", "mlp")):
            assert p["arithmetic"] == "fast", name
        cc = p.get("vendor_cross_check")
        if p["arithmetic"] == "fast":
            assert cc["differ"] == 0 and cc["events"] == p["n_events"], name  # 500 test events: all cross-checked


def test_testbenches_build_run_and_agree(simulated):
    for name, p in simulated["projects"].items():
        tb = p["testbench"]
        agree = tb["n_differ_from_expected"] if p["simulator"] != "hls" else tb["n_differ_from_harness"]
        assert tb["ok"] and tb["n_events"] == 50 and agree == 0, name


def test_corrupted_reference_fails_the_comparison():
    y = np.array([0, 1, 0, 1])
    ref = np.array([-1.0, 2.0, -0.5, 0.25])
    ok = compare(y, ref.copy(), ref, {"f1": (None, 0.5)}, exact=True)
    assert ok["ok"] and ok["n_mismatch"] == 0
    bad = ref.copy()
    bad[3] -= 2.0**-10  # one LSB on one event
    out = compare(y, bad, ref, {"f1": (None, 0.5)}, exact=True)
    assert not out["ok"] and out["n_mismatch"] == 1 and out["max_abs_diff"] == 2.0**-10
    assert compare(y, bad, ref, {"f1": (None, 0.5)}, exact=False)["ok"]  # PTQ: reported, not judged


def test_three_logit_comparison_counts_events_and_flips_per_class():
    y = np.array([0, 1, 2, 1])
    ref = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [-1.0, 0.0, 3.0], [0.5, 0.4, 0.0]])
    thresholds = {"q eff_S=0.5": (1, 0.4)}
    ok = compare(y, ref.copy(), ref, thresholds, exact=True)
    assert ok["ok"] and ok["n_logits"] == 3 and ok["decision_flips"] == {"q eff_S=0.5": 0, "argmax": 0}
    bad = ref.copy()
    bad[3, 1] += 0.2  # one logit of one event: event 3 now prefers class 1 (p_q 0.36 → 0.41)
    bad[0, 2] -= 2.0**-10  # and one LSB on another event
    out = compare(y, bad, ref, thresholds, exact=True)
    assert not out["ok"] and out["n_mismatch"] == 2 and out["max_abs_diff"] == pytest.approx(0.2)
    assert out["decision_flips"] == {"q eff_S=0.5": 1, "argmax": 1}


def test_corrupted_bdt_reference_fails_csim_end_to_end(trained_run, exported, tmp_path):
    root, _ = exported
    export_root = tmp_path / "export"
    shutil.copytree(root / "export", export_root)
    ref_path = export_root / "run" / "references" / "bdt.npz"  # the reference the export saved for the project
    with np.load(ref_path) as f:
        inputs, logits = f["inputs"], f["logits"].copy()
    logits[7] += 2.0**-10  # one event, one LSB of ap_fixed<18,8>
    np.savez(ref_path, inputs=inputs, logits=logits)
    reseal(export_root / "run" / "manifest.json", "reference_file", "references/bdt.npz", ref_path)
    run = own_copy(trained_run, tmp_path)
    with pytest.raises(TrigdeployError, match="bdt_xilinxhls"):
        csim_run(run, export_root, root / "firmware", threads=1)
    report = json.loads((run / "csim.json").read_text())
    assert not report["ok"] and report["projects"]["bdt_xilinxhls"]["n_mismatch"] == 1


def test_a_project_edited_after_export_is_refused(trained_run, exported, tmp_path):
    """Editing the PTQ project's weights (what Vitis would synthesize) makes csim refuse it, not pass it."""
    root, _ = exported
    firmware = tmp_path / "firmware"
    shutil.copytree(root / "firmware", firmware, symlinks=True)
    header = next((firmware / "run" / "mlp_vitis" / "firmware" / "weights").glob("w*.h"))
    header.write_text(header.read_text().replace("0", "1", 1))
    with pytest.raises(TrigdeployError, match=f"{header}: changed since export") as info:
        csim_run(own_copy(trained_run, tmp_path), root / "export", firmware, threads=1)
    assert "\n" not in str(info.value)


def test_a_ptq_project_must_reproduce_what_export_recorded(trained_run, exported, tmp_path):
    """A PTQ project is judged against the outputs export recorded for it, bit for bit (shown failing
    by recording one changed logit)."""
    root, _ = exported
    export_root = tmp_path / "export"
    shutil.copytree(root / "export", export_root)
    path = export_root / "run" / "references" / "mlp_vitis.expected.npz"
    with np.load(path) as f:
        logits = f["logits"].copy()
    logits[3] += 2.0**-8
    np.savez(path, logits=logits)
    reseal(export_root / "run" / "manifest.json", "expected_file", "references/mlp_vitis.expected.npz", path)
    run = own_copy(trained_run, tmp_path)
    with pytest.raises(TrigdeployError, match="mlp_vitis"):
        csim_run(run, export_root, root / "firmware", threads=1)
    entry = json.loads((run / "csim.json").read_text())["projects"]["mlp_vitis"]
    assert entry["vs_export"]["n_mismatch"] == 1 and not entry["ok"]


def test_testbench_catches_wrong_expectations(exported, tmp_path):
    root, _ = exported
    project = tmp_path / "bdt"
    shutil.copytree(root / "firmware" / "run" / "bdt_xilinxhls", project)
    expected = project / "tb_data" / "tb_output_predictions.dat"
    rows = expected.read_text().splitlines()
    rows[7] = str(float(rows[7]) + 0.5)
    expected.write_text("\n".join(rows) + "\n")
    report = testbench.check(project, root / "firmware" / ".csim-cache", exact=True)
    assert not report["ok"] and report["n_differ_from_expected"] == 1 and report["n_differ_from_harness"] == 0


@pytest.mark.parametrize("built_first", [True, False], ids=["built-by-export", "cold-cache"])
def test_a_testbench_built_beforehand_runs_without_compiling(exported, tmp_path, monkeypatch, built_first):
    """What export does for a conifer project (``testbench.build``) leaves the executable that ``csim``'s
    testbench run uses; with a cold cache the run has to compile, which the patch refuses. The cache path
    is relative, as ``make demo`` gives it (the executable runs in a copy of the project). Neither the
    build nor the run writes into the hand-off project."""
    root, _ = exported
    project = (root / "firmware" / "run" / "bdt_xilinxhls").resolve()
    as_generated = {p: p.stat().st_mtime_ns for p in (project, *project.rglob("*"))}
    monkeypatch.chdir(tmp_path)
    cache = Path("firmware") / ".csim-cache"
    if built_first:
        testbench.build(project, cache)

    def no_compile(*args, **kwargs):
        raise AssertionError("the testbench was compiled again")

    monkeypatch.setattr(testbench, "_build_testbench", no_compile)
    if built_first:
        tb = testbench.run(project, cache)
        assert tb["outputs"].shape == tb["expected"].shape and len(tb["outputs"]) == 50
        assert {p: p.stat().st_mtime_ns for p in (project, *project.rglob("*"))} == as_generated
    else:
        with pytest.raises(AssertionError, match="compiled again"):
            testbench.run(project, cache)


def test_conifer_design_compiles_as_one_unit_with_the_same_outputs(exported, tmp_path):
    """conifer's BDT.cpp and top-level .cpp both include the tree tables: they build as one translation unit
    (one design object, which the testbench links), with a build key of its own and, on every testbench
    input, exactly the outputs of the two-unit build."""
    import dataclasses

    root, _ = exported
    project = hls_project.inspect(root / "firmware" / "run" / "bdt_xilinxhls")
    separate = dataclasses.replace(project, unity=False)
    assert project.unity and harness.project_hash(project) != harness.project_hash(separate)
    one, two = harness.build(project, tmp_path / "one"), harness.build(separate, tmp_path / "two")
    assert [p.name for p in one.objects] == ["1_td_unity.o"] and all(p.is_file() for p in one.objects)
    assert [p.name for p in two.objects] == ["1_BDT.o", "2_myproject.o"]
    x = np.loadtxt(project.path / "tb_data" / "tb_input_features.dat", ndmin=2)
    y1, y2 = harness.Harness(one.library).run(x), harness.Harness(two.library).run(x)
    assert y1.shape == (len(x), 1) and np.array_equal(y1, y2)
    # the testbench (it includes the tables too) compiles in the one unit, its main reached by a C entry point
    assert harness.folds_testbench(project) and not harness.folds_testbench(separate)
    assert not harness.folds_testbench(project, "fast")
    unit = (one.library.parent / "td_unity.cpp").read_text()
    assert unit.count("#include") == 3 and project.testbench_unit.name in unit
    assert hasattr(ctypes.CDLL(str(one.library)), harness.TESTBENCH_ENTRY)
    assert not hasattr(ctypes.CDLL(str(two.library)), harness.TESTBENCH_ENTRY)


def test_not_a_project_is_one_clear_error(tmp_path):
    with pytest.raises(TrigdeployError, match="not an hls4ml or conifer HLS project"):
        hls_project.inspect(tmp_path)


def test_saved_outputs_serve_only_the_export_they_were_simulated_for(trained_run, exported, simulated, tmp_path):
    from trigdeploy.convert.manifest import Manifest
    from trigdeploy.csim.run import saved_outputs
    from trigdeploy.layout import RunLayout

    root, _ = exported
    layout = RunLayout.of(trained_run, root / "export", root / "firmware")
    manifest = Manifest.load(layout.manifest)
    for name, project in simulated["projects"].items():
        logits = saved_outputs(layout, manifest, name)
        assert logits is not None and len(logits) == project["n_events"], name
    other = tmp_path / "export" / "run"
    shutil.copytree(root / "export" / "run", other)
    (other / "manifest.json").write_text((other / "manifest.json").read_text() + "\n")  # another export
    assert saved_outputs(layout, Manifest.load(other / "manifest.json"), "qmlp_vitis") is None


def test_compiler_failure_is_one_line_naming_the_project_and_the_log(exported, tmp_path):
    from pathlib import Path

    root, _ = exported
    project = tmp_path / "qmlp_vitis"
    shutil.copytree(root / "firmware" / "run" / "qmlp_vitis", project)
    top = project / "firmware" / "myproject.cpp"
    top.write_text(top.read_text() + "\n#error broken on purpose\n")
    with pytest.raises(TrigdeployError) as info:
        harness.load(project, tmp_path / "cache", 1, "vendor")
    message = str(info.value)
    assert "\n" not in message and str(project) in message and "failed compiling myproject.cpp" in message
    assert "broken on purpose" in Path(message.rsplit("full log: ", 1)[1]).read_text()


def test_sigterm_during_the_compile_stops_it_and_leaves_no_partial_build(trained_run, exported, tmp_path):
    """``trigdeploy csim`` killed by SIGTERM while g++ compiles: exit 143 within seconds, no compiler left
    running, no ``.partial`` staging folder in the cache, no csim.json."""
    from conftest import sigterm_once_running

    root, _ = exported
    run = own_copy(trained_run, tmp_path)
    (run / "csim.json").unlink(missing_ok=True)
    firmware = tmp_path / "firmware"
    shutil.copytree(root / "firmware", firmware, ignore=shutil.ignore_patterns(".csim-cache"))
    sigterm_once_running(
        ["csim", "--run", str(run), "--export-root", str(root / "export"), "--firmware-root", str(firmware)],
        ("cc1plus",),
        30,
    )
    cache = firmware / ".csim-cache"  # absent when the SIGTERM came while g++ preprocessed, before any build
    assert not cache.exists() or not [p.name for p in cache.iterdir() if ".partial" in p.name]
    assert not (run / "csim.json").exists()


def test_one_build_serves_projects_that_differ_only_in_weights(exported, tmp_path):
    """hls4ml's C simulation reads its weights at run time: a copy of a project with other weights (a
    retrain of the same architecture) reuses the build, yet each project computes with its own weights,
    also when both are loaded in one process, and its testbench agrees with the harness."""
    from trigdeploy.cxx import testbench

    root, _ = exported
    original = root / "firmware" / "run" / "qmlp_vitis"
    other = tmp_path / "qmlp_vitis"
    shutil.copytree(original, other)
    last = max((other / "firmware" / "weights").glob("w*.txt"), key=lambda p: int(p.stem[1:]))
    last.write_text(", ".join(f"{-float(v):g}" for v in last.read_text().replace(",", " ").split()))
    x = np.loadtxt(original / "tb_data" / "tb_input_features.dat", ndmin=2)
    cache = tmp_path / "cache"
    h_original, first = harness.load(original, cache, 1, "vendor")
    h_other, second = harness.load(other, cache, 1, "vendor")
    assert (first.cached, second.cached, second.library) == (False, True, first.library)
    y_original, y_other = h_original.run(x), h_other.run(x)
    assert (y_original != y_other).mean() > 0.5, "the copy computes with its own (negated) last-layer weights"
    np.testing.assert_array_equal(harness.load(original, cache, 1, "vendor")[0].run(x), y_original)
    tb = testbench.check(other, cache, exact=False)
    assert tb["n_differ_from_harness"] == 0 and tb["n_differ_from_expected"] > 0


@pytest.mark.parametrize("staged", ["relative", "absolute"])
def test_the_build_key_does_not_depend_on_the_folder_or_how_its_path_is_written(
    exported, tmp_path, monkeypatch, staged
):
    """Export checks a project in its staging folder, csim finds it where it was moved, and the CLI names
    both by relative paths: the same code is one cache key wherever it lies (hls4ml's ``__FILE__`` strings
    are the project's own relative names); a change to the code is another key."""
    root, _ = exported
    shutil.copytree(root / "firmware" / "run" / "qmlp_vitis", tmp_path / "fw" / ".run.partial-1@host" / "qmlp_vitis")
    shutil.copytree(root / "firmware" / "run" / "qmlp_vitis", tmp_path / "fw" / "run" / "qmlp_vitis")
    monkeypatch.chdir(tmp_path)
    first = Path("fw/.run.partial-1@host/qmlp_vitis")
    keys = {
        harness.project_hash(hls_project.inspect(first if staged == "relative" else tmp_path / first)),
        harness.project_hash(hls_project.inspect(Path("fw/run/qmlp_vitis"))),
    }
    assert len(keys) == 1
    top = tmp_path / "fw" / "run" / "qmlp_vitis" / "firmware" / "myproject.cpp"
    top.write_text(top.read_text().replace("{", "{ (void)0;", 1))
    assert harness.project_hash(hls_project.inspect(Path("fw/run/qmlp_vitis"))) not in keys


def test_the_build_key_preprocesses_a_project_once_until_a_file_of_it_changes(exported, tmp_path, monkeypatch):
    """The key is asked for several times per project and stage; the preprocessor runs once per content of
    the project's files: an edit is preprocessed (another key), and the old bytes give back the old key."""
    root, _ = exported
    project = shutil.copytree(root / "firmware" / "run" / "qmlp_vitis", tmp_path / "qmlp_vitis")
    calls = []
    real = harness._preprocessed
    monkeypatch.setattr(harness, "_preprocessed", lambda *a: calls.append(a) or real(*a))
    first = harness.project_hash(hls_project.inspect(project))
    assert harness.project_hash(hls_project.inspect(project)) == first and len(calls) == 1
    top = project / "firmware" / "myproject.cpp"
    text = top.read_text()
    top.write_text(text.replace("{", "{ (void)0;", 1))  # other code: preprocessed again
    assert harness.project_hash(hls_project.inspect(project)) != first and len(calls) == 2
    top.write_text(text)
    assert harness.project_hash(hls_project.inspect(project)) == first and len(calls) == 2


def test_prebuild_compiles_testbenches_side_by_side_and_one_key_once(exported, tmp_path):
    """csim compiles the HLS projects' testbenches before simulating, several at once: two threads given
    projects with one key (the same code, other weights) take turns, so that key compiles once and the
    other finds it; the steps are recorded in the stage's timing."""
    from trigdeploy import timing
    from trigdeploy.csim.run import prebuild
    from trigdeploy.cxx.testbench import build

    root, _ = exported
    same = [tmp_path / d / "qmlp_vitis" for d in ("a", "b")]
    for d in same:
        shutil.copytree(root / "firmware" / "run" / "qmlp_vitis", d)
    other = tmp_path / "c" / "hgq_vitis"
    shutil.copytree(root / "firmware" / "run" / "hgq_vitis", other)
    cache = tmp_path / "cache"
    with timing.stage("csim") as rec:
        prebuild([(build, p) for p in (*same, other)], cache, jobs=3)
    steps = [s for s in rec.report()["steps"] if s["step"].startswith("testbench ")]
    assert sorted(s["cached"] for s in steps) == [False, False, True]
    assert len(list(cache.glob("tb-*/csim.exe"))) == 2 and not list(cache.glob(".*partial*"))


def test_two_processes_building_one_project_both_succeed(exported, tmp_path):
    """Two ``csim`` of one export compile the same harness at the same moment: each stages in its own
    folder and the second to finish keeps the first's entry (a shared ``<key>.partial`` made one fail)."""
    import subprocess
    import sys

    root, _ = exported
    project = root / "firmware" / "run" / "qmlp_vitis"
    cache = tmp_path / "cache"
    code = (
        "import sys; from pathlib import Path; from trigdeploy.cxx import harness; "
        "h, b = harness.load(Path(sys.argv[1]), Path(sys.argv[2]), 1, 'vendor'); print(b.cached)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(project), str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-500:] for _, err in outs]
    assert not [p.name for p in cache.iterdir() if ".partial" in p.name]
    assert len([p for p in cache.iterdir() if (p / "libtdcsim.so").is_file()]) == 1
