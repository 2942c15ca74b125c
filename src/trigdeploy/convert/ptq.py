"""Post-training quantization of a float MLP: its precision record (``fixed.Precisions``) from profiling.

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

from trigdeploy.fixed import FixedType, LayerPrecision, Precisions


def _int_bits(max_abs: float, headroom: int = 0) -> int:
    """Signed integer bits (sign included) that hold ``max_abs``."""
    if max_abs <= 0:
        return 1 + headroom
    return max(1, math.floor(math.log2(max_abs)) + 2 + headroom)


@torch.no_grad()
def profile(model: nn.Sequential, x: np.ndarray) -> tuple[dict, list[dict]]:
    """The input port's max |value|, then per layer (by position): its max |output| and, for a Linear layer,
    the L1 bound of its accumulator."""
    port = {"max_abs": float(np.abs(x).max())}
    h = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    layers = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            l1 = (h.abs() @ layer.weight.abs().T).max().item()
            h = layer(h)
            layers.append({"kind": "dense", "max_abs": float(h.abs().max()), "accum_l1": float(l1)})
        else:
            h = layer(h)
            layers.append({"kind": type(layer).__name__.lower(), "max_abs": float(h.abs().max())})
    return port, layers


def choose_precisions(model: nn.Sequential, prof: tuple[dict, list[dict]], width: int, headroom: int) -> Precisions:
    """The precision record of ``model`` from its profile: every result and the port ``width`` bits, rounded and
    saturated; weights and biases ``width`` bits (truncated, wrapped); accumulators exact."""
    port_prof, layer_prof = prof
    port = FixedType(width, _int_bits(port_prof["max_abs"], headroom), "RND", "SAT")
    layers, prev_frac = [], port.frac
    for i, layer in enumerate(model):
        result = FixedType(width, _int_bits(layer_prof[i]["max_abs"], headroom), "RND", "SAT")
        if isinstance(layer, nn.Linear):
            w_int = _int_bits(float(layer.weight.detach().abs().max()))
            b_int = _int_bits(float(layer.bias.detach().abs().max()))
            acc_frac = (width - w_int) + prev_frac
            acc_int = max(_int_bits(layer_prof[i]["accum_l1"], headroom), result.integer)
            types = {"weight": FixedType(width, w_int), "bias": FixedType(width, b_int)}
            layers.append(LayerPrecision(i, result, **types, accum=FixedType(acc_int + acc_frac, acc_int)))
        else:
            layers.append(LayerPrecision(i, result))
        prev_frac = result.frac
    return Precisions(port, tuple(layers))


def overflow_report(prof: tuple[dict, list[dict]], choice: Precisions) -> list[dict]:
    """The port and the layers whose observed range exceeds the largest value of their result type."""
    port_prof, layer_prof = prof
    seen = [("input", port_prof, choice.port)]
    seen += [(f"layer {p.index}", layer_prof[p.index], p.result) for p in choice.layers]
    return [
        {"layer": name, "observed_max_abs": q["max_abs"], "type": t.hls4ml, "type_max": t.int_max * t.lsb}
        for name, q, t in seen
        if q["max_abs"] > t.int_max * t.lsb
    ]
