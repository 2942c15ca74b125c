"""Model families: each saves and loads back the same model, scores like the trainer, has a one-thread CPU
engine; a file that would run code, or is not the family's format, is refused with one line."""

from __future__ import annotations

import os

import numpy as np
import pytest

from trigdeploy.errors import TrigdeployError
from trigdeploy.models import registry
from trigdeploy.models.families import FAMILIES, family_of, load_forest


@pytest.fixture(scope="module")
def forests():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y2 = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    y3 = np.digitize(x[:, 0], [-0.5, 0.5])
    fit = lambda y: RandomForestClassifier(12, max_depth=5, random_state=0).fit(x, y)  # noqa: E731
    return x, {"binary": fit(y2), "three-class": fit(y3)}


@pytest.mark.parametrize("case", ["binary", "three-class"], ids=["binary", "three-class"])
def test_a_forest_round_trips_with_identical_scores(tmp_path, forests, case):
    x, models = forests
    model, fam = models[case], family_of(registry.kind("rf"))
    fam.save(model, tmp_path / "rf.skops", {})
    back = fam.load(tmp_path / "rf.skops")
    expected = model.predict_proba(x)
    # two classes: the signal's probability (class 1), never the background's; K classes: all K
    np.testing.assert_array_equal(fam.scores(back, x), expected[:, 1] if case == "binary" else expected)
    assert fam.on_cpu(registry.kind("rf"))
    label, engine = fam.engine(back)
    assert label == "scikit-learn predict_proba" and back.n_jobs == 1
    np.testing.assert_array_equal(engine(x[:1]), expected[:1])


def test_a_file_naming_other_code_is_refused(tmp_path):
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    skops.io.dump(FunctionTransformer(func=os.getcwd), tmp_path / "rf.skops")  # would call os.getcwd
    with pytest.raises(TrigdeployError, match=r"rf\.skops: names types trigdeploy does not load \(posix\.getcwd\)"):
        load_forest(tmp_path / "rf.skops")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\x80\x04K\x01.", "not a skops model file (BadZipFile"), (b"", "not a skops model file")],
    ids=["a-pickle", "empty"],
)
def test_a_file_of_another_format_is_one_line(tmp_path, content, message):
    (tmp_path / "rf.skops").write_bytes(content)
    with pytest.raises(TrigdeployError, match=message.replace("(", r"\(")):
        load_forest(tmp_path / "rf.skops")


def test_a_booster_file_that_is_not_one_is_named(tmp_path):
    (tmp_path / "bdt.json").write_text("{}")
    with pytest.raises(TrigdeployError, match=r"bdt\.json: not an XGBoost model file"):
        FAMILIES["xgboost"].load(tmp_path / "bdt.json")


def test_a_kind_of_an_unknown_family_is_refused():
    from trigdeploy.config import RFConfig

    with pytest.raises(ValueError, match="model kind 'odd': unknown family 'onnx-only'"):
        registry.register(registry.ModelKind("odd", RFConfig, "odd.bin", "onnx-only", "ONNX"))
    assert "odd" not in registry.KINDS


def test_every_built_in_kind_has_its_family():
    assert {k.name: k.family for k in registry.KINDS.values()} == {
        "mlp": "torch",
        "seed_mlp": "torch",
        "qmlp": "torch",
        "hgq": "torch",
        "deepsets": "torch",
        "qdeepsets": "torch",
        "hgq_deepsets": "torch",
        "bdt": "xgboost",
        "rf": "sklearn",
    }
    assert set(FAMILIES) >= {"torch", "xgboost", "sklearn"}
    # timed on the CPU: the float MLPs (their ONNX form), the trees; the fixed-point MLPs are FPGA designs
    on_cpu = {k.name for k in registry.KINDS.values() if family_of(k).on_cpu(k)}
    assert on_cpu == {"mlp", "seed_mlp", "deepsets", "bdt", "rf"}
