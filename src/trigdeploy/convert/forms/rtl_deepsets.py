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
The jet's values after the set (``features.jet_features``), on the same grid, enter the sum through ψ's integer
layer before the pool's grid (one multiplier per φ output, not per particle).

With the target's ``sets_rtl.fold: F`` > 1 the project is the design folded in time (``convert.sets_logic.fold``):
N / F copies of φ, a new event every F clocks; its blocks are checked on every test event and the whole FSM
clock by clock (alkaid's emulator) on the first few before it is written, then Verilator runs it on every event.
"""

from __future__ import annotations

import logging
import time

from trigdeploy.convert import sets_logic
from trigdeploy.convert.context import ExportContext, alkaid_missing, rtl_cost, rtl_project
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.convert.sets_logic import trace  # noqa: F401  (the form's logic; tests trace through here)

logger = logging.getLogger("trigdeploy.convert.export")


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
        + (f"; then the jet's {ints.jet} values on the same grid, which psi adds to the pooled sum" if ints.jet else "")
    )


def _fold_text(folded) -> str:
    """The folded design's schedule, in words (the project's README)."""
    return (
        f"folded {folded.fold} times: {folded.per_slice} copies of phi, each event's particles taken "
        f"{folded.per_slice} at a time over {folded.fold} clocks"
        + ("; psi of the jet's values added to the first slice's sum, once per event" if folded.psi else "")
        + f"; a new event every {folded.fold} clocks (II = "
        f"{folded.fold}), on the port at clocks 0, {folded.fold}, {2 * folded.fold}, … counted from the first clock "
        f"after configuration (a free-running counter, no reset port); event k's logits are in the output register "
        f"from clock k·{folded.fold} + {folded.out_at} for {folded.fold} clocks"
    )


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
    logic, checker, folded = sets_logic.design(ints, ex.target.sets_rtl.fold, ex.target.hls4ml.ClockPeriod)
    what, readme = "model's integer reference", {"port": _port_text(ints)}
    if folded is not None:
        what = f"{what} (blocks on every event, the FSM emulated clock by clock on the first few)"
        readme["timing"] = _fold_text(folded)
    entry = rtl_project(
        kind, ex, logic, time.perf_counter() - t0, x_grid, reference, what,
        f"{kind.name} (quantization-aware Deep Sets)", reference, checker=checker, **readme,
    )  # fmt: skip
    ex.add_rtl_project(kind, "integer reference of the model", ref_file, reference_form="integer reference")
    return {"rtl": entry}


register_form(Form("rtl_deepsets", _export, simulators=("verilator",), cost=rtl_cost))
