"""Leak guard: columns that give the label away never become features.

Two layers. By name: truth-level columns, split tags, identifiers and bookkeeping (weights,
scale factors) and every column the label is defined from are dropped, each with its reason.
By data: on a sample, any single feature whose AUC alone is ≥ ``auc_threshold`` (or
≤ 1 − threshold) stops the run, naming the feature.
"""

from __future__ import annotations

import re

import numpy as np

from trigdeploy.config import LeakGuardConfig
from trigdeploy.errors import TrigdeployError

NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"truth", "truth-level column"),
    (r"trueflav|truelabel|^mc_?truth|^gen_", "truth-level column"),
    (r"^ttv$|^split$|^fold$|^is_(train|test|val|valid|validation)$", "split tag"),
    (r"^(run|event|channel|lumi|lb|bcid)_?(number|num|nr|id)?$|^index$|^(event|jet|row)_?id$", "identifier"),
    (r"weight", "weight (bookkeeping)"),
    (r"^scale_?factor|^sf_", "scale factor (bookkeeping)"),
)

AUTO_LABELS = ("is_signal_new", "is_signal", "signal", "label", "target", "class", "y")


def name_reason(column: str, extra_patterns: tuple[str, ...] = ()) -> str | None:
    """Why ``column`` may never be a feature, or ``None``."""
    for pattern, reason in NAME_RULES:
        if re.search(pattern, column, flags=re.IGNORECASE):
            return reason
    for pattern in extra_patterns:
        if re.search(pattern, column, flags=re.IGNORECASE):
            return f"matches leak_guard.extra_patterns '{pattern}'"
    return None


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by the rank-sum statistic, ties averaged; NaN when one class is absent."""
    label = np.asarray(label).astype(bool)
    n1 = int(label.sum())
    n0 = len(label) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s), np.float64)
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[label].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def check_separation(
    features: np.ndarray,
    names: list[str],
    label: np.ndarray,
    cfg: LeakGuardConfig,
    where: str,
    exempt: tuple[str, ...] = (),
    classes: tuple[str, ...] = ("background", "signal"),
) -> dict:
    """Per-feature AUC on a sample; raises if one alone separates the label (a planted leak).

    With more than two ``classes`` each class is checked against the rest (a feature that alone
    identifies one class is a leak too) and the result is ``{feature: {class: AUC}}``.
    ``exempt`` features (besides ``allow_separating``) are measured but never stop the run: the
    label inputs kept on purpose by ``keep_label_inputs``, already reported as a leak.
    """
    multi = len(classes) > 2
    aucs: dict = {}
    for i, name in enumerate(names):
        column = features[:, i]
        finite = np.isfinite(column)
        if multi:
            aucs[name] = {c: auc(column[finite], label[finite] == k) for k, c in enumerate(classes)}
        else:
            aucs[name] = auc(column[finite], label[finite])
    if cfg.enabled:
        t = cfg.auc_threshold
        for name, per in aucs.items():
            if name in cfg.allow_separating or name in exempt:
                continue
            for c, value in per.items() if multi else [(None, per)]:
                if np.isfinite(value) and (value >= t or value <= 1.0 - t):
                    what = f"class '{c}' from the others" if multi else "the label"
                    raise TrigdeployError(
                        f"leak guard: feature '{name}' alone separates {what} (AUC {value:.4f} on the {where}); "
                        f"it is probably the label in disguise. Drop it (features.exclude) or, if it is "
                        f"legitimate, list it in leak_guard.allow_separating"
                    )
    return aucs
