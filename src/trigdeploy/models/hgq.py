"""Resource-aware QAT MLP: a learned fixed-point precision per weight, pruning by zero bits.

Heterogeneous quantization in the manner of HGQ (Sun et al.), on plain torch so that trigdeploy's
own trainer (feature cache, checkpoints, ``--resume``, DDP) fits it:

* every weight ``w`` has its own fractional bits ``f`` (a trained float, rounded in the forward
  pass with a straight-through gradient); the weight used is ``round(w·2^f)·2^-f`` (half to even).
  A weight whose value rounds to 0 is pruned: it costs nothing in either exported design;
* the input and every hidden activation have one fixed-point type per tensor: trained fractional
  bits, integer bits set once from a calibration sample, round half up and saturation (ReLU
  outputs are unsigned). Biases sit on their layer's accumulator grid, so every sum is exact;
* the loss adds ``beta · EBOPs``: Σ over the remaining products of bits(weight) · bits(input),
  differentiable in every ``f`` (one bit per unit of ``f``, HGQ's surrogate).

The trained model is exactly a Linear/ReLU network at fixed-point precisions (``exact_parts()``: the
precision record ``fixed.Precisions``, as PTQ makes one): the integer arithmetic of ``reference()`` (float64, exact), the
hls4ml project and alkaid's RTL compute the same values; the export checks that on the whole test
split.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from trigdeploy.config import HGQConfig
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType, LayerPrecision, Precisions

ACC_MAX_BITS = 52  # the exact float64 reference holds every accumulator up to this width


def _ste(x: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    return x + (rounded - x).detach()


def _half_up(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x + 0.5)


class ActQuant(nn.Module):
    """One fixed-point type for a whole tensor: ``signed`` (input) or unsigned after ReLU; ``i``
    integer bits (sign excluded, calibrated), trained fractional bits, round half up, saturate."""

    def __init__(self, signed: bool, frac_bits: int, max_frac: int):
        super().__init__()
        self.signed, self.max_frac = signed, max_frac
        self.f = nn.Parameter(torch.tensor(float(frac_bits)))
        self.register_buffer("i", torch.tensor(0.0))

    def frac(self) -> torch.Tensor:
        """Fractional bits per channel, rounded in the forward pass (straight-through gradient)."""
        return _ste(self.f, torch.round(self.f))

    def bits(self) -> torch.Tensor:
        """Width of the type (sign included), differentiable in ``f``."""
        return torch.clamp(self.i + self.frac() + (1.0 if self.signed else 0.0), min=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (after ReLU when unsigned) quantized onto each channel's grid, saturated."""
        if not self.signed:
            x = torch.relu(x)
        f = self.frac()
        scale = torch.pow(2.0, f)
        hi = (2.0**self.i - torch.pow(2.0, -f)).detach()
        lo = -(2.0**self.i) if self.signed else torch.zeros(())
        q = _ste(x * scale, _half_up(x * scale)) / scale
        return torch.minimum(torch.maximum(q, lo.to(q)), hi.to(q))

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, quantile: float) -> None:
        """Integer bits that hold the ``quantile`` of |x| (of ReLU(x) for unsigned); larger values saturate."""
        v = (x.abs() if self.signed else torch.relu(x)).reshape(-1).double()
        top = float(torch.quantile(v[:1_000_000], quantile)) if quantile < 1 else float(v.max())
        self.i.fill_(max(0, math.ceil(math.log2(top))) if top > 0 else 0)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep the trained fractional bits within [0, max_frac]."""
        self.f.clamp_(0.0, float(self.max_frac))

    def int_frac(self) -> tuple[int, int]:
        """The integer and (rounded) fractional bits as exported."""
        return int(self.i), int(torch.round(self.f.detach()))


class HDense(nn.Linear):
    """Linear layer with one trained fractional bit count per weight; biases on the accumulator grid."""

    def __init__(self, n_in: int, n_out: int, frac_bits: int, max_frac: int):
        super().__init__(n_in, n_out)
        self.max_frac = max_frac
        self.f = nn.Parameter(torch.full((n_out, n_in), float(frac_bits)))

    def frac(self) -> torch.Tensor:
        """Fractional bits per weight, rounded in the forward pass (straight-through gradient)."""
        return _ste(self.f, torch.round(self.f))

    def qweight(self) -> torch.Tensor:
        """The weights on their fixed-point grids (straight-through gradient)."""
        scale = torch.pow(2.0, self.frac())
        return _ste(self.weight * scale, torch.round(self.weight * scale)) / scale

    def weight_bits(self) -> torch.Tensor:
        """Bits of every quantized weight (sign included; 0 for a pruned weight), gradient 1 per unit of ``f``."""
        f = self.frac()
        code = torch.round(self.weight * torch.pow(2.0, f)).detach().abs()
        exact = torch.where(code > 0, torch.floor(torch.log2(code.clamp(min=1.0))) + 2.0, torch.zeros_like(code))
        return torch.where(code > 0, exact + (self.f - self.f.detach()), torch.zeros_like(code))

    def weight_frac(self) -> torch.Tensor:
        """The layer's weight grid: the largest fractional bit count (at least 0)."""
        return torch.clamp(self.frac().max(), min=0.0)

    def acc_frac(self, in_frac: torch.Tensor) -> torch.Tensor:
        """Fractional bits of the accumulator for inputs with ``in_frac`` fractional bits."""
        return in_frac + self.weight_frac()

    def forward_q(self, x: torch.Tensor, in_frac: torch.Tensor) -> torch.Tensor:
        """The layer on quantized weights, the bias on the accumulator's grid."""
        scale = torch.pow(2.0, self.acc_frac(in_frac)).detach()
        b = _ste(self.bias * scale, torch.round(self.bias * scale)) / scale
        return nn.functional.linear(x, self.qweight(), b)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep the trained fractional bits within [-8, max_frac]."""
        self.f.clamp_(-8.0, float(self.max_frac))


class HGQMLP(nn.Module):
    """Input quantizer → (HDense → ReLU quantizer) × hidden → HDense (the logit, exact)."""

    def __init__(self, n_inputs: int, cfg: HGQConfig, n_outputs: int = 1):
        super().__init__()
        widths = (n_inputs, *cfg.hidden, n_outputs)
        self.dense = nn.ModuleList(
            HDense(a, b, cfg.weight_frac_bits, cfg.max_frac_bits) for a, b in zip(widths[:-1], widths[1:])
        )
        self.quant = nn.ModuleList(
            [ActQuant(True, cfg.act_frac_bits, cfg.max_frac_bits)]
            + [ActQuant(False, cfg.act_frac_bits, cfg.max_frac_bits) for _ in cfg.hidden]
        )
        self.beta = cfg.beta
        self.calibration_rows, self.calibration_quantile = cfg.calibration_rows, cfg.calibration_quantile

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits: each layer's input quantized, then its quantized dense layer."""
        for q, d in zip(self.quant, self.dense):
            x = d.forward_q(q(x), q.frac())
        return x

    def ebops(self) -> torch.Tensor:
        """Σ bits(w)·bits(input) over the products that remain (differentiable)."""
        return sum((d.weight_bits() * q.bits()).sum() for q, d in zip(self.quant, self.dense))

    def regularizer(self) -> torch.Tensor:
        """What the trainer adds to the loss: ``beta · EBOPs``."""
        return self.beta * self.ebops()

    def param_groups(self, cfg: HGQConfig) -> list[dict]:
        """Weights with the configured learning rate and decay; bit counts with ``bits_lr`` and no decay."""
        bits = [p for n, p in self.named_parameters() if n.endswith(".f")]
        rest = [p for n, p in self.named_parameters() if not n.endswith(".f")]
        return [{"params": rest}, {"params": bits, "lr": cfg.bits_lr, "weight_decay": 0.0}]

    def after_step(self) -> None:
        """Keep every bit count in its range (after each optimizer step)."""
        for m in (*self.quant, *self.dense):
            m.clamp_()

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Integer bits of the input and every activation from the values of ``x`` (float forward
        through the current weights): the ``calibration_quantile`` of each tensor fits, larger values saturate."""
        for q, d in zip(self.quant, self.dense):
            q.calibrate(x, self.calibration_quantile)
            x = d(torch.relu(x) if not q.signed else x)

    # --- the exact fixed-point form -------------------------------------------------------------

    @torch.no_grad()
    def layers(self) -> list[dict]:
        """Per layer: input type (signed, i, f), integer weights and biases on the accumulator grid
        (exponent ``-acc_f``), the weights' exponent ``-w_f``."""
        return [dense_ints(q, d) for q, d in zip(self.quant, self.dense)]

    def reference(self, x: np.ndarray) -> np.ndarray:
        """The logits in exact fixed-point arithmetic (float64 holds every value; see ``ACC_MAX_BITS``):
        ``(n,)`` for one output, ``(n, K)`` for K."""
        self.exact_parts()  # refuses accumulators float64 could not hold exactly
        h = np.asarray(x, np.float64)
        for layer in self.layers():
            scale = 2.0 ** layer["f"]
            hi = 2.0 ** layer["i"] - 1.0 / scale
            lo = -(2.0 ** layer["i"]) if layer["signed"] else 0.0
            h = np.clip(np.floor(np.maximum(h, lo) * scale + 0.5) / scale, lo, hi)
            acc = (
                h @ (layer["w_int"].T.astype(np.float64) * 2.0 ** -layer["w_f"])
                + layer["b_int"] * 2.0 ** -layer["acc_f"]
            )
            h = acc
        return h.reshape(-1) if h.shape[1] == 1 else h

    def exact_parts(self) -> tuple[nn.Sequential, Precisions]:
        """A plain Linear/ReLU ``nn.Sequential`` holding the quantized weights and biases, and its precision
        record (``fixed.Precisions``): the port and every ReLU at their trained types (RND, SAT), weights,
        biases and sums exact."""
        seq, port, types = [], None, []
        layers = self.layers()
        for k, layer in enumerate(layers):
            w = layer["w_int"].astype(np.float64) * 2.0 ** -layer["w_f"]
            b = layer["b_int"].astype(np.float64) * 2.0 ** -layer["acc_f"]
            act = FixedType(1 + layer["i"] + layer["f"], 1 + layer["i"], "RND", "SAT")
            if k == 0:
                port = act
            else:
                types.append(LayerPrecision(len(seq) - 1, act))  # the ReLU before this layer
            acc = _accumulator(k, w, b, layer)
            lin = nn.Linear(w.shape[1], w.shape[0]).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
            types.append(LayerPrecision(len(seq), acc, _holding(w, layer["w_f"]), _holding(b, layer["acc_f"]), acc))
            seq.append(lin)
            if k + 1 < len(layers):
                seq.append(nn.ReLU())
        return nn.Sequential(*seq).double(), Precisions(port, tuple(types))  # float64: hls4ml prints the exact values

    @torch.no_grad()
    def summary(self) -> dict:
        """Bits, pruned weights and EBOPs of the trained model (for the report)."""
        layers = self.layers()
        n = sum(int(layer["w_int"].size) for layer in layers)
        kept = sum(int((layer["w_int"] != 0).sum()) for layer in layers)
        return {
            "ebops": float(self.ebops()),
            "weights": n,
            "weights_kept": kept,
            "pruned_fraction": 1 - kept / max(n, 1),
            "activation_types": [(layer["signed"], layer["i"], layer["f"]) for layer in layers],
        }


