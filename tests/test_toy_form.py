"""An export form and its project type registered from this one file run through export → csim → bench.

The toy "firmware" is a NumPy fixed-point logistic regression: the form writes the integer weights
(8 fractional bits) and the port's input grid into a project folder, with testbench vectors, and
checks the project on every test event before export keeps it; the project type runs it in int64
arithmetic. No stage module names either, so this exercises the form and simulator registries, the
manifest's projects, csim's comparison and testbench check, and bench's physics and FPGA tables.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from torch import nn

from conftest import SMALL_TRAIN, run_config
from trigdeploy.config import MLPConfig
from trigdeploy.data.generate import write_toptag
from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import ToptagGenConfig
from trigdeploy.models import registry

F_IN, F_W = 8, 8  # fractional bits of the input port and of the weights


def _simulate(project, cache, x, exact, threads, arithmetic):
    """The toy project type: integer inputs on the port's grid, an int64 dot product, scaled back."""
    with np.load(project / "weights.npz", allow_pickle=False) as f:
        w, b, f_in, f_w = f["w"], f["b"], int(f["f_in"]), int(f["f_w"])
    t0 = time.perf_counter()

    def run(rows: np.ndarray) -> np.ndarray:
        codes = np.asarray(rows, np.float64) * 2.0**f_in
        if (codes != np.round(codes)).any():
            raise TrigdeployError(f"{project}: inputs are not on the port's 2^-{f_in} grid")
        return ((codes.astype(np.int64) @ w.T + b) * 2.0 ** -(f_in + f_w)).astype(np.float64)

    y = run(x)
    rate = len(x) / max(time.perf_counter() - t0, 1e-9)
    x_tb = np.loadtxt(project / "tb_data" / "tb_input_features.dat", ndmin=2)
    y_tb = np.loadtxt(project / "tb_data" / "tb_output_predictions.dat", ndmin=2)
    tb = {"n_events": len(x_tb), "ok": bool(np.array_equal(run(x_tb), y_tb))}
    info = {"arithmetic": "NumPy int64 (toy)", "compile_seconds": 0.0, "build_cached": True, "events_per_s": rate}
    return y, info, tb


def _export(kind, ex) -> dict:
    """Logistic regression → a fixed-point NumPy project, equal to its emulation on every test event."""
    from trigdeploy.convert.context import say

    model, _ = ex.torch_model(kind)
    lin = model[0]
    w = np.round(lin.weight.detach().double().numpy() * 2.0**F_W).astype(np.int64)
    b = np.round(lin.bias.detach().double().numpy() * 2.0 ** (F_IN + F_W)).astype(np.int64)
    x_grid = np.floor(ex.x_test * 2.0**F_IN) * 2.0**-F_IN
    # the reference: float64 on dyadic values, exact here (far below 2^53 LSBs), computed apart from the project
    reference = x_grid @ (w * 2.0**-F_W).T + b * 2.0 ** -(F_IN + F_W)
    ref_file = ex.save_reference(kind, x_grid, reference)
    name = f"{kind.name}_toy"
    staging = ex.fw_dir / name
    (staging / "tb_data").mkdir(parents=True)
    np.savez(staging / "weights.npz", w=w, b=b, f_in=F_IN, f_w=F_W)
    np.savetxt(staging / "tb_data" / "tb_input_features.dat", x_grid[:50])
    np.savetxt(staging / "tb_data" / "tb_output_predictions.dat", reference[:50])
    y, _, tb = _simulate(staging, ex.cache, x_grid, True, None, "fast")
    if not (np.array_equal(y, reference) and tb["ok"]):
        raise TrigdeployError(f"{name}: the project differs from its emulation; not written")
    ex.add_project(
        name,
        kind,
        "toy NumPy fixed point",
        "fixed-point emulation",
        ref_file,
        exact=True,
        device=ex.rtl_device,
        simulator="numpy_fixed",
    )
    say(f"{kind.name} toy → {ex.fw_final / name} ({len(y)} events exact)")
    return {"toy_fixed": {"project": str(ex.fw_final / name), "n_weights": int(w.size)}}


