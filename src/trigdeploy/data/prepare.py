"""From a run config to model-ready data: label, leak-guarded features, splits, scaling, cache.

``prepare(cfg, run_dir)`` is the data stage every model trains from:

1. resolve the label (a column, a one-hot pair, a safe cut expression, or auto-detection that
   never takes a split tag) and the features; the leak guard drops (and reports) label-revealing
   columns by name;
2. assign every row to train / val / test: random rows spread over all files (seeded), a split
   column such as ``ttv``, or separate files;
3. read a sample spread over the files (``SAMPLE_WINDOWS`` windows) to run the leak guard's
   data check and fit the scaler on its training rows;
4. stream every row once, computing the selection, labels and features, applying the NaN policy,
   into a memory-mapped cache keyed by the files, the data/label/feature/split config and the
   code's cache version: chunks in this process (reading ahead on a thread), in ``data.workers``
   local processes or on a ``data.dask`` cluster, the same cache whichever (``runner``, ``cache``);
   a killed run resumes from the chunks it had written.

It writes ``features.json`` (features, what was dropped and why, the per-feature AUCs, whether
the label is a function of the inputs), ``splits.npz`` (val/test row indices), ``preprocess.json``
and ``cache/``; ``Prepared.batches`` then yields scaled arrays of one split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np

from trigdeploy.config import RunConfig
from trigdeploy.data import leakguard
from trigdeploy.data.cache import (
    Prepared,
    build_cache,
    cache_key,
)
from trigdeploy.data.chunks import ChunkComputer
from trigdeploy.data.dataset import Dataset
from trigdeploy.data.featurecache import FeatureCache
from trigdeploy.data.features import FeatureBuilder
from trigdeploy.data.labels import LabelSpec, resolve_label
from trigdeploy.data.runner import ChunkRunner
from trigdeploy.data.scaling import Standardizer
from trigdeploy.data.splits import SPLITS, assign_splits, sample_rows, split_seed
from trigdeploy.errors import TrigdeployError
from trigdeploy.expr import Expr, derived_order
from trigdeploy.io import atomic_path, sha256_file, write_json_atomic
from trigdeploy.layout import RunLayout
from trigdeploy.schema import to_dict

logger = logging.getLogger(__name__)


def column_reason(c: str, guard, label: LabelSpec, dataset: Dataset) -> str | None:
    """Why the file's column ``c``, named as a feature, may not be one: it defines the label, the leak guard
    refuses its name, or it is not numeric (None: it may)."""
    defines = c in label.inputs
    if defines and not guard.keep_label_inputs:
        return "defines the label"
    if guard.enabled:
        r = leakguard.name_reason(c, guard.extra_patterns)
        if r and not (defines and guard.keep_label_inputs):
            return r
    if np.dtype(dataset.dtype(c)).kind not in "biuf":
        return f"non-numeric ({dataset.dtype(c)})"
    return None


def override_hint(reason: str) -> str:
    """What a refused column's line adds: how to override the leak guard (nothing for a non-numeric column)."""
    return "; set leak_guard.enabled: false to override" if "non-numeric" not in reason else ""


def select_columns(
    cfg: RunConfig, dataset: Dataset, label: LabelSpec, derived: dict[str, Expr], where: str
) -> tuple[list[str], dict[str, str]]:
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
        if c in derived and not (c in label.inputs and not guard.keep_label_inputs):
            inner = [r for n in derived[c].names if (r := reason(n))]
            return f"derived from a dropped column ({inner[0]})" if inner else None
        return column_reason(c, guard, label, dataset)

    kept = []
    for c in candidates:
        if c in cfg.features.exclude:
            dropped[c] = "features.exclude"
            continue
        r = reason(c)
        if r is None:
            kept.append(c)
        elif explicit:
            raise TrigdeployError(f"{where}: feature column '{c}' cannot be used: {r}{override_hint(r)}")
        else:
            dropped[c] = r
    if not kept:
        raise TrigdeployError(f"{where}: no feature columns left after the leak guard (dropped: {dropped})")
    return kept, dropped


def _warn(message: str) -> None:
    logger.warning(message)


