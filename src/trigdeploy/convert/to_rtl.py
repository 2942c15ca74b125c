"""Brevitas QAT MLP → RTL (Verilog) with alkaid, checked bit for bit against QONNX execution.

alkaid (formerly da4ml) writes pipelined Verilog from a traced fixed-point network, but has no
Brevitas or QONNX front end, so the network is traced here from what the QAT model computes
(measured on this project's models): the input port is the input quantizer's grid (signed, ``f_in`` fractional bits);
each layer is ``x @ (w_int.T · 2^w_exp) + b_int · 2^(in_exp + w_exp)`` with the integer weights
and biases Brevitas quantized (biases rounded half to even, as ``Int*Bias`` does), and every
hidden layer is followed by the QuantReLU's unsigned grid with round half to even and
saturation. The last layer's sum is the logit, unquantized, exactly as QONNX computes it.

The check before anything is written: alkaid's own interpreter of the traced logic
(``CombLogic.predict``, the operations the Verilog implements) equals QONNX execution on every
test event. The project holds alkaid's sources, constraints for the target clock, a Vivado
build script, test vectors and a README.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType, Precisions
from trigdeploy.hdl import verilator
from trigdeploy.hdl.projects import OPEN_SYNTH
from trigdeploy.io import write_json_atomic

logger = logging.getLogger(__name__)


def _log2(scale: float, what: str) -> int:
    e = float(np.log2(scale))
    if e != round(e):
        raise TrigdeployError(f"{what}: scale {scale} is not a power of two; no exact fixed-point RTL")
    return int(round(e))


@torch.no_grad()
def layers(model: torch.nn.Sequential) -> tuple[tuple[int, int], list[dict]]:
    """The QAT MLP as integers: (input bits, input exponent) and per layer the integer weights and
    biases, their exponents, and (hidden layers) the activation's bits and exponent."""
    from trigdeploy.convert.to_qonnx import input_quantizer

    q = input_quantizer(model)
    in_bits, in_exp = q.bits, _log2(q.scale, "input quantizer")
    out, exp = [], in_exp
    modules = list(model)[1:]
    for i, layer in enumerate(modules):
        if not hasattr(layer, "quant_weight"):
            continue
        w = layer.quant_weight()
        w_exp = _log2(float(w.scale), f"layer {i} weights")
        acc_exp = exp + w_exp
        bias = layer.bias.detach().double().numpy()
        entry = {
            "w_int": w.int().numpy().astype(np.int64),
            "w_exp": w_exp,
            "acc_exp": acc_exp,
            "b_int": np.round(bias / 2.0**acc_exp).astype(np.int64),
        }  # numpy rounds half to even
        nxt = modules[modules.index(layer) + 1] if modules.index(layer) + 1 < len(modules) else None
        if nxt is not None and hasattr(nxt, "act_quant"):
            a_exp = _log2(float(nxt.act_quant.scale()), f"layer {i} activation")
            entry.update(a_bits=int(nxt.act_quant.bit_width()), a_exp=a_exp)
            exp = a_exp
        out.append(entry)
    return (in_bits, in_exp), out


def trace(model: torch.nn.Sequential, n_inputs: int):
    """alkaid ``CombLogic`` of the QAT MLP (see the module docstring)."""
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.ops import quantize

    (in_bits, in_exp), net = layers(model)
    inp = FVArrayInput((n_inputs,))
    x = quantize(inp, 1, in_bits - 1 + in_exp, -in_exp)  # signed; integer bits without the sign
    for layer in net:
        w = layer["w_int"].T.astype(np.float64) * 2.0 ** layer["w_exp"]
        h = x @ w + layer["b_int"].astype(np.float64) * 2.0 ** layer["acc_exp"]
        if "a_bits" in layer:  # QuantReLU: unsigned grid, round half to even, saturate (negatives → 0)
            x = quantize(h, 0, layer["a_bits"] + layer["a_exp"], -layer["a_exp"], "SAT", "RND_CONV")
        else:
            x = h
    return alkaid_trace(inp, x)


class Unsupported(TrigdeployError):
    """The model has a layer the RTL tracer does not cover: the form is skipped, the export goes on."""


