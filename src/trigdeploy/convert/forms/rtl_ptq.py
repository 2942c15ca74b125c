"""The ``rtl_ptq`` form: the float MLP at its hls4ml PTQ precisions → an alkaid Verilog project, equal
to that hls4ml project's C simulation on every test event before it is written (a reference design:
export target ``ptq_rtl: true``); csim reports its error against the float model."""

from __future__ import annotations

import logging
import time

from trigdeploy.convert.context import ExportContext, alkaid_missing, rtl_cost, rtl_project, say
from trigdeploy.convert.forms import Form, register_form

logger = logging.getLogger("trigdeploy.convert.export")


def _export(kind, ex: ExportContext) -> dict:
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

    ptq = ex.ptq[kind.name]  # hls4ml_ptq's precisions and outputs (the registration puts it before this form)
    model, saved = ex.torch_model(kind)
    t0 = time.perf_counter()
    try:
        comb = to_rtl.trace_ptq(model, ptq["precisions"], saved["n_inputs"])
    except to_rtl.Unsupported as exc:
        logger.warning(f"export: {kind.name} RTL skipped: {exc}")
        return {"rtl": {"skipped": str(exc)}}
    x_grid = to_rtl.ptq_input_grid(ex.x_test, ptq["precisions"])
    entry = rtl_project(
        kind,
        ex,
        comb,
        time.perf_counter() - t0,
        x_grid,
        ptq["hls4ml"],
        f"hls4ml {ptq['backend']} PTQ C simulation",
        f"{kind.name} (float, post-training quantized)",
        ptq["hls4ml"],
    )
    ref_file = ex.save_reference(kind, x_grid, ptq["float"], name=f"{kind.name}_rtl")
    ex.add_project(
        f"{kind.name}_rtl",
        kind,
        "alkaid RTL PTQ (Verilator)",
        "float PyTorch model",
        ref_file,
        exact=False,
        device=ex.rtl_device,
        simulator="verilator",
        expected=ptq["hls4ml"],
        max_auc_loss=ex.target.ptq_max_auc_loss,
    )
    return {"rtl": entry}


# at the precisions (and against the C simulation) of hls4ml_ptq
register_form(
    Form(
        "rtl_ptq",
        _export,
        requires=("hls4ml_ptq",),
        simulators=("verilator",),
        cost=rtl_cost,
        active=lambda target: target.ptq_rtl,
    )
)
