"""Brevitas QAT MLP → alkaid RTL: the traced logic equals QONNX and Brevitas bit for bit, and the
check catches a one-LSB error; the project holds what a Vivado user needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trigdeploy.convert import to_rtl

pytest.importorskip("alkaid")


@pytest.fixture(scope="module")
def tiny(tiny_qat):
    model, x, _, qonnx = tiny_qat
    return model, x, qonnx


def test_traced_logic_equals_qonnx_and_brevitas(tiny):
    model, x, qonnx = tiny
    comb = to_rtl.trace(model, 6)
    with torch.no_grad():
        brevitas = model(torch.from_numpy(x)).numpy()
    assert to_rtl.check(comb, x, qonnx) == {
        "n_events": 3000,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
        "ok": True,
    }
    assert to_rtl.check(comb, x, brevitas)["n_mismatch"] == 0


def test_check_catches_one_lsb(tiny):
    model, x, qonnx = tiny
    comb = to_rtl.trace(model, 6)
    (_, _), net = to_rtl.layers(model)
    lsb = 2.0 ** net[-1]["acc_exp"]  # the logit's own grid
    bad = np.array(qonnx, np.float64).copy()
    bad[123] += lsb
    out = to_rtl.check(comb, x, bad)
    assert (out["ok"], out["n_mismatch"], out["max_abs_diff"]) == (False, 1, lsb)


def test_integer_layers_reproduce_the_float_weights(tiny):
    model, _, _ = tiny
    (in_bits, in_exp), net = to_rtl.layers(model)
    assert in_bits == 6 and len(net) == 3 and "a_bits" not in net[-1]
    w0 = model[1].quant_weight().value.detach().numpy()
    np.testing.assert_array_equal(net[0]["w_int"] * 2.0 ** net[0]["w_exp"], w0)
    assert np.abs(net[0]["w_int"]).max() <= 2**3  # 4-bit signed (narrow range)


def test_project_files(tiny, tmp_path):
    model, x, qonnx = tiny
    comb = to_rtl.trace(model, 6)
    info = to_rtl.write_project(comb, tmp_path / "prj", "xcvu13p-flga2577-2-e", 5.0, x[:20], qonnx[:20], "tiny", "ok")
    for name in (
        "build_vivado_prj.tcl",
        "README.md",
        "tb_data/tb_input_features.dat",
        "tb_data/tb_output_predictions.dat",
    ):
        assert (tmp_path / "prj" / name).is_file(), name
    assert list((tmp_path / "prj" / "src").glob("*.v"))
    assert (
        info["pipeline_stages"] >= 1
        and info["lut_estimate_alkaid"] > 0
        and info["latency_ns"] == 5.0 * info["pipeline_stages"]
    )


@pytest.fixture(scope="module")
def tiny_ptq(tmp_path_factory):
    """A 5 → 8 → 1 float MLP at profiled 12-bit PTQ precisions, its hls4ml (Vitis) C simulation on
    2,000 events (hls4ml compiles the project: a few seconds)."""
    from trigdeploy.convert import ptq, to_hls4ml
    from trigdeploy.targets import HLS4MLTarget

    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).eval()
    x = np.random.default_rng(4).normal(size=(2000, 5))
    choice = ptq.choose_precisions(model, ptq.profile(model, x), 12, 1)
    hm = to_hls4ml.convert_ptq(
        model, 5, choice, HLS4MLTarget(), "Vitis", tmp_path_factory.mktemp("ptq") / "prj", None, []
    )
    return model, x, choice, to_hls4ml.predict(hm, x, tmp_path_factory.mktemp("ptq_cache"))


@pytest.mark.integration
def test_ptq_trace_equals_the_hls4ml_c_simulation(tiny_ptq):
    model, x, choice, y_hls = tiny_ptq
    comb = to_rtl.trace_ptq(model, choice, 5)
    assert to_rtl.check(comb, to_rtl.ptq_input_grid(x, choice), y_hls) == {
        "n_events": 2000,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
        "ok": True,
    }
    # the hls4ml bridge rounds half up onto the port: the grid is not a floor (a wrong port fails the check)
    assert choice.port.rounding == "RND"
    frac = choice.port.frac
    floor = np.floor(x * 2.0**frac) * 2.0**-frac
    assert not to_rtl.check(comb, floor, y_hls)["ok"]


def test_ptq_trace_refuses_a_layer_it_does_not_cover(tiny_ptq):
    model, _, choice, _ = tiny_ptq
    odd = torch.nn.Sequential(model[0], torch.nn.Tanh(), model[2])
    with pytest.raises(to_rtl.Unsupported, match=r"layer 1 \(Tanh\)"):
        to_rtl.trace_ptq(odd, choice, 5)
