"""Intervals of the physics figures: Clopper–Pearson by hand, DeLong by hand and against a bootstrap, the
paired test (identical rankings, a real difference caught), 1/εB's interval and "statistics-limited"."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from trigdeploy.train import intervals as iv
from trigdeploy.train.metrics import evaluate, multiclass_test, rejection_at


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        (0, 10, 0.0, 1 - 0.025 ** (1 / 10)),  # k = 0: hi solves (1 - p)^n = α/2
        (10, 10, 0.025 ** (1 / 10), 1.0),  # k = n: lo solves p^n = α/2
        (1, 1, 0.025, 1.0),  # one success of one: lo = α/2
        (3, 10, 0.0667395112, 0.6524528500),  # the textbook table value
    ],
    ids=["none-of-10", "all-of-10", "one-of-one", "3-of-10"],
)
def test_clopper_pearson_by_hand(k, n, lo, hi):
    got = iv.clopper_pearson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-9)
    band = iv.clopper_pearson_band(np.array([k]), n)
    assert (band[0][0], band[1][0]) == pytest.approx((lo, hi), abs=1e-9)


def test_delong_by_hand_count():
    # positives 0.9, 0.4; negatives 0.5, 0.1: pairs won 1, 1, 0, 1 → AUC 3/4. V10 = (1, 1/2), V01 = (1/2, 1):
    # var = var(V10)/2 + var(V01)/2 = 0.125/2 + 0.125/2 = 0.125
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.4, 0.5, 0.1])
    auc, lo, hi = iv.auc_interval(y, s)
    half = 1.959963984540054 * math.sqrt(0.125)
    assert (auc, lo, hi) == pytest.approx((0.75, 0.75 - half, 1.0), abs=1e-12)  # clipped at 1


def test_delong_agrees_with_a_seeded_bootstrap():
    rng = np.random.default_rng(7)
    n = 3000
    y = rng.random(n) < 0.35
    s = rng.normal(size=n) + 1.2 * y
    s[:200] = np.round(s[:200], 1)  # ties: mid-ranks
    auc, lo, hi = iv.auc_interval(y, s)
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    boot = [roc_auc_score(y[i], s[i]) for i in (rng.integers(0, n, n) for _ in range(500))]
    # 500 resamples estimate an SD to ±3 % (1/sqrt(2·500)); 12 % is four of those
    assert (hi - lo) / 2 / 1.959963984540054 == pytest.approx(np.std(boot), rel=0.12)


def test_paired_test_says_identical_for_one_ranking_and_catches_a_worse_one():
    rng = np.random.default_rng(3)
    n = 4000
    y = rng.random(n) < 0.4
    s = rng.normal(size=n) + y
    same = iv.paired_auc_test(y, s, 3 * s - 1)  # monotone: the same ranking of every pair
    assert same == {"delta": 0.0, "se": 0.0, "p": 1.0, "identical": True}
    worse = iv.paired_auc_test(y, s, s + 1.5 * rng.normal(size=n))
    assert worse["delta"] < 0 and worse["p"] < 1e-6 and not worse["identical"]
    # two noisy copies of one score: the same AUC in expectation, so no difference is claimed
    twins = iv.paired_auc_test(y, s + 0.5 * rng.normal(size=n), s + 0.5 * rng.normal(size=n))
    assert not twins["identical"] and twins["p"] > 0.05 and abs(twins["delta"]) < 2 * twins["se"]


def test_rejection_interval_counts_the_background_passing():
    # 100 background events at scores 0..99; 10 signal, three above every background event and the fourth
    # at 94.5: εS = 0.4 passes 5 background events (95..99), a statistics-limited 1/εB of 20
    bkg = np.arange(100.0)
    sig = np.array([200.0, 201.0, 202.0, 94.5, 50, 40, 30, 20, 10, 0.5])
    y = np.r_[np.zeros(100), np.ones(10)].astype(int)
    s = np.r_[bkg, sig]
    r = iv.rejection_interval(y, s, 0.4)  # the 4 top signal: 200, 201, 202 and 94.5 → 5 background pass
    lo, hi = iv.clopper_pearson(5, 100)
    assert rejection_at(y, s, 0.4) == pytest.approx(20.0)
    assert r["passing"] == pytest.approx(5.0) and r["statistics_limited"]
    assert r["ci"] == pytest.approx([1 / hi, 1 / lo])
    again = iv.rejection_interval_of(rejection_at(y, s, 0.4), 100)  # from the figure alone: the same counts
    assert again["ci"] == pytest.approx(r["ci"]) and (again["passing"], again["statistics_limited"]) == (5.0, True)
    none = iv.rejection_interval(y, s, 0.3)  # above every background event: unbounded
    assert none["passing"] == 0 and none["ci"][1] == math.inf
    assert none["ci"][0] == pytest.approx(1 / iv.clopper_pearson(0, 100)[1])
    assert iv.rejection_interval_of(math.inf, 100) == none and iv.rejection_interval_of(None, 100) == none


def test_macro_interval_is_the_mean_half_width():
    assert iv.macro_auc_interval([(0.9, 0.88, 0.91), (0.8, 0.76, 0.83)]) == pytest.approx((0.82, 0.87))


def test_metrics_carry_their_intervals():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.5).astype(int)
    s = rng.normal(size=2000) + y
    m = evaluate(y[:1000], s[:1000], y[1000:], s[1000:])
    lo, hi = m["auc_ci"]
    assert lo < m["auc"] < hi and m["rejection_ci"]["eff_S=0.3"]["ci"][0] < m["rejection"]["eff_S=0.3"]
    t = m["thresholds"]["youden"]
    assert t["signal_efficiency_ci"][0] <= t["signal_efficiency"] <= t["signal_efficiency_ci"][1]
    k = rng.integers(0, 3, 1500)
    p = rng.dirichlet(np.ones(3), 1500)
    p[np.arange(1500), k] += 0.5
    p /= p.sum(axis=1, keepdims=True)
    mc = multiclass_test(k, p, ["a", "b", "c"], {"a": {"eff_S=0.5": 0.4}})
    assert mc["auc_ci"][0] < mc["auc"] < mc["auc_ci"][1]
    assert mc["accuracy_ci"][0] < mc["accuracy"] < mc["accuracy_ci"][1]
    assert set(mc["per_class"]["a"]["thresholds"]["eff_S=0.5"]["acceptance_ci"]) == {"b", "c"}
