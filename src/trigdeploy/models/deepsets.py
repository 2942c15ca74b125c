"""Deep Sets on a jet's particles: the model kind ``deepsets``, registered from this one file.

Input: a particle set as the data stage writes it (``features.kind: constituents``), ``N`` particles each as
``particle_features`` values then a mask (1 for a particle, 0 for padding), flat and particle-major. The
network: a per-particle network φ (Linear → ReLU per ``phi`` width) shared by every particle, the sum (or
the mean) of φ over the particles present (padding contributes nothing), then a network ρ (the ``hidden``
widths, Linear → ReLU) to the logits. The jet's values after the set (``features.jet_features``, J of them: what
N particles cannot tell, e.g. the jet's particle count) enter through ψ, one Linear from J to φ's width added to
the pooled vector (the same as giving them to ρ's first layer, at one multiplier per φ output). The output does not depend on the order of the particles; in float
arithmetic only up to the order of the sum's additions.

The section ``train.deepsets`` takes the float MLP's training keys (``epochs``, ``lr``, …; ``hidden`` is ρ)
and ``phi``, ``pooling``, ``particle_features`` (how many values a particle has before its mask: the length of
``features.particle_features``, 3 by default).

With ``features.inputs: l1`` the model takes the particles' integer L1 words instead and computes its inputs
from them first (``models.l1front``: log pT, Δη, Δφ, the mask); the trainer sets ``l1_port`` from ``features.l1``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from trigdeploy.config import CrossChecked, MLPConfig, TrainConfig
from trigdeploy.errors import TrigdeployError
from trigdeploy.features_config import PARTICLE_FEATURES, L1Grid
from trigdeploy.models.l1front import L1Front, front_module
from trigdeploy.schema import WIDTH_MAX, FieldError, num


@dataclass(frozen=True)
class DeepSetsConfig(MLPConfig):
    """A float Deep Sets: φ per particle, pooling over the particles present, ρ (``hidden``) after it."""

    hidden: tuple[int, ...] = num((32,), ge=1, le=WIDTH_MAX)  # ρ
    # the per-particle network φ's widths (shared by every particle)
    phi: tuple[int, ...] = num((32, 32), ge=1, le=WIDTH_MAX)
    pooling: Literal["sum", "mean"] = "sum"  # φ's outputs summed, or averaged, over the particles present
    # features per particle in the set (features.particle_features' count)
    particle_features: int = num(3, ge=1, le=len(PARTICLE_FEATURES))
    l1_port: L1Grid | None = None  # set by train from features.l1 (features.inputs: l1), not by hand
    # the jet's values after the set (features.jet_features' count): set by train, not by hand
    jet_features: int = num(0, ge=0, le=WIDTH_MAX)

    def check(self) -> None:
        """φ has at least one layer; no batchnorm or dropout (a set model's φ sees particles, not jets)."""
        if self.l1_port is not None and self.particle_features != 3:
            raise FieldError("particle_features", "must be 3 with L1 words (log pT, Δη, Δφ)")
        if not self.phi:
            raise FieldError("phi", "needs at least one layer width")
        if self.batchnorm:
            raise FieldError("batchnorm", "not supported in a set model; set false")


class InitFromDeepSets(CrossChecked):
    """A section whose model starts from the float Deep Sets' weights (``init: float``): the same shape."""

    def check_with(self, name: str, train: TrainConfig) -> None:
        """``init: float`` needs ``train.deepsets`` with the same ``phi``, ``hidden`` and ``particle_features``."""
        src = train.model("deepsets")
        shape = (self.phi, self.hidden, self.particle_features)
        if self.init == "float" and (src is None or (src.phi, src.hidden, src.particle_features) != shape):
            raise FieldError(
                f"{name}.init",
                f"'float' needs train.deepsets with the same phi, hidden and particle_features ({name} {shape})",
            )


def particles_of(n_inputs: int, cfg: DeepSetsConfig, kind: str = "deepsets") -> int:
    """How many particles ``n_inputs`` values hold at ``cfg.particle_features`` values and a mask each (with
    ``l1_port``: three words each and the jet's two)."""
    if cfg.l1_port is not None:
        if n_inputs < 5 or (n_inputs - 2) % 3:
            raise TrigdeployError(
                f"train.{kind}: {n_inputs} inputs are not L1 words (three per particle and the jet's two)"
            )
        return (n_inputs - 2) // 3
    width = cfg.particle_features + 1
    n_inputs -= cfg.jet_features
    if n_inputs <= 0 or n_inputs % width:
        raise TrigdeployError(
            f"train.{kind}.particle_features: {cfg.particle_features} values and a mask per particle do not "
            f"divide the {n_inputs} inputs before the jet's {cfg.jet_features}; a set model needs features.kind: "
            "constituents with that many features.particle_features"
        )
    return n_inputs // width


def front_of(n_particles: int, cfg: DeepSetsConfig) -> L1Front | None:
    """The L1 front of a set model on L1 words (``cfg.l1_port``), else None."""
    return None if cfg.l1_port is None else L1Front.of(cfg.l1_port, n_particles)


def front_module_of(n_particles: int, cfg: DeepSetsConfig):
    """A set model's L1 front as a torch module (its ``front`` attribute), None on features."""
    return front_module(front_of(n_particles, cfg))


def l1_front(module) -> L1Front | None:
    """The ``L1Front`` a set model's torch module computes its set with (None on features)."""
    return None if module.front is None else module.front.front


def as_set(module, x):
    """A set model's input ``x`` as its particle set: through its L1 front first where it has one."""
    return x if module.front is None else module.front(x)


def split_jet(module, x):
    """``(particles (batch, N, F + 1), the jet's values (batch, J) or None)`` of a set model's input ``x``."""
    x = as_set(module, x)
    n = module.n_particles * module.width
    return x[:, :n].reshape(x.shape[0], module.n_particles, module.width), (
        x[:, n:] if module.psi is not None else None
    )


@functools.cache
def _module_class():
    """The ``torch.nn.Module`` (made on first use: importing this file does not import torch)."""
    import torch
    from torch import nn

    from trigdeploy.models.mlp import ACTIVATIONS

    def stack(widths: list[int], act, last_act: bool) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(a, b))
            if last_act or i < len(widths) - 2:
                layers.append(act())
        return nn.Sequential(*layers)

    class DeepSets(nn.Module):
        """``forward(x)``: x is (batch, N · (F + 1) + J); returns (batch, n_outputs) logits."""

        def __init__(self, n_particles: int, cfg: DeepSetsConfig, n_outputs: int):
            super().__init__()
            act = ACTIVATIONS[cfg.activation]
            self.n_particles, self.width, self.mean = n_particles, cfg.particle_features + 1, cfg.pooling == "mean"
            self.phi = stack([cfg.particle_features, *cfg.phi], act, last_act=True)
            self.rho = stack([cfg.phi[-1], *cfg.hidden, n_outputs], act, last_act=False)
            self.front = front_module_of(n_particles, cfg)
            # ψ: the jet's values onto φ's width, added to the pooled sum
            self.psi = nn.Linear(cfg.jet_features, cfg.phi[-1]) if cfg.jet_features else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            p, jet = split_jet(self, x)
            mask = p[:, :, -1:]
            pooled = (self.phi(p[:, :, :-1]) * mask).sum(1)
            if self.mean:
                pooled = pooled / mask.sum(1).clamp(min=1.0)
            return self.rho(pooled if jet is None else pooled + self.psi(jet))

    return DeepSets


