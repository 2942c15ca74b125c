"""Threshold and metric functions against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

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


@pytest.mark.parametrize(("eff", "thr"), [(0.25, 0.9), (0.5, 0.8), (0.75, 0.6), (1.0, 0.3), (0.3, 0.8)],
                         ids=["25%", "50%", "75%", "100%", "30%-rounds-up"])
def test_signal_efficiency_threshold(eff, thr):
    t = M.threshold_signal_efficiency(Y, S, eff)
    assert t == thr
    assert (S[Y == 1] >= t).mean() >= eff


@pytest.mark.parametrize(("acc", "max_fp"), [(0.0, 0), (1 / 6, 1), (0.5, 3), (1.0, 6)], ids=["0", "1of6", "half", "all"])
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


def test_evaluate_structure():
    out = M.evaluate(Y, S, Y, S, (0.3, 0.5), (0.01,))
    assert set(out["thresholds"]) == {"f1", "youden", "eff_S=0.3", "eff_S=0.5", "acc_B=0.01"}
    assert set(out["rejection"]) == {"eff_S=0.3", "eff_S=0.5"}
    assert out["auc"] == pytest.approx(20 / 24)
