"""From a run config to model-ready data: label, leak-guarded features, splits, scaling, cache.

``prepare(cfg, run_dir)`` is the data stage every model trains from:

1. resolve the label (a column, a one-hot pair, a safe cut expression, or auto-detection that
   never takes a split tag) and the features; the leak guard drops (and reports) label-revealing
   columns by name;
2. assign every row to train / val / test: random rows spread over all files (seeded), a split
   column such as ``ttv``, or separate files;
3. read a sample spread over the files (``SAMPLE_WINDOWS`` windows) to run the leak guard's
   data check and fit the scaler on its training rows;
4. stream every row once (prefetching chunks), computing the selection, labels and features,
   applying the NaN policy, into a memory-mapped cache keyed by the files, the data/label/
   feature/split config and the code's cache version.

It writes ``features.json`` (features, what was dropped and why, the per-feature AUCs, whether
the label is a function of the inputs), ``splits.npz`` (val/test row indices), ``preprocess.json``
and ``cache/``; ``Prepared.batches`` then yields scaled arrays of one split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from trigdeploy.config import RunConfig, to_dict
from trigdeploy.data import leakguard
from trigdeploy.data.dataset import Dataset
from trigdeploy.data.features import FeatureBuilder
from trigdeploy.data.scaling import Standardizer
from trigdeploy.errors import TrigdeployError
from trigdeploy.expr import Expr, derived_order
from trigdeploy.io import atomic_path, named_os_error, partial_name, remove_stale_partials, write_json_atomic

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
CACHE_MARKER = ".trigdeploy-cache"  # in every cache folder trigdeploy writes: only those are ever deleted
SAMPLE_WINDOWS = 16
SPLITS = {"train": 0, "val": 1, "test": 2}
UNUSED = 255


@dataclass(frozen=True)
class LabelSpec:
    """How the label of a chunk is computed, and which columns it reads."""

    kind: str
    inputs: tuple[str, ...]
    expr: Expr | None = None

    def __call__(self, chunk: dict[str, np.ndarray], where: str) -> np.ndarray:
        if self.kind == "cut":
            return self.expr(chunk).astype(np.uint8)
        if self.kind == "onehot":
            a, b = (np.asarray(chunk[c]) for c in self.inputs)
            if not np.all((a + b) == 1):
                raise TrigdeployError(f"{where}: one-hot label columns {list(self.inputs)} do not sum to 1 on every row")
            return (b == 1).astype(np.uint8)
        values = np.asarray(chunk[self.inputs[0]])
        bad = ~np.isin(values, (0, 1))
        if bad.any():
            raise TrigdeployError(
                f"{where}: label column '{self.inputs[0]}' must be 0/1, found {values[bad][0]!r}"
            )
        return values.astype(np.uint8)


def resolve_label(cfg: RunConfig, columns: list[str], where: str) -> LabelSpec:
    lab = cfg.label
    chosen = [k for k, v in (("column", lab.column), ("onehot", lab.onehot), ("cut", lab.cut)) if v]
    if len(chosen) > 1:
        raise TrigdeployError(f"{cfg.source}: label: set one of column, onehot, cut (got {', '.join(chosen)})")
    if lab.cut:
        expr = Expr(lab.cut, "label.cut")
        missing = [n for n in expr.names if n not in columns]
        if missing:
            raise TrigdeployError(f"{where}: label.cut uses column(s) not in the data: {', '.join(missing)}")
        return LabelSpec("cut", expr.names, expr)
    if lab.onehot:
        if len(lab.onehot) != 2:
            raise TrigdeployError(f"{cfg.source}: label.onehot: expected [background_column, signal_column]")
        missing = [c for c in lab.onehot if c not in columns]
        if missing:
            raise TrigdeployError(f"{where}: label column(s) not found: {', '.join(missing)}")
        return LabelSpec("onehot", tuple(lab.onehot))
    if lab.column:
        if lab.column not in columns:
            raise TrigdeployError(f"{where}: label column '{lab.column}' not found")
        if leakguard.name_reason(lab.column) == "split tag":
            raise TrigdeployError(f"{where}: label column '{lab.column}' is a split tag, not a label")
        return LabelSpec("column", (lab.column,))
    for name in leakguard.AUTO_LABELS:
        if name in columns:
            return LabelSpec("column", (name,))
    raise TrigdeployError(
        f"{where}: no label column found (looked for {', '.join(leakguard.AUTO_LABELS)}); "
        "set label.column, label.onehot or label.cut"
    )


def select_columns(cfg: RunConfig, dataset: Dataset, label: LabelSpec, derived: dict[str, Expr],
                   where: str) -> tuple[list[str], dict[str, str]]:
    """Feature columns for ``features.kind = columns`` and the dropped ones with their reason."""
    guard = cfg.leak_guard
    available = [*dataset.columns, *derived]
    explicit = bool(cfg.features.columns)
    candidates = list(cfg.features.columns) if explicit else available
    missing = [c for c in candidates if c not in available]
    if missing:
        raise TrigdeployError(f"{where}: features.columns not found: {', '.join(missing)}")
    dropped: dict[str, str] = {}

    def reason(c: str) -> str | None:
        if c in label.inputs and not guard.keep_label_inputs:
            return "defines the label"
        if c in derived:
            inner = [r for n in derived[c].names if (r := reason(n))]
            return f"derived from a dropped column ({inner[0]})" if inner else None
        if guard.enabled:
            r = leakguard.name_reason(c, guard.extra_patterns)
            if r and not (c in label.inputs and guard.keep_label_inputs):
                return r
        if np.dtype(dataset.dtype(c)).kind not in "biuf":
            return f"non-numeric ({dataset.dtype(c)})"
        return None

    kept = []
    for c in candidates:
        if c in cfg.features.exclude:
            dropped[c] = "features.exclude"
            continue
        r = reason(c)
        if r is None:
            kept.append(c)
        elif explicit:
            raise TrigdeployError(
                f"{where}: feature column '{c}' cannot be used: {r}"
                + ("; set leak_guard.enabled: false to override" if "non-numeric" not in r else "")
            )
        else:
            dropped[c] = r
    if not kept:
        raise TrigdeployError(f"{where}: no feature columns left after the leak guard (dropped: {dropped})")
    return kept, dropped


def split_seed(cfg: RunConfig) -> int:
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


def _cache_key(cfg: RunConfig, files: list[str]) -> str:
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


def _warn(message: str) -> None:
    logger.warning(message)


def input_files(cfg: RunConfig) -> list[str]:
    """Every file the data stage reads: ``data.files``, then the split files of ``split.mode: files``."""
    return [*cfg.data.files, *(cfg.split.val_files + cfg.split.test_files if cfg.split.mode == "files" else ())]


def prepare(cfg: RunConfig, run_dir: Path, progress: bool = True) -> Prepared:
    """Run the data stage for ``cfg`` into ``run_dir`` (see the module docstring)."""
    run_dir = Path(run_dir)
    files = input_files(cfg)
    with Dataset(cfg.data, files) as ds:
        where = ds.files[0] if len(ds.files) == 1 else f"{ds.files[0]} (+{len(ds.files) - 1} files)"
        label = resolve_label(cfg, ds.columns, where)
        derived = dict(derived_order(cfg.data.derived))  # each after the derived columns it reads
        selection = Expr(cfg.data.selection, "data.selection") if cfg.data.selection else None
        dropped: dict[str, str] = {}
        if cfg.features.kind == "columns":
            columns, dropped = select_columns(cfg, ds, label, derived, where)
            builder = FeatureBuilder(cfg.features, columns)
        else:
            builder = FeatureBuilder(cfg.features, ds.columns)
            missing = [c for c in builder.inputs if c not in ds.columns]
            if missing:
                raise TrigdeployError(
                    f"{where}: features.kind {cfg.features.kind} needs the Top Quark Tagging constituent columns; "
                    f"missing: {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}"
                )
            for c in ds.columns:
                if c not in builder.inputs:
                    dropped[c] = leakguard.name_reason(c) or ("defines the label" if c in label.inputs else "not an input of " + cfg.features.kind)
        reads = list(dict.fromkeys(
            [c for c in [*builder.inputs, *label.inputs] if c not in derived]
            + [n for e in derived.values() for n in e.names]
            + (list(selection.names) if selection else [])
        ))
        unknown = [c for c in reads if c not in ds.columns]
        if unknown:
            raise TrigdeployError(f"{where}: column(s) not found: {', '.join(unknown)}")
        function_of_inputs = sorted(set(label.inputs) & set(builder.inputs))
        if function_of_inputs:
            _warn(
                f"the label is a function of the input features ({', '.join(function_of_inputs)}): "
                "any classifier can reproduce the cut, so its scores say nothing about physics "
                "(leak_guard.keep_label_inputs is set)"
            )

        def compute(chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            cols = dict(chunk.columns)
            for k, e in derived.items():
                cols[k] = e(cols)
            chunk_where = f"{where} rows {chunk.start}-{chunk.stop}"
            keep = np.ones(chunk.stop - chunk.start, bool) if selection is None else selection(cols).astype(bool)
            return builder(cols), label(cols, chunk_where), keep

        codes = assign_splits(cfg, ds, len(cfg.data.files))

        # sample spread over the files: leak guard data check and scaler fit
        sx, sy, srows = [], [], []
        for a, b in sample_rows(ds.n_rows, cfg.scaling.sample_rows):
            for s, e in ds.ranges(None, a, b):
                chunk = ds.read(s, e, reads)
                x, y, keep = compute(chunk)
                sx.append(x[keep])
                sy.append(y[keep])
                srows.append(chunk.rows[keep])
        sx, sy, srows = np.concatenate(sx), np.concatenate(sy), np.concatenate(srows)
        if len(sx) == 0:
            raise TrigdeployError(
                f"{where}: no sampled row passes data.selection '{cfg.data.selection}' (the split would be empty)"
            )
        nonfinite = ~np.isfinite(sx)
        if nonfinite.any() and cfg.data.nan_policy == "error":
            j = int(np.flatnonzero(nonfinite.any(0))[0])
            raise TrigdeployError(
                f"{where}: feature '{builder.names[j]}' has NaN/inf values ({int(nonfinite[:, j].sum())} in "
                f"{len(sx)} sampled rows); set data.nan_policy to drop or impute"
            )
        aucs = leakguard.check_separation(sx, builder.names, sy, cfg.leak_guard, f"{len(sx)}-row sample",
                                          tuple(function_of_inputs))
        train_sample = codes[srows] == SPLITS["train"]
        if not train_sample.any():
            raise TrigdeployError(f"{where}: the scaling sample holds no training rows")
        scaler = Standardizer.fit(sx[train_sample], builder.names, cfg.scaling)

        key = _cache_key(cfg, ds.files)
        cache_dir = run_dir / "cache" / key
        cache_built = not (cache_dir / "meta.json").exists()
        counts = _build_cache(cfg, ds, cache_dir, reads, compute, builder, scaler, codes, where, progress)

    for split in SPLITS:
        classes = counts[split]
        if sum(classes) == 0:
            raise TrigdeployError(f"{where}: the {split} split is empty")
        if min(classes) == 0:
            raise TrigdeployError(
                f"{where}: the {split} split holds a single class ({classes[0]} background, {classes[1]} signal)"
            )
    report = {
        "files": ds.files,
        "label": {"kind": label.kind, "inputs": list(label.inputs)},
        "feature_kind": cfg.features.kind,
        "features": builder.names,
        "inputs": builder.inputs if cfg.features.kind == "columns" else f"{len(builder.inputs)} constituent columns",
        "dropped": dropped,
        "leak_guard": {"enabled": cfg.leak_guard.enabled, "auc_threshold": cfg.leak_guard.auc_threshold,
                       "single_feature_auc": aucs},
        "label_is_function_of_inputs": bool(function_of_inputs),
        "label_function_of": function_of_inputs,
        "class_counts": {k: {"background": counts[k][0], "signal": counts[k][1]} for k in SPLITS},
        "rows": {"total": int(len(codes)), "unused": counts["unused"]},
        "nan": counts["nan"],
        "cache": str(cache_dir),
    }
    codes = np.load(cache_dir / "codes.npy")
    write_json_atomic(run_dir / "features.json", report)
    with atomic_path(run_dir / "splits.npz") as tmp:
        np.savez(tmp, val=np.flatnonzero(codes == 1), test=np.flatnonzero(codes == 2), n_rows=len(codes),
                 seed=split_seed(cfg), mode=cfg.split.mode)
    scaler.save(run_dir / "preprocess.json", extra={"feature_kind": cfg.features.kind,
                                                    "features_config": to_dict(cfg.features),
                                                    "derived": dict(cfg.data.derived)})
    return Prepared(run_dir, builder.names, scaler, len(codes), codes, cache_dir, report, cache_built)


def load_prepared(run_dir: Path) -> Prepared:
    """The data stage's outcome read back from a run directory, writing nothing (``prepare``
    must have run there: it is how the other ranks of a distributed run see rank 0's cache)."""
    run_dir = Path(run_dir)
    try:
        report = json.loads((run_dir / "features.json").read_text())
        scaler = Standardizer.load(run_dir / "preprocess.json")
        cache_dir = Path(report["cache"])
        codes = np.load(cache_dir / "codes.npy")
    except (OSError, KeyError, ValueError) as exc:
        raise TrigdeployError(f"{run_dir}: no complete data stage to read ({exc}); run prepare first") from None
    return Prepared(run_dir, list(report["features"]), scaler, len(codes), codes, cache_dir, report, False)


def _build_cache(cfg, ds, cache_dir, reads, compute, builder, scaler, codes, where, progress) -> dict:
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
    if not (run_dir / "metrics.json").is_file():
        raise TrigdeployError(f"run {run_dir} is incomplete (no metrics.json): run trigdeploy train first")
    splits = np.load(run_dir / "splits.npz")
    caches = [p for p in (run_dir / "cache").iterdir() if (p / "meta.json").is_file()]
    if len(caches) != 1:
        raise TrigdeployError(f"run {run_dir}: expected one feature cache in {run_dir / 'cache'}, found {len(caches)}")
    codes = np.load(caches[0] / "codes.npy")
    if not np.array_equal(np.flatnonzero(codes == 2), splits["test"][codes[splits["test"]] == 2]):
        raise TrigdeployError(f"run {run_dir}: feature cache and splits.npz disagree; train the run again")
    rows = np.flatnonzero(codes == {"train": 0, "val": 1, "test": 2}[split])
    x = np.load(caches[0] / "features.npy", mmap_mode="r")[rows]
    y = np.load(caches[0] / "labels.npy", mmap_mode="r")[rows]
    return Standardizer.load(run_dir / "preprocess.json").transform(x), np.asarray(y)
