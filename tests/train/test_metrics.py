"""Threshold and metric functions against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.logits import probabilities
from trigdeploy.train import metrics as M

# 4 signal, 6 background; scores chosen so every quantity can be counted by hand
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
S = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.5, 0.4, 0.2, 0.1, 0.05])


def test_auc_hand_counted():
    # signal/background pairs ordered correctly: 0.9 and 0.8 beat all 6, 0.6 beats 5, 0.3 beats 3 → 20/24
    assert M.roc_auc(Y, S) == pytest.approx(20 / 24)


def test_f1_threshold():
    # candidates: t=0.8 → tp2 fp0 fn2 F1 .667; t=0.6 → tp3 fp1 fn1 F1 .75; t=0.3 → tp4 fp3 F1 .727
    assert M.threshold_f1(Y, S) == 0.6


def test_youden_threshold():
    # J at t=0.6: 3/4 - 1/6 = 0.583; at t=0.8: 0.5; at t=0.3: 1 - 3/6 = 0.5
    assert M.threshold_youden(Y, S) == 0.6


@pytest.mark.parametrize(
    ("eff", "thr"),
    [(0.25, 0.9), (0.5, 0.8), (0.75, 0.6), (1.0, 0.3), (0.3, 0.8)],
    ids=["25%", "50%", "75%", "100%", "30%-rounds-up"],
)
def test_signal_efficiency_threshold(eff, thr):
    t = M.threshold_signal_efficiency(Y, S, eff)
    assert t == thr
    assert (S[Y == 1] >= t).mean() >= eff


@pytest.mark.parametrize(
    ("acc", "max_fp"), [(0.0, 0), (1 / 6, 1), (0.5, 3), (1.0, 6)], ids=["0", "1of6", "half", "all"]
)
def test_background_acceptance_threshold(acc, max_fp):
    t = M.threshold_background_acceptance(Y, S, acc)
    assert (S[Y == 0] >= t).sum() == max_fp


def test_at_threshold_counts():
    m = M.at_threshold(Y, S, 0.6)  # tp 3, fp 1 (0.7), fn 1, tn 5
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75)
    assert m["background_acceptance"] == pytest.approx(1 / 6)


def test_rejection():
    # eps_S = 0.5 is first reached at t = 0.8 with no background (the ROC then rises vertically
    # to eps_B = 1/6 at t = 0.7): the best working point has eps_B = 0 → inf
    assert M.rejection_at(Y, S, 0.5) == float("inf")
    # eps_S = 0.75 first reached at t = 0.6 with eps_B = 1/6 → rejection 6
    assert M.rejection_at(Y, S, 0.75) == pytest.approx(6.0)
    # eps_S = 0.625 lies between (0.5, 1/6) and (0.75, 1/6): eps_B = 1/6
    assert M.rejection_at(Y, S, 0.625) == pytest.approx(6.0)
    # eps_S = 0.875 lies between (0.75, 3/6) at t = 0.4 and (1.0, 3/6) at t = 0.3: eps_B = 1/2
    assert M.rejection_at(Y, S, 0.875) == pytest.approx(2.0)


def test_rejection_inside_a_tie_below_one_background_event_is_unbounded():
    # scores on a coarse grid tie: 0.9 holds 2 signal and 1 background event, above it 1 signal alone.
    # eps_S = 0.5 (2 of 4 signal) lies inside the tied segment from (0, 1/4) to (1/4, 3/4): linear
    # interpolation gives eps_B = 1/8, half of the one background event there is; no threshold passes
    # half an event, so the rejection is unbounded (> 4 background events), not 8
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.95, 0.9, 0.9, 0.1, 0.9, 0.2, 0.2, 0.2])
    assert M.rejection_at(y, s, 0.5) == float("inf")
    # at eps_S = 0.75 the whole tie passes: one background event of four, rejection 4
    assert M.rejection_at(y, s, 0.75) == pytest.approx(4.0)


def test_evaluate_structure():
    out = M.evaluate(Y, S, Y, S, (0.3, 0.5), (0.01,))
    assert set(out["thresholds"]) == {"f1", "youden", "eff_S=0.3", "eff_S=0.5", "acc_B=0.01"}
    assert set(out["rejection"]) == {"eff_S=0.3", "eff_S=0.5"}
    assert out["auc"] == pytest.approx(20 / 24)


# --- K classes: a 3-class example counted by hand ---------------------------------------------------
Y3 = np.array([0, 0, 1, 1, 2, 2])
P3 = np.array(
    [
        [0.7, 0.2, 0.1],  # a → a
        [0.4, 0.5, 0.1],  # a → b
        [0.1, 0.8, 0.1],  # b → b
        [0.3, 0.3, 0.4],  # b → c
        [0.2, 0.1, 0.7],  # c → c
        [0.1, 0.2, 0.7],
    ]
)  # c → c


def test_confusion_matrix_and_accuracy_hand_counted():
    m = M.evaluate_multiclass(Y3, P3, Y3, P3, ["a", "b", "c"], efficiencies=(1.0,))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["n_test_per_class"] == {"a": 2, "b": 2, "c": 2}


def test_one_vs_rest_auc_hand_counted():
    m = M.evaluate_multiclass(Y3, P3, Y3, P3, ["a", "b", "c"])
    # b's probability: 0.8 beats all four others, 0.3 beats 0.2, 0.1, 0.2 but not 0.5 → 7 of 8 pairs
    assert {n: e["auc"] for n, e in m["per_class"].items()} == pytest.approx({"a": 1.0, "b": 7 / 8, "c": 1.0})
    assert m["auc_macro"] == pytest.approx((1 + 7 / 8 + 1) / 3)


def test_rejection_and_thresholds_per_class_hand_counted():
    b = M.evaluate_multiclass(Y3, P3, Y3, P3, ["a", "b", "c"], efficiencies=(1.0,))["per_class"]["b"]
    # keeping every b needs p_b ≥ 0.3: one of the two a rows (0.5) passes, no c row does
    assert b["rejection"]["eff_S=1"] == {"a": 2.0, "c": float("inf")}
    t = b["thresholds"]["eff_S=1"]
    assert t["threshold"] == 0.3 and t["signal_efficiency"] == 1.0 and t["acceptance"] == {"a": 0.5, "c": 0.0}
    half = b["thresholds"]["eff_S=0.5"]  # the top b row (0.8) alone
    assert half["threshold"] == 0.8 and half["signal_efficiency"] == 0.5 and half["acceptance"] == {"a": 0.0, "c": 0.0}


def test_multiclass_metrics_see_a_swapped_prediction():
    swapped = P3.copy()
    swapped[2] = [0.8, 0.1, 0.1]  # the b row now predicted a
    m = M.evaluate_multiclass(Y3, swapped, Y3, swapped, ["a", "b", "c"])
    assert m["confusion_matrix"][1] == [1, 0, 1] and m["accuracy"] == pytest.approx(3 / 6)


def test_softmax_rows_sum_to_one_and_keep_order():
    p = probabilities(np.array([[1000.0, 1001.0, 999.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=0, atol=1e-15)  # float64 rounding of three terms
    assert np.argmax(p[0]) == 1 and np.allclose(p[1], 1 / 3)
