"""Signed fixed-point types (``ap_fixed<W,I>``): parsing, grids and integer codes.

Shared by the config (precisions are checked when a target is loaded), the conifer exporter
and the simulation, so that one definition of a type's range and rounding exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from trigdeploy.errors import TrigdeployError

MAX_WIDTH = 48  # codes are computed in float64/int64: exact up to 48 bits


def _half_up(v: np.ndarray) -> np.ndarray:
    return np.floor(v + 0.5)


@dataclass(frozen=True)
class FixedType:
    """A signed ``ap_fixed<width, integer>`` type (``integer`` bits include the sign)."""

    width: int
    integer: int

    @classmethod
    def parse(cls, text: str, where: str = "fixed-point type") -> FixedType:
        """``ap_fixed<W,I>`` with 2 ≤ W ≤ 48 and 1 ≤ I ≤ W; anything else is a one-line error."""
        m = re.fullmatch(r"\s*ap_fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*>\s*", str(text))
        if not m:
            raise TrigdeployError(f"{where} {text!r}: expected ap_fixed<W,I>")
        width, integer = int(m.group(1)), int(m.group(2))
        if not 2 <= width <= MAX_WIDTH:
            raise TrigdeployError(f"{where} {text!r}: width W must be within [2, {MAX_WIDTH}], got {width}")
        if not 1 <= integer <= width:
            raise TrigdeployError(f"{where} {text!r}: integer bits I must be within [1, W={width}], got {integer}")
        return cls(width, integer)

    @property
    def frac(self) -> int:
        """Fractional bits."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        """The value of one least significant bit."""
        return 2.0 ** -self.frac

    @property
    def int_min(self) -> int:
        """The smallest integer code."""
        return -(2 ** (self.width - 1))

    @property
    def int_max(self) -> int:
        """The largest integer code."""
        return 2 ** (self.width - 1) - 1

    def __str__(self) -> str:
        return f"ap_fixed<{self.width},{self.integer}>"

    def to_int(self, x, mode: str) -> np.ndarray:
        """Integer codes of ``x`` rounded by ``mode`` (floor, ceil, nearest: half to even, half_up:
        ``AP_RND``) and saturated."""
        scaled = np.asarray(x, np.float64) * 2.0 ** self.frac
        code = {"floor": np.floor, "ceil": np.ceil, "nearest": np.rint, "half_up": _half_up}[mode](scaled)
        return np.clip(code, self.int_min, self.int_max).astype(np.int64)

    def to_float(self, code) -> np.ndarray:
        """The values of integer ``code``s."""
        return np.asarray(code, np.float64) * self.lsb

    def quantize_inputs(self, x: np.ndarray) -> np.ndarray:
        """The firmware port's view of ``x``: floor onto the grid, saturate (exact in float32 for W ≤ 24)."""
        return self.to_float(self.to_int(x, "floor"))
