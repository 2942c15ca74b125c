"""The L1 front of a set model (``features.inputs: l1``): from the integer words a Level-1 trigger gives a tagger
to the per-particle inputs of a Deep Sets, in integers and powers of two, so that the trained model, its exact
reference and its firmware compute the same bits, and the firmware's count includes this arithmetic.

The port: each of ``N`` particles' words ``w_pt`` (unsigned), ``w_eta``, ``w_phi`` (signed), then the jet finder's
``j_eta``, ``j_phi`` (``features_config.l1_word_names``). For each particle, four values, as a set model takes them:

* ``log pT = T[q]``: ``q = min(floor(w_pt / 2^k), 1023)`` (pT in steps of ``2^k`` words: about 1 GeV, saturating),
  ``T[q] = round(16 · log2(max(q, 1/2))) / 64`` (a 1,024-entry table, 6 fractional bits, from -0.25 to 2.5);
* ``Δη = (w_eta − j_eta) · 2^-s_eta``;
* ``Δφ = wrap(w_phi − j_phi) · 2^-s_phi``, the wrap into [−period/2, period/2) by adding or subtracting the period
  (2π in φ words);
* the mask ``w_pt > 0`` (a particle whose pT word is 0 is padding), and each value above multiplied by it.

``k = max(0, round(log2(1 GeV / pt_lsb)))``; ``s = max(0, ceil(log2(1 / lsb)) − 1 − a)`` with ``a`` the grid's
``angle_scale_bits`` (default 3: ΔR = 1/8, the spread of a jet's particles, is at most 2 at the output; at ``a = 0``
ΔR = 1 is: the front of model files written before the key, which keep it). Every value is an integer times a
power of two well inside float32, so PyTorch computes it exactly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.features_config import L1Grid

Q_BITS = 10  # q: pT on 10 unsigned bits after the shift
LOG_STEPS = 16  # T's resolution in log2 units before the output shift
LOG_FRAC = 6  # T's fractional bits (LOG_STEPS · 4)


@dataclass(frozen=True)
class L1Front:
    """The front's constants for ``particles`` particles on an ``L1Grid`` (``of``)."""

    particles: int
    pt_bits: int
    eta_bits: int
    phi_bits: int
    period: int
    pt_shift: int
    eta_shift: int
    phi_shift: int

    @classmethod
    def of(cls, grid: L1Grid, particles: int) -> L1Front:
        """The front of ``particles`` particles whose words lie on ``grid``."""
        return cls(
            particles,
            grid.pt_bits,
            grid.eta_bits,
            grid.phi_bits,
            grid.phi_period,
            max(0, round(math.log2(1.0 / grid.pt_lsb))),
            max(0, math.ceil(math.log2(1.0 / grid.eta_lsb)) - 1 - grid.angle_scale_bits),
            max(0, math.ceil(math.log2(1.0 / grid.phi_lsb)) - 1 - grid.angle_scale_bits),
        )

    @property
    def n_inputs(self) -> int:
        """The port's words: three per particle and the jet's two."""
        return 3 * self.particles + 2

    def check_words(self, x: np.ndarray) -> np.ndarray:
        """``x`` as float64 words, or one line naming the first value that is not an integer of its word's width
        (the port would wrap it)."""
        x = np.asarray(x, np.float64)
        per = [(0, 2**self.pt_bits - 1), _signed(self.eta_bits), _signed(self.phi_bits)]
        low, high = np.array(per * self.particles + per[1:], np.float64).T  # then the jet's eta and phi words
        bad = (x != np.round(x)) | (x < low) | (x > high) if x.ndim == 2 and x.shape[1] == self.n_inputs else None
        if bad is None:
            raise TrigdeployError(f"L1 words: expected (rows, {self.n_inputs}) values, got shape {x.shape}")
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise TrigdeployError(
                f"L1 words: row {r}, word {c} is {x[r, c]:g}, not an integer in [{low[c]:.0f}, {high[c]:.0f}]"
            )
        return x

    def table(self) -> np.ndarray:
        """``T[q]`` for ``q`` = 0 … 1023 (float64; multiples of 2^-6)."""
        return _log_table(np.arange(2**Q_BITS, dtype=np.float64))

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """``(rows, N · 4)``: each particle's log pT, Δη, Δφ and mask from the words ``x`` ``(rows, 3 N + 2)``."""
        x = np.asarray(x, np.float64)
        n = self.particles
        w = x[:, : 3 * n].reshape(len(x), n, 3)
        mask = (w[..., 0] > 0).astype(np.float64)
        q = np.minimum(np.floor(w[..., 0] * 2.0**-self.pt_shift), 2**Q_BITS - 1)
        deta = (w[..., 1] - x[:, 3 * n, None]) * 2.0**-self.eta_shift
        d = w[..., 2] - x[:, 3 * n + 1, None]
        half = self.period // 2
        dphi = (d - self.period * (d >= half) + self.period * (d < -half)) * 2.0**-self.phi_shift
        out = np.stack([_log_table(q) * mask, deta * mask, dphi * mask, mask], axis=-1) + 0.0
        return out.reshape(len(x), -1)

    def trace(self, inp):
        """The same in alkaid's tracer: ``inp`` an ``FVArrayInput((3 N + 2,))`` of the words; an ``FVArray``
        ``(N, 4)``."""
        from alkaid.trace.ops import quantize

        n = self.particles
        pt = quantize(inp[0 : 3 * n : 3], 0, self.pt_bits, 0)
        eta = quantize(inp[1 : 3 * n : 3], 1, self.eta_bits - 1, 0)
        phi = quantize(inp[2 : 3 * n : 3], 1, self.phi_bits - 1, 0)
        j_eta = quantize(inp[3 * n : 3 * n + 1], 1, self.eta_bits - 1, 0)[0]
        j_phi = quantize(inp[3 * n + 1 : 3 * n + 2], 1, self.phi_bits - 1, 0)[0]
        mask = pt > 0
        q = quantize(pt * 2.0**-self.pt_shift, 0, Q_BITS, 0, "SAT", "TRN")
        log_pt = q.apply(_log_table).quantize(1, 2, LOG_FRAC)
        d = phi - j_phi
        half = self.period // 2
        dphi = d - (d >= half) * float(self.period) + (d < -half) * float(self.period)
        cols = [log_pt * mask, (eta - j_eta) * 2.0**-self.eta_shift * mask, dphi * 2.0**-self.phi_shift * mask]
        return np.stack([*cols, mask], axis=-1)