def input_files(cfg: RunConfig) -> list[str]:
    """Every file the data stage reads: ``data.files``, then the split files of ``split.mode: files``.
    A file given twice (the same path, two paths to one file, or a copy) is refused: its rows would
    land in training and test alike."""
    files = [*cfg.data.files, *(cfg.split.val_files + cfg.split.test_files if cfg.split.mode == "files" else ())]
    by_inode: dict[tuple[int, int], str] = {}
    by_sample: dict[tuple[int, str], str] = {}  # (size, sampled digest): a copy's candidates
    for f in files:
        try:
            st = Path(f).stat()
        except OSError:
            continue  # the reader names a missing file
        if not stat.S_ISREG(st.st_mode):
            continue  # nor is a folder a file: the reader says so
        first, what = by_inode.get((st.st_dev, st.st_ino)), "the same file as"
        if first is None:
            sample = (st.st_size, _sampled_digest(Path(f), st.st_size))
            first, what = by_sample.get(sample), "a copy of"
            if first is not None and sha256_file(Path(f)) != sha256_file(Path(first)):
                first = None  # equal samples, other bytes: two files
            by_sample.setdefault(sample, f)
        if first is not None:
            raise TrigdeployError(
                f"{cfg.source}: input file {f} is {what} {first}; its rows would be in "
                "more than one split: give each file once"
            )
        by_inode[(st.st_dev, st.st_ino)] = f
    return files


