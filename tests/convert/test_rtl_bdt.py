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
    margin = en.xgb_margin(booster, x_test)
    q = QuantizedEnsemble(FMT, ens_q, x_q, np.zeros(len(x_q)), {}, ens, booster, en.leaves(ens_q, x_q), margin)
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
    x_q = fmt.quantize_inputs(x_test)
    margin = en.xgb_margin(booster, x_test)
    q = QuantizedEnsemble(fmt, ens_q, x_q, np.zeros(len(x_test)), {}, ens, booster, en.leaves(ens_q, x_q), margin)
    ens_leaf = on_leaf_grid(q, 5)
    comb, _ = trace(ens_leaf, fmt)
    ref = reference(ens_leaf, en.leaves(q.ensemble, q.x))
    assert to_rtl.check(comb, q.x, ref)["n_mismatch"] == 0
    # a feature with one threshold off the coarse grid keeps the port's full precision
    ens_q["trees"][0][0]["threshold"][0] += 2.0**-8
    assert comparison_fracs(ens_q, fmt)[ens_q["trees"][0][0]["feature"][0]] == 8


def _tree(feature, threshold, value, left, right) -> dict:
    return {"feature": feature, "threshold": threshold, "value": value, "children_left": left, "children_right": right}


# Two trees that share the root comparison x0 < 0.5; x1 is tested against -0.25 and 1.125. By hand: x0's only
# threshold lies on 2^-1, x1's on 2^-3, so the design compares 4+1 and 4+3 bits of the 4+6-bit port.
HAND = {
    "n_features": 2,
    "n_trees": 2,
    "n_classes": 2,
    "max_depth": 2,
    "init_predict": [0.25],
    "trees": [
        [
            _tree(
                [0, 1, -2, -2, -2],
                [0.5, -0.25, -2, -2, -2],
                [0, 0, 0.75, 1.0, -0.5],
                [1, 3, -1, -1, -1],
                [2, 4, -1, -1, -1],
            )
        ],
        [
            _tree(
                [0, -2, 1, -2, -2],
                [0.5, -2, 1.125, -2, -2],
                [0, -1.0, 0, 0.5, 2.0],
                [1, -1, 3, -1, -1],
                [2, -1, 4, -1, -1],
            )
        ],
    ],
}


def test_a_hand_built_ensemble_by_hand_count_and_in_verilator(tmp_path):
    """Shared comparisons, inputs exactly on a threshold and one LSB below it: the traced logic, the reference
    and (where Verilator is installed) the written Verilog give the hand-computed scores; a corrupted leaf
    in the reference is one mismatch."""
    from trigdeploy.convert.forms.rtl_bdt import comparison_fracs
    from trigdeploy.hdl import projects, tools

    fmt = FixedType.parse("ap_fixed<10,4>")
    lsb = fmt.lsb
    q = QuantizedEnsemble(fmt, HAND, np.zeros((0, 2)), np.zeros(0), {}, HAND, None, np.zeros((0, 2), int), np.zeros(0))
    x = np.array([[0.5, 0.0], [0.5 - lsb, -0.25], [0.5 - lsb, -0.25 - lsb], [1.0, 1.125], [1.0, 1.125 - lsb]])
    # by hand: tree a (x0 < .5: x1 < -.25 ? 1.0 : -0.5; else 0.75) + tree b (x0 < .5: -1.0; else x1 < 1.125 ? .5 : 2)
    expected = 0.25 + np.array([0.75 + 0.5, -0.5 - 1.0, 1.0 - 1.0, 0.75 + 2.0, 0.75 + 0.5])
    assert comparison_fracs(HAND, fmt) == {0: 1, 1: 3}
    ens_leaf = on_leaf_grid(q, 2)
    comb, n_bits = trace(ens_leaf, fmt)
    ref = reference(ens_leaf, en.leaves(HAND, x))
    assert n_bits == 3
    np.testing.assert_array_equal(ref, expected)
    np.testing.assert_array_equal(comb.predict(x).reshape(-1), expected)
    bad = ref.copy()
    bad[3] -= 0.25  # a leaf one LSB (2^-2) off
    assert to_rtl.check(comb, x, bad)["n_mismatch"] == 1
    if tools.find("verilator") is None:
        pytest.skip(tools.missing("verilator"))
    prj = tmp_path / "hand_rtl"
    to_rtl.write_project(comb, prj, "xcvu13p-flga2577-2-e", 5.0, x, expected, "hand", "by hand")
    y, _, tb = projects.simulate_verilator(prj, tmp_path / "cache", x, True, 1, "fast")
    np.testing.assert_array_equal(y.reshape(-1), expected)
    assert tb["ok"] and tb["n_differ_from_expected"] == 0
