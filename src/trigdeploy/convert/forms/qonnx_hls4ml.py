"""The ``qonnx_hls4ml`` form: a Brevitas QAT model → QONNX (parity with Brevitas) → one hls4ml project
per backend, C-simulated equal to QONNX execution on every test event before it is written."""

from __future__ import annotations

import time

from trigdeploy import fpga
from trigdeploy.convert.context import ExportContext, exact_hls4ml_project, hls4ml_mlp_cost, say
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import sha256_file
from trigdeploy.logits import n_logits


def _export(kind, ex: ExportContext) -> dict:
    """Brevitas QAT model → QONNX (parity with Brevitas) → one bit-exact hls4ml project per backend."""
    from trigdeploy.convert import to_qonnx

    target, log = ex.target, ex.log
    t0 = time.perf_counter()
    model, saved = ex.torch_model(kind)
    quantizer = to_qonnx.input_quantizer(model)
    qpath = ex.out_dir / f"{kind.name}.qonnx.onnx"
    m = to_qonnx.export_qonnx(model, saved["n_inputs"], qpath, log)
    x_grid = quantizer.quantize(ex.x_test)
    q_parity = to_qonnx.parity(model, m, x_grid)
    if not q_parity["ok"]:
        raise TrigdeployError(
            f"{kind.name}: QONNX execution differs from Brevitas on {q_parity['n_mismatch']} test events "
            f"(max {q_parity['max_abs_diff']:.3g}); QONNX not written"
        )
    reference = to_qonnx.execute(m, x_grid)
    ref_file = ex.save_reference(kind, x_grid, reference)
    entry = {
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
        "hls4ml": {},
    }
    say(
        f"{kind.name} → {qpath.name} (Brevitas vs QONNX: {q_parity['n_mismatch']} mismatches on {q_parity['n_events']} events)"
    )
    for backend in target.hls4ml.Backends:
        entry["hls4ml"][backend] = _backend(
            kind, m, quantizer, saved["n_inputs"], backend, (x_grid, reference, ref_file), ex
        )
    return entry


def _backend(kind, m, quantizer, n_inputs: int, backend: str, refs: tuple, ex: ExportContext) -> dict:
    """One backend's project from the QONNX model, equal to QONNX execution on the whole test split."""
    from trigdeploy.convert import to_hls4ml

    x_grid, reference, ref_file = refs

    target = ex.target
    n_tb = min(target.testbench_events, len(x_grid))
    staging, final, check, compile_s = exact_hls4ml_project(
        kind,
        ex,
        backend,
        lambda out: to_hls4ml.convert(
            m, target.hls4ml, backend, out, quantizer, (x_grid[:n_tb], reference[:n_tb]), ex.log
        ),
        x_grid,
        reference,
        "QONNX",
    )
    to_hls4ml.write_readme(
        staging,
        backend,
        target.hls4ml,
        f"{kind.name} (quantization-aware)",
        n_inputs,
        f"then quantized to the port type `{quantizer.ap_type}` (round half to even, saturate), exactly as "
        "the QAT model's input quantizer does.",
        f"Checked before writing: C simulation equals `qonnx.core.onnx_exec` on {check['n_events']} test "
        f"events ({check['n_mismatch']} mismatches). `tb_data/` holds test events on the input grid and the "
        "QONNX outputs.",
        n_logits(reference),
    )
    ex.add_project(
        staging.name,
        kind,
        f"hls4ml {backend} csim",
        "QONNX execution",
        ref_file,
        exact=True,
        device=ex.hls4ml_device,
        reference_form="QONNX",
    )
    say(
        f"{kind.name} {backend} → {final} (C simulation vs QONNX: {check['n_mismatch']} mismatches "
        f"on {check['n_events']} events)"
    )
    return {
        "project": str(final),
        "part": target.hls4ml.Part,
        "clock_period_ns": target.hls4ml.ClockPeriod,
        "reuse_factor": target.hls4ml.ReuseFactor,
        "strategy": target.hls4ml.Strategy,
        "csim_vs_qonnx": check,
        "convert_compile_seconds": compile_s,
        "testbench_events": n_tb,
    }


def _cost(kind, layout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    if not entry.get("hls4ml"):
        return []
    return hls4ml_mlp_cost(
        kind,
        layout,
        f"{kind.name} (hls4ml)",
        lambda model, saved: fpga.qat_layers(model, saved["config"]["bias_bits"]),
        clock_ns,
        reuse,
    )


register_form(Form("qonnx_hls4ml", _export, simulators=("hls",), cost=_cost))
