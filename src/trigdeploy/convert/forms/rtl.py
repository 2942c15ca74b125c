"""The alkaid RTL forms: ``rtl`` (the QAT MLP, exact against QONNX), ``rtl_ptq`` (the float MLP at its
hls4ml PTQ precisions, exact against that project's C simulation) and ``rtl_hgq`` (the resource-aware
MLP at its own precisions, exact against its fixed-point reference); alkaid's interpreter of the traced
logic is checked on every test event before a project is written, Verilator runs it in csim."""

from __future__ import annotations

import logging
import time

from trigdeploy.convert.context import ExportContext, alkaid_missing, hgq_reference, rtl_project, say
from trigdeploy.convert.forms import Form, register_form

logger = logging.getLogger("trigdeploy.convert.export")

def _export_qat(kind, ex: ExportContext) -> dict:
    """QAT MLP → alkaid Verilog project, bit-exact against QONNX on the whole test split (alkaid's
    interpreter of the traced logic); without alkaid installed, one line and no project."""
    skipped = alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.convert import to_rtl

    model, saved = ex.torch_model(kind)
    if kind.name not in ex.references:
        raise ValueError(f"model kind {kind.name}: the rtl form checks against the QONNX reference; list "
                         "qonnx_hls4ml before rtl in its forms")  # a registration error, not user input
    x_grid, reference, ref_file = ex.references[kind.name]  # QONNX execution on the input grid, saved by this export
    t0 = time.perf_counter()
    comb = to_rtl.trace(model, saved["n_inputs"])
    entry = rtl_project(kind, ex, comb, time.perf_counter() - t0, x_grid, reference, "QONNX execution",
                         f"{kind.name} (quantization-aware)", reference)
    ex.add_project(f"{kind.name}_rtl", kind, "alkaid RTL (Verilator)", "QONNX execution", ref_file, exact=True,
                   reference_form="QONNX", simulator="verilator")
    return {"rtl": entry}


def _export_ptq(kind, ex: ExportContext) -> dict:
    """Float MLP at its hls4ml PTQ precisions → alkaid Verilog project, bit-exact against the hls4ml
    project's C simulation on the whole test split before it is written; csim then reports its error
    against the float model, as for the hls4ml PTQ projects."""
    if not ex.target.ptq_rtl:
        say(f"{kind.name} PTQ RTL not requested (export target ptq_rtl: true exports this reference design)")
        return {"rtl": {"skipped": "not requested (export target ptq_rtl: true)"}}
    skipped = alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.convert import to_rtl

    if kind.name not in ex.ptq:
        raise ValueError(f"model kind {kind.name}: the rtl_ptq form needs the PTQ precisions; list hls4ml_ptq "
                         "before rtl_ptq in its forms")  # a registration error, not user input
    ptq = ex.ptq[kind.name]
    model, saved = ex.torch_model(kind)
    t0 = time.perf_counter()
    try:
        comb = to_rtl.trace_ptq(model, ptq["precisions"], saved["n_inputs"])
    except to_rtl.Unsupported as exc:
        logger.warning(f"export: {kind.name} RTL skipped: {exc}")
        return {"rtl": {"skipped": str(exc)}}
    x_grid = to_rtl.ptq_input_grid(ex.x_test, ptq["precisions"])
    entry = rtl_project(kind, ex, comb, time.perf_counter() - t0, x_grid, ptq["hls4ml"],
                         f"hls4ml {ptq['backend']} PTQ C simulation", f"{kind.name} (float, post-training quantized)",
                         ptq["hls4ml"])
    ref_file = ex.save_reference(kind, x_grid, ptq["float"], name=f"{kind.name}_rtl")
    ex.add_project(f"{kind.name}_rtl", kind, "alkaid RTL PTQ (Verilator)", "float PyTorch model", ref_file, exact=False,
                   simulator="verilator", expected=ptq["hls4ml"], max_auc_loss=ex.target.ptq_max_auc_loss)
    return {"rtl": entry}


def _export_hgq(kind, ex: ExportContext) -> dict:
    """Resource-aware MLP → alkaid Verilog project at its own precisions (pruned weights are absent from
    the logic), alkaid's interpreter bit-exact against the fixed-point reference before it is written."""
    skipped = alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.convert import to_rtl

    h, saved = hgq_reference(kind, ex)
    t0 = time.perf_counter()
    comb = to_rtl.trace_ptq(h["model"], h["precisions"], saved["n_inputs"])
    entry = rtl_project(kind, ex, comb, time.perf_counter() - t0, h["x_grid"], h["reference"],
                         "model's fixed-point reference", f"{kind.name} (resource-aware, per-weight precision)",
                         h["reference"])
    ex.add_project(f"{kind.name}_rtl", kind, "alkaid RTL (Verilator)", "fixed-point reference of the model",
                   h["ref_file"], exact=True, reference_form="fixed-point reference", simulator="verilator")
    return {"rtl": entry}


# the QAT RTL is checked against the QONNX reference that qonnx_hls4ml saves; the PTQ RTL at the precisions
# (and against the C simulation) of hls4ml_ptq
register_form(Form("rtl", _export_qat, requires=("qonnx_hls4ml",), simulators=("verilator",)))
register_form(Form("rtl_ptq", _export_ptq, requires=("hls4ml_ptq",), simulators=("verilator",)))
register_form(Form("rtl_hgq", _export_hgq, simulators=("verilator",)))
