"""XGBoost ensembles as conifer's tree dictionary, exactly: float32 thresholds and leaves, the
fixed-point twin (thresholds rounded up onto the input grid, leaves to nearest) and its bit-exact
emulation. The projects written from them are ``to_conifer``'s.

Why not ``conifer.converters.xgboost``: it parses thresholds from XGBoost's 9-digit text dump
as float64, while XGBoost compares float32 inputs with float32 split values (``x < t``), so an
input lying exactly on a split (common: split points are data values) takes the other branch.
Here the dictionary is built from the booster's JSON with thresholds and leaves as float32
values and the base margin computed in float32 (``-log(1/p - 1)``), as XGBoost does; node ids
are XGBoost's own, so leaves compare directly with ``predict(pred_leaf=True)``.

K classes (``multi:softprob``/``multi:softmax``): XGBoost grows one tree per class per round and
each class's margin is its base score (a raw margin, not a probability, for these objectives)
plus its trees' leaves; the dictionary holds them as conifer does, ``trees[round][class]``, and
leaf matrices list the trees in XGBoost's order (round by round, class by class).

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

BINARY_OBJECTIVES = ("binary:logistic", "reg:logistic")
MULTICLASS_OBJECTIVES = ("multi:softprob", "multi:softmax")


def _base_margins(param: dict, objective: str, n_classes: int) -> list[float]:
    """The float32 base margin of every class: logit of a binary base probability; for K classes the
    base scores are margins already (one per class, or one shared)."""
    values = [np.float32(float(v)) for v in param["base_score"].strip("[]").split(",")]
    if objective in BINARY_OBJECTIVES:
        p = values[0]
        return [float(np.float32(-np.log(np.float32(1.0) / p - np.float32(1.0))))]
    if len(values) == 1:
        values = values * n_classes
    if len(values) != n_classes:
        raise TrigdeployError(f"conifer export: XGBoost base_score has {len(values)} values for {n_classes} classes")
    return [float(v) for v in values]


def _tree(t: dict, n_features: int) -> dict:
    if t.get("categories_nodes"):
        raise TrigdeployError(f"conifer export: tree {t['id']} has categorical splits, which conifer cannot represent")
    left, right = list(map(int, t["left_children"])), list(map(int, t["right_children"]))
    cond = [float(np.float32(c)) for c in t["split_conditions"]]
    feature = [-2 if left[i] == -1 else int(t["split_indices"][i]) for i in range(len(left))]
    return {
        "feature": feature,
        "threshold": [cond[i] if feature[i] >= 0 else -2.0 for i in range(len(left))],
        "value": [cond[i] if feature[i] < 0 else 0.0 for i in range(len(left))],
        "children_left": left,
        "children_right": right,
        "weight": [[int(j == f) for j in range(n_features)] for f in feature],
    }


def n_outputs(ens: dict) -> int:
    """Scores per event: 1 for two classes, K for K (the trees of one round)."""
    return len(ens["trees"][0])


def ensemble_from_booster(booster) -> dict:
    """conifer's ensemble dictionary of a binary-logistic or K-class softmax XGBoost booster, float32-exact."""
    model = json.loads(booster.save_raw(raw_format="json"))
    learner = model["learner"]
    objective = learner["objective"]["name"]
    if objective not in BINARY_OBJECTIVES + MULTICLASS_OBJECTIVES:
        raise TrigdeployError(
            f"conifer export: XGBoost objective {objective!r} not supported "
            f"({', '.join(BINARY_OBJECTIVES + MULTICLASS_OBJECTIVES)})"
        )
    param = learner["learner_model_param"]
    n_features = int(param["num_feature"])
    k = int(param.get("num_class", "0")) if objective in MULTICLASS_OBJECTIVES else 1
    base = _base_margins(param, objective, k)
    raw_trees = learner["gradient_booster"]["model"]["trees"]
    tree_class = [int(c) for c in learner["gradient_booster"]["model"]["tree_info"]]
    if len(raw_trees) % k or tree_class != [i % k for i in range(len(raw_trees))]:
        raise TrigdeployError(
            f"conifer export: the booster's {len(raw_trees)} trees are not one per class per round ({k} classes)"
        )
    trees = [[_tree(raw_trees[r * k + c], n_features) for c in range(k)] for r in range(len(raw_trees) // k)]
    depth = max(_depth(t) for group in trees for t in group)
    return {
        "max_depth": depth,
        "n_trees": len(trees),
        "n_classes": 2 if k == 1 else k,
        "n_features": n_features,
        "trees": trees,
        "init_predict": base,
        "norm": 1,
        "library": "xgboost",
        "splitting_convention": "<",
        "feature_map": {f"f{i}": i for i in range(n_features)},
    }


def _all_trees(ens: dict) -> list[dict]:
    """Every tree in XGBoost's order (round by round, class by class): the columns of a leaf matrix."""
    return [t for group in ens["trees"] for t in group]


def _class_of_column(ens: dict) -> np.ndarray:
    return np.tile(np.arange(len(ens["trees"][0])), ens["n_trees"])


def _depth(tree: dict) -> int:
    depth, frontier = 0, [0]
    while True:
        frontier = [c for n in frontier for c in (tree["children_left"][n], tree["children_right"][n]) if c != -1]
        if not frontier:
            return depth
        depth += 1


def leaves(ens: dict, x: np.ndarray) -> np.ndarray:
    """Leaf node id reached in every tree by every row of ``x`` (float64 ``x < threshold``): (n, trees),
    the trees in XGBoost's order (``predict(pred_leaf=True)``'s columns)."""
    x = np.asarray(x, np.float64)
    rows = np.arange(len(x))
    trees = _all_trees(ens)
    out = np.empty((len(x), len(trees)), np.int64)
    for k, tree in enumerate(trees):
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
    """Margins for the leaf matrix ``lv`` (from ``leaves``): exact float64 sums of the float32 leaves and
    base margin (the fixed-point bound's reference); ``(n,)``, or ``(n, K)`` for K classes."""
    values = np.stack([np.asarray(t["value"], np.float64)[lv[:, k]] for k, t in enumerate(_all_trees(ens))], axis=1)
    cls = _class_of_column(ens)
    out = np.stack(
        [ens["init_predict"][c] + values[:, cls == c].sum(axis=1) for c in range(len(ens["init_predict"]))], axis=1
    )
    return out[:, 0] if n_outputs(ens) == 1 else out


def quantize_ensemble(ens: dict, fmt: FixedType) -> tuple[dict, dict]:
    """The fixed-point twin of ``ens``: thresholds ceiled onto ``fmt``'s grid, leaves/base rounded to nearest."""
    q = json.loads(json.dumps(ens))
    info = {"thresholds_saturated": 0, "leaves_saturated": 0}
    for tree in _all_trees(q):
        feat = np.asarray(tree["feature"])
        thr = np.asarray(tree["threshold"], np.float64)
        code = fmt.to_int(thr, "ceil")
        raw = np.ceil(thr * 2.0**fmt.frac)
        info["thresholds_saturated"] += int(((raw != code) & (feat >= 0)).sum())
        tree["threshold"] = [float(v) if f >= 0 else -2.0 for v, f in zip(fmt.to_float(code), feat)]
        val = np.asarray(tree["value"], np.float64)
        vcode = fmt.to_int(val, "nearest")
        info["leaves_saturated"] += int(((np.rint(val * 2.0**fmt.frac) != vcode) & (feat < 0)).sum())
        tree["value"] = [float(v) if f < 0 else 0.0 for v, f in zip(fmt.to_float(vcode), feat)]
    q["init_predict"] = [float(fmt.to_float(fmt.to_int(b, "nearest"))) for b in ens["init_predict"]]
    return q, info


def emulate_fixed(ens_q: dict, lv: np.ndarray, fmt: FixedType) -> tuple[np.ndarray, int]:
    """Bit-exact model of the fixed-point firmware, given its leaf matrix ``leaves(ens_q, x_q)`` on on-grid
    inputs: (scores ``(n,)`` or ``(n, K)``, events whose sum wraps in any class)."""
    codes = np.stack(
        [fmt.to_int(np.asarray(t["value"]), "nearest")[lv[:, k]] for k, t in enumerate(_all_trees(ens_q))], axis=1
    )
    cls = _class_of_column(ens_q)
    total = np.stack(
        [codes[:, cls == c].sum(axis=1) + int(fmt.to_int(b, "nearest")) for c, b in enumerate(ens_q["init_predict"])],
        axis=1,
    )
    wrapped = ((total < fmt.int_min) | (total > fmt.int_max)).any(axis=1)
    span = 2**fmt.width
    total = (total - fmt.int_min) % span + fmt.int_min  # ap_fixed's default overflow mode wraps
    scores = fmt.to_float(total)
    return (scores[:, 0] if n_outputs(ens_q) == 1 else scores), int(wrapped.sum())


def xgb_margin(booster, x: np.ndarray) -> np.ndarray:
    """XGBoost's raw margins (logits) of ``x``, float64."""
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(np.asarray(x, np.float32)), output_margin=True).astype(np.float64)


def xgb_leaves(booster, x: np.ndarray) -> np.ndarray:
    """The leaf XGBoost reaches in every tree for each row of ``x``."""
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(np.asarray(x, np.float32)), pred_leaf=True).astype(np.int64)
