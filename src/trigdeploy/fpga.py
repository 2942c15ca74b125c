"""FPGA resource and latency *estimates* without Vivado (labelled as such everywhere they appear).

hls4ml MLPs (``io_parallel``, ``Latency`` strategy, reuse factor R): an analytic model of
what the HLS tool builds from fully unrolled constant-weight dense layers:

* **Multiplications that remain.** Zero weights are dropped (hls4ml skips them). A weight
  whose integer code is ±2^k is a shift (wiring: no LUT, no DSP). Every other product x·w
  with a constant w is a multiplier.
* **Product → DSP or LUTs by width.** If both operands are at least ``DSP_MIN_BITS`` (10) bits
  wide, the tool maps the product to one DSP48E2 (27×18), or two when an operand is wider.
  Otherwise it builds a constant-coefficient shift-and-add: (d − 1) adders, where d is the
  number of non-zero digits of w in canonical signed-digit form. Each adder is a_bits + w_bits
  wide at one LUT per bit, on the carry chain.
* **Adder trees.** Each output sums its m remaining products plus the bias with m adders, as a
  balanced tree. An adder at tree level l is as wide as its operands need, p + l bits (p =
  a_bits + w_bits is the product width), capped at the accumulator type. Synthesis trims the
  constant sign bits of hls4ml's wider ``auto`` accumulators. One LUT per bit.
* **Requantization and activation** (rounding, saturation, ReLU): one LUT per output bit for
  each output.
* **Registers.** The outputs of every pipeline stage are registered at the adder-tree output
  width: n_out × min(acc_bits, p + levels) × stages per layer.
* **Pipeline.** Per layer, one stage for the products plus the adder-tree levels
  ⌈log2(m + 1)⌉, packed ``levels_per_cycle`` to a clock cycle. That is the clock period divided
  by ``ADDER_LEVEL_NS`` (1.25 ns per 20–40-bit carry-chain add and routing on UltraScale+ -2).
  The initiation interval is R.
* **BRAM**: 0. At R = 1 with ``io_parallel``, weights are constants in the logic.

BDTs (conifer): conifer's own estimators (latency 2 + depth + ⌈log2 n_trees⌉ for VHDL; its
fitted LUT/FF models for the VHDL and HLS backends).

These are estimates for comparing models with each other; synthesis numbers (``make synth``)
replace them when Vivado/Vitis are installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trigdeploy.fixed import Precisions

DSP_MIN_BITS = 10
ADDER_LEVEL_NS = 1.25


@dataclass(frozen=True)
class Dense:
    """One dense layer as the estimator sees it: integer weight codes (n_in, n_out) and widths."""

    codes: np.ndarray
    w_bits: int
    a_bits: int
    acc_bits: int
    out_bits: int


def csd_digits(c: int) -> int:
    """Non-zero digits of ``c`` in canonical signed-digit (non-adjacent) form."""
    c, n = abs(int(c)), 0
    while c:
        if c & 1:
            c -= 2 - (c & 3)  # digit +1 if c % 4 == 1, −1 if c % 4 == 3
            n += 1
        c >>= 1
    return n


def adder_tree_luts(m: int, p: int, acc_bits: int) -> int:
    """LUTs of a balanced tree summing m products of p bits and a bias (m adders; level l is p + l bits)."""
    operands, level, luts = m + 1, 0, 0
    while operands > 1:
        level += 1
        adders = operands // 2
        luts += adders * min(acc_bits, p + level)
        operands -= adders
    return luts


def estimate_dense(layer: Dense, clock_ns: float, reuse: int = 1) -> dict:
    """LUT/FF/DSP/BRAM and pipeline stages of one layer (see the module docstring for the rules)."""
    codes = np.asarray(layer.codes, np.int64)
    nz = codes != 0
    pow2 = nz & ((np.abs(codes) & (np.abs(codes) - 1)) == 0)
    mult = nz & ~pow2
    dsp_ok = min(layer.w_bits, layer.a_bits) >= DSP_MIN_BITS
    dsp = luts_mult = 0
    if dsp_ok:
        per = 1 if (max(layer.w_bits, layer.a_bits) <= 27 and min(layer.w_bits, layer.a_bits) <= 18) else 2
        dsp = int(mult.sum()) * per
    else:
        luts_mult = sum((csd_digits(c) - 1) * (layer.a_bits + layer.w_bits) for c in codes[mult])
    terms = nz.sum(axis=0)  # products per output
    p = layer.a_bits + layer.w_bits
    luts_add = sum(adder_tree_luts(int(m), p, layer.acc_bits) for m in terms)
    n_out = codes.shape[1]
    luts_act = n_out * layer.out_bits
    levels = int(math.ceil(math.log2(int(terms.max()) + 1))) if terms.max() > 0 else 0
    per_cycle = max(1, int(clock_ns // ADDER_LEVEL_NS))
    stages = 1 + math.ceil(levels / per_cycle)
    ff = n_out * min(layer.acc_bits, p + levels) * stages
    return {
        "multipliers": int(mult.sum()),
        "shifts": int(pow2.sum()),
        "zeros": int((~nz).sum()),
        "dsp": int(math.ceil(dsp / reuse)),
        "lut": int(math.ceil((luts_mult + luts_add) / reuse)) + luts_act,
        "ff": int(ff),
        "bram": 0,
        "stages": int(stages),
    }


def estimate_mlp(layers: list[Dense], clock_ns: float, reuse: int = 1) -> dict:
    """Whole-network estimate: sums over layers, latency = total stages (+1 for the I/O register)."""
    per = [estimate_dense(layer, clock_ns, reuse) for layer in layers]
    cycles = sum(p["stages"] for p in per) + 1
    total = {k: sum(p[k] for p in per) for k in ("lut", "ff", "dsp", "bram", "multipliers", "shifts", "zeros")}
    return {
        **total,
        "latency_cycles": cycles,
        "latency_ns": cycles * clock_ns,
        "ii": reuse,
        "layers": per,
        "estimate": True,
        "method": "trigdeploy analytic model (trigdeploy/fpga.py)",
    }


def qat_layers(model, bias_bits: int) -> list[Dense]:
    """The dense layers of a Brevitas QAT MLP (integer weights, input/activation widths; ``bias_bits``
    from its config: Brevitas only knows a bias quantizer's width once it has seen an input scale)."""
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU

    layers, a_bits = [], None
    mods = list(model)
    for i, mod in enumerate(mods):
        if isinstance(mod, (QuantIdentity, QuantReLU)):
            a_bits = int(mod.act_quant.bit_width().item())
        elif isinstance(mod, QuantLinear):
            qw = mod.quant_weight()
            codes = qw.int().detach().numpy().T
            w_bits = int(qw.bit_width.item())
            n_in = codes.shape[0]
            acc = max(a_bits + w_bits + math.ceil(math.log2(n_in)), bias_bits) + 1
            nxt = next((m for m in mods[i + 1 :] if isinstance(m, QuantReLU)), None)
            out_bits = int(nxt.act_quant.bit_width().item()) if nxt is not None else acc
            layers.append(Dense(codes, w_bits, a_bits, acc, out_bits))
    return layers


def ptq_layers(model, precisions: Precisions) -> list[Dense]:
    """The dense layers of a Linear/ReLU MLP at the types of its precision record (``fixed.Precisions``)."""
    import torch

    layers, a_type = [], precisions.port
    for i, lin in enumerate(model):
        if not isinstance(lin, torch.nn.Linear):
            continue
        p = precisions.layer(i)
        codes = np.rint(lin.weight.detach().numpy().T * 2.0**p.weight.frac).astype(np.int64)
        layers.append(Dense(codes, p.weight.width, a_type.width, p.accum.width, p.result.width))
        a_type = (precisions.layer(i + 1) if i + 1 < len(model) else p).result
    return layers


def conifer_estimates(ens: dict) -> dict:
    """conifer's own VHDL/HLS performance estimators for an ensemble dictionary."""
    import json

    import conifer
    from conifer.utils.performance import prediction as perf

    model = conifer.model.ModelBase(json.loads(json.dumps(ens)))
    out = {
        "estimate": True,
        "method": "conifer performance estimators (conifer.utils.performance)",
        "n_nodes": model.n_nodes(),
        "n_leaves": model.n_leaves(),
        "vhdl": {
            "latency_cycles": perf.vhdlLatencyEstimator.predict(model),
            "lut": perf.vhdlLUTEstimator.predict(model),
            "ff": perf.vhdlFFEstimator.predict(model),
            "dsp": 0,
            "bram": 0,
            "ii": 1,
        },
    }
    out["hls"] = {
        "latency_cycles": perf.hlsLatencyEstimator.predict(model),
        "lut": perf.hlsLUTEstimator.predict(model),
        "ff": perf.hlsFFEstimator.predict(model),
        "dsp": 0,
        "bram": 0,
        "ii": 1,
    }
    return out
