"""Statistical intervals of the figures a trigger is judged by, and whether two forms really differ.

* **AUC**: DeLong's variance of the Mann–Whitney estimate (the fast algorithm of Sun and Xu, 2014:
  mid-ranks, no bootstrap), a Wald interval clipped to [0, 1]. Two score arrays on the same events
  (two forms of one model) are compared by DeLong's paired test: the difference of their AUCs, its
  standard error from the covariance of their structural components, and a two-sided p-value. Scores
  that order every pair of events alike have a zero difference and a zero variance: "identical".
* **Efficiencies, acceptances, accuracy**: Clopper–Pearson (exact binomial) intervals of k passing of n.
* **1/εB at a signal efficiency**: the working point's threshold is held at the one that keeps εS of
  the test signal, and the background events passing it are counted (k = εB · n_B, interpolated
  between ROC points as ``metrics.rejection_at`` interpolates, so k may be fractional: the beta
  quantiles of Clopper–Pearson are defined for it). The interval of 1/εB is [1/hi, 1/lo] of εB's; its
  upper end is unbounded (``inf``; null in JSON) when no background event passes. A working point with
  fewer than ``STAT_LIMIT`` background events passing is **statistics-limited**: its 1/εB is a count of
  a few events, and the reports say so.
* **Macro AUC of K classes**: the mean of the per-class half-widths. The standard deviation of a mean
  is at most the mean of the standard deviations whatever their correlation, so this bound is
  conservative and needs no model of how the one-vs-rest AUCs covary.

Intervals are two-sided at ``LEVEL`` (95 %).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from sklearn.metrics import roc_curve

LEVEL = 0.95
STAT_LIMIT = 10  # background events passing a working point below which its 1/εB is statistics-limited


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def clopper_pearson(k: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact binomial interval of a fraction ``k``/``n`` (``k`` may be fractional: an interpolated
    count); (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    lo, hi = clopper_pearson_band(np.array([k], np.float64), n, level)
    return float(lo[0]), float(hi[0])


def clopper_pearson_band(k: np.ndarray, n: int, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """``clopper_pearson`` of every count in ``k`` at once: (lo, hi) arrays."""
    k = np.clip(np.asarray(k, np.float64), 0.0, float(n))
    alpha = 1.0 - level
    with np.errstate(invalid="ignore"):
        lo = np.where(k <= 0, 0.0, stats.beta.ppf(alpha / 2, np.maximum(k, 1e-12), n - k + 1))
        hi = np.where(k >= n, 1.0, stats.beta.ppf(1 - alpha / 2, k + 1, np.maximum(n - k, 1e-12)))
    return lo, hi


def _components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeLong's structural components of ``scores`` ``(k, n)`` for labels ``y``: AUCs ``(k,)``, V10 ``(k, m)``
    over the positives and V01 ``(k, n_neg)`` over the negatives (Sun and Xu's mid-rank form)."""
    y = np.asarray(y).astype(bool)
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m == 0 or n == 0:
        raise ValueError("an AUC needs events of both classes")
    tx = stats.rankdata(pos, axis=1)
    ty = stats.rankdata(neg, axis=1)
    tz = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return auc, v10, v01


