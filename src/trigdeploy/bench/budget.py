"""The budget verdict and the trigger-rate view of ``trigdeploy bench``.

* ``verdicts``: every design the report knows, from every source of its figures (each estimator of the
  run's designs, the Yosys count of each synthesized one, the scan points' alkaid counts), as a share of
  the export target's device (``devices``) and pass/fail against the target's ``budget``.
* ``estimator_errors``: each estimator's LUTs against the Yosys count of the same design (its error, where
  it estimates the same logic; a ratio across architectures otherwise, said as such).
* ``rates``: a trigger is run at a rate, not at an AUC. For an input rate R, a background fraction f of
  it and a working point (εS, εB), the accept rate is R · (f · εB + (1 − f) · εS). At each signal
  efficiency the rate (with εB's Clopper–Pearson interval); at each rate budget the highest εS whose
  accept rate fits it (the ROC point, no interpolation), with εS's interval and whether the background
  events behind it are few enough to be statistics-limited. K classes: each class against the rest as
  the test split mixes them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.metrics import roc_curve

from trigdeploy.bench_config import RateConfig
from trigdeploy.devices import device_of, verdict
from trigdeploy.targets import Budget
from trigdeploy.train.intervals import STAT_LIMIT, background_acceptance_at, background_interval, fraction_interval

YOSYS = "Yosys (open synthesis, not Vivado)"
SOURCES = {"yosys": YOSYS, "alkaid": "alkaid cost model", "estimate": "trigdeploy estimate"}


def verdicts(part: str, budget: Budget, est: dict, points: list[dict]) -> dict:
    """Each design's share of ``part``'s device and its verdict against ``budget``: the run's designs by
    each estimator (``est``: bench's FPGA figures) and by Yosys (the resource plot's counted points), and
    the scan points (``points`` of groups ``sweep`` and ``front``)."""
    device = device_of(part)
    rows = [_row(label, e.get("method", "estimate"), e, device, budget) for label, e in est.items()]
    for p in points:
        if p["group"] == "run" and p["lut_source"] != "yosys":  # its estimate is a row above already
            continue
        rows.append(_row(p["model"], SOURCES.get(p["lut_source"], p["lut_source"]), p, device, budget))
    return {
        "part": part,
        "device": dataclasses.asdict(device) if device else None,
        "budget": dataclasses.asdict(budget),
        "designs": rows,
    }


def _row(design: str, source: str, figures: dict, device, budget: Budget) -> dict:
    keep = {k: figures.get(k) for k in ("lut", "ff", "dsp", "latency_ns", "ii")}
    return {"design": design, "source": source, **keep, **verdict(keep, device, budget)}


def rates(y: np.ndarray, prob: np.ndarray, rate: RateConfig, efficiencies, classes=None) -> dict:
    """The rate view of probabilities ``prob`` (binary ``(n,)``; K classes ``(n, K)``: per class, by the
    names ``classes``)."""
    if prob.ndim == 2:
        return {str(name): _rates(np.asarray(y) == c, prob[:, c], rate, efficiencies) for c, name in enumerate(classes)}
    return _rates(np.asarray(y).astype(bool), prob, rate, efficiencies)


def _rates(y: np.ndarray, score: np.ndarray, rate: RateConfig, efficiencies) -> dict:
    n_s, n_b = int(y.sum()), int((~y).sum())
    f, r_in = rate.background_fraction, rate.input_hz
    at_eff = {}
    for e in efficiencies:
        eps_b, _ = background_acceptance_at(y, score, e)
        passing, lo, hi = background_interval(eps_b * n_b, n_b)
        at_eff[f"eff_S={e:g}"] = {
            "rate_hz": r_in * (f * eps_b + (1 - f) * e),
            "rate_ci_hz": [r_in * (f * lo + (1 - f) * e), r_in * (f * hi + (1 - f) * e)],
            "background_passing": eps_b * n_b,
            "statistics_limited": bool(passing < STAT_LIMIT),
        }
    fpr, tpr, _ = roc_curve(y, score, drop_intermediate=False)
    accept = r_in * (f * fpr + (1 - f) * tpr)
    at_budget = {}
    for b in rate.budgets_hz:
        fits = np.flatnonzero(accept <= b)
        i = int(fits[np.argmax(tpr[fits])])  # the first ROC point (0, 0) always fits a positive budget
        k_s, k_b = int(round(tpr[i] * n_s)), int(round(fpr[i] * n_b))
        at_budget[f"{b:g} Hz"] = {
            "budget_hz": b,
            "signal_efficiency": float(tpr[i]),
            "signal_efficiency_ci": fraction_interval(k_s, n_s),
            "rate_hz": float(accept[i]),
            "background_passing": k_b,
            "statistics_limited": bool(k_b < STAT_LIMIT),
        }
    return {"input_hz": r_in, "background_fraction": f, "at_efficiency": at_eff, "at_budget": at_budget}


def estimator_errors(rows: list[dict]) -> list[dict]:
    """Each estimator's LUTs against the Yosys count of the same design, over the designs of the side-by-side
    table (``rows``): the number of designs, the mean, smallest and largest ratio, and whether the estimate
    is of the same logic (an error) or of another architecture of the same model (a comparison only)."""
    counts = {r["design"]: r["lut"] for r in rows if r.get("source", "").startswith("Yosys") and "lut" in r}
    groups: dict[tuple[str, bool], list[tuple[str, float]]] = {}
    for r in rows:
        if "estimator" in r and r["design"] in counts:
            ratio = r["lut"] / max(counts[r["design"]], 1)
            groups.setdefault((r["estimator"], bool(r["same_logic"])), []).append((r["design"], ratio))
    return [
        {
            "estimator": name,
            "same_logic": same,
            "designs": [d for d, _ in found],
            "mean_ratio": float(np.mean([x for _, x in found])),
            "min_ratio": min(x for _, x in found),
            "max_ratio": max(x for _, x in found),
        }
        for (name, same), found in sorted(groups.items())
    ]
