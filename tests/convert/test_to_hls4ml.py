"""QONNX → hls4ml on a tiny QAT model built inline: bit-exact C simulation, independent of any run."""

from __future__ import annotations

import numpy as np

from trigdeploy.config import HLS4MLTarget
from trigdeploy.convert import to_hls4ml, to_qonnx


def test_tiny_qat_model_is_bit_exact_in_hls4ml(tiny_qat, tmp_path):
    model, x, m, qonnx = tiny_qat
    quantizer = to_qonnx.input_quantizer(model)
    hm = to_hls4ml.convert(m, HLS4MLTarget(Backends=("Vitis",)), "Vitis", tmp_path / "prj", quantizer, None, [])
    assert to_hls4ml.check(hm, x, qonnx) == {"n_events": 3000, "n_mismatch": 0, "max_abs_diff": 0.0, "mean_abs_diff": 0.0,
                                                 "ok": True}
    bad = np.array(qonnx, np.float64).copy()
    bad[5] += 2.0 ** -12  # below the logit's grid step: only an exact comparison sees it
    assert to_hls4ml.check(hm, x, bad)["n_mismatch"] == 1
