"""The feature cache: one streaming pass writes features, labels and final split codes of every row
to ``<run>/cache/<key>/`` (memory-mapped ``.npy``), keyed by the files and the config that shape
them; ``Prepared`` is what trainers read, ``load_split`` what export, csim and bench read."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from trigdeploy.config import RunConfig, to_dict
from trigdeploy.data.scaling import Standardizer
from trigdeploy.data.splits import SPLITS, UNUSED, split_seed
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import named_os_error, partial_name, remove_stale_partials
from trigdeploy.layout import RunLayout

CACHE_VERSION = 1
CACHE_MARKER = ".trigdeploy-cache"  # in every cache folder trigdeploy writes: only those are ever deleted


@dataclass
class Prepared:
    """The outcome of ``prepare``: what a trainer needs, with the cache it streams from."""

    run_dir: Path
    features: list[str]
    scaler: Standardizer
    n_rows: int
    codes: np.ndarray            # split code per row (UNUSED for rows dropped by selection/NaN)
    cache_dir: Path
    report: dict = field(default_factory=dict)
    cache_built: bool = False   # this call streamed the files (False: the cache was reused)

    def open_cache(self) -> tuple[np.ndarray, np.ndarray]:
        """The cached features and labels of every row, memory-mapped (unscaled)."""
        x = np.lib.format.open_memmap(self.cache_dir / "features.npy", mode="r")
        y = np.load(self.cache_dir / "labels.npy", mmap_mode="r")
        return x, y

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.codes == SPLITS[split])

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """All rows of one split, scaled (fits in memory for the engineered feature sets)."""
        x, y = self.open_cache()
        rows = self.rows(split)
        return self.scaler.transform(np.asarray(x[rows])), np.asarray(y[rows])

    def batches(self, split: str, batch_rows: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(X scaled, y, global rows)`` of one split, in file order, ``batch_rows`` at a time."""
        x, y = self.open_cache()
        rows = self.rows(split)
        for i in range(0, len(rows), batch_rows):
            r = rows[i : i + batch_rows]
            yield self.scaler.transform(np.asarray(x[r])), np.asarray(y[r]), r


