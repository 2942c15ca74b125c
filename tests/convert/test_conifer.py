"""XGBoost → conifer: float32-exact leaves, fixed-point bound, HLS C simulation bit-exact to the emulation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trigdeploy.convert import ensemble as en
from trigdeploy.convert import to_conifer as tc
from trigdeploy.cxx import harness
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType

FMT = FixedType.parse("ap_fixed<18,8>")


@pytest.fixture(scope="module")
def booster():
    """A small booster on float32 data with many repeated values, so that test rows sit exactly on splits."""
    import xgboost as xgb

    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=(3000, 4)), 2).astype(np.float32) / np.float32(3.0)
    y = ((x[:, 0] + 0.5 * x[:, 1] ** 2 - x[:, 2] * x[:, 3] + 0.3 * rng.normal(size=3000)) > 0).astype(int)
    model = xgb.XGBClassifier(
        n_estimators=8, max_depth=3, learning_rate=0.3, tree_method="hist", n_jobs=1, random_state=0
    )
    model.fit(x, y)
    return model.get_booster(), x


def on_split_rows(ens: dict, x: np.ndarray) -> np.ndarray:
    """Copies of ``x`` whose split feature is set exactly to each split threshold."""
    rows = []
    for (tree,) in ens["trees"]:
        for f, t in zip(tree["feature"], tree["threshold"]):
            if f >= 0:
                r = x[len(rows) % len(x)].copy()
                r[f] = np.float32(t)
                rows.append(r)
    return np.asarray(rows, np.float32)


def test_leaves_match_xgboost_on_and_off_split_points(booster):
    bst, x = booster
    ens = en.ensemble_from_booster(bst)
    rows = np.concatenate([x, on_split_rows(ens, x)])
    np.testing.assert_array_equal(en.leaves(ens, rows), en.xgb_leaves(bst, rows))
    # float32 sums in tree order from the float32 base margin reproduce XGBoost's margin within float32 rounding
    # (the C++ float backend below checks exact equality; this float64 reference is for the fixed-point bound)
    np.testing.assert_allclose(en.score(ens, en.leaves(ens, rows)), en.xgb_margin(bst, rows), rtol=0, atol=1e-5)


def test_conifer_text_dump_converter_is_not_leaf_exact(booster):
    """The reason for our converter: conifer's own one reads 9-digit thresholds and misroutes on-split rows."""
    import conifer

    bst, x = booster
    ens = en.ensemble_from_booster(bst)
    rows = on_split_rows(ens, x)
    theirs = conifer.converters.xgboost.convert(bst)
    assert (en.leaves(theirs, rows) != en.xgb_leaves(bst, rows)).any(axis=1).sum() > 0


def test_cpp_float_backend_equals_xgboost(booster, tmp_path):
    bst, x = booster
    ens = en.ensemble_from_booster(bst)
    rows = np.concatenate([x[:500], on_split_rows(ens, x)])
    check = tc.cpp_float_check(ens, bst, rows, tmp_path / "cpp", [])
    assert check["ok"] and check["leaf_agreement"] == 1.0 and check["n_margin_mismatch"] == 0


def test_the_cpp_emulation_is_compiled_once_and_serves_every_model(booster, tmp_path):
    """conifer's C++ emulation reads its trees from the project's JSON at run time: with a cache, its library
    is compiled once and another model (the first three trees) reuses it, each computing its own margins."""
    bst, x = booster
    smaller = bst[:3]
    checks = [
        tc.cpp_float_check(en.ensemble_from_booster(b), b, x[:500], tmp_path / name, [], tmp_path / "cache")
        for b, name in ((bst, "all"), (smaller, "three"))
    ]
    assert all(c["ok"] and c["n_margin_mismatch"] == 0 for c in checks)
    assert np.abs(en.xgb_margin(bst, x[:500]) - en.xgb_margin(smaller, x[:500])).max() > 0.1  # two models indeed
    built = list((tmp_path / "cache").glob("conifer-cpp-*/emulation.so"))
    assert len(built) == 1
    key = built[0].parent.name.removeprefix("conifer-cpp-")
    for name in ("all", "three"):  # each project's module is named by the build's content key, not the time of day
        assert f"PYBIND11_MODULE(conifer_bridge_{key}," in (tmp_path / name / "bridge.cpp").read_text()
        assert not list((tmp_path / name).glob("*.so"))  # the project is conifer's sources; the library is the cache's


