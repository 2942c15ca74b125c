"""The quantization-aware Deep Sets (kind ``qdeepsets``), registered from this one file, and its exact integers.

The Brevitas twin of ``deepsets`` (fine-tuned from it, ``init: float``), built the way the QAT MLP is
(``models/qmlp.py``: power-of-two scales everywhere, per-tensor weights, quantized biases): the particles'
features on the input quantizer's signed grid (the masks stay 0/1), φ as QuantLinear → QuantReLU layers shared
by every particle, the sum of φ over the particles present (exact: every term is on the last ReLU's grid), the
sum on an unsigned grid of ``pool_bits`` (``pool``: a QuantReLU, round half to even, saturating), then ρ. The
jet's values after the set (``features.jet_features``) take the input quantizer's grid too, and ψ (a QuantLinear,
its bias on its accumulator's grid) adds them to the sum before the pool's grid.

``integers()`` gives the trained network in integers (``deepsets.IntegerSets``), and ``reference(x)`` computes
its logits from them exactly; the RTL form (``convert/forms/rtl_deepsets.py``) traces the same integers, and its logic must equal
this reference on every test event. The training forward pass is Brevitas' float32 arithmetic, which can
land on the other side of a rounding boundary on a few events: the metrics come from the reference.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.models.deepsets import (
    DeepSetsConfig,
    Dense,
    Grid,
    InitFromDeepSets,
    IntegerSets,
    front_module_of,
    l1_front,
    particles_of,
    split_jet,
)
from trigdeploy.schema import FieldError, num

BIAS_QUANT = {8: "Int8Bias", 16: "Int16Bias", 32: "Int32Bias"}


@dataclass(frozen=True)
class QDeepSetsConfig(DeepSetsConfig, InitFromDeepSets):
    """Brevitas QAT Deep Sets: bits of the weights, the ReLUs, the input port and the pooled sum."""

    weight_bits: int = num(6, ge=2, le=16)  # bits of every weight (signed, power-of-two scaled)
    act_bits: int = num(8, ge=2, le=16)  # bits of each of φ's and ρ's activations (unsigned ReLU grid)
    input_bits: int = num(8, ge=2, le=16)  # bits of the input quantizer (signed)
    pool_bits: int = num(12, ge=2, le=24)  # bits of the pooled sum (unsigned, saturating)
    bias_bits: Literal[8, 16, 32] = 32  # bits of the quantized biases
    init: Literal["scratch", "float"] = "float"  # start from the trained float Deep Sets (float) or from scratch

    def check(self) -> None:
        """What has an exact fixed-point form: sum pooling, ReLU, no dropout."""
        super().check()
        if self.pooling != "sum":
            raise FieldError("pooling", "only sum has an exact fixed-point form (a mean divides by the count)")
        if self.activation != "relu":
            raise FieldError("activation", "only relu quantizes to an exact fixed-point form")
        if self.dropout > 0:
            raise FieldError("dropout", "not supported in the QAT twin; set 0")


def _log2(scale: float, what: str) -> int:
    e = float(np.log2(scale))
    if e != round(e):
        raise TrigdeployError(f"qdeepsets {what}: scale {scale} is not a power of two; no exact fixed-point form")
    return int(round(e))


def _relu_grid(act) -> Grid:
    """A QuantReLU's grid: unsigned ``bits`` of step 2^exp, round half to even, saturating."""
    bits, exp = int(act.act_quant.bit_width()), _log2(float(act.act_quant.scale()), "activation")
    return Grid(False, bits + exp, -exp, "RND_CONV")


def _linear(layer, in_exp: int, act) -> tuple[Dense, Grid | None]:
    """One QuantLinear as integers (biases rounded half to even, as ``Int*Bias`` does), and the grid of the
    QuantReLU after it (None for the last layer)."""
    w = layer.quant_weight()
    w_exp = _log2(float(w.scale), "weights")
    acc_exp = in_exp + w_exp
    b_int = np.round(layer.bias.detach().double().numpy() / 2.0**acc_exp).astype(np.int64)
    dense = Dense(w.int().numpy().astype(np.int64), w_exp, b_int, acc_exp)
    return dense, (_relu_grid(act) if act is not None else None)