def _cost(kind, layout, entry, clock_ns, reuse):
    """One adder per weight and one register per output: the toy's cost model."""
    n = entry["toy_fixed"]["n_weights"]
    return [
        (
            f"{kind.name} (toy)",
            {
                "lut": 16 * n,
                "ff": 16,
                "dsp": 0,
                "bram": 0,
                "latency_cycles": 1,
                "latency_ns": clock_ns,
                "ii": 1,
                "estimate": True,
                "method": "toy count",
            },
            True,
        )
    ]


@pytest.fixture
def toy_form():
    from trigdeploy.convert.forms import Form, register_form, unregister_form
    from trigdeploy.simulators import Simulator, register_simulator, unregister_simulator

    register_simulator(Simulator("numpy_fixed", _simulate))
    register_form(Form("toy_fixed", _export, simulators=("numpy_fixed",), cost=_cost))
    kind = registry.register(
        registry.ModelKind(
            "logreg_fx",
            MLPConfig,
            "logreg_fx.pt",
            "torch",
            "PyTorch",
            build=lambda n, cfg: nn.Sequential(nn.Linear(n, 1)),
            forms=("toy_fixed",),
        )
    )
    yield kind
    registry.unregister("logreg_fx")
    unregister_form("toy_fixed")
    unregister_simulator("numpy_fixed")


@pytest.mark.integration
def test_toy_form_from_one_file_runs_export_csim_and_bench(toy_form, tmp_path, monkeypatch):
    from trigdeploy import simulators
    from trigdeploy.bench.run import bench_run
    from trigdeploy.convert.export import export_run
    from trigdeploy.csim.run import csim_run
    from trigdeploy.targets import ExportTarget
    from trigdeploy.train.run import train_run

    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=1500, seed=3, chunk_size=1500), data, progress=False)
    cfg = run_config(
        [data],
        name="toy",
        features={"kind": "toptag_jet"},
        scaling={"sample_rows": 1000},
        train={**SMALL_TRAIN, "logreg_fx": {"epochs": 8, "batch_size": 64, "lr": 0.02}},
    )
    run = tmp_path / "runs" / "toy"
    train_run(cfg, run, progress=False)

    manifest = export_run(run, ExportTarget(source="test"))
    (project,) = manifest["projects"]
    assert (project["name"], project["simulator"], project["exact"]) == ("logreg_fx_toy", "numpy_fixed", True)
    assert (tmp_path / "firmware" / "toy" / "logreg_fx_toy" / "weights.npz").is_file()

    report = csim_run(run)
    p = report["projects"]["logreg_fx_toy"]
    assert report["ok"] and (p["n_mismatch"], p["max_abs_diff"], p["testbench"]["ok"]) == (0, 0.0, True)
    assert p["n_events"] == manifest["test_events"] and p["auc_csim"] == p["auc_reference"] > 0.8

    bench = bench_run(run, progress=False)
    assert set(bench["physics"]["logreg_fx"]) == {"PyTorch", "toy NumPy fixed point"}
    assert bench["physics"]["logreg_fx"]["toy NumPy fixed point"]["auc"] == pytest.approx(p["auc_csim"], abs=1e-12)
    assert bench["fpga"]["logreg_fx (toy)"]["lut"] == 16 * manifest["models"]["logreg_fx"]["toy_fixed"]["n_weights"]

    # the comparison can fail: a project type one LSB off on one event is caught by csim on the whole split
    def off_by_one(*args):
        y, info, tb = _simulate(*args)
        y = y.copy()
        y[7] += 2.0 ** -(F_IN + F_W)
        return y, info, tb

    monkeypatch.setitem(simulators.SIMULATORS, "numpy_fixed", simulators.Simulator("numpy_fixed", off_by_one))
    with pytest.raises(TrigdeployError, match="differs from the reference for logreg_fx_toy"):
        csim_run(run)


@pytest.mark.parametrize(
    ("form", "message"),
    [({"simulators": ("no_such_simulator",)}, "declares simulators"), ({"requires": ("no_such_form",)}, "requires")],
    ids=["unknown-simulator", "unknown-requirement"],
)
def test_a_form_naming_what_is_not_registered_is_refused_at_registration(form, message):
    from trigdeploy.convert.forms import FORMS, Form, register_form

    with pytest.raises(ValueError, match=message):
        register_form(Form("broken", _export, **form))
    assert "broken" not in FORMS