def test_the_emulation_keeps_conifers_typedefs_and_refuses_another_bridge(tmp_path):
    """The C entry points replace conifer's pybind11 module only: the includes and typedefs conifer wrote stay, and a
    bridge.cpp that is not conifer 1.11's is one line naming it."""
    from trigdeploy.convert import conifer_emulation as ce

    bridge = (
        '#include "conifer.h"\n#include <pybind11/pybind11.h>\n#include <pybind11/stl.h>\n'
        "struct BDTConfig : conifer::ConiferConfiguration {\n    typedef float threshold_t;\n};\n"
        "namespace py = pybind11;\nPYBIND11_MODULE(conifer_bridge_123, m){ }\n"
    )
    text = ce.emulation_source(bridge, tmp_path)
    assert "typedef float threshold_t;" in text and '#include "conifer.h"' in text and 'extern "C"' in text
    assert "pybind11" not in text and "PYBIND11_MODULE" not in text
    with pytest.raises(TrigdeployError, match="bridge.cpp: conifer's C\\+\\+ writer output changed"):
        ce.emulation_source(bridge.replace("PYBIND11_MODULE", "MODULE"), tmp_path)


def test_rows_of_another_width_and_unreadable_trees_are_one_line(booster, tmp_path):
    bst, x = booster
    tc.cpp_float_check(en.ensemble_from_booster(bst), bst, x[:20], tmp_path / "p", [], tmp_path / "cache")
    from trigdeploy.convert import conifer_emulation as ce

    emulation = ce.build(tmp_path / "p", tmp_path / "p" / "myproject.json", 1, [], tmp_path / "cache")
    with pytest.raises(TrigdeployError, match="the emulation takes rows of 4 features, not shape \\(20, 3\\)"):
        emulation.decision_function(x[:20, :3])
    (tmp_path / "p" / "myproject.json").write_text("{not json")
    with pytest.raises(TrigdeployError, match="myproject.json: conifer's C\\+\\+ emulation could not read the trees"):
        ce.build(tmp_path / "p", tmp_path / "p" / "myproject.json", 1, [], tmp_path / "cache")


@pytest.mark.parametrize(
    ("weights", "typedef"),
    [({"WeightPrecision": "bool"}, "bool"), ({}, str(FMT))],
    ids=["bool-weights", "conifer-default-weights"],
)
def test_fixed_point_hls_csim_is_bit_exact_and_within_bound(booster, tmp_path, weights, typedef):
    bst, x = booster
    ens = en.ensemble_from_booster(bst)
    ens_q, info = en.quantize_ensemble(ens, FMT)
    assert info == {"thresholds_saturated": 0, "leaves_saturated": 0}
    x_q = FMT.quantize_inputs(np.concatenate([x, on_split_rows(ens, x)]))
    ref, wrapped = en.emulate_fixed(ens_q, en.leaves(ens_q, x_q), FMT)
    assert wrapped == 0
    # the firmware takes XGBoost's branches on the quantized inputs, and each of the n_trees leaves and the base
    # margin is rounded by at most LSB/2: that is the whole error budget
    np.testing.assert_array_equal(en.leaves(ens_q, x_q), en.xgb_leaves(bst, x_q))
    assert np.abs(ref - en.score(ens, en.leaves(ens, x_q))).max() <= (ens["n_trees"] + 1) * FMT.lsb / 2
    project = tmp_path / "hls"
    tc.make_project(
        ens_q,
        "xilinxhls",
        project,
        {"Precision": str(FMT), "XilinxPart": "xcvu13p-flga2577-2-e", "ClockPeriod": 5.0, "Unroll": True, **weights},
        [],
    )
    assert f"typedef {typedef} weight_t;" in (project / "firmware" / "parameters.h").read_text()
    tc.fix_hls_top(project)
    h, b = harness.load(project, tmp_path / "cache")
    np.testing.assert_array_equal(h.run(x_q)[:, 0], ref)
    assert not b.cached and harness.load(project, tmp_path / "cache")[1].cached


