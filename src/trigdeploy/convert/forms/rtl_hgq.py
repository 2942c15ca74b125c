"""The ``rtl_hgq`` form: the resource-aware MLP → an alkaid Verilog project at its own precisions (pruned
weights are absent from the logic), equal to its fixed-point reference on every test event before it is
written."""

from __future__ import annotations

import logging
import time

from trigdeploy.convert.context import ExportContext, alkaid_missing, hgq_reference, rtl_cost, rtl_project
from trigdeploy.convert.forms import Form, register_form

logger = logging.getLogger("trigdeploy.convert.export")


def _export(kind, ex: ExportContext) -> dict:
    """Resource-aware MLP → alkaid Verilog project at its own precisions (pruned weights are absent from
    the logic), alkaid's interpreter bit-exact against the fixed-point reference before it is written."""
    skipped = alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.convert import to_rtl

    h, saved = hgq_reference(kind, ex)
    t0 = time.perf_counter()
    comb = to_rtl.trace_ptq(h["model"], h["precisions"], saved["n_inputs"])
    entry = rtl_project(
        kind,
        ex,
        comb,
        time.perf_counter() - t0,
        h["x_grid"],
        h["reference"],
        "model's fixed-point reference",
        f"{kind.name} (resource-aware, per-weight precision)",
        h["reference"],
    )
    ex.add_rtl_project(
        kind, "fixed-point reference of the model", h["ref_file"], reference_form="fixed-point reference"
    )
    return {"rtl": entry}


register_form(Form("rtl_hgq", _export, simulators=("verilator",), cost=rtl_cost))
