"""The ``rtl`` form: the QAT MLP → an alkaid Verilog project, alkaid's interpreter of the traced logic
equal to QONNX execution on every test event before it is written; Verilator runs it in csim."""

from __future__ import annotations

import logging
import time

from trigdeploy.convert.context import ExportContext, alkaid_missing, rtl_cost, rtl_project
from trigdeploy.convert.forms import Form, register_form

logger = logging.getLogger("trigdeploy.convert.export")


def _export(kind, ex: ExportContext) -> dict:
    """QAT MLP → alkaid Verilog project, bit-exact against QONNX on the whole test split (alkaid's
    interpreter of the traced logic); without alkaid installed, one line and no project."""
    skipped = alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.convert import to_rtl

    model, saved = ex.torch_model(kind)
    # QONNX execution on the input grid, saved by the qonnx form (which the registration puts before this one)
    x_grid, reference, ref_file = ex.references[kind.name]
    t0 = time.perf_counter()
    comb = to_rtl.trace(model, saved["n_inputs"])
    entry = rtl_project(
        kind,
        ex,
        comb,
        time.perf_counter() - t0,
        x_grid,
        reference,
        "QONNX execution",
        f"{kind.name} (quantization-aware)",
        reference,
    )
    ex.add_rtl_project(kind, "QONNX execution", ref_file, reference_form="QONNX")
    return {"rtl": entry}


# checked against the QONNX reference that the qonnx form saves
register_form(Form("rtl", _export, requires=("qonnx",), simulators=("verilator",), cost=rtl_cost))