def test_emulation_detects_wrapping_sums():
    fmt = FixedType.parse("ap_fixed<6,2>")  # range [-2, 2)
    ens = {
        "n_trees": 3,
        "max_depth": 0,
        "init_predict": [0.0],
        "trees": [
            [{"feature": [-2], "threshold": [-2.0], "value": [0.75], "children_left": [-1], "children_right": [-1]}]
        ]
        * 3,
    }
    y, wrapped = en.emulate_fixed(ens, en.leaves(ens, np.zeros((2, 1))), fmt)
    assert wrapped == 2 and y[0] == 2.25 - 4  # 0.75 × 3 = 2.25 wraps to -1.75, as ap_fixed does


@pytest.mark.parametrize(
    "text",
    ["ap_ufixed<8,3>", "float", "ap_fixed<80,8>", "ap_fixed<4,8>", "ap_fixed<8,0>"],
    ids=["unsigned", "float", "too-wide", "integer-beyond-width", "no-integer-bit"],
)
def test_bad_precision_is_one_clear_error_at_load(text):
    from trigdeploy.targets import ConiferTarget

    with pytest.raises(TrigdeployError, match="Precision"):
        ConiferTarget(Precision=text)


@pytest.fixture(scope="module")
def three_class_booster():
    import xgboost as xgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    x[:50, 2] = x[50:100, 2]  # repeated values: inputs lying exactly on split points
    model = xgb.XGBClassifier(n_estimators=12, max_depth=3, n_jobs=1, objective="multi:softprob").fit(x, y)
    return model.get_booster(), x


def test_three_class_ensemble_is_leaf_exact_with_one_tree_set_per_class(three_class_booster):
    booster, x = three_class_booster
    ens = en.ensemble_from_booster(booster)
    assert (ens["n_classes"], ens["n_trees"], en.n_outputs(ens), len(ens["init_predict"])) == (3, 12, 3, 3)
    assert all(len(group) == 3 for group in ens["trees"])
    lv = en.leaves(ens, x)
    np.testing.assert_array_equal(lv, en.xgb_leaves(booster, x))  # column = XGBoost's tree order
    # the float64 sum of the float32 leaves and base margins is XGBoost's float32 margin up to its
    # own float32 rounding of 13 terms (≲ 13 · 2^-24 relative)
    margin = en.xgb_margin(booster, x)
    assert margin.shape == (len(x), 3)
    np.testing.assert_allclose(en.score(ens, lv), margin, rtol=0, atol=1e-5)


def test_three_class_fixed_point_is_within_its_bound_and_wraps_per_class(three_class_booster):
    booster, x = three_class_booster
    ens = en.ensemble_from_booster(booster)
    fmt = FixedType.parse("ap_fixed<18,6>")
    ens_q, _ = en.quantize_ensemble(ens, fmt)
    x_q = fmt.quantize_inputs(x)
    lv = en.leaves(ens_q, x_q)
    np.testing.assert_array_equal(lv, en.xgb_leaves(booster, x_q))
    y, wrapped = en.emulate_fixed(ens_q, lv, fmt)
    exact = en.score(ens, en.leaves(ens, x_q))
    assert y.shape == (len(x), 3) and wrapped == 0
    assert np.abs(y - exact).max() <= (ens["n_trees"] + 1) * fmt.lsb / 2
    # one class's sum beyond the type: that event wraps (counted once), the other classes do not move
    tiny = FixedType.parse("ap_fixed<6,1>")
    _, wrapped_tiny = en.emulate_fixed(en.quantize_ensemble(ens, tiny)[0], lv, tiny)
    assert 0 < wrapped_tiny <= len(x)


def test_unsupported_objective_is_refused():
    import xgboost as xgb

    rng = np.random.default_rng(0)
    model = xgb.XGBRegressor(n_estimators=2, max_depth=2, n_jobs=1).fit(rng.normal(size=(90, 3)), rng.normal(size=90))
    with pytest.raises(TrigdeployError, match="objective 'reg:squarederror' not supported"):
        en.ensemble_from_booster(model.get_booster())


def test_fixed_type_grid():
    assert (FMT.lsb, FMT.int_min, FMT.int_max) == (2.0**-10, -(2**17), 2**17 - 1)
    np.testing.assert_array_equal(
        FMT.quantize_inputs(np.array([0.00097, -0.00001, 1e6, -1e6])), [0.0, -FMT.lsb, 128 - FMT.lsb, -128.0]
    )
    assert json.loads(json.dumps(str(FMT))) == "ap_fixed<18,8>"
