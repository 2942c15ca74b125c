"""XGBoost ensembles as conifer's tree dictionary, exactly: float32 thresholds and leaves, the
fixed-point twin (thresholds rounded up onto the input grid, leaves to nearest) and its bit-exact
emulation. The projects written from them are ``to_conifer``'s.

Why not ``conifer.converters.xgboost``: it parses thresholds from XGBoost's 9-digit text dump
as float64, while XGBoost compares float32 inputs with float32 split values (``x < t``), so an
input lying exactly on a split (common: split points are data values) takes the other branch.
Here the dictionary is built from the booster's JSON with thresholds and leaves as float32
values and the base margin computed in float32 (``-log(1/p - 1)``), as XGBoost does; node ids
are XGBoost's own, so leaves compare directly with ``predict(pred_leaf=True)``.

Fixed point (``Precision`` = one ``ap_fixed<W,I>`` type for inputs, thresholds and scores):
inputs are quantized before the port (floor onto the grid, saturate: what ``ap_fixed``'s default
truncation does, without its wrap-around), thresholds are rounded *up* onto the same grid (for an
on-grid input, ``x < t`` ⇔ ``x < ceil(t)``: the firmware takes the branch XGBoost takes on the
same quantized input), leaves and the base margin are rounded to nearest. Sums of on-grid values
are exact, so the score differs from XGBoost on the quantized input by at most
(n_trees + 1) × LSB/2 (proved, and checked on every test event).
"""

from __future__ import annotations

import json

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType


def ensemble_from_booster(booster) -> dict:
    """conifer's ensemble dictionary of a binary-logistic XGBoost booster, float32-exact."""
    model = json.loads(booster.save_raw(raw_format="json"))
    learner = model["learner"]
    objective = learner["objective"]["name"]
    if objective not in ("binary:logistic", "reg:logistic"):
        raise TrigdeployError(f"conifer export: XGBoost objective {objective!r} not supported (binary:logistic only)")
    n_features = int(learner["learner_model_param"]["num_feature"])
    p = np.float32(float(learner["learner_model_param"]["base_score"].strip("[]").split(",")[0]))
    base = np.float32(-np.log(np.float32(1.0) / p - np.float32(1.0)))
    trees = []
    for t in learner["gradient_booster"]["model"]["trees"]:
        if t.get("categories_nodes"):
            raise TrigdeployError(f"conifer export: tree {t['id']} has categorical splits, which conifer cannot represent")
        left, right = list(map(int, t["left_children"])), list(map(int, t["right_children"]))
        cond = [float(np.float32(c)) for c in t["split_conditions"]]
        feature = [-2 if left[i] == -1 else int(t["split_indices"][i]) for i in range(len(left))]
        trees.append([{
            "feature": feature,
            "threshold": [cond[i] if feature[i] >= 0 else -2.0 for i in range(len(left))],
            "value": [cond[i] if feature[i] < 0 else 0.0 for i in range(len(left))],
            "children_left": left,
            "children_right": right,
            "weight": [[int(j == f) for j in range(n_features)] for f in feature],
        }])
    depth = max(_depth(tree[0]) for tree in trees)
    return {"max_depth": depth, "n_trees": len(trees), "n_classes": 2, "n_features": n_features, "trees": trees,
            "init_predict": [float(base)], "norm": 1, "library": "xgboost", "splitting_convention": "<",
            "feature_map": {f"f{i}": i for i in range(n_features)}}


def _depth(tree: dict) -> int:
    depth, frontier = 0, [0]
    while True:
        frontier = [c for n in frontier for c in (tree["children_left"][n], tree["children_right"][n]) if c != -1]
        if not frontier:
            return depth
        depth += 1


def leaves(ens: dict, x: np.ndarray) -> np.ndarray:
    """Leaf node id reached in every tree by every row of ``x`` (float64 ``x < threshold``): (n, n_trees)."""
    x = np.asarray(x, np.float64)
    rows = np.arange(len(x))
    out = np.empty((len(x), ens["n_trees"]), np.int64)
    for k, (tree,) in enumerate(ens["trees"]):
        feat = np.asarray(tree["feature"])
        thr = np.asarray(tree["threshold"], np.float64)
        left, right = np.asarray(tree["children_left"]), np.asarray(tree["children_right"])
        node = np.zeros(len(x), np.int64)
        for _ in range(ens["max_depth"]):
            f = feat[node]
            inner = f >= 0
            go_left = x[rows, np.where(inner, f, 0)] < thr[node]
            node = np.where(inner, np.where(go_left, left[node], right[node]), node)
        out[:, k] = node
    return out


def score(ens: dict, lv: np.ndarray) -> np.ndarray:
    """Margin for the leaf matrix ``lv`` (from ``leaves``): an exact float64 sum of the float32 leaves and
    base margin (the fixed-point bound's reference)."""
    values = np.stack([np.asarray(t[0]["value"], np.float64)[lv[:, k]] for k, t in enumerate(ens["trees"])], axis=1)
    return ens["init_predict"][0] + values.sum(axis=1)


def quantize_ensemble(ens: dict, fmt: FixedType) -> tuple[dict, dict]:
    """The fixed-point twin of ``ens``: thresholds ceiled onto ``fmt``'s grid, leaves/base rounded to nearest."""
    q = json.loads(json.dumps(ens))
    info = {"thresholds_saturated": 0, "leaves_saturated": 0}
    for (tree,) in q["trees"]:
        feat = np.asarray(tree["feature"])
        thr = np.asarray(tree["threshold"], np.float64)
        code = fmt.to_int(thr, "ceil")
        raw = np.ceil(thr * 2.0 ** fmt.frac)
        info["thresholds_saturated"] += int(((raw != code) & (feat >= 0)).sum())
        tree["threshold"] = [float(v) if f >= 0 else -2.0 for v, f in zip(fmt.to_float(code), feat)]
        val = np.asarray(tree["value"], np.float64)
        vcode = fmt.to_int(val, "nearest")
        info["leaves_saturated"] += int(((np.rint(val * 2.0 ** fmt.frac) != vcode) & (feat < 0)).sum())
        tree["value"] = [float(v) if f < 0 else 0.0 for v, f in zip(fmt.to_float(vcode), feat)]
    q["init_predict"] = [float(fmt.to_float(fmt.to_int(ens["init_predict"][0], "nearest")))]
    return q, info


def emulate_fixed(ens_q: dict, lv: np.ndarray, fmt: FixedType) -> tuple[np.ndarray, int]:
    """Bit-exact model of the fixed-point firmware, given its leaf matrix ``leaves(ens_q, x_q)`` on on-grid
    inputs: (scores, events whose sum wraps)."""
    codes = np.stack([fmt.to_int(np.asarray(t[0]["value"]), "nearest")[lv[:, k]]
                      for k, t in enumerate(ens_q["trees"])], axis=1)
    total = codes.sum(axis=1) + int(fmt.to_int(ens_q["init_predict"][0], "nearest"))
    wrapped = (total < fmt.int_min) | (total > fmt.int_max)
    span = 2 ** fmt.width
    total = (total - fmt.int_min) % span + fmt.int_min  # ap_fixed's default overflow mode wraps
    return fmt.to_float(total), int(wrapped.sum())


def xgb_margin(booster, x: np.ndarray) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(np.asarray(x, np.float32)), output_margin=True).astype(np.float64)


def xgb_leaves(booster, x: np.ndarray) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(np.asarray(x, np.float32)), pred_leaf=True).astype(np.int64)
