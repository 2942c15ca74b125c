"""XGBoost BDT and scikit-learn RandomForest on the run's cached, scaled features.

Trees train in memory on the training split, or on a seeded sample of ``max_train_rows``
rows spread over it when the split is larger (the documented way to train on data larger than
memory). SMOTE, when enabled, oversamples the training rows only: validation and test rows are
never seen by it.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from trigdeploy.config import BDTConfig, RFConfig
from trigdeploy.data.cache import Prepared
from trigdeploy.data.featurecache import FeatureCache
from trigdeploy.errors import TrigdeployError
from trigdeploy.train.metrics import balance_weight, class_weights


def on_grid(x: np.ndarray, frac: int | None) -> np.ndarray:
    """``x`` floored onto the grid of ``frac`` fractional bits (``train.bdt.input_frac``; None: unchanged).
    float32 holds every such value of scaled features exactly (|x| < 2^(24 - frac))."""
    if frac is None:
        return x
    return (np.floor(np.asarray(x, np.float64) * 2.0**frac) / 2.0**frac).astype(np.float32)


def training_arrays(prepared: Prepared, max_rows: int, smote: bool, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Scaled training rows (sampled to ``max_rows`` if needed, SMOTE-augmented if asked)."""
    x, y = prepared.arrays("train")
    info = {"train_rows": int(len(y)), "sampled": False, "smote_added": 0}
    if len(y) > max_rows:
        keep = np.sort(np.random.default_rng([seed, 1]).choice(len(y), max_rows, replace=False))
        x, y = x[keep], y[keep]
        info.update(sampled=True, train_rows=int(len(y)))
    if smote:
        from imblearn.over_sampling import SMOTE

        n = len(y)
        x, y = SMOTE(random_state=seed).fit_resample(x, y)
        info["smote_added"] = int(len(y) - n)
    return x.astype(np.float32), y.astype(np.uint8), info


def _xgb_params(cfg: BDTConfig, seed: int, labels: np.ndarray, k: int) -> tuple[dict, np.ndarray | None, dict]:
    """XGBoost's settings for ``k`` classes and the training ``labels``: (classifier keyword arguments,
    per-class row weights or None, what the training info records). K classes: softmax, one tree per
    class and round, rows weighted n / (K · n_c); two: logistic with ``scale_pos_weight``."""
    common = dict(
        n_estimators=cfg.n_estimators,
        max_depth=cfg.max_depth,
        learning_rate=cfg.learning_rate,
        tree_method="hist",
        early_stopping_rounds=cfg.early_stopping_rounds,
        random_state=seed,
    )
    grid = {} if cfg.input_frac is None else {"input_grid": 2.0**-cfg.input_frac}  # rows floored onto it
    if k > 2:
        weights = class_weights(labels, k)
        return (
            {**common, "objective": "multi:softprob", "num_class": k, "eval_metric": "mlogloss"},
            weights,
            {"class_weights": weights.tolist(), **grid},
        )
    spw = balance_weight(cfg.scale_pos_weight, len(labels), int(np.sum(labels)))
    return {**common, "scale_pos_weight": spw, "eval_metric": "auc"}, None, {"scale_pos_weight": float(spw), **grid}


def _n_trees(model, k: int) -> int:
    """Trees up to the best iteration: one per round, or one per class and round."""
    return (int(model.best_iteration) + 1) * (k if k > 2 else 1)


def fit_bdt(prepared: Prepared, cfg: BDTConfig, seed: int, val: tuple[np.ndarray, np.ndarray]):
    """Train an ``xgboost.XGBClassifier`` (early stopping on ``val``); returns (model, info)."""
    import xgboost as xgb

    x, y, info = training_arrays(prepared, cfg.max_train_rows, cfg.smote, seed)
    x, x_val, y_val = on_grid(x, cfg.input_frac), on_grid(val[0], cfg.input_frac), val[1]  # after SMOTE's new rows
    k = len(prepared.classes)
    params, weights, recorded = _xgb_params(cfg, seed, y, k)
    t0 = time.perf_counter()
    model = xgb.XGBClassifier(**params, n_jobs=cfg.threads)
    model.fit(x, y, sample_weight=None if weights is None else weights[y], eval_set=[(x_val, y_val)], verbose=False)
    info.update(
        recorded,
        seconds=time.perf_counter() - t0,
        best_iteration=int(model.best_iteration),
        n_trees=_n_trees(model, k),
        rows_seen=int(len(y)),
    )
    return model, info


