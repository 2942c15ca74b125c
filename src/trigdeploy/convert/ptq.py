"""Float MLP → hls4ml by post-training quantization, with per-layer precisions from profiling.

For every layer, the values seen on a profiling sample of training rows set the integer bits:

* results (layer outputs, and the input port): ``fixed<W, I, RND, SAT>`` with I = ⌈log2 max|v|⌉ + 1
  (sign) + ``headroom`` bits, W the target width;
* weights and biases: the integer bits their own largest magnitude needs, W bits in all;
* accumulators: exact. The fractional bits are those of weight × input, and the integer bits
  cover the largest L1 sum Σ_j |w_ij x_j| seen in profiling, which bounds every partial sum.

``overflow_report`` compares the ranges seen on other data (the test split) with the chosen
types and lists every layer that would saturate: no silent overflow.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from trigdeploy.fixed import FixedType


def _int_bits(max_abs: float, headroom: int = 0) -> int:
    """Signed integer bits (sign included) that hold ``max_abs``."""
    if max_abs <= 0:
        return 1 + headroom
    return max(1, math.floor(math.log2(max_abs)) + 2 + headroom)


def _fixed(width: int, integer: int, rounding: bool = False) -> str:
    """hls4ml's spelling of a signed type; ``rounding``: round to nearest and saturate (else TRN, WRAP)."""
    return (FixedType(width, integer, "RND", "SAT") if rounding else FixedType(width, integer)).hls4ml


def _type_max(width: int, integer: int) -> float:
    return 2.0 ** (integer - 1) - 2.0 ** (integer - width)


@torch.no_grad()
def profile(model: nn.Sequential, x: np.ndarray) -> dict[str, dict]:
    """Per hls4ml layer name: max |output| and, for Linear layers, the L1 bound of the accumulator."""
    out: dict[str, dict] = {"input_1": {"max_abs": float(np.abs(x).max())}}
    h = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    for i, layer in enumerate(model):
        name = f"_{i}"
        if isinstance(layer, nn.Linear):
            l1 = (h.abs() @ layer.weight.abs().T).max().item()
            h = layer(h)
            out[name] = {"kind": "dense", "max_abs": float(h.abs().max()), "accum_l1": float(l1)}
        else:
            h = layer(h)
            out[name] = {"kind": type(layer).__name__.lower(), "max_abs": float(h.abs().max())}
    return out


def choose_precisions(model: nn.Sequential, prof: dict[str, dict], width: int, headroom: int) -> dict[str, dict]:
    """hls4ml ``LayerName`` precision entries (and the integer bits chosen) for every layer."""
    choice: dict[str, dict] = {}
    in_int = _int_bits(prof["input_1"]["max_abs"], headroom)
    choice["input_1"] = {"result": _fixed(width, in_int, True), "_result_bits": (width, in_int)}
    prev_frac = width - in_int
    for i, layer in enumerate(model):
        name = f"_{i}"
        r_int = _int_bits(prof[name]["max_abs"], headroom)
        entry = {"result": _fixed(width, r_int, True), "_result_bits": (width, r_int)}
        if isinstance(layer, nn.Linear):
            w_int = _int_bits(float(layer.weight.detach().abs().max()))
            b_int = _int_bits(float(layer.bias.detach().abs().max()))
            acc_frac = (width - w_int) + prev_frac
            acc_int = max(_int_bits(prof[name]["accum_l1"], headroom), r_int)
            entry.update(weight=_fixed(width, w_int), bias=_fixed(width, b_int),
                         accum=_fixed(acc_int + acc_frac, acc_int))
        choice[name] = entry
        prev_frac = width - r_int
    return choice


def overflow_report(prof: dict[str, dict], choice: dict[str, dict]) -> list[dict]:
    """Layers whose observed range exceeds the largest value of their result type."""
    over = []
    for name, p in prof.items():
        w, i = choice[name]["_result_bits"]
        limit = _type_max(w, i)
        if p["max_abs"] > limit:
            over.append({"layer": name, "observed_max_abs": p["max_abs"], "type": choice[name]["result"],
                         "type_max": limit})
    return over


def hls_config(base: dict, choice: dict[str, dict]) -> dict:
    """``base`` (from ``config_from_pytorch_model``) with the chosen precisions filled in."""
    for name, entry in choice.items():
        prec = base["LayerName"][name]["Precision"]
        for key, value in entry.items():
            if not key.startswith("_") and key in prec:
                prec[key] = value
    return base