@torch.no_grad()
def dense_ints(q: ActQuant, d: HDense) -> dict:
    """A layer fed by quantizer ``q`` as integers: the input type (signed, i, f), the weights on the layer's
    grid (``w_int · 2^-w_f``), the biases on the accumulator's (``b_int · 2^-acc_f``)."""
    i, f = q.int_frac()
    w_f = int(d.weight_frac())
    w_code = torch.round(d.weight.double() * torch.pow(2.0, d.frac().double()))
    w_int = (w_code * torch.pow(2.0, w_f - d.frac().double())).round().long().numpy()
    acc_f = f + w_f
    b_int = torch.round(d.bias.double() * 2.0**acc_f).long().numpy()
    return {"signed": q.signed, "i": i, "f": f, "w_int": w_int, "w_f": w_f, "b_int": b_int, "acc_f": acc_f}


def _holding(values: np.ndarray, frac: int) -> FixedType:
    """The narrowest signed ``fixed<W,I>`` with ``frac`` fractional bits that holds ``values`` exactly."""
    top = float(np.abs(values).max()) if values.size else 0.0
    integer = max(1, math.floor(math.log2(top)) + 2) if top > 0 else 1
    return FixedType(max(integer + frac, 1), integer)


def _accumulator(k: int, w: np.ndarray, b: np.ndarray, layer: dict) -> FixedType:
    """The exact sum's type of layer ``k``: its fractional bits, and integer bits for the largest L1 sum an
    input within the layer's input type can reach; refused beyond ``ACC_MAX_BITS``."""
    x_max = 2.0 ** layer["i"]
    l1 = float((np.abs(w) * x_max).sum(axis=1).max() + np.abs(b).max()) if w.size else 0.0
    acc_int = max(1, math.floor(math.log2(l1)) + 2) if l1 > 0 else 1
    acc_w = acc_int + layer["acc_f"]
    if acc_w > ACC_MAX_BITS:
        raise TrigdeployError(
            f"resource-aware MLP layer {k}: accumulator fixed<{acc_w},{acc_int}> is wider than "
            f"{ACC_MAX_BITS} bits (lower train.hgq.max_frac_bits)"
        )
    return FixedType(acc_w, acc_int)


def build_hgq(n_inputs: int, cfg: HGQConfig, n_outputs: int = 1) -> HGQMLP:
    """A resource-aware MLP for ``n_inputs`` features (the ``hgq`` kind's builder)."""
    return HGQMLP(n_inputs, cfg, n_outputs)
