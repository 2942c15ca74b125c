"""Classifier metrics and trigger operating points.

Thresholds are chosen on the validation split and evaluated on the test split:

* ``f1``: the threshold that maximises F1;
* ``youden``: the threshold that maximises Youden's J = TPR − FPR;
* ``eff_S=x``: the threshold that keeps a fraction x of signal (trigger efficiency);
* ``acc_B=x``: the threshold that accepts a fraction x of background (a rate budget).

Background rejection is 1/ε_B at a signal efficiency ε_S, read off the test ROC curve by linear
interpolation (the HEP convention for taggers). It cannot exceed the number of test background
events, and its statistical error is ~1/√(events passing): ``rejection_limit`` records the count.
When no background event passes, 1/ε_B is unbounded on the sample: ``inf`` in memory, ``null`` in the
JSON files (which have no infinity), "> N" (the background count) in the reports.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from trigdeploy.logits import as_logits, probabilities
from trigdeploy.train.intervals import (
    auc_interval,
    background_acceptance_at,
    fraction_interval,
    macro_auc_interval,
    rejection_interval,
)


def auc_any(y: np.ndarray, scores: np.ndarray) -> float:
    """The AUC of binary scores ``(n,)``, or the mean one-vs-rest AUC of class probabilities ``(n, K)``."""
    scores = np.asarray(scores)
    if scores.ndim == 1:
        return roc_auc(y, scores)
    return float(np.mean([roc_auc(np.asarray(y) == c, scores[:, c]) for c in range(scores.shape[1])]))


def logit_auc(y: np.ndarray, logits) -> float:
    """The AUC of one logit per event, or the macro one-vs-rest AUC of the softmax of K logits."""
    z = as_logits(logits)
    return roc_auc(y, z) if z.ndim == 1 else auc_any(y, probabilities(z))


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced class weights n / (K · n_c) (a class absent from ``y`` gets weight 0)."""
    counts = np.bincount(np.asarray(y, np.int64), minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)


def balance_weight(explicit: float | None, n_rows: int, n_signal: int) -> float:
    """Signal-class weight: ``explicit`` if given, else n_background / n_signal (imbalance handling)."""
    return float(explicit) if explicit is not None else (n_rows - n_signal) / max(n_signal, 1)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the binary labels ``y``."""
    return float(roc_auc_score(y, score))


def rejection_at(y: np.ndarray, score: np.ndarray, signal_efficiency: float) -> float:
    """1/ε_B at ``signal_efficiency`` (inf when less than one background event passes: an interpolated ε_B
    inside a group of tied scores can fall below one event, which no threshold passes; reports then say
    "> n_background")."""
    eps_b, n_background = background_acceptance_at(y, score, signal_efficiency)
    return float("inf") if eps_b * n_background < 1 - 1e-9 else 1.0 / eps_b  # 1/n·n may round below 1


def threshold_f1(y: np.ndarray, score: np.ndarray) -> float:
    """Score threshold (predict signal when score ≥ t) that maximises F1."""
    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], y[order].astype(np.int64)
    tp = np.cumsum(t)
    fp = np.cumsum(1 - t)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp, fp = tp[last], fp[last]
    fn = t.sum() - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return float(s[last][np.argmax(f1)])


def threshold_youden(y: np.ndarray, score: np.ndarray) -> float:
    """The threshold that maximises Youden's J = TPR − FPR."""
    fpr, tpr, thr = roc_curve(y, score)
    j = tpr - fpr
    return float(thr[1:][np.argmax(j[1:])])  # thr[0] is +inf (nothing selected)


def threshold_signal_efficiency(y: np.ndarray, score: np.ndarray, efficiency: float) -> float:
    """The largest threshold that keeps at least ``efficiency`` of the signal."""
    sig = np.sort(score[y == 1])[::-1]
    k = max(int(np.ceil(efficiency * len(sig))), 1)
    return float(sig[k - 1])


def threshold_background_acceptance(y: np.ndarray, score: np.ndarray, acceptance: float) -> float:
    """The smallest threshold that accepts at most ``acceptance`` of the background."""
    bkg = np.sort(score[y == 0])[::-1]
    k = int(np.floor(acceptance * len(bkg)))
    if k >= len(bkg):
        return float(bkg[-1])
    return float(np.nextafter(bkg[k], np.inf))


