"""The resource-aware Deep Sets (kind ``hgq_deepsets``), registered from this one file.

The resource-aware MLP's machinery (``models/hgq.py``: a trained fractional bit count per weight, pruning by
zero bits, one trained fixed-point type per activation tensor with calibrated integer bits, round half up and
saturation, ``beta · EBOPs`` in the loss) on a Deep Sets: the particles' features on the port's type, φ's layers
shared by every particle, the sum of φ over the particles present on the pool's type, then ρ. φ is instantiated
once per particle in the firmware, so its EBOPs count once per particle (``particles ×``); ρ's once, and ψ's
(the jet's values after the set, on the port's type, added to the sum before the pool's type) once. Fine-tuned
from ``deepsets`` (``init: float``). The trained model is an ``IntegerSets`` (``integers()``): its
``reference`` gives the run's predictions and the RTL form (``rtl_deepsets``) must equal it on every test event.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from trigdeploy.config import HGQConfig
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
from trigdeploy.schema import COUNT_MAX, FieldError, num


@dataclass(frozen=True)
class HGQDeepSetsConfig(DeepSetsConfig, HGQConfig, InitFromDeepSets):
    """``train.hgq``'s keys (``beta``, bit counts, calibration, the epoch rule) on a Deep Sets' shape."""

    epochs: int = num(60, ge=1, le=COUNT_MAX)  # HGQConfig's defaults: the cost term needs the epochs
    lr_patience: int = num(10, ge=0)
    early_stopping_patience: int = num(20, ge=1)  # epochs without a better validation AUC before training stops

    def check(self) -> None:
        """A Deep Sets' rules, the resource-aware MLP's, and a sum (an exact fixed-point pooling)."""
        DeepSetsConfig.check(self)
        HGQConfig.check(self)
        if self.pooling != "sum":
            raise FieldError("pooling", "only sum has an exact fixed-point form (a mean divides by the count)")

    def check_with(self, name: str, train) -> None:
        """``init: float`` needs ``train.deepsets`` of the same shape."""
        InitFromDeepSets.check_with(self, name, train)


def _grid(q) -> Grid:
    """An ``hgq.ActQuant``'s type: signed or unsigned (after ReLU), its integer and fractional bits, round half up."""
    i, f = q.int_frac()
    return Grid(bool(q.signed), i, f, "RND")


def _dense(d, q_in) -> Dense:
    """An ``hgq.HDense`` fed by quantizer ``q_in``, as integers (``hgq.dense_ints``)."""
    from trigdeploy.models.hgq import dense_ints

    ints = dense_ints(q_in, d)
    return Dense(ints["w_int"], -ints["w_f"], ints["b_int"], -ints["acc_f"])


def _calibrate(self, x) -> None:
    """Integer bits of every type from a float pass over ``x`` (the particles present only, for φ's)."""
    import torch

    with torch.no_grad():
        p, jet = split_jet(self, x)
        h, mask, live = p[:, :, :-1], p[:, :, -1:], p[:, :, -1] > 0.5
        for q, d in zip(self.phi_q, self.phi):  # the port's type holds the jet's values too
            first = q is self.phi_q[0] and jet is not None
            q.calibrate(
                torch.cat([h[live].reshape(-1), jet.reshape(-1)]) if first else h[live], self.calibration_quantile
            )
            h = d(h if q.signed else torch.relu(h))
        self.phi_q[-1].calibrate(h[live], self.calibration_quantile)
        out = (torch.relu(h) * mask).sum(1) + (self.psi(jet) if jet is not None else 0.0)
        for q, d in zip(self.rho_q, self.rho):
            q.calibrate(out, self.calibration_quantile)
            out = d(torch.relu(out))


def _integers(self) -> IntegerSets:
    """The trained network in integers: the types, the weights on their grids, biases on the sums'."""
    phi = tuple((_dense(d, q), _grid(nxt)) for q, d, nxt in zip(self.phi_q, self.phi, self.phi_q[1:]))
    rho_next = [*(_grid(q) for q in self.rho_q[1:]), None]
    rho = tuple((_dense(d, q), g) for q, d, g in zip(self.rho_q, self.rho, rho_next))
    front, psi = l1_front(self), (_dense(self.psi, self.phi_q[0]) if self.psi is not None else None)
    port, pool = _grid(self.phi_q[0]), _grid(self.rho_q[0])
    return IntegerSets(self.n_particles, self.width - 1, port, phi, pool, rho, front, psi)


def _ebops(self):
    """Σ bits(w)·bits(input) over the products that remain, φ's once per particle (differentiable)."""
    phi = sum((d.weight_bits() * q.bits()).sum() for q, d in zip(self.phi_q, self.phi))
    once = [*zip(self.rho_q, self.rho), *([(self.phi_q[0], self.psi)] if self.psi is not None else [])]
    return self.n_particles * phi + sum((d.weight_bits() * q.bits()).sum() for q, d in once)


