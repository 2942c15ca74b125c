"""K-class labels in the data stage: a class column with ``label.classes``, K one-hot columns; the
class counts per split, the leak guard per class, and the one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_config
from trigdeploy.data.prepare import prepare
from trigdeploy.errors import TrigdeployError

CLASSES = {"gluon": 7, "quark": 3, "top": 11}


def class_file(tmp_path, n=3000, seed=0, **extra):
    """A table with a class column ``kind`` (values 7, 3, 11), its one-hot columns and two features."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    df = pd.DataFrame(
        {"f1": rng.normal(size=n) + k, "f2": rng.normal(size=n) - k, "kind": np.array(list(CLASSES.values()))[k]}
    )
    for i, name in enumerate(CLASSES):
        df[f"is_{name}"] = (k == i).astype(np.int64)
    for key, v in extra.items():
        df[key] = v(df, k) if callable(v) else v
    path = tmp_path / "classes.h5"
    df.to_hdf(path, key="table", format="table")
    return path, k


def cfg(path, *overrides):
    return run_config(
        [path],
        *overrides,
        name="mc",
        data={"chunk_rows": 400},
        features={"exclude": ["kind", "is_gluon", "is_quark", "is_top"]},
    )


@pytest.mark.parametrize(
    "label",
    [
        ["label.column=kind", "label.classes={gluon: 7, quark: 3, top: 11}"],
        ["label.onehot=[is_gluon, is_quark, is_top]"],
        ["label.cuts={gluon: kind == 7, quark: kind == 3, top: kind > 10}"],
    ],
    ids=["class-column", "onehot-columns", "cuts"],
)
def test_k_classes_counted_per_split(tmp_path, label):
    path, k = class_file(tmp_path)
    result = prepare(cfg(path, *label), tmp_path / "run", progress=False)
    report = json.loads((tmp_path / "run" / "features.json").read_text())
    names = ["is_gluon", "is_quark", "is_top"] if "onehot" in label[-1] else ["gluon", "quark", "top"]
    assert report["label"]["classes"] == names
    for split in ("train", "val", "test"):
        rows = result.rows(split)
        assert report["class_counts"][split] == {n: int((k[rows] == i).sum()) for i, n in enumerate(names)}
    _, y = result.arrays("test")
    np.testing.assert_array_equal(y, k[result.rows("test")])  # class indices in the order given
    assert set(report["leak_guard"]["single_feature_auc"]["f1"]) == set(names)  # one AUC per class


def test_the_class_order_is_the_configs(tmp_path):
    path, k = class_file(tmp_path)
    result = prepare(
        cfg(path, "label.column=kind", "label.classes={top: 11, gluon: 7, quark: 3}"), tmp_path / "run", progress=False
    )
    _, y = result.arrays("val")
    np.testing.assert_array_equal(y, np.array([1, 2, 0])[k[result.rows("val")]])


def test_leak_guard_catches_a_feature_that_identifies_one_class(tmp_path):
    path, _ = class_file(tmp_path, planted=lambda d, k: (k == 2) * 5.0 + 0.01 * d["f2"])
    with pytest.raises(TrigdeployError, match="feature 'planted' alone separates class 'top' from the others"):
        prepare(
            cfg(path, "label.column=kind", "label.classes={gluon: 7, quark: 3, top: 11}"),
            tmp_path / "run",
            progress=False,
        )


@pytest.mark.parametrize(
    ("extra", "overrides", "message"),
    [
        (
            {},
            ["label.column=kind", "label.classes={gluon: 7, quark: 3}", "label.signal=quark"],
            "label column 'kind' has value 11, which is none of label.classes \\(gluon: 7, quark: 3\\)",
        ),
        (
            {"is_top": 1},
            ["label.onehot=[is_gluon, is_quark, is_top]"],
            "one-hot label columns \\['is_gluon', 'is_quark', 'is_top'\\] are not 0/1 with exactly one 1",
        ),
        (
            {"kind": lambda d, k: np.where(k == 2, 3, d["kind"])},
            ["label.column=kind", "label.classes={gluon: 7, quark: 3, top: 11}"],
            "split holds no rows of class top",
        ),
        (
            {},
            ["label.cuts={gluon: kind == 7, quark: kind < 8, top: kind > 10}"],
            "rows 0-400: label.cuts: row [0-9]+ of the chunk is in classes gluon, quark; expected exactly one class per row",
        ),
        (
            {},
            ["label.cuts={gluon: kind == 7, quark: kind == 3}", "label.signal=quark"],
            "label.cuts: row [0-9]+ of the chunk is in no class",
        ),
        (
            {},
            ["label.cuts={gluon: kind == 7, quark: nope == 3}", "label.signal=quark"],
            "label.cuts use column\\(s\\) not in the data: nope",
        ),
    ],
    ids=["unknown-value", "two-hot", "class-absent", "cuts-overlap", "cuts-gap", "cuts-unknown-column"],
)
def test_bad_class_labels_one_line(tmp_path, extra, overrides, message):
    path, _ = class_file(tmp_path, **extra)
    with pytest.raises(TrigdeployError, match=message) as info:
        prepare(cfg(path, *overrides), tmp_path / "run", progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run" / "features.json").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        ["label.classes={signal: 1, background: 0}"],
        ["label.classes={top: 11, gluon: 7}", "label.signal=top"],
        ["label.cuts={signal: kind == 11, background: kind != 11}"],
        ["label.cuts={top: kind == 11, rest: kind != 11}", "label.signal=top"],
    ],
    ids=["classes-signal-first", "classes-named-signal", "cuts-signal-first", "cuts-named-signal"],
)
def test_two_classes_train_the_signal_as_signal(tmp_path, overrides):
    """Whatever order the two classes are written in, index 1 (the logit's positive side) is the signal."""
    zero_one = overrides[0].startswith("label.classes={signal")
    path, k = class_file(tmp_path, kind=lambda d, k: (k == 2).astype(np.int64) if zero_one else np.where(k == 2, 11, 7))
    col = ["label.column=kind"] if overrides[0].startswith("label.classes") else []
    result = prepare(cfg(path, *col, *overrides), tmp_path / "run", progress=False)
    _, y = result.arrays("val")
    np.testing.assert_array_equal(y, (k == 2)[result.rows("val")].astype(np.uint8))
    label = result.report["label"]
    assert label["signal"] in ("signal", "top") and label["background"] in ("background", "gluon", "rest")
    assert result.n_outputs == 1


@pytest.mark.parametrize(
    "overrides",
    [["label.column=kind", "label.classes={top: 11, gluon: 7}"], ["label.cuts={top: kind == 11, rest: kind != 11}"]],
    ids=["classes", "cuts"],
)
def test_two_classes_without_a_signal_are_refused(tmp_path, overrides):
    path, _ = class_file(tmp_path, kind=lambda d, k: np.where(k == 2, 11, 7))
    with pytest.raises(TrigdeployError, match="two classes \\(top, .*\\): set label.signal") as info:
        prepare(cfg(path, *overrides), tmp_path / "run", progress=False)
    assert "\n" not in str(info.value)
