"""The ``qonnx`` form: a Brevitas QAT model → QONNX, equal to the Brevitas forward pass on every test event
before it is written; its execution on the test split is the reference the ``rtl`` and ``qonnx_hls4ml`` forms
reproduce bit for bit."""

from __future__ import annotations

import time

from trigdeploy.convert.context import ExportContext, say
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import sha256_file


def _export(kind, ex: ExportContext) -> dict:
    """Brevitas QAT model → QONNX (parity with Brevitas), its execution on the input grid saved as the kind's
    reference and the model kept for the forms after it (``ex.exact``)."""
    from trigdeploy.convert import to_qonnx

    t0 = time.perf_counter()
    model, saved = ex.torch_model(kind)
    quantizer = to_qonnx.input_quantizer(model)
    qpath = ex.out_dir / f"{kind.name}.qonnx.onnx"
    m = to_qonnx.export_qonnx(model, saved["n_inputs"], qpath, ex.log)
    x_grid = quantizer.quantize(ex.x_test)
    q_parity = to_qonnx.parity(model, m, x_grid)
    if not q_parity["ok"]:
        raise TrigdeployError(
            f"{kind.name}: QONNX execution differs from Brevitas on {q_parity['n_mismatch']} test events "
            f"(max {q_parity['max_abs_diff']:.3g}); QONNX not written"
        )
    ex.save_reference(kind, x_grid, to_qonnx.execute(m, x_grid))
    ex.exact[kind.name] = (m, quantizer)
    say(
        f"{kind.name} → {qpath.name} (Brevitas vs QONNX: {q_parity['n_mismatch']} mismatches on "
        f"{q_parity['n_events']} events)"
    )
    return {
        "qonnx": {
            "file": qpath.name,
            "sha256": sha256_file(qpath),
            "parity_vs_brevitas": q_parity,
            "seconds": time.perf_counter() - t0,
        },
        "input_port": {
            "hls4ml": quantizer.hls_type,
            "hls": quantizer.ap_type,
            "scale": quantizer.scale,
            "bits": quantizer.bits,
        },
    }


register_form(Form("qonnx", _export))