def _summary(self) -> dict:
    """EBOPs and the weights kept (for the report)."""
    import torch

    with torch.no_grad():
        ebops = float(self.ebops())
    n, kept = self.integers().weights()
    return {"ebops": ebops, "weights": n, "weights_kept": kept, "pruned_fraction": 1 - kept / max(n, 1)}


@functools.cache
def _module_class():
    """The ``torch.nn.Module`` (made on first use: importing this file does not import torch)."""
    import torch
    from torch import nn

    from trigdeploy.models.hgq import HGQMLP, ActQuant, HDense

    class HGQDeepSets(nn.Module):
        """``forward(x)``: x is (batch, N · (F + 1)); returns (batch, n_outputs) logits."""

        def __init__(self, n_particles: int, cfg: HGQDeepSetsConfig, n_outputs: int):
            super().__init__()
            self.n_particles, self.width, self.beta = n_particles, cfg.particle_features + 1, cfg.beta
            self.calibration_rows, self.calibration_quantile = cfg.calibration_rows, cfg.calibration_quantile
            wf, af, mf = cfg.weight_frac_bits, cfg.act_frac_bits, cfg.max_frac_bits
            phi, rho = (cfg.particle_features, *cfg.phi), (cfg.phi[-1], *cfg.hidden, n_outputs)
            self.phi = nn.ModuleList(HDense(a, b, wf, mf) for a, b in zip(phi[:-1], phi[1:]))  # φ before ρ:
            self.rho = nn.ModuleList(HDense(a, b, wf, mf) for a, b in zip(rho[:-1], rho[1:]))  # copy order
            self.phi_q = nn.ModuleList([ActQuant(True, af, mf)] + [ActQuant(False, af, mf) for _ in cfg.phi])
            self.rho_q = nn.ModuleList(ActQuant(False, af, mf) for _ in rho[:-1])  # the pool, then ρ's ReLUs
            self.front = front_module_of(n_particles, cfg)
            # ψ (after ρ: copy order) on the port's type, onto the pooled sum
            self.psi = HDense(cfg.jet_features, cfg.phi[-1], wf, mf) if cfg.jet_features else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            p, jet = split_jet(self, x)
            h = p[:, :, :-1]
            for q, d in zip(self.phi_q, self.phi):
                h = d.forward_q(q(h), q.frac())
            out = (self.phi_q[-1](h) * p[:, :, -1:]).sum(1)
            if jet is not None:  # on the port's type
                out = out + self.psi.forward_q(self.phi_q[0](jet), self.phi_q[0].frac())
            for q, d in zip(self.rho_q, self.rho):
                out = d.forward_q(q(out), q.frac())
            return out

        ebops, calibrate, integers, summary = _ebops, _calibrate, _integers, _summary

        def regularizer(self) -> torch.Tensor:
            """What the trainer adds to the loss: ``beta · EBOPs``."""
            return self.beta * self.ebops()

        def param_groups(self, cfg) -> list[dict]:
            """Weights at the configured learning rate; bit counts at ``bits_lr``, no decay (as the MLP's)."""
            return HGQMLP.param_groups(self, cfg)

        def after_step(self) -> None:
            """Keep every bit count in its range."""
            for m in (*self.phi_q, *self.phi, *self.rho_q, *self.rho, *([self.psi] if self.psi is not None else [])):
                m.clamp_()

        def input_grid(self, x: np.ndarray) -> np.ndarray:
            """``x`` as the design's port holds it."""
            return self.integers().input_grid(x)

        def reference(self, x: np.ndarray) -> np.ndarray:
            """The logits of the exact fixed-point arithmetic on the scaled inputs ``x``."""
            return self.integers().reference(x)

    return HGQDeepSets


def build_hgq_deepsets(n_inputs: int, cfg: HGQDeepSetsConfig, n_outputs: int = 1):
    """The untrained resource-aware Deep Sets for ``n_inputs`` values and ``n_outputs`` logits."""
    return _module_class()(particles_of(n_inputs, cfg, "hgq_deepsets"), cfg, n_outputs)


def register() -> None:
    """Register the kind (``models.registry`` calls it when it is imported, after ``deepsets``)."""
    from trigdeploy.models import registry

    registry.register(
        registry.ModelKind(
            "hgq_deepsets",
            HGQDeepSetsConfig,
            "hgq_deepsets.pt",
            "torch",
            "PyTorch",
            build_hgq_deepsets,
            init_from=lambda cfg: "deepsets" if cfg.init == "float" else None,
            forms=("rtl_deepsets",),
        )
    )
