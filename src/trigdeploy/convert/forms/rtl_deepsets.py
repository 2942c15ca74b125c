"""The ``rtl_deepsets`` form: a fixed-point Deep Sets (``qdeepsets``, ``hgq_deepsets``) → an alkaid Verilog
project, equal to the model's exact integer reference (``models.deepsets.IntegerSets``) on every test event before
it is written; Verilator runs it in csim.

With L1 words at the port (``features.inputs: l1``) the traced logic starts with the model's L1 front
(``models.l1front``: the mask, log pT by a table, Δη, Δφ with the wrap), then the model's input quantizer.
Otherwise the traced logic: the port holds the N particles' features on the input grid and their mask bits, particle-major
as the data stage writes them; φ's integer layers are applied to every particle (one copy of φ per particle: the
weights are constants of the logic, shared in the description, not in the LUTs), each particle's last ReLU output
is ANDed with its mask bit, the N are summed exactly, the sum is rounded and saturated onto the pool's grid, then ρ
(every grid with the model's own rounding: half to even for Brevitas, half up for the resource-aware model). Integer sums do not depend on their order: permuted particles give the same bits.
"""

from __future__ import annotations

import logging
import time

from trigdeploy.convert.context import ExportContext, alkaid_missing, rtl_cost, rtl_project
from trigdeploy.convert.forms import Form, register_form

logger = logging.getLogger("trigdeploy.convert.export")


def _onto(x, grid):
    """``x`` on ``grid`` (a ``deepsets.Grid``): its rounding, saturation; an unsigned grid takes negatives to 0."""
    from alkaid.trace.ops import quantize

    return quantize(x, int(grid.signed), grid.integer, grid.frac, "SAT", grid.rounding)


def _port_text(ints) -> str:
    """What the port takes, in words (the project's README)."""
    if ints.front is not None:
        f = ints.front
        return (
            f"{ints.particles} particles' L1 words, particle-major: pT (unsigned, {f.pt_bits} bits), eta and phi "
            f"(signed, {f.eta_bits} and {f.phi_bits} bits), then the jet's eta and phi words; the design computes "
            "the mask (pT word > 0), log pT (a table), delta eta and delta phi (wrapped) itself"
        )
    return (
        f"{ints.particles} particles, particle-major, each {ints.features} features on the signed grid of "
        f"{1 + ints.port.integer + ints.port.frac} bits (step 2^-{ints.port.frac}; the export's `preprocess.json` "
        "scaling, then the model's input quantizer) and its mask bit (1: a particle, 0: padding)"
    )


def trace(sets):
    """alkaid ``CombLogic`` of an integer Deep Sets (``deepsets.IntegerSets``; see the module docstring)."""
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.ops import quantize

    n, f = sets.particles, sets.features
    port = sets.port  # the port's type: its values arrive on its grid (``IntegerSets.input_grid``)
    if sets.front is not None:  # L1 words: the front computes the set, the model's input quantizer rounds it
        inp = FVArrayInput((sets.front.n_inputs,))
        p = sets.front.trace(inp)
        h, mask = _onto(p[:, :f], port), p[:, f:]
    else:
        inp = FVArrayInput((n, f + 1))
        h = quantize(inp[:, :f], int(port.signed), port.integer, port.frac)
        mask = quantize(inp[:, f:], 0, 1, 0)  # one bit per particle
    for dense, grid in sets.phi:
        h = _onto(dense(h), grid)  # ``Dense.__call__`` traces as it computes
    x = _onto((h * mask).sum(axis=0), sets.pool)
    for dense, grid in sets.rho:
        x = dense(x) if grid is None else _onto(dense(x), grid)
    return alkaid_trace(inp, x)


def _export(kind, ex: ExportContext) -> dict:
    """Fixed-point Deep Sets → alkaid Verilog project, bit-exact against its integer reference on the whole test
    split; without alkaid installed, one line and no project."""
    skipped = alkaid_missing(kind)
    if skipped:
        return skipped
    model, _ = ex.torch_model(kind)
    ints = model.integers()
    x_grid = ints.input_grid(ex.x_test)
    reference = ints.reference(x_grid)
    ref_file = ex.save_reference(kind, x_grid, reference)
    t0 = time.perf_counter()
    comb = trace(ints)
    port = _port_text(ints)
    entry = rtl_project(
        kind, ex, comb, time.perf_counter() - t0, x_grid, reference, "model's integer reference",
        f"{kind.name} (quantization-aware Deep Sets)", reference, port=port,
    )  # fmt: skip
    ex.add_rtl_project(kind, "integer reference of the model", ref_file, reference_form="integer reference")
    return {"rtl": entry}


register_form(Form("rtl_deepsets", _export, simulators=("verilator",), cost=rtl_cost))