def _modules(n_particles: int, cfg: QDeepSetsConfig, n_outputs: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # brevitas imports emit deprecation noise from its deps
        import brevitas.quant as bq
        from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from torch import nn

    bias = getattr(bq, BIAS_QUANT[cfg.bias_bits])

    def lin(a: int, b: int, quant_out: bool):
        return QuantLinear(
            a, b, bias=True, weight_quant=bq.Int8WeightPerTensorFixedPoint, weight_bit_width=cfg.weight_bits,
            bias_quant=bias, return_quant_tensor=quant_out,
        )  # fmt: skip

    def relu(bits: int):
        return QuantReLU(act_quant=bq.Uint8ActPerTensorFixedPoint, bit_width=bits, return_quant_tensor=True)

    inq = QuantIdentity(act_quant=bq.Int8ActPerTensorFixedPoint, bit_width=cfg.input_bits, return_quant_tensor=True)
    widths = [cfg.particle_features, *cfg.phi]
    phi = nn.ModuleList([m for a, b in zip(widths, widths[1:]) for m in (lin(a, b, True), relu(cfg.act_bits))])
    widths = [cfg.phi[-1], *cfg.hidden, n_outputs]
    rho = nn.ModuleList(
        [m for a, b in zip(widths[:-2], widths[1:-1]) for m in (lin(a, b, True), relu(cfg.act_bits))]
        + [lin(widths[-2], n_outputs, False)]
    )
    psi = lin(cfg.jet_features, cfg.phi[-1], False) if cfg.jet_features else None
    return inq, phi, relu(cfg.pool_bits), rho, psi


@functools.cache
def _module_class():
    """The ``torch.nn.Module`` (made on first use: importing this file does not import torch or Brevitas)."""
    import torch
    from torch import nn

    class QDeepSets(nn.Module):
        """``forward(x)``: x is (batch, N · (F + 1)); returns (batch, n_outputs) logits."""

        def __init__(self, n_particles: int, cfg: QDeepSetsConfig, n_outputs: int):
            super().__init__()
            self.n_particles, self.width = n_particles, cfg.particle_features + 1
            self.inq, self.phi, self.pool, self.rho, self.psi = _modules(n_particles, cfg, n_outputs)
            self.front = front_module_of(n_particles, cfg)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            p, jet = split_jet(self, x)
            h = self.inq(p[:, :, :-1])
            for m in self.phi:
                h = m(h)
            pooled = (h.value * p[:, :, -1:]).sum(1)
            if jet is not None:  # ψ of the jet's values on the port's grid, onto the pooled sum's
                pooled = pooled + self.psi(self.inq(jet))
            pooled = self.pool(pooled)
            for m in self.rho:
                pooled = m(pooled)
            return pooled

        def integers(self) -> IntegerSets:
            """The network in integers (``integers_of``)."""
            return integers_of(self)

        def input_grid(self, x: np.ndarray) -> np.ndarray:
            """``x`` as the design's port holds it: every feature on the input quantizer's grid, masks as they are."""
            return integers_of(self).input_grid(x)

        def reference(self, x: np.ndarray) -> np.ndarray:
            """The logits of the exact fixed-point arithmetic on the scaled inputs ``x`` (rows of particle sets)."""
            return integers_of(self).reference(x)

        def summary(self) -> dict:
            """Weights kept and the pool's grid."""
            ints = integers_of(self)
            n, kept = ints.weights()
            return {"weights": n, "weights_nonzero": kept, "pool": [ints.pool.integer, ints.pool.frac]}

    return QDeepSets


def integers_of(model) -> IntegerSets:
    """A ``QDeepSets`` in integers (``deepsets.IntegerSets``): its input quantizer's grid, φ's and ρ's layers
    with their QuantReLUs' grids, the pool's grid."""
    import torch

    with torch.no_grad():
        in_q = model.inq.act_quant
        bits, exp = int(in_q.bit_width()), _log2(float(in_q.scale()), "input quantizer")
        port = Grid(True, bits - 1 + exp, -exp, "RND_CONV")
        psi = _linear(model.psi, exp, None)[0] if model.psi is not None else None
        phi = []
        for lin, act in zip(model.phi[::2], model.phi[1::2]):
            phi.append(_linear(lin, exp, act))
            exp = -phi[-1][1].frac
        pool = _relu_grid(model.pool)
        exp, mods, rho = -pool.frac, list(model.rho), []
        for i in range(0, len(mods), 2):
            rho.append(_linear(mods[i], exp, mods[i + 1] if i + 1 < len(mods) else None))
            exp = -rho[-1][1].frac if rho[-1][1] is not None else exp
    front = l1_front(model)
    return IntegerSets(model.n_particles, model.width - 1, port, tuple(phi), pool, tuple(rho), front, psi)


def build_qdeepsets(n_inputs: int, cfg: QDeepSetsConfig, n_outputs: int = 1):
    """The untrained QAT Deep Sets for ``n_inputs`` values (``deepsets.particles_of``) and ``n_outputs`` logits."""
    return _module_class()(particles_of(n_inputs, cfg, "qdeepsets"), cfg, n_outputs)


def register() -> None:
    """Register the kind (``models.registry`` calls it when it is imported, after ``deepsets``)."""
    from trigdeploy.models import registry

    registry.register(
        registry.ModelKind(
            "qdeepsets",
            QDeepSetsConfig,
            "qdeepsets.pt",
            "torch",
            "PyTorch",
            build_qdeepsets,
            init_from=lambda cfg: "deepsets" if cfg.init == "float" else None,
            forms=("rtl_deepsets",),
        )
    )
