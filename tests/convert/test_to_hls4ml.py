"""QONNX → hls4ml on a tiny QAT model built inline: bit-exact C simulation, independent of any run."""

from __future__ import annotations

import numpy as np

from trigdeploy.convert import to_hls4ml, to_qonnx
from trigdeploy.targets import HLS4MLTarget


def test_tiny_qat_model_is_bit_exact_in_hls4ml(tiny_qat, tmp_path):
    model, x, m, qonnx = tiny_qat
    quantizer = to_qonnx.input_quantizer(model)
    hm = to_hls4ml.convert(m, HLS4MLTarget(Backends=("Vitis",)), "Vitis", tmp_path / "prj", quantizer, None, [])
    assert to_hls4ml.check(hm, x, qonnx, tmp_path / "cache") == {
        "n_events": 3000,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
        "ok": True,
    }
    bad = np.array(qonnx, np.float64).copy()
    bad[5] += 2.0**-12  # below the logit's grid step: only an exact comparison sees it
    assert to_hls4ml.check(hm, x, bad, tmp_path / "cache")["n_mismatch"] == 1


def test_the_reuse_factor_reaches_every_layer_or_the_export_stops(tiny_qat, tmp_path):
    """hls4ml's per-layer defaults used to override the target's ReuseFactor (the manifest said one thing,
    the layers used 1). The factor now reaches every layer's parameters; one that hls4ml's Resource
    strategy would replace by another (4 → 3 for the 6·8 layer) is refused rather than misreported."""
    import pytest

    from trigdeploy.errors import TrigdeployError

    model, x, m, qonnx = tiny_qat
    quantizer = to_qonnx.input_quantizer(model)
    hm = to_hls4ml.convert(
        m, HLS4MLTarget(Backends=("Vitis",), ReuseFactor=4), "Vitis", tmp_path / "ok", quantizer, None, []
    )
    dense = [layer for layer in hm.get_layers() if layer.class_name == "Dense"]
    assert len(dense) == 3 and {layer.get_attr("reuse_factor") for layer in dense} == {4}
    params = (tmp_path / "ok" / "firmware" / "parameters.h").read_text()
    assert params.count("reuse_factor = 4;") == 5 and "reuse_factor = 1;" not in params  # 3 dense, 2 relu
    assert to_hls4ml.check(hm, x, qonnx, tmp_path / "cache")["n_mismatch"] == 0
    with pytest.raises(TrigdeployError, match="hls4ml.ReuseFactor 4 is not valid for layer .*would use 3") as info:
        to_hls4ml.convert(
            m,
            HLS4MLTarget(Backends=("Vitis",), ReuseFactor=4, Strategy="Resource"),
            "Vitis",
            tmp_path / "bad",
            quantizer,
            None,
            [],
        )
    assert "\n" not in str(info.value)