def _file_fingerprint(path: str) -> dict:
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_key(cfg: RunConfig, files: list[str]) -> str:
    payload = {
        "version": CACHE_VERSION,
        "files": [_file_fingerprint(f) for f in files],
        "data": {k: v for k, v in to_dict(cfg.data).items() if k not in ("files", "generate", "prefetch")},
        "label": to_dict(cfg.label),
        "features": to_dict(cfg.features),
        "leak_guard": to_dict(cfg.leak_guard),
        "split": to_dict(cfg.split),
        "seed": split_seed(cfg),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_prepared(run_dir: Path) -> Prepared:
    """The data stage's outcome read back from a run directory, writing nothing (``prepare``
    must have run there: it is how the other ranks of a distributed run see rank 0's cache)."""
    run_dir = Path(run_dir)
    try:
        layout = RunLayout.of(run_dir)
        report = json.loads(layout.features.read_text())
        scaler = Standardizer.load(layout.preprocess)
        cache_dir = Path(report["cache"])
        codes = np.load(cache_dir / "codes.npy")
    except (OSError, KeyError, ValueError) as exc:
        raise TrigdeployError(f"{run_dir}: no complete data stage to read ({exc}); run prepare first") from None
    return Prepared(run_dir, list(report["features"]), scaler, len(codes), codes, cache_dir, report, False)


def build_cache(cfg, ds, cache_dir, reads, compute, builder, scaler, codes, where, progress) -> dict:
    """Stream every row once into ``cache_dir`` (features, labels, final split codes)."""
    meta_path = cache_dir / "meta.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())["counts"]
    remove_stale_partials(cache_dir.parent)
    for old in cache_dir.parent.glob("*/" + CACHE_MARKER):  # other keys are stale: files or config changed
        shutil.rmtree(old.parent)  # only what trigdeploy wrote (it carries the marker)
    tmp = partial_name(cache_dir)
    tmp.mkdir(parents=True)
    (tmp / CACHE_MARKER).write_text("feature cache written by trigdeploy prepare; safe to delete\n")
    try:
        x = np.lib.format.open_memmap(tmp / "features.npy", mode="w+", dtype=np.float32,
                                      shape=(ds.n_rows, len(builder.names)))
        y = np.lib.format.open_memmap(tmp / "labels.npy", mode="w+", dtype=np.uint8, shape=(ds.n_rows,))
        for name in ("features.npy", "labels.npy"):  # reserve the blocks: a full disk is an error now, not a
            with open(tmp / name, "r+b") as f:      # SIGBUS when a page of the memory map is written later
                os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        final = codes.copy()
        nan_rows = {"dropped": 0, "imputed_values": 0}
        with tqdm(total=ds.n_rows, unit="row", desc="features", disable=not progress) as bar:
            for chunk in ds.chunks(reads):
                fx, fy, keep = compute(chunk)
                bad = ~np.isfinite(fx)
                if bad.any():
                    if cfg.data.nan_policy == "error":
                        j = int(np.flatnonzero(bad.any(0))[0])
                        r = chunk.start + int(np.flatnonzero(bad[:, j])[0])
                        raise TrigdeployError(
                            f"{where}: feature '{builder.names[j]}' is NaN/inf at row {r}; "
                            "set data.nan_policy to drop or impute"
                        )
                    if cfg.data.nan_policy == "drop":
                        rows_bad = bad.any(1)
                        keep &= ~rows_bad
                        nan_rows["dropped"] += int(rows_bad.sum())
                    else:
                        fx = np.where(bad, scaler.mean[None, :].astype(np.float32), fx)
                        nan_rows["imputed_values"] += int(bad.sum())
                x[chunk.start : chunk.stop] = fx
                y[chunk.start : chunk.stop] = fy
                final[chunk.start : chunk.stop][~keep] = UNUSED
                bar.update(chunk.stop - chunk.start)
        x.flush()
        y.flush()
        counts = {name: [int(((final == code) & (y == c)).sum()) for c in (0, 1)] for name, code in SPLITS.items()}
        del x, y
        np.save(tmp / "codes.npy", final)
        counts["unused"] = int((final == UNUSED).sum())
        counts["nan"] = nan_rows
        (tmp / "meta.json").write_text(json.dumps({"counts": counts, "features": builder.names}))
        tmp.rename(cache_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise named_os_error(exc, cache_dir) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts


def load_split(run_dir: Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """One split of a finished run: scaled features (float32) and labels, from its feature cache."""
    run_dir = Path(run_dir)
    layout = RunLayout.of(run_dir)
    if not layout.metrics.is_file():
        raise TrigdeployError(f"run {run_dir} is incomplete (no metrics.json): run trigdeploy train first")
    splits = np.load(layout.splits)
    caches = [p for p in (run_dir / "cache").iterdir() if (p / "meta.json").is_file()]
    if len(caches) != 1:
        raise TrigdeployError(f"run {run_dir}: expected one feature cache in {run_dir / 'cache'}, found {len(caches)}")
    codes = np.load(caches[0] / "codes.npy")
    if not np.array_equal(np.flatnonzero(codes == 2), splits["test"][codes[splits["test"]] == 2]):
        raise TrigdeployError(f"run {run_dir}: feature cache and splits.npz disagree; train the run again")
    rows = np.flatnonzero(codes == {"train": 0, "val": 1, "test": 2}[split])
    x = np.load(caches[0] / "features.npy", mmap_mode="r")[rows]
    y = np.load(caches[0] / "labels.npy", mmap_mode="r")[rows]
    return Standardizer.load(layout.preprocess).transform(x), np.asarray(y)
