"""One feature cache folder and the names of what it holds (no stage spells them).

A cache folder (``RunLayout.feature_cache(key)``, built in a hidden folder beside it first) holds
three arrays with one row per input row: ``features.npy`` (float32, rows × features, unscaled),
``labels.npy`` (uint8 class indices) and ``codes.npy`` (each row's split: ``data.splits.SPLITS``, or
``UNUSED`` for rows dropped by the selection or a NaN), and ``meta.json`` (the rows per split and
class, the feature names), written last: a folder without it is not a complete cache.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES, LABELS, CODES, META = "features.npy", "labels.npy", "codes.npy", "meta.json"
ARRAYS = (FEATURES, LABELS, CODES)  # in the order the chunks write them


@dataclass(frozen=True)
class FeatureCache:
    """A feature cache folder (complete, or being built)."""

    path: Path

    @property
    def complete(self) -> bool:
        """Has every chunk been written (``meta.json`` is there)?"""
        return (self.path / META).is_file()

    def features(self) -> np.ndarray:
        """Every row's features, unscaled, memory-mapped read-only."""
        return np.lib.format.open_memmap(self.path / FEATURES, mode="r")

    def labels(self) -> np.ndarray:
        """Every row's class index, memory-mapped read-only."""
        return np.load(self.path / LABELS, mmap_mode="r")

    def codes(self) -> np.ndarray:
        """Every row's split code, in memory."""
        return np.load(self.path / CODES)

    def meta(self) -> dict:
        """What ``meta.json`` records: rows per split and class, the feature names."""
        return json.loads((self.path / META).read_text())
