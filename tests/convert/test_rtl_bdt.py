"""The XGBoost ensemble as logic (form ``rtl_bdt``): alkaid's interpreter of the traced ensemble equals the
NumPy reference on every row, two and three classes; the check catches one leaf LSB; comparisons are
shared; the leaf grid is the coarsest the validation AUC allows; the reference stays within its bound."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.convert import ensemble as en
from trigdeploy.convert import to_rtl
from trigdeploy.convert.forms.conifer import QuantizedEnsemble
from trigdeploy.convert.forms.rtl_bdt import LeafGrid, choose_leaf_grid, on_leaf_grid, reference, trace
from trigdeploy.fixed import FixedType
from trigdeploy.targets import BDTRTLTarget

pytest.importorskip("alkaid")

FMT = FixedType.parse("ap_fixed<12,4>")


def _data(n_classes: int, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(rows, 5)), 2).astype(np.float32)
    z = x[:, 0] + 0.5 * x[:, 1] ** 2 - x[:, 2] * x[:, 3] + 0.4 * rng.normal(size=rows)
    y = np.digitize(z, np.quantile(z, np.linspace(0, 1, n_classes + 1)[1:-1]))
    return x, y


def _quantized(n_classes: int) -> tuple[QuantizedEnsemble, tuple[np.ndarray, np.ndarray]]:
    """A 12-round ensemble of depth 3 (two classes, or three: one tree per class per round), its test rows on
    the port's grid and a validation split."""
    import xgboost as xgb

    x, y = _data(n_classes, 2000, 3)
    model = xgb.XGBClassifier(n_estimators=12, max_depth=3, learning_rate=0.3, n_jobs=1, random_state=0)
    model.fit(x, y)
    booster = model.get_booster()
    ens = en.ensemble_from_booster(booster)
    ens_q, _ = en.quantize_ensemble(ens, FMT)
    x_test, _ = _data(n_classes, 1500, 4)
    x_q = FMT.quantize_inputs(x_test)
    q = QuantizedEnsemble(FMT, ens_q, x_q, np.zeros(len(x_q)), {}, ens, booster)
    return q, _data(n_classes, 1500, 5)


@pytest.fixture(scope="module", params=[2, 3], ids=["two-classes", "three-classes"])
def quantized(request):
    return _quantized(request.param)


def test_traced_logic_equals_the_reference_on_every_row(quantized):
    q, _ = quantized
    ens_leaf = on_leaf_grid(q, 5)
    comb, n_bits = trace(ens_leaf, q.fmt)
    ref = reference(ens_leaf, en.leaves(q.ensemble, q.x))
    out = to_rtl.check(comb, q.x, ref)
    assert {k: out[k] for k in ("n_events", "n_mismatch", "max_abs_diff", "ok")} == {
        "n_events": 1500,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "ok": True,
    }
    assert out.get("n_logits", 1) == len(q.ensemble["trees"][0])  # one output per class (one for two)
    # one comparison per distinct (feature, threshold), however many trees test it
    pairs = {(f, t) for g in q.ensemble["trees"] for tr in g for f, t in zip(tr["feature"], tr["threshold"]) if f >= 0}
    assert n_bits == len(pairs) < sum(tr["feature"].count(-2) - 1 for g in q.ensemble["trees"] for tr in g)


def test_check_catches_one_leaf_lsb(quantized):
    q, _ = quantized
    ens_leaf = on_leaf_grid(q, 5)
    comb, _ = trace(ens_leaf, q.fmt)
    ref = np.array(reference(ens_leaf, en.leaves(q.ensemble, q.x)), np.float64)
    bad = ref.copy()
    bad[7] += 2.0**-5  # one LSB of the leaf grid, on one event (one class)
    out = to_rtl.check(comb, q.x, bad)
    assert (out["ok"], out["n_mismatch"], out["max_abs_diff"]) == (False, 1, 2.0**-5)