def _signed(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _log_table(q: np.ndarray) -> np.ndarray:
    """``T`` at ``q`` (the module docstring)."""
    return np.round(LOG_STEPS * np.log2(np.maximum(q, 0.5))) / (LOG_STEPS * 4)


@functools.cache
def _module_class():
    """The ``torch.nn.Module`` of the front (made on first use: importing this file does not import torch)."""
    import torch
    from torch import nn

    class L1FrontModule(nn.Module):
        """``forward(words)`` → the set ``(batch, N · 4)`` of ``L1Front.numpy``, in float32 (exact)."""

        def __init__(self, front: L1Front):
            super().__init__()
            self.front = front
            self.register_buffer("table", torch.tensor(front.table(), dtype=torch.float32), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return _forward(self, x)

    return L1FrontModule


def _forward(module, x):
    """``L1FrontModule.forward`` (the module docstring's arithmetic)."""
    import torch

    f = module.front
    n = f.particles
    w = x[:, : 3 * n].reshape(x.shape[0], n, 3)
    mask = (w[..., 0] > 0).to(x.dtype)
    q = torch.clamp(torch.floor(w[..., 0] * 2.0**-f.pt_shift), max=2**Q_BITS - 1).long()
    deta = (w[..., 1] - x[:, 3 * n : 3 * n + 1]) * 2.0**-f.eta_shift
    d = w[..., 2] - x[:, 3 * n + 1 : 3 * n + 2]
    half = f.period // 2
    d = d - f.period * (d >= half).to(x.dtype) + f.period * (d < -half).to(x.dtype)
    out = torch.stack([module.table[q] * mask, deta * mask, d * 2.0**-f.phi_shift * mask, mask], dim=-1)
    return out.reshape(x.shape[0], -1)


def front_module(front: L1Front | None):
    """The torch module of ``front`` (None: None)."""
    return None if front is None else _module_class()(front)