def _modes(t: FixedType, where: str) -> tuple[str, str]:
    """(rounding, overflow) of a precision record's type: the modes the RTL tracer implements (``RND`` or
    ``TRN``; ``SAT`` or ``WRAP``), the tools' defaults where unstated."""
    rounding, overflow = t.rounding or "TRN", t.overflow or "WRAP"
    if rounding not in ("RND", "TRN"):
        raise TrigdeployError(f"{where}: precision {t.hls4ml!r} is not fixed<W,I[,RND|TRN,SAT|WRAP]>")
    return rounding, overflow


def ptq_input_grid(x: np.ndarray, precisions: Precisions) -> np.ndarray:
    """``x`` as the design's input port holds it: the record's port type, rounded as it says (round half up
    for ``RND``: ``ap_fixed<W,I,AP_RND,AP_SAT>`` of a double, what the hls4ml project's bridge does), saturated."""
    rnd, _ = _modes(precisions.port, "input port")
    port = FixedType(precisions.port.width, precisions.port.integer)
    return port.to_float(port.to_int(x, "half_up" if rnd == "RND" else "floor"))


def _floor_onto(values: np.ndarray, t: FixedType, where: str) -> np.ndarray:
    """Weights or biases as the hls4ml project's constants hold them: truncated onto ``t``'s grid."""
    code = np.floor(np.asarray(values, np.float64) * 2.0**t.frac)
    if (code < t.int_min).any() or (code > t.int_max).any():
        raise TrigdeployError(f"{where}: values beyond {t.hls4ml}; the PTQ precisions do not hold the weights")
    return code * t.lsb


@torch.no_grad()
def trace_ptq(model: torch.nn.Sequential, precisions: Precisions, n_inputs: int):
    """alkaid ``CombLogic`` of a Linear/ReLU MLP at the types of its precision record (``fixed.Precisions``):
    the input port's type; per Dense layer the weights and biases truncated onto their types, the
    exact sum, and the result type's rounding and saturation; ReLU onto its (non-negative) result
    type. This is what the hls4ml project computes; the export checks it against its C simulation."""
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.ops import quantize

    def onto(v, t: FixedType, where: str, signed: int):
        rnd, sat = _modes(t, where)
        return quantize(v, signed, t.integer - 1, t.frac, sat, rnd)

    inp = FVArrayInput((n_inputs,))
    port = precisions.port
    x = quantize(
        inp, 1, port.integer - 1, port.frac
    )  # the port's grid: rounded and saturated before it (ptq_input_grid)
    for idx, layer in enumerate(model):
        p = precisions.layer(idx)
        if isinstance(layer, torch.nn.Linear):
            w = _floor_onto(layer.weight.double().numpy(), p.weight, f"layer {idx} weight")
            b = _floor_onto(layer.bias.double().numpy(), p.bias, f"layer {idx} bias")
            x = onto(x @ w.T + b, p.result, f"layer {idx}", 1)
        elif isinstance(layer, torch.nn.ReLU):
            x = onto(x, p.result, f"layer {idx}", 0)  # unsigned saturation: negatives → 0
        else:
            raise Unsupported(f"layer {idx} ({type(layer).__name__}): no PTQ RTL for it (Linear and ReLU only)")
    return alkaid_trace(inp, x)


def check(comb, x_grid: np.ndarray, reference: np.ndarray) -> dict:
    """alkaid's interpreter of the traced logic on every row of ``x_grid`` against the reference logits."""
    from trigdeploy.logits import compare

    return compare(comb.predict(np.ascontiguousarray(x_grid, np.float64)), reference)


def write_open_synth_variant(comb, out_dir: Path, part: str, clock_ns: float) -> float:
    """alkaid's Verilog of ``comb`` without ternary-adder fusion (``src/`` and ``metadata.json``) in
    ``out_dir``: Yosys cannot pack ternary adders (measured: 1.47× over the estimate with them, 1.045×
    without), so this is the design open synthesis is compared on. Returns its cost-model LUTs."""
    with tempfile.TemporaryDirectory(prefix="td-rtl-") as tmp:
        cost = write_rtl(comb, Path(tmp), part, clock_ns, ternary_fuse=False)["lut_estimate_alkaid"]
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(Path(tmp) / "src", out_dir / "src")
        shutil.copyfile(Path(tmp) / "metadata.json", out_dir / "metadata.json")
    return cost


