"""A tiny QONNX model → alkaid RTL → Verilator: bit-exact on every event against QONNX execution, and
a one-LSB corruption of the reference is caught by csim's comparison; the same for a tiny conifer
VHDL BDT under GHDL against the fixed-point emulation. Skipped (with the reason) without the tools."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.csim.run import compare
from trigdeploy.fixed import FixedType
from trigdeploy.hdl import projects as rtl
from trigdeploy.hdl import tools

pytest.importorskip("alkaid")
pytestmark = pytest.mark.integration


def _corrupt_one_lsb(ref: np.ndarray, lsb: float, index: int) -> np.ndarray:
    bad = np.array(ref, np.float64).reshape(-1).copy()
    bad[index] += lsb
    return bad


@pytest.fixture(scope="module")
def rtl_project(tiny_qat, tmp_path_factory):
    from trigdeploy.convert import to_rtl

    if tools.find("verilator") is None:
        pytest.skip(tools.missing("verilator"))
    model, x, _, qonnx = tiny_qat
    comb = to_rtl.trace(model, 6)
    prj = tmp_path_factory.mktemp("rtl") / "tiny_rtl"
    info = to_rtl.write_project(comb, prj, "xcvu13p-flga2577-2-e", 5.0, x[:50], qonnx[:50], "tiny", "ok")
    (_, _), net = to_rtl.layers(model)
    return prj, x, np.asarray(qonnx, np.float64).reshape(-1), 2.0 ** net[-1]["acc_exp"], info


def test_verilator_is_bit_exact_and_a_one_lsb_error_is_caught(rtl_project, tmp_path):
    prj, x, ref, lsb, info = rtl_project
    y, sim, tb = rtl.simulate_verilator(prj, tmp_path / "cache", x, True, 1, "fast")
    assert y.shape == (len(x), 1)
    np.testing.assert_array_equal(y[:, 0], ref)  # whole array, exact
    assert tb["ok"] and tb["n_events"] == 50 and tb["n_differ_from_expected"] == 0
    assert sim["pipeline_latency_cycles"] == info["pipeline_stages"]
    labels = (np.arange(len(x)) % 2).astype(np.int8)
    assert compare(labels, y[:, 0], ref, {}, exact=True)["ok"]
    bad = compare(labels, y[:, 0], _corrupt_one_lsb(ref, lsb, 1234), {}, exact=True)
    assert (bad["ok"], bad["n_mismatch"], bad["max_abs_diff"]) == (False, 1, lsb)


def test_verilator_build_is_cached_by_source(rtl_project, tmp_path):
    from trigdeploy.hdl import verilator

    prj, *_ = rtl_project
    first = verilator.build(prj, tmp_path)
    again = verilator.build(prj, tmp_path)
    assert (first.cached, again.cached, again.path) == (False, True, first.path)
    assert not any((prj / "sim").glob("*.so")), "the project folder is never written to"


@pytest.mark.parametrize(("threads", "jobs"), [(1, 1), (None, None)], ids=["one-thread-one-compiler", "default-cores"])
def test_the_simulation_s_threads_bound_the_verilator_compilers(rtl_project, tmp_path, monkeypatch, threads, jobs):
    """A csim of one thread (a scan point's: one per worker) builds with one compiler, not one per core of the
    machine (``None``: the cores); the outputs are the same."""
    from trigdeploy.hdl import verilator

    prj, x, ref, *_ = rtl_project
    seen, build = [], verilator.build
    monkeypatch.setattr(
        verilator, "build", lambda *a, **k: seen.append(a[3] if len(a) > 3 else k.get("jobs")) or build(*a, **k)
    )
    y, *_ = rtl.simulate_verilator(prj, tmp_path / "cache", x, True, threads, "fast")
    assert seen == [jobs]
    np.testing.assert_array_equal(y[:, 0], ref)


@pytest.fixture(scope="module")
def vhdl_project(tmp_path_factory):
    """A 5-tree depth-2 XGBoost on 4 features → conifer VHDL, its inputs on the grid, the emulated scores."""
    xgb = pytest.importorskip("xgboost")
    from trigdeploy.convert import ensemble as en
    from trigdeploy.convert import to_conifer as tc

    if tools.find("ghdl") is None:
        pytest.skip(tools.missing("ghdl"))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.3).astype(int)
    booster = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(x, y).get_booster()
    fmt = FixedType.parse("ap_fixed<12,5>")
    ens_q, _ = en.quantize_ensemble(en.ensemble_from_booster(booster), fmt)
    x_q = fmt.quantize_inputs(x)
    ref, _ = en.emulate_fixed(ens_q, en.leaves(ens_q, x_q), fmt)
    prj = tmp_path_factory.mktemp("vhdl") / "tiny_vhdl"
    tc.make_project(ens_q, "vhdl", prj, {"Precision": str(fmt), "XilinxPart": "xcvu13p-flga2577-2-e"}, [])
    tc.write_testbench(prj, x_q[:40], ref[:40])
    return prj, x_q, np.asarray(ref, np.float64), fmt.lsb


def test_ghdl_is_bit_exact_and_a_one_lsb_error_is_caught(vhdl_project, tmp_path):
    prj, x, ref, lsb = vhdl_project
    y, sim, tb = rtl.simulate_ghdl(prj, tmp_path / "cache", x, True, 1, "fast")
    np.testing.assert_array_equal(y[:, 0], ref)
    assert tb["ok"] and tb["shared_with_split_run"] and tb["n_events"] == 40
    labels = (np.arange(len(x)) % 2).astype(np.int8)
    bad = compare(labels, y[:, 0], _corrupt_one_lsb(ref, lsb, 77), {}, exact=True)
    assert (bad["ok"], bad["n_mismatch"], bad["max_abs_diff"]) == (False, 1, lsb)


def test_ghdl_slices_run_side_by_side_and_join_in_order(vhdl_project, tmp_path):
    from trigdeploy.hdl import ghdl

    prj, x, ref, _ = vhdl_project
    batch, expected = np.concatenate([x, x[::-1]]), np.concatenate([ref, ref[::-1]])  # 1,200 events: two slices
    assert [(s.start, s.stop) for s in ghdl._slices(len(batch), 2)] == [(0, 600), (600, 1200)]
    y, _, tb = rtl.simulate_ghdl(prj, tmp_path / "cache", batch, True, 2, "fast")
    np.testing.assert_array_equal(y[:, 0], expected)
    assert tb["ok"]


@pytest.mark.parametrize("backend", ["mcode", "llvm"], ids=["mcode", "llvm"])
def test_each_ghdl_backend_simulates_the_same_outputs(vhdl_project, tmp_path, backend):
    """GHDL's interpreting backend and its compiling one (what ``make hdl-tools`` installs) agree bit for bit."""
    import shutil

    from trigdeploy.hdl import ghdl

    exe = shutil.which(f"ghdl-{backend}")
    if exe is None:
        pytest.skip(f"ghdl-{backend} is not installed")
    tool = tools.Tool("ghdl", (exe,), f"GHDL test, {backend} code generator")
    prj, x, ref, _ = vhdl_project
    port, score = rtl._port_types(prj)
    built = ghdl.analyze(prj, tmp_path / "cache", tool)
    assert ghdl.backend(built.tool) == backend and ghdl.compiled(tool) == (backend == "llvm")
    codes = ghdl.run(built, rtl._as_int(np.concatenate([x, x]), port, "test inputs"), 2)
    np.testing.assert_array_equal(codes[:, 0] * score.lsb, np.concatenate([ref, ref]))


def test_a_failing_ghdl_slice_is_one_line_naming_the_design_and_its_error(tmp_path):
    from trigdeploy.errors import TrigdeployError
    from trigdeploy.hdl import ghdl

    fails = ("/bin/sh", "-c", "echo 'BDT.vhd:3:1: error: no such unit' >&2; exit 3", "ghdl")
    built = ghdl.Build(tmp_path / "build", 0.0, True, tools.Tool("ghdl", fails, "GHDL fake, mcode code generator"))
    with pytest.raises(TrigdeployError) as info:
        ghdl.run(built, np.zeros((1200, 4), np.int64), 2)
    assert (
        str(info.value) == f"GHDL simulation of {tmp_path / 'build'} failed (exit 3): BDT.vhd:3:1: error: no such unit"
    )


def test_ghdl_refuses_inputs_off_the_port_grid(vhdl_project, tmp_path):
    from trigdeploy.errors import TrigdeployError

    prj, x, _, lsb = vhdl_project
    off = x.copy()
    off[5, 2] += lsb / 2
    with pytest.raises(TrigdeployError, match="not on the ap_fixed<12,5> grid"):
        rtl.simulate_ghdl(prj, tmp_path / "cache", off, True, 1, "fast")


def test_addreduce_padding_is_driven(vhdl_project):
    text = (vhdl_project[0] / "firmware" / "AddReduce.vhd").read_text()
    assert text.count("trigdeploy: drive the padding") == 1
    assert (vhdl_project[0] / "ghdl_compile.sh").is_file()


def test_a_testbench_expectation_one_lsb_off_fails_the_testbench(rtl_project, tmp_path):
    import shutil

    prj, x, ref, lsb, _ = rtl_project
    copy = tmp_path / "prj"
    shutil.copytree(prj, copy)
    expected = copy / "tb_data" / "tb_output_predictions.dat"
    rows = np.loadtxt(expected, ndmin=2)
    rows[7, 0] += lsb
    np.savetxt(expected, rows, fmt="%.17g")
    _, _, tb = rtl.simulate_verilator(copy, tmp_path / "cache", x[:60], True, 1, "fast")
    assert (tb["ok"], tb["n_differ_from_expected"], tb["max_abs_diff_expected"]) == (False, 1, lsb)
