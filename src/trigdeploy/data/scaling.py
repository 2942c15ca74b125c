"""Feature standardisation, saved as ``preprocess.json`` and applied identically everywhere.

``x' = clip((x − mean) / std, −clip, clip)`` in float32. Training, ONNX export and the firmware
simulation all read the same file, so the model never sees inputs scaled differently.

A particle set (``features.kind: constituents``) is scaled per particle feature, not per column: every
particle's Δη gets the same mean and std (fit on the particles present, padding left out), so that a set
model sees the same numbers for a particle whatever its position; the masks stay 0 and 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy.config import ScalingConfig
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic

FORMAT = "trigdeploy-preprocess-1"


@dataclass(frozen=True)
class Standardizer:
    features: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    clip: float | None
    n_fit: int
    constant: tuple[str, ...] = ()

    @classmethod
    def fit(
        cls, x: np.ndarray, names: list[str], cfg: ScalingConfig, set_width: int = 0, tail: int = 0
    ) -> Standardizer:
        """Fit on rows ``x`` (NaN/inf ignored); constant features get std 1 and are reported. ``set_width``
        (features per particle, the mask last) fits a particle set's features across its particles; its last
        ``tail`` columns (the jet's features after the set) each on its own."""
        x = np.where(np.isfinite(x), x, np.nan).astype(np.float64)
        if set_width and cfg.kind != "none":
            head = x.shape[1] - tail
            mean, std = _set_stats(x[:, :head], set_width)
            tail_mean, tail_std = _column_stats(x[:, head:])
            mean, std = np.append(mean, tail_mean), np.append(std, tail_std)
        elif cfg.kind == "none":
            mean, std = np.zeros(x.shape[1]), np.ones(x.shape[1])
        else:
            mean, std = _column_stats(x)
        constant = tuple(n for n, s in zip(names, std) if s == 0)
        std = np.where(std > 0, std, 1.0)
        return cls(tuple(names), mean, std, cfg.clip, len(x), constant)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``x`` standardised (and clipped, if set) as float32, as every model sees it."""
        out = (np.asarray(x, np.float32) - self.mean.astype(np.float32)) / self.std.astype(np.float32)
        if self.clip is not None:
            np.clip(out, -self.clip, self.clip, out=out)
        return out.astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        """What ``preprocess.json`` holds of the scaler."""
        return {
            "format": FORMAT,
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "clip": self.clip,
            "n_fit": self.n_fit,
            "constant_features": list(self.constant),
        }

    def save(self, path: Path, extra: dict | None = None) -> None:
        """Write the scaler (and ``extra`` keys) to ``path`` atomically."""
        write_json_atomic(Path(path), {**self.to_dict(), **(extra or {})})

    @classmethod
    def load(cls, path: Path) -> Standardizer:
        """Read a scaler from ``preprocess.json`` (one line for a missing or malformed file)."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise TrigdeployError(f"preprocess file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise TrigdeployError(f"{path}: not valid JSON ({exc.msg})") from None
        if d.get("format") != FORMAT:
            raise TrigdeployError(f"{path}: expected format '{FORMAT}', got {d.get('format')!r}")
        return cls(
            tuple(d["features"]),
            np.asarray(d["mean"]),
            np.asarray(d["std"]),
            d["clip"],
            d["n_fit"],
            tuple(d.get("constant_features", ())),
        )


def _column_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and std (NaN ignored; means 0 and stds 1 without rows)."""
    if not len(x):
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    return np.nan_to_num(np.nanmean(x, axis=0)), np.nan_to_num(np.nanstd(x, axis=0))


def _set_stats(x: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of a particle set ``x`` (rows, particles · width; each particle's mask last):
    each feature's over every present particle of every row, the same for all particles; mask columns 0, 1."""
    p = x.reshape(len(x), -1, width)
    live = p[..., -1] > 0.5
    vals = p[..., :-1][live]  # (present particles, width − 1)
    mean = np.nan_to_num(np.nanmean(vals, axis=0)) if len(vals) else np.zeros(width - 1)
    std = np.nan_to_num(np.nanstd(vals, axis=0)) if len(vals) else np.ones(width - 1)
    n = p.shape[1]
    return np.tile(np.append(mean, 0.0), n), np.tile(np.append(std, 1.0), n)