# ---------------------------------------------------------------------------------------------- integer form
# What a fixed-point Deep Sets (``qdeepsets``, ``hgq_deepsets``) is once trained: integers, power-of-two
# exponents and saturating grids. ``reference`` computes it exactly (float64 holds every value: each is an
# integer times a power of two well inside 53 bits) and ``convert/forms/rtl_deepsets.py`` traces it.


@dataclass(frozen=True)
class Grid:
    """A saturating fixed-point grid: signed or not, ``integer`` bits (the sign excluded), ``frac`` fractional
    bits, rounding ``RND_CONV`` (half to even) or ``RND`` (half up); an unsigned grid takes negatives to 0."""

    signed: bool
    integer: int
    frac: int
    rounding: Literal["RND_CONV", "RND"]

    def onto(self, v: np.ndarray) -> np.ndarray:
        """``v`` rounded and saturated onto the grid (float64, exact)."""
        scaled = np.asarray(v, np.float64) * 2.0**self.frac
        code = np.round(scaled) if self.rounding == "RND_CONV" else np.floor(scaled + 0.5)
        top = 2.0 ** (self.integer + self.frac)
        return np.clip(code, -top if self.signed else 0.0, top - 1) * 2.0**-self.frac


@dataclass(frozen=True)
class Dense:
    """``x @ (w_int.T · 2^w_exp) + b_int · 2^acc_exp``: a layer's integer weights and biases."""

    w_int: np.ndarray  # (outputs, inputs)
    w_exp: int
    b_int: np.ndarray
    acc_exp: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The exact sum (float64) of inputs ``x`` (..., inputs)."""
        return (
            x @ (self.w_int.T.astype(np.float64) * 2.0**self.w_exp) + self.b_int.astype(np.float64) * 2.0**self.acc_exp
        )


@dataclass(frozen=True)
class IntegerSets:
    """A Deep Sets in integers: the port's grid of the particles' features, φ's layers each with the grid after
    it (its ReLU), the pooled sum's grid, ρ's layers (the last one's grid None: its sum is the logit)."""

    particles: int
    features: int
    port: Grid
    phi: tuple[tuple[Dense, Grid], ...]
    pool: Grid
    rho: tuple[tuple[Dense, Grid | None], ...]
    front: L1Front | None = None  # L1 words at the port: the front computes the set, then the port's grid
    psi: Dense | None = None  # the jet's values after the set (on the port's grid) → added to the pooled sum

    @property
    def jet(self) -> int:
        """How many of the jet's values follow the set at the port."""
        return 0 if self.psi is None else self.psi.w_int.shape[1]

    def input_grid(self, x: np.ndarray) -> np.ndarray:
        """Scaled particle sets ``x`` as the port holds them: features (and the jet's values) on the port's grid,
        masks 0/1 (L1 words: as they are, integers)."""
        if self.front is not None:
            return self.front.check_words(x)
        return np.concatenate([self.particle_set(x).reshape(len(x), -1), self.jet_values(x)], axis=1)

    def jet_values(self, x: np.ndarray) -> np.ndarray:
        """``(rows, J)``: the jet's scaled values after the set, on the port's grid (no columns without ψ)."""
        return self.port.onto(np.asarray(x, np.float64)[:, x.shape[1] - self.jet :])

    def particle_set(self, x: np.ndarray) -> np.ndarray:
        """``(rows, N, F + 1)``: what φ sees, features on the port's grid and masks, of the scaled sets ``x`` (or of
        L1 words, through the front first)."""
        sets = x if self.front is None else self.front.numpy(self.front.check_words(x))
        sets = np.asarray(sets, np.float64)[:, : self.particles * (self.features + 1)]
        p = sets.reshape(len(x), self.particles, self.features + 1).copy()
        p[..., :-1] = self.port.onto(p[..., :-1])
        p[..., -1] = p[..., -1] > 0.5
        return p

    def reference(self, x: np.ndarray) -> np.ndarray:
        """The exact logits ``(rows, outputs)`` on scaled particle sets ``x`` (put on the port's grid first) or on
        L1 words (through the front first)."""
        p = self.particle_set(x)
        h = p[..., :-1]
        for dense, grid in self.phi:
            h = grid.onto(dense(h))
        pooled = (h * p[..., -1:]).sum(1)
        out = self.pool.onto(pooled if self.psi is None else pooled + self.psi(self.jet_values(x)))
        for dense, grid in self.rho:
            out = dense(out) if grid is None else grid.onto(dense(out))
        return out

    def weights(self) -> tuple[int, int]:
        """(weights, weights not zero) of φ and ρ."""
        layers = [d for d, _ in (*self.phi, *self.rho)] + ([self.psi] if self.psi is not None else [])
        return sum(d.w_int.size for d in layers), sum(int(np.count_nonzero(d.w_int)) for d in layers)


def build_deepsets(n_inputs: int, cfg: DeepSetsConfig, n_outputs: int = 1):
    """The untrained Deep Sets for ``n_inputs`` values (``particles_of``) and ``n_outputs`` logits."""
    return _module_class()(particles_of(n_inputs, cfg), cfg, n_outputs)


def register() -> None:
    """Register the kind (``models.registry`` calls it when it is imported)."""
    from trigdeploy.models import registry

    registry.register(
        registry.ModelKind(
            "deepsets", DeepSetsConfig, "deepsets.pt", "torch", "PyTorch", build_deepsets, forms=("onnx",)
        )
    )
