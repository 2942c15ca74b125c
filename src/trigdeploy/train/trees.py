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
from trigdeploy.data.prepare import Prepared


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


def fit_bdt(prepared: Prepared, cfg: BDTConfig, seed: int, val: tuple[np.ndarray, np.ndarray]):
    """Train an ``xgboost.XGBClassifier`` (early stopping on ``val``); returns (model, info)."""
    import xgboost as xgb

    x, y, info = training_arrays(prepared, cfg.max_train_rows, cfg.smote, seed)
    x_val, y_val = val
    n_sig = int(y.sum())
    spw = cfg.scale_pos_weight if cfg.scale_pos_weight is not None else (len(y) - n_sig) / max(n_sig, 1)
    model = xgb.XGBClassifier(
        n_estimators=cfg.n_estimators, max_depth=cfg.max_depth, learning_rate=cfg.learning_rate,
        tree_method="hist", scale_pos_weight=spw, early_stopping_rounds=cfg.early_stopping_rounds,
        eval_metric="auc", random_state=seed, n_jobs=cfg.threads,
    )
    t0 = time.perf_counter()
    model.fit(x, y, eval_set=[(x_val, y_val)], verbose=False)
    info.update(seconds=time.perf_counter() - t0, scale_pos_weight=float(spw), best_iteration=int(model.best_iteration),
                n_trees=int(model.best_iteration) + 1, rows_seen=int(len(y)))
    return model, info


def fit_rf(prepared: Prepared, cfg: RFConfig, seed: int, threads: int | None):
    """Train a ``RandomForestClassifier`` with balanced class weights; returns (model, info)."""
    from sklearn.ensemble import RandomForestClassifier

    x, y, info = training_arrays(prepared, cfg.max_train_rows, cfg.smote, seed)
    model = RandomForestClassifier(n_estimators=cfg.n_estimators, max_depth=cfg.max_depth,
                                   class_weight="balanced_subsample", random_state=seed, n_jobs=threads)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(x, y)
    info.update(seconds=time.perf_counter() - t0, rows_seen=int(len(y)))
    return model, info