def _sampled_digest(path: Path, size: int, blocks: int = 16, block: int = 1 << 16) -> str:
    """SHA-256 of ``blocks`` blocks spread over the file: equal only for copies (confirmed by ``sha256_file``)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for offset in sorted({int(i * max(size - block, 0) / max(blocks - 1, 1)) for i in range(blocks)}):
            h.update(os.pread(f.fileno(), block, offset))
    return h.hexdigest()


def prepare(cfg: RunConfig, run_dir: Path, progress: bool = True) -> Prepared:
    """Run the data stage for ``cfg`` into ``run_dir`` (see the module docstring)."""
    run_dir = Path(run_dir)
    files = input_files(cfg)
    with Dataset(cfg.data, files) as ds, contextlib.ExitStack() as stack:
        where = ds.files[0] if len(ds.files) == 1 else f"{ds.files[0]} (+{len(ds.files) - 1} files)"
        label = resolve_label(cfg, ds.columns, where)
        derived = dict(derived_order(cfg.data.derived))  # each after the derived columns it reads
        selection = Expr(cfg.data.selection, "data.selection") if cfg.data.selection else None
        builder, dropped = _features(cfg, ds, label, derived, where)
        reads = _reads(builder, label, derived, selection, ds, where)
        function_of_inputs = _label_inputs(label, builder)

        computer = _computer(cfg, ds, reads, builder, label, derived, selection, where)
        key = cache_key(cfg, ds.files)
        cache_dir = RunLayout.of(run_dir).feature_cache(key)
        cache_built = not FeatureCache(cache_dir).complete
        # the first pass's workers start now and load their kernels while this process samples
        runner = stack.enter_context(
            ChunkRunner(cfg.data if cache_built else replace(cfg.data, workers=1, dask=None), len(ds.ranges()))
        )
        codes = assign_splits(cfg, ds, len(cfg.data.files))
        aucs, scaler = _guard_and_scale(cfg, ds, computer, codes, (label, builder, function_of_inputs), where)

        counts, build = build_cache(ds, cache_dir, computer, codes, runner, progress)

    _check_counts(counts, label, where)
    report = {
        "files": ds.files,
        "label": {
            "kind": label.kind,
            "inputs": list(label.inputs),
            **(
                {"classes": list(label.classes)}
                if label.n_classes > 2
                else {"background": label.classes[0], "signal": label.classes[1]}
            ),
        },
        "feature_kind": cfg.features.kind,
        "features": builder.names,
        "inputs": builder.inputs if cfg.features.kind == "columns" else f"{len(builder.inputs)} constituent columns",
        "dropped": dropped,
        "leak_guard": {
            "enabled": cfg.leak_guard.enabled,
            "auc_threshold": cfg.leak_guard.auc_threshold,
            "single_feature_auc": aucs,
        },
        "label_is_function_of_inputs": bool(function_of_inputs),
        "label_function_of": function_of_inputs,
        "class_counts": {k: dict(zip(label.classes, counts[k])) for k in SPLITS},
        "rows": {"total": int(len(codes)), "unused": counts["unused"]},
        "nan": counts["nan"],
        "cache": str(cache_dir),
    }
    codes = FeatureCache(cache_dir).codes()
    _write(cfg, RunLayout.of(run_dir), report, codes, scaler)
    return Prepared(run_dir, builder.names, scaler, len(codes), codes, cache_dir, report, cache_built, build)


def _label_inputs(label, builder: FeatureBuilder) -> list[str]:
    """The input features the label is computed from (kept only with ``leak_guard.keep_label_inputs``), said once."""
    function_of_inputs = sorted(set(label.inputs) & set(builder.inputs))
    if function_of_inputs:
        _warn(
            f"the label is a function of the input features ({', '.join(function_of_inputs)}): "
            "any classifier can reproduce the cut, so its scores say nothing about physics "
            "(leak_guard.keep_label_inputs is set)"
        )
    return function_of_inputs


def _guard_and_scale(cfg: RunConfig, ds, computer, codes: np.ndarray, what: tuple, where: str):
    """On a row sample: the leak guard's single-feature AUCs, then the scaler fitted on the sample's training
    rows only (and the imputation it implies set on ``computer``): (aucs, scaler)."""
    label, builder, function_of_inputs = what
    sx, sy, srows = _sample(cfg, ds, computer, where)
    aucs = leakguard.check_separation(
        sx, builder.names, sy, cfg.leak_guard, f"{len(sx)}-row sample", tuple(function_of_inputs), label.classes
    )
    train_sample = codes[srows] == SPLITS["train"]
    if not train_sample.any():
        raise TrigdeployError(f"{where}: the scaling sample holds no training rows")
    # L1 words are the port's integers: never scaled (the model computes its features from them)
    scaling = dataclasses.replace(cfg.scaling, kind="none", clip=None) if builder.words else cfg.scaling
    scaler = Standardizer.fit(sx[train_sample], builder.names, scaling, builder.set_width, len(builder.jet_logs))
    computer.impute = np.asarray(scaler.mean, np.float64) if cfg.data.nan_policy == "impute" else None
    return aucs, scaler


def _features(cfg: RunConfig, ds, label, derived: dict, where: str) -> tuple[FeatureBuilder, dict[str, str]]:
    """The feature builder of ``features.kind`` and the columns it leaves out, each with why."""
    dropped: dict[str, str] = {}
    if cfg.features.kind == "columns":
        columns, dropped = select_columns(cfg, ds, label, derived, where)
        return FeatureBuilder(cfg.features, columns), dropped
    builder = FeatureBuilder(cfg.features, ds.columns, ds.particle_columns, _collection(cfg, where))
    _guard_jet_columns(cfg, ds, builder, label, where)
    missing = [c for c in builder.inputs if c not in ds.columns and c not in ds.particle_columns]
    if missing:
        raise TrigdeployError(
            f"{where}: features.kind {cfg.features.kind} needs the Top Quark Tagging constituent columns"
            f"{' (or a particle dataset beside the table)' if cfg.features.kind == 'constituents' else ''}; "
            f"missing: {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}"
        )
    for c in ds.columns:
        if c not in builder.inputs:
            dropped[c] = leakguard.name_reason(c) or (
                "defines the label" if c in label.inputs else "not an input of " + cfg.features.kind
            )
    return builder, dropped


def _guard_jet_columns(cfg: RunConfig, ds, builder: FeatureBuilder, label, where: str) -> None:
    """The jet columns a set reads beside it (``features.jet_features``) are refused as named columns are
    (``column_reason``), each in one line."""
    for c in builder.inputs[len(builder.inputs) - len(builder.jet_logs) :]:
        if reason := column_reason(c, cfg.leak_guard, label, ds):
            raise TrigdeployError(
                f"{where}: features.jet_features: column '{c}' cannot be used: {reason}{override_hint(reason)}"
            )


def _collection(cfg: RunConfig, where: str) -> tuple | None:
    """``features.collection``'s entry of ``data.collections``: (name, branches, particles kept, count column)."""
    name = cfg.features.collection
    if name is None:
        return None
    c = cfg.data.collections.get(name)
    if c is None:
        have = ", ".join(cfg.data.collections) or "none"
        raise TrigdeployError(f"{where}: features.collection {name!r} is not a data.collections entry (have: {have})")
    return name, c.branches, c.n, c.counter or f"n_{name}"


