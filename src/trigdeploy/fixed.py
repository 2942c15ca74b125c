"""Signed fixed-point types: the one vocabulary of trigdeploy's precisions.

``FixedType(width, integer, rounding, overflow)`` is a signed type with ``integer`` bits (sign
included) and, where a tool is told them, its quantization and overflow modes in hls4ml's spelling
(``TRN``, ``RND``, ``RND_CONV``; ``WRAP``, ``SAT``; unstated: the tools' defaults, TRN and WRAP).
``FixedType.read`` takes both spellings (``fixed<16,6,RND,SAT>``, ``ap_fixed<16,6,AP_RND,AP_SAT>``);
``.hls4ml`` and ``.ap`` write them back exactly (what hls4ml configs and HLS C++ hold), ``str()`` is
the ``ap_`` spelling. ``FixedType.parse`` is the strict form a conifer ``Precision`` must have
(``ap_fixed<W,I>``, 2 ≤ W ≤ 48, 1 ≤ I ≤ W). Shared by the config, the export forms, the precision
records of PTQ and the resource-aware model, the estimators and the simulators, so that one
definition of a type's range, rounding and spelling exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from trigdeploy.errors import TrigdeployError

MAX_WIDTH = 48  # codes are computed in float64/int64: exact up to 48 bits
ROUNDING = ("TRN", "RND", "RND_CONV")  # hls4ml's quantization modes (C++: AP_TRN, AP_RND, AP_RND_CONV)
OVERFLOW = ("WRAP", "SAT")
_TYPE = re.compile(
    r"\s*(ap_)?fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(?:AP_)?([A-Z_]+)\s*,\s*(?:AP_)?([A-Z_]+)\s*)?>\s*"
)


def _half_up(v: np.ndarray) -> np.ndarray:
    return np.floor(v + 0.5)


@dataclass(frozen=True)
class FixedType:
    """A signed ``ap_fixed<width, integer>`` type (``integer`` bits include the sign), with its
    quantization and overflow modes where they are stated (None: the tools' defaults, TRN and WRAP)."""

    width: int
    integer: int
    rounding: str | None = None
    overflow: str | None = None

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"a fixed-point type has at least one bit, got width {self.width}")
        if (self.rounding is None) != (self.overflow is None):
            raise ValueError("a fixed-point type states both its rounding and overflow modes, or neither")
        if self.rounding is not None and (self.rounding not in ROUNDING or self.overflow not in OVERFLOW):
            raise ValueError(f"unknown modes {self.rounding}, {self.overflow} (expected one of {ROUNDING}, {OVERFLOW})")

    @classmethod
    def read(cls, text: str, where: str = "fixed-point type") -> FixedType:
        """``fixed<W,I[,Q,O]>`` or ``ap_fixed<W,I[,AP_Q,AP_O]>`` (any I; W ≥ 1); a one-line error otherwise."""
        m = _TYPE.fullmatch(str(text))
        if m is None:
            raise TrigdeployError(f"{where} {text!r}: expected fixed<W,I> or fixed<W,I,rounding,overflow>")
        try:
            return cls(int(m[2]), int(m[3]), m[4], m[5])
        except ValueError as exc:
            raise TrigdeployError(f"{where} {text!r}: {exc}") from None

    @property
    def hls4ml(self) -> str:
        """hls4ml's spelling (``fixed<16,6>``, ``fixed<16,6,RND,SAT>``)."""
        modes = f",{self.rounding},{self.overflow}" if self.rounding else ""
        return f"fixed<{self.width},{self.integer}{modes}>"

    @property
    def ap(self) -> str:
        """The HLS C++ spelling (``ap_fixed<16,6>``, ``ap_fixed<16,6,AP_RND,AP_SAT>``)."""
        modes = f",AP_{self.rounding},AP_{self.overflow}" if self.rounding else ""
        return f"ap_fixed<{self.width},{self.integer}{modes}>"

    @classmethod
    def parse(cls, text: str, where: str = "fixed-point type") -> FixedType:
        """``ap_fixed<W,I>`` with 2 ≤ W ≤ 48 and 1 ≤ I ≤ W; anything else is a one-line error."""
        m = _TYPE.fullmatch(str(text))
        if m is None or not m[1] or m[4]:  # the ap_ spelling, without modes
            raise TrigdeployError(f"{where} {text!r}: expected ap_fixed<W,I>")
        width, integer = int(m[2]), int(m[3])
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
        return 2.0**-self.frac

    @property
    def int_min(self) -> int:
        """The smallest integer code."""
        return -(2 ** (self.width - 1))

    @property
    def int_max(self) -> int:
        """The largest integer code."""
        return 2 ** (self.width - 1) - 1

    def __str__(self) -> str:
        return self.ap

    def to_int(self, x, mode: str) -> np.ndarray:
        """Integer codes of ``x`` rounded by ``mode`` (floor, ceil, nearest: half to even, half_up:
        ``AP_RND``) and saturated."""
        scaled = np.asarray(x, np.float64) * 2.0**self.frac
        code = {"floor": np.floor, "ceil": np.ceil, "nearest": np.rint, "half_up": _half_up}[mode](scaled)
        return np.clip(code, self.int_min, self.int_max).astype(np.int64)

    def to_float(self, code) -> np.ndarray:
        """The values of integer ``code``s."""
        return np.asarray(code, np.float64) * self.lsb

    def quantize_inputs(self, x: np.ndarray) -> np.ndarray:
        """The firmware port's view of ``x``: floor onto the grid, saturate (exact in float32 for W ≤ 24)."""
        return self.to_float(self.to_int(x, "floor"))