def write_rtl(comb, out_dir: Path, part: str, clock_ns: float, ternary_fuse: bool = True) -> dict:
    """alkaid's Verilog of ``comb`` in ``out_dir`` (by default the Vivado design, ternary adders fused): a
    combinational program pipelined at ``clock_ns``, or an ``FSM`` as it is (a folded design); its cost-model
    LUTs (an FSM's: its blocks'), pipeline stages (latency in clocks), latency, register bits and initiation
    interval."""
    from alkaid.codegen import RTLModel
    from alkaid.stateful import FSM

    if isinstance(comb, FSM):  # RTLModel rewrites an FSM's blocks in its own dict: the caller's FSM stays as it was
        comb = copy.copy(comb)
        comb.logic = dict(comb.logic)
    rtl = RTLModel(
        comb,
        out_dir,
        "myproject",
        latency_cutoff=clock_ns,  # pipelines a combinational program; an FSM is written as it is
        clock_period=clock_ns,
        part_name=part,
        print_latency=False,
        ternary_fuse=ternary_fuse,
    )
    rtl.write()
    meta_file = Path(out_dir) / "metadata.json"
    meta = json.loads(meta_file.read_text())
    if "cost" not in meta:  # alkaid writes no cost for an FSM: its blocks' (what synth compares Yosys with)
        meta["cost"] = float(sum(c.cost for c in rtl.fsm.logic.values()))
        write_json_atomic(meta_file, meta)
    cost = float(meta["cost"])
    latency = rtl.latency if not callable(rtl.latency) else rtl.latency()
    stages = int(np.max(latency)) if np.size(latency) else 0
    return {
        "pipeline_stages": stages,
        "latency_ns": stages * clock_ns,
        "lut_estimate_alkaid": cost,
        "reg_bits": int(rtl.reg_bits if not callable(rtl.reg_bits) else rtl.reg_bits()),
        "ii": verilator.initiation_interval(rtl.fsm),
    }


def write_project(
    comb,
    out_dir: Path,
    part: str,
    clock_ns: float,
    x_tb: np.ndarray,
    y_tb: np.ndarray,
    model_name: str,
    check_text: str,
    port: str = "the QAT model's input grid (the export's `preprocess.json` standardisation, then its input quantizer)",
    timing: str = "",
) -> dict:
    """alkaid's pipelined Verilog project (sources, constraints, Vivado script), test vectors and a README
    (``port``: what the input port holds; ``timing``: a folded design's schedule, in words)."""
    info = write_rtl(comb, out_dir, part, clock_ns)
    stages, cost = info["pipeline_stages"], info["lut_estimate_alkaid"]
    open_cost = write_open_synth_variant(comb, Path(out_dir) / OPEN_SYNTH, part, clock_ns)
    tb = Path(out_dir) / "tb_data"
    tb.mkdir(parents=True, exist_ok=True)
    np.savetxt(tb / "tb_input_features.dat", np.asarray(x_tb, np.float64), fmt="%.17g", delimiter=" ")
    np.savetxt(
        tb / "tb_output_predictions.dat",
        np.asarray(y_tb, np.float64).reshape(len(y_tb), -1),
        fmt="%.17g",
        delimiter=" ",
    )
    info["lut_estimate_alkaid_open_synth"] = open_cost
    (Path(out_dir) / "README.md").write_text(f"""# {
        model_name
    }: alkaid RTL project (generated by trigdeploy; do not edit by hand)

* Verilog from alkaid (distributed arithmetic: no DSPs), part `{part}`, clock period {clock_ns} ns,
  {stages} pipeline stages ({stages * clock_ns:g} ns){"" if not timing else f", {timing}"}; alkaid's cost model: {
        cost:,.0f} LUT
  (an estimate, not a synthesis result{
        "" if not timing else "; of the logic blocks: the slice multiplexer and the registers are not in it"
    }).
* `{OPEN_SYNTH}/`: the same logic without ternary adders ({open_cost:,.0f} LUT by alkaid's model), which
  open synthesis (Yosys) can map; `trigdeploy synth` synthesizes that one. Vivado: use `src/`.
* Input: {port}; output: {
        "the logit"
        if np.ndim(y_tb) == 1 or np.shape(y_tb)[1] == 1
        else f"{np.shape(y_tb)[1]} logits, one per class in the order of the run's `metrics.json` `classes` (no softmax)"
    }.
* {check_text}
* `tb_data/`: test events on the input grid and the expected logits.
* Vivado: `vivado -mode batch -source build_vivado_prj.tcl` (out-of-context synthesis and
  implementation on the target part, with reports).
""")
    return info