def _covariance(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong's covariance matrix of the AUCs from their structural components."""
    s10 = np.atleast_2d(np.cov(v10)) if v10.shape[1] > 1 else np.zeros((len(v10), len(v10)))
    s01 = np.atleast_2d(np.cov(v01)) if v01.shape[1] > 1 else np.zeros((len(v01), len(v01)))
    return s10 / v10.shape[1] + s01 / v01.shape[1]


def auc_interval(y: np.ndarray, score: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """The AUC of ``score`` for binary ``y``, with DeLong's interval: (auc, lo, hi)."""
    auc, v10, v01 = _components(y, np.asarray(score, np.float64)[None, :])
    half = _z(level) * math.sqrt(max(float(_covariance(v10, v01)[0, 0]), 0.0))
    return float(auc[0]), max(float(auc[0]) - half, 0.0), min(float(auc[0]) + half, 1.0)


def paired_auc_test(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """DeLong's paired test of two score arrays on the same events: ``delta`` (AUC of ``b`` minus ``a``),
    its standard error ``se`` and the two-sided ``p`` (1.0 and ``identical`` when no pair of events is
    ordered differently)."""
    auc, v10, v01 = _components(y, np.vstack([np.asarray(a, np.float64), np.asarray(b, np.float64)]))
    s = _covariance(v10, v01)
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    delta = float(auc[1] - auc[0])
    identical = bool(np.array_equal(v10[0], v10[1]) and np.array_equal(v01[0], v01[1]))
    if identical or var <= 0:
        return {"delta": delta, "se": 0.0, "p": 1.0 if delta == 0 else 0.0, "identical": identical}
    se = math.sqrt(var)
    return {"delta": delta, "se": se, "p": float(2 * stats.norm.sf(abs(delta) / se)), "identical": False}


def background_acceptance_at(y: np.ndarray, score: np.ndarray, signal_efficiency: float) -> tuple[float, int]:
    """εB at the working point that keeps ``signal_efficiency`` of the signal, read off the test ROC curve
    (on a vertical segment its lowest εB; between two points, linearly interpolated), and the number of
    background events."""
    fpr, tpr, _ = roc_curve(y, score, drop_intermediate=False)
    i = int(np.searchsorted(tpr, signal_efficiency, side="left"))  # tpr is non-decreasing
    if tpr[i] == signal_efficiency or i == 0:
        eps_b = float(fpr[i])
    else:
        f = (signal_efficiency - tpr[i - 1]) / (tpr[i] - tpr[i - 1])
        eps_b = float(fpr[i - 1] + f * (fpr[i] - fpr[i - 1]))
    return eps_b, int(np.sum(np.asarray(y) == 0))


def background_interval(k: float, n: int, level: float = LEVEL) -> tuple[float, float, float]:
    """The background events passing a working point, ``k`` of ``n`` (fractional where interpolated; below
    one event none passes: no threshold passes a fraction of an event, as ``metrics.rejection_at`` says inf),
    and εB's Clopper–Pearson interval: (k, lo, hi)."""
    k = 0.0 if k < 1 - 1e-9 else k
    lo, hi = clopper_pearson(k, n, level)
    return k, lo, hi


def _rejection_of_count(k: float, n: int, level: float) -> dict:
    """1/εB's interval, the events passing and the statistics-limited flag from ``k`` passing of ``n``."""
    k, lo, hi = background_interval(k, n, level)
    return {
        "ci": [1.0 / hi, math.inf if lo <= 0 else 1.0 / lo],
        "passing": k,
        "statistics_limited": bool(k < STAT_LIMIT),
    }


def rejection_interval(y: np.ndarray, score: np.ndarray, signal_efficiency: float, level: float = LEVEL) -> dict:
    """The interval of 1/εB at ``signal_efficiency``: ``ci`` [lo, hi] (hi ``inf`` when none passes), the
    background events ``passing`` and whether the point is ``statistics_limited``."""
    eps_b, n = background_acceptance_at(y, score, signal_efficiency)
    return _rejection_of_count(eps_b * n, n, level)


def rejection_interval_of(rejection: float | None, n_background: int, level: float = LEVEL) -> dict:
    """``rejection_interval`` from a 1/εB already measured on ``n_background`` events (inf or None: none
    passes): the same counts, k = n_background / (1/εB)."""
    k = 0.0 if rejection is None or math.isinf(rejection) or rejection <= 0 else n_background / rejection
    return _rejection_of_count(k, n_background, level)


def fraction_interval(k: int, n: int, level: float = LEVEL) -> list[float]:
    """[lo, hi] of the fraction ``k``/``n`` (Clopper–Pearson), as a JSON-able list."""
    return list(clopper_pearson(k, n, level))


def macro_auc_interval(per_class: list[tuple[float, float, float]]) -> tuple[float, float]:
    """A conservative interval of the mean of K AUCs from their own intervals (auc, lo, hi): the mean
    half-width on each side (the SD of a mean is at most the mean SD)."""
    mean = float(np.mean([a for a, _, _ in per_class]))
    below = float(np.mean([a - lo for a, lo, _ in per_class]))
    above = float(np.mean([hi - a for a, _, hi in per_class]))
    return max(mean - below, 0.0), min(mean + above, 1.0)
