"""The ``rtl_deepsets`` form: the QAT Deep Sets → an alkaid Verilog project, equal to the model's exact integer
reference (``models/qdeepsets.py``) on every test event before it is written; Verilator runs it in csim.

The traced logic: the port holds the N particles' features on the input grid and their mask bits, particle-major
as the data stage writes them; φ's integer layers are applied to every particle (one copy of φ per particle: the
weights are constants of the logic, shared in the description, not in the LUTs), each particle's last ReLU output
is ANDed with its mask bit, the N are summed exactly, the sum is rounded half to even and saturated onto the pool's
grid, then ρ. Integer sums do not depend on their order: permuted particles give the same bits.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from trigdeploy.convert.context import ExportContext, alkaid_missing, rtl_cost, rtl_project
from trigdeploy.convert.forms import Form, register_form

logger = logging.getLogger("trigdeploy.convert.export")


def _layer(x, layer: dict):
    """``x @ W + b`` at the layer's integers, then its QuantReLU's unsigned grid (round half to even, saturate)."""
    from alkaid.trace.ops import quantize

    h = x @ (layer["w_int"].T.astype(np.float64) * 2.0 ** layer["w_exp"])
    h = h + layer["b_int"].astype(np.float64) * 2.0 ** layer["acc_exp"]
    if "a_bits" not in layer:
        return h
    return quantize(h, 0, layer["a_bits"] + layer["a_exp"], -layer["a_exp"], "SAT", "RND_CONV")


def trace(ints: dict):
    """alkaid ``CombLogic`` of the integer Deep Sets ``ints`` (``QDeepSets.integers()``; see the module docstring)."""
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.ops import quantize

    n, f = ints["particles"], ints["features"]
    bits, exp = ints["input"]
    inp = FVArrayInput((n, f + 1))
    h = quantize(inp[:, :f], 1, bits - 1 + exp, -exp)  # signed; integer bits without the sign
    mask = quantize(inp[:, f:], 0, 1, 0)  # one bit per particle
    for layer in ints["phi"]:
        h = _layer(h, layer)
    pool_bits, pool_exp = ints["pool"]
    x = quantize((h * mask).sum(axis=0), 0, pool_bits + pool_exp, -pool_exp, "SAT", "RND_CONV")
    for layer in ints["rho"]:
        x = _layer(x, layer)
    return alkaid_trace(inp, x)


def _export(kind, ex: ExportContext) -> dict:
    """QAT Deep Sets → alkaid Verilog project, bit-exact against its integer reference on the whole test split;
    without alkaid installed, one line and no project."""
    skipped = alkaid_missing(kind)
    if skipped:
        return skipped
    model, _ = ex.torch_model(kind)
    ints = model.integers()
    x_grid = model.input_grid(ex.x_test)
    reference = model.reference(x_grid)
    ref_file = ex.save_reference(kind, x_grid, reference)
    t0 = time.perf_counter()
    comb = trace(ints)
    port = (
        f"{ints['particles']} particles, particle-major, each {ints['features']} features on the signed "
        f"{ints['input'][0]}-bit input grid (step 2^{ints['input'][1]}; the export's `preprocess.json` scaling, "
        "then the model's input quantizer) and its mask bit (1: a particle, 0: padding)"
    )
    entry = rtl_project(
        kind, ex, comb, time.perf_counter() - t0, x_grid, reference, "model's integer reference",
        f"{kind.name} (quantization-aware Deep Sets)", reference, port=port,
    )  # fmt: skip
    ex.add_project(
        f"{kind.name}_rtl",
        kind,
        "alkaid RTL (Verilator)",
        "integer reference of the model",
        ref_file,
        exact=True,
        device=ex.rtl_device,
        reference_form="integer reference",
        simulator="verilator",
    )
    return {"rtl": entry}


register_form(Form("rtl_deepsets", _export, simulators=("verilator",), cost=rtl_cost))