def fit_rf(prepared: Prepared, cfg: RFConfig, seed: int, threads: int | None):
    """Train a ``RandomForestClassifier`` with balanced class weights; returns (model, info)."""
    from sklearn.ensemble import RandomForestClassifier

    x, y, info = training_arrays(prepared, cfg.max_train_rows, cfg.smote, seed)
    model = RandomForestClassifier(
        n_estimators=cfg.n_estimators,
        max_depth=cfg.max_depth,
        class_weight="balanced_subsample",
        random_state=seed,
        n_jobs=threads,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(x, y)
    info.update(seconds=time.perf_counter() - t0, rows_seen=int(len(y)))
    return model, info


def _partition(
    cache_dir: str, rows: np.ndarray, scaler_path: str, weights: np.ndarray, input_frac: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One partition of scaled rows read from the feature cache (on the ``input_frac`` grid), their labels and
    their row weights (``weights[label]``) (runs on a Dask worker)."""
    from pathlib import Path

    from trigdeploy.data.featurecache import FeatureCache
    from trigdeploy.data.scaling import Standardizer

    cache = FeatureCache(Path(cache_dir))
    x = cache.features()
    y = np.asarray(cache.labels()[rows], np.uint8)
    return (
        on_grid(Standardizer.load(Path(scaler_path)).transform(np.asarray(x[rows])).astype(np.float32), input_frac),
        y,
        np.asarray(weights, np.float32)[y],
    )


def fit_bdt_dask(prepared: Prepared, cfg: BDTConfig, seed: int, val: tuple[np.ndarray, np.ndarray], scaler_path):
    """``xgboost.dask`` on the cluster of ``cfg.dask`` (a ``LocalCluster`` of ``workers`` processes, or
    the scheduler at ``scheduler``). Workers read their partitions of ``partition_rows`` training rows
    from the feature cache (which must be on storage they can see); returns (booster-backed model, info).
    K classes: ``multi:softprob`` with the row weights n / (K · n_c) of the single-process BDT."""
    if cfg.smote or cfg.max_train_rows < len(prepared.rows("train")):
        raise TrigdeployError(
            "train.bdt.dask: SMOTE and max_train_rows sampling are single-process options; "
            "unset them to train on the whole split with Dask"
        )
    import dask
    import dask.array as da
    import xgboost.dask as xgb_dask

    from trigdeploy.cluster import dask_client

    rows = prepared.rows("train")
    n_feat = len(prepared.features)
    partition_rows = cfg.dask.partition_rows
    x_val, y_val = on_grid(val[0], cfg.input_frac), val[1]
    labels = np.asarray(FeatureCache(prepared.cache_dir).labels()[rows])
    k = len(prepared.classes)
    params, weights, recorded = _xgb_params(cfg, seed, labels, k)  # the same settings as in one process
    row_weights = np.ones(k) if weights is None else weights
    parts = [
        dask.delayed(_partition, nout=3)(
            str(prepared.cache_dir), rows[i : i + partition_rows], str(scaler_path), row_weights, cfg.input_frac
        )
        for i in range(0, len(rows), partition_rows)
    ]
    sizes = [len(rows[i : i + partition_rows]) for i in range(0, len(rows), partition_rows)]
    x = da.concatenate([da.from_delayed(p[0], (n, n_feat), np.float32) for p, n in zip(parts, sizes)])
    y = da.concatenate([da.from_delayed(p[1], (n,), np.uint8) for p, n in zip(parts, sizes)])
    w = da.concatenate([da.from_delayed(p[2], (n,), np.float32) for p, n in zip(parts, sizes)])
    t0 = time.perf_counter()
    with dask_client(cfg.dask, "train.bdt.dask") as client:
        model = xgb_dask.DaskXGBClassifier(**params)
        model.client = client
        xv = da.from_array(np.asarray(x_val, np.float32), chunks=(partition_rows, n_feat))
        yv = da.from_array(np.asarray(y_val, np.uint8), chunks=partition_rows)
        model.fit(x, y, sample_weight=None if weights is None else w, eval_set=[(xv, yv)], verbose=False)
        n_workers = len(client.scheduler_info()["workers"])
    info = {
        "seconds": time.perf_counter() - t0,
        **recorded,
        "best_iteration": int(model.best_iteration),
        "n_trees": _n_trees(model, k),
        "rows_seen": int(len(rows)),
        "train_rows": int(len(rows)),
        "sampled": False,
        "smote_added": 0,
        "dask": {
            "scheduler": cfg.dask.scheduler or "LocalCluster",
            "workers": n_workers,
            "partitions": len(parts),
            "partition_rows": partition_rows,
        },
    }
    return model, info