@pytest.mark.parametrize("frac", [0, 3, 8], ids=["integer", "eighths", "fine"])
def test_leaves_on_the_grid_stay_within_the_rounding_bound(quantized, frac):
    q, _ = quantized
    ens_leaf = on_leaf_grid(q, frac)
    values = [v for g in ens_leaf["trees"] for tr in g for v in tr["value"]] + ens_leaf["init_predict"]
    assert all(float(v * 2**frac).is_integer() for v in values)
    lv = en.leaves(q.ensemble, q.x)
    diff = np.abs(reference(ens_leaf, lv) - en.score(q.float_ensemble, lv))
    assert diff.max() <= (q.ensemble["n_trees"] + 1) * 2.0**-frac / 2


def test_the_leaf_grid_is_the_coarsest_the_validation_auc_allows(quantized):
    q, (x_val, y_val) = quantized
    grid = choose_leaf_grid(q, BDTRTLTarget(max_val_auc_loss=0.002), x_val, y_val)
    assert grid.chosen_by == "validation AUC" and list(grid.tried)[0] == FMT.frac
    best = grid.tried[FMT.frac]  # leaves on the port's grid: what a coarser leaf grid is measured against
    # every grid from the finest down to the chosen one is within the budget; the next coarser one (tried,
    # unless the chosen grid is integer leaves) is not
    assert all(best - grid.tried[f] <= 0.002 for f in range(grid.frac, FMT.frac + 1))
    if grid.frac > 0:
        assert best - grid.tried[grid.frac - 1] > 0.002
    # no budget: the finest grid that loses nothing, i.e. never coarser than with a budget
    strict = choose_leaf_grid(q, BDTRTLTarget(max_val_auc_loss=0.0), x_val, y_val)
    assert strict.frac >= grid.frac
    given = choose_leaf_grid(q, BDTRTLTarget(leaf_frac=6), x_val, y_val)
    assert given == LeafGrid(6, "export target", {})


def test_thresholds_on_a_coarse_grid_need_only_the_bits_above_it():
    """``train.bdt.input_frac``: rows floored onto 2^-3 before training put every threshold on that grid, so
    XGBoost decides the same on float and on floored inputs, and the design compares only the bits above
    2^-3 of its 8-fractional-bit port, exactly (a 2^-8 input between two grid points is on the right side)."""
    import xgboost as xgb

    from trigdeploy.convert.forms.rtl_bdt import comparison_fracs
    from trigdeploy.train.trees import on_grid

    x, y = _data(2, 2000, 3)
    model = xgb.XGBClassifier(n_estimators=12, max_depth=3, learning_rate=0.3, n_jobs=1, random_state=0)
    model.fit(on_grid(x, 3), y)
    booster = model.get_booster()
    ens = en.ensemble_from_booster(booster)
    x_test, _ = _data(2, 1500, 4)
    np.testing.assert_array_equal(en.xgb_margin(booster, x_test), en.xgb_margin(booster, on_grid(x_test, 3)))
    fmt = FixedType.parse("ap_fixed<12,4>")
    ens_q, _ = en.quantize_ensemble(ens, fmt)
    fracs = comparison_fracs(ens_q, fmt)
    assert fracs and max(fracs.values()) <= 3
    q = QuantizedEnsemble(fmt, ens_q, fmt.quantize_inputs(x_test), np.zeros(len(x_test)), {}, ens, booster)
    ens_leaf = on_leaf_grid(q, 5)
    comb, _ = trace(ens_leaf, fmt)
    ref = reference(ens_leaf, en.leaves(q.ensemble, q.x))
    assert to_rtl.check(comb, q.x, ref)["n_mismatch"] == 0
    # a feature with one threshold off the coarse grid keeps the port's full precision
    ens_q["trees"][0][0]["threshold"][0] += 2.0**-8
    assert comparison_fracs(ens_q, fmt)[ens_q["trees"][0][0]["feature"][0]] == 8