def at_threshold(y: np.ndarray, score: np.ndarray, threshold: float) -> dict:
    """Confusion-matrix metrics when predicting signal for score ≥ threshold."""
    pred = score >= threshold
    y = y.astype(bool)
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())
    tn = int((~pred & ~y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "threshold": float(threshold),
        "accuracy": (tp + tn) / len(y),
        "accuracy_ci": fraction_interval(tp + tn, len(y)),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "signal_efficiency": recall,
        "signal_efficiency_ci": fraction_interval(tp, tp + fn),
        "background_acceptance": fp / (fp + tn) if fp + tn else 0.0,
        "background_acceptance_ci": fraction_interval(fp, fp + tn),
    }


def choose_thresholds(y_val: np.ndarray, s_val: np.ndarray, efficiencies, acceptances) -> dict[str, float]:
    """The operating thresholds chosen on the validation split: F1, Youden, each signal efficiency and background acceptance."""
    out = {"f1": threshold_f1(y_val, s_val), "youden": threshold_youden(y_val, s_val)}
    for e in efficiencies:
        out[f"eff_S={e:g}"] = threshold_signal_efficiency(y_val, s_val, e)
    for a in acceptances:
        out[f"acc_B={a:g}"] = threshold_background_acceptance(y_val, s_val, a)
    return out


def evaluate(y_val, s_val, y_test, s_test, efficiencies=(0.3, 0.5), acceptances=(0.01,)) -> dict:
    """AUC and rejections on test; thresholds from validation, metrics at each on test."""
    thresholds = choose_thresholds(y_val, s_val, efficiencies, acceptances)
    n_bkg = int((y_test == 0).sum())
    effs = tuple(dict.fromkeys((0.3, 0.5, *efficiencies)))
    return {
        "auc": roc_auc(y_test, s_test),
        "auc_ci": list(auc_interval(y_test, s_test)[1:]),
        "auc_val": roc_auc(y_val, s_val),
        "rejection": {f"eff_S={e:g}": rejection_at(y_test, s_test, e) for e in effs},
        "rejection_ci": {f"eff_S={e:g}": rejection_interval(y_test, s_test, e) for e in effs},
        # a rejection above ~n_background/10 rests on fewer than 10 background events
        "rejection_limit": {"n_background_test": n_bkg, "max_measurable": float(n_bkg)},
        "thresholds": {name: at_threshold(y_test, s_test, t) for name, t in thresholds.items()},
        "n_test": int(len(y_test)),
    }


# --- K classes ------------------------------------------------------------------------------------


def confusion_matrix(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(K, K)``: row = true class, column = predicted class."""
    return np.bincount(
        np.asarray(y, np.int64) * n_classes + np.asarray(predicted, np.int64), minlength=n_classes * n_classes
    ).reshape(n_classes, n_classes)


def multiclass_test(y_test, p_test, classes, thresholds: dict[str, dict[str, float]], efficiencies=(0.3, 0.5)) -> dict:
    """Test figures of class probabilities ``(n, K)``. Per class, one against the rest: the AUC of its
    probability, the rejection 1/ε of every other class at each signal efficiency (on the rows of the
    two classes, test ROC), and at each of ``thresholds[class]`` (name → threshold on its probability)
    what it keeps of the class and accepts of every other. Overall: accuracy of the most probable
    class, the confusion matrix, the macro AUC (also as ``auc``, the figure every report reads)."""
    classes = list(classes)
    y_test = np.asarray(y_test)
    per_class = {}
    for c, name in enumerate(classes):
        per_class[name] = _one_class(y_test, p_test[:, c], c, classes, thresholds.get(name, {}), efficiencies)
    predicted = np.argmax(p_test, axis=1)
    macro = float(np.mean([per_class[n]["auc"] for n in classes]))
    macro_ci = macro_auc_interval([(per_class[n]["auc"], *per_class[n]["auc_ci"]) for n in classes])
    n_right = int((predicted == y_test).sum())
    return {
        "classes": classes,
        "auc": macro,
        "auc_ci": list(macro_ci),
        "accuracy": float((predicted == y_test).mean()),
        "accuracy_ci": fraction_interval(n_right, len(y_test)),
        "auc_macro": macro,
        "confusion_matrix": confusion_matrix(y_test, predicted, len(classes)).tolist(),
        "per_class": per_class,
        "n_test": int(len(y_test)),
        "n_test_per_class": {n: int((y_test == c).sum()) for c, n in enumerate(classes)},
    }


def _one_class(y_test, p: np.ndarray, c: int, classes: list, thresholds: dict, efficiencies) -> dict:
    """Class ``c`` (probability ``p``) against the rest and against each other class: its AUC, the rejection
    of every other class at each efficiency, what each threshold keeps and accepts, with their intervals."""
    _, lo, hi = auc_interval(y_test == c, p)  # the AUC itself as every other figure computes it
    entry: dict = {
        "auc": roc_auc(y_test == c, p),
        "auc_ci": [lo, hi],
        "rejection": {},
        "rejection_ci": {},
        "thresholds": {},
    }
    rows = {other: (y_test == c) | (y_test == d) for d, other in enumerate(classes) if d != c}
    for e in efficiencies:
        key = f"eff_S={e:g}"
        entry["rejection"][key] = {other: rejection_at(y_test[r] == c, p[r], e) for other, r in rows.items()}
        entry["rejection_ci"][key] = {other: rejection_interval(y_test[r] == c, p[r], e) for other, r in rows.items()}
    for key, t in thresholds.items():
        passed = p >= t
        n_of = {d: int((y_test == d).sum()) for d in range(len(classes))}
        pass_of = {d: int(passed[y_test == d].sum()) for d in range(len(classes))}
        others = [(d, o) for d, o in enumerate(classes) if d != c]
        entry["thresholds"][key] = {
            "threshold": float(t),
            "signal_efficiency": float(passed[y_test == c].mean()),
            "signal_efficiency_ci": fraction_interval(pass_of[c], n_of[c]),
            "acceptance": {o: float(passed[y_test == d].mean()) for d, o in others},
            "acceptance_ci": {o: fraction_interval(pass_of[d], n_of[d]) for d, o in others},
        }
    return entry


def evaluate_multiclass(y_val, p_val, y_test, p_test, classes, efficiencies=(0.3, 0.5)) -> dict:
    """``multiclass_test`` at the thresholds that keep each signal efficiency of each class on
    validation (``eff_S=x``), plus the validation AUC per class and the validation accuracy."""
    classes = list(classes)
    y_val = np.asarray(y_val)
    effs = tuple(dict.fromkeys((0.3, 0.5, *efficiencies)))
    thresholds = {
        name: {f"eff_S={e:g}": threshold_signal_efficiency(y_val == c, p_val[:, c], e) for e in effs}
        for c, name in enumerate(classes)
    }
    out = multiclass_test(y_test, p_test, classes, thresholds, effs)
    for c, name in enumerate(classes):
        out["per_class"][name]["auc_val"] = roc_auc(y_val == c, p_val[:, c])
    out["accuracy_val"] = float((np.argmax(p_val, axis=1) == y_val).mean())
    return out