_LAYER_TYPES = ("result", "weight", "bias", "accum")


@dataclass(frozen=True)
class LayerPrecision:
    """One layer's types in a precision record: its result and, for a dense layer, its weights, biases and
    accumulator (None for a layer that has none, e.g. a ReLU)."""

    index: int  # the layer's position in the model's ``nn.Sequential``
    result: FixedType
    weight: FixedType | None = None
    bias: FixedType | None = None
    accum: FixedType | None = None

    def as_dict(self) -> dict[str, str]:
        """Each stated type in hls4ml's spelling, by role (``result``, ``weight``, ``bias``, ``accum``)."""
        return {k: getattr(self, k).hls4ml for k in _LAYER_TYPES if getattr(self, k) is not None}


@dataclass(frozen=True)
class Precisions:
    """The per-layer precision record of an MLP, from PTQ profiling or from a resource-aware model's training:
    the input port's type and each layer's, by position in the model. It names no tool's layers: a converter
    maps it onto its own names (``convert.to_hls4ml.layer_precisions``)."""

    port: FixedType
    layers: tuple[LayerPrecision, ...]

    def layer(self, index: int) -> LayerPrecision:
        """The types of the layer at ``index``; a one-line error if the record has none."""
        for p in self.layers:
            if p.index == index:
                return p
        raise TrigdeployError(f"precision record: no types for layer {index} (has {[p.index for p in self.layers]})")

    def as_dict(self) -> dict:
        """The record as JSON holds it (the manifest): ``{"port": T, "layers": [{"index": i, "result": T, …}]}``."""
        return {"port": self.port.hls4ml, "layers": [{"index": p.index, **p.as_dict()} for p in self.layers]}

    @classmethod
    def from_dict(cls, d: dict, where: str = "precision record") -> Precisions:
        """The record ``as_dict`` wrote; a one-line error naming ``where`` for anything else."""
        try:
            layers = tuple(
                LayerPrecision(
                    int(e["index"]),
                    **{k: FixedType.read(e[k], f"{where}: layer {e['index']} {k}") for k in _LAYER_TYPES if k in e},
                )
                for e in d["layers"]
            )
            return cls(FixedType.read(d["port"], f"{where}: port"), layers)
        except (KeyError, TypeError, ValueError) as exc:
            raise TrigdeployError(f"{where}: not a precision record ({type(exc).__name__}: {exc})") from None
