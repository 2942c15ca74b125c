"""The ``onnx`` form: a float torch model → ONNX, ONNX Runtime parity on the whole test split."""

from __future__ import annotations

import time

from trigdeploy.convert.context import ExportContext, say
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import sha256_file


def _export(kind, ex: ExportContext) -> dict:
    """Float torch model → ONNX, ONNX Runtime parity on the whole test split."""
    from trigdeploy.convert import to_onnx

    t0 = time.perf_counter()
    model, saved = ex.torch_model(kind)
    dst = ex.out_dir / f"{kind.name}.onnx"
    to_onnx.export_onnx(model, saved["n_inputs"], dst, ex.target.onnx_opset, ex.log)
    parity = to_onnx.parity(model, dst, ex.x_test)
    if not parity["ok"]:
        raise TrigdeployError(
            f"{kind.name}: ONNX Runtime differs from PyTorch by {parity['max_abs_diff_logit']:.3g} "
            f"(tolerance {parity['tolerance']}); ONNX not written"
        )
    say(
        f"{kind.name} → {dst.name} (ORT max |Δ logit| {parity['max_abs_diff_logit']:.2g} on {parity['n_events']} events)"
    )
    return {
        "onnx": {
            "file": dst.name,
            "sha256": sha256_file(dst),
            "opset": ex.target.onnx_opset,
            "ort_parity": parity,
            "seconds": time.perf_counter() - t0,
        }
    }


register_form(Form("onnx", _export))
