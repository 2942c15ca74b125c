"""The ``qonnx_hls4ml`` form: the QONNX model of a Brevitas QAT model (the ``qonnx`` form's) → one hls4ml
project per backend, C-simulated equal to QONNX execution on every test event before it is written."""

from __future__ import annotations

from trigdeploy import fpga
from trigdeploy.convert.context import ExportContext, exact_hls4ml_project, hls4ml_mlp_cost, say
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.logits import n_logits


def _export(kind, ex: ExportContext) -> dict:
    """One bit-exact hls4ml project per backend from the QONNX model the ``qonnx`` form wrote, each equal to
    QONNX execution on the whole test split."""
    m, quantizer = ex.exact[kind.name]  # the qonnx form's (the registration puts it before this one)
    x_grid, reference, ref_file = ex.references[kind.name]
    n_inputs = ex.torch_model(kind)[1]["n_inputs"]
    backends = {}
    for backend in ex.target.hls4ml.Backends:
        backends[backend] = _backend(kind, m, quantizer, n_inputs, backend, (x_grid, reference, ref_file), ex)
    return {"hls4ml": backends}


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


# from the QONNX model and reference that the qonnx form writes
register_form(Form("qonnx_hls4ml", _export, requires=("qonnx",), simulators=("hls",), cost=_cost))
