"""Splits of the data stage: every row to train / val / test (random rows spread over the files,
a split column, or separate files), and the sample windows spread over the files."""

from __future__ import annotations

import numpy as np

from trigdeploy.config import RunConfig
from trigdeploy.data.dataset import Dataset
from trigdeploy.errors import TrigdeployError

SAMPLE_WINDOWS = 16
SPLITS = {"train": 0, "val": 1, "test": 2}
UNUSED = 255


def split_seed(cfg: RunConfig) -> int:
    """The seed of the split: ``split.seed`` if set, else the run's seed."""
    return cfg.split.seed if cfg.split.seed is not None else cfg.seed


def assign_splits(cfg: RunConfig, dataset: Dataset, n_train_files: int) -> np.ndarray:
    """Split code per global row: 0 train, 1 val, 2 test, 255 unused."""
    sp = cfg.split
    n = dataset.n_rows
    if sp.mode == "random":
        if sp.val_fraction < 0 or sp.test_fraction < 0 or sp.val_fraction + sp.test_fraction >= 1:
            raise TrigdeployError(
                f"{cfg.source}: split.val_fraction + split.test_fraction must be in [0, 1), "
                f"got {sp.val_fraction} + {sp.test_fraction}"
            )
        codes = np.zeros(n, np.uint8)
        perm = np.random.default_rng(split_seed(cfg)).permutation(n)
        n_test, n_val = round(n * sp.test_fraction), round(n * sp.val_fraction)
        codes[perm[:n_test]] = SPLITS["test"]
        codes[perm[n_test : n_test + n_val]] = SPLITS["val"]
        return codes
    if sp.mode == "files":
        if not sp.val_files or not sp.test_files:
            raise TrigdeployError(f"{cfg.source}: split.mode 'files' needs split.val_files and split.test_files")
        per_file = [0] * n_train_files + [1] * len(sp.val_files) + [2] * len(sp.test_files)
        return np.repeat(np.array(per_file, np.uint8), np.diff(dataset.offsets))
    if sp.column not in dataset.columns:
        raise TrigdeployError(f"{dataset.files[0]}: split column '{sp.column}' not found (split.mode: column)")
    codes = np.full(n, UNUSED, np.uint8)
    for chunk in dataset.chunks([sp.column]):
        values = chunk.columns[sp.column]
        for name, vals in (("train", sp.train_values), ("val", sp.val_values), ("test", sp.test_values)):
            codes[chunk.start : chunk.stop][np.isin(values, vals)] = SPLITS[name]
    return codes


def sample_rows(n_rows: int, sample: int, windows: int = SAMPLE_WINDOWS) -> list[tuple[int, int]]:
    """``windows`` contiguous row ranges spread evenly over ``[0, n_rows)``, ~``sample`` rows in all."""
    if sample >= n_rows:
        return [(0, n_rows)]
    size = max(1, sample // windows)
    starts = np.linspace(0, n_rows - size, windows).astype(np.int64)
    out: list[tuple[int, int]] = []
    for s in starts:
        if out and s < out[-1][1]:
            s = out[-1][1]
        if s < n_rows:
            out.append((int(s), int(min(s + size, n_rows))))
    return out