def _computer(
    cfg: RunConfig, ds, reads: list[str], builder: FeatureBuilder, label, derived: dict, selection, where: str
) -> ChunkComputer:
    """What every chunk computes: the columns it reads (a matrix input only where something else needs it
    as a column), derived columns, selection, features and label."""
    matrix = builder.matrix_inputs
    others = (
        set(label.inputs) | {n for e in derived.values() for n in e.names} | set(selection.names if selection else ())
    )
    return ChunkComputer(
        data=cfg.data,
        files=[str(Path(f).resolve()) for f in ds.files],
        reads=[c for c in reads if c not in matrix or c in others],
        matrix=matrix,
        derived=derived,
        selection=selection,
        builder=builder,
        label=label,
        where=where,
    )


def _reads(builder: FeatureBuilder, label, derived: dict, selection, ds, where: str) -> list[str]:
    """Every file column the pass reads (features, label, what derived columns and the selection use), each once."""
    reads = list(
        dict.fromkeys(
            [c for c in [*builder.inputs, *label.inputs] if c not in derived]
            + [n for e in derived.values() for n in e.names]
            + (list(selection.names) if selection else [])
        )
    )
    unknown = [c for c in reads if c not in ds.columns and c not in ds.particle_columns]
    if unknown:
        raise TrigdeployError(f"{where}: column(s) not found: {', '.join(unknown)}")
    return reads


def _sample(cfg: RunConfig, ds, computer: ChunkComputer, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows spread over the files (features, labels, row numbers) that pass the selection: the leak guard's
    data check and the scaler's fit; non-finite features stop here under ``nan_policy: error``."""
    sx, sy, srows = [], [], []
    for a, b in sample_rows(ds.n_rows, cfg.scaling.sample_rows):
        for s, e in ds.ranges(None, a, b):
            chunk = computer.read(ds, s, e)
            x, y, keep = computer(chunk)
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
            f"{where}: feature '{computer.builder.names[j]}' has NaN/inf values ({int(nonfinite[:, j].sum())} in "
            f"{len(sx)} sampled rows); set data.nan_policy to drop or impute"
        )
    return sx, sy, srows


def _check_counts(counts: dict, label, where: str) -> None:
    """Every split holds rows of every class (one line naming the split and the counts otherwise)."""
    for split in SPLITS:
        n = counts[split]
        if sum(n) == 0:
            raise TrigdeployError(f"{where}: the {split} split is empty")
        if label.n_classes == 2 and min(n) == 0:
            raise TrigdeployError(
                f"{where}: the {split} split holds a single class ({n[0]} background ({label.classes[0]}), "
                f"{n[1]} signal ({label.classes[1]}))"
            )
        missing = [c for c, k in zip(label.classes, n) if k == 0]
        if missing:
            raise TrigdeployError(
                f"{where}: the {split} split holds no rows of class {', '.join(missing)} "
                f"({', '.join(f'{c}: {k}' for c, k in zip(label.classes, n))})"
            )


def _write(cfg: RunConfig, layout: RunLayout, report: dict, codes: np.ndarray, scaler: Standardizer) -> None:
    """``features.json``, ``splits.npz`` (validation and test rows) and ``preprocess.json`` of the run."""
    write_json_atomic(layout.features, report)
    with atomic_path(layout.splits) as tmp:
        np.savez(
            tmp,
            val=np.flatnonzero(codes == 1),
            test=np.flatnonzero(codes == 2),
            n_rows=len(codes),
            seed=split_seed(cfg),
            mode=cfg.split.mode,
        )
    scaler.save(
        layout.preprocess,
        extra={
            "feature_kind": cfg.features.kind,
            "features_config": to_dict(cfg.features),
            "derived": dict(cfg.data.derived),
        },
    )
