"""Data stage: leak guard, planted leaks, labels, spread splits, scaling, NaN policies, cache."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_config
from trigdeploy.data.generate import write_toptag
from trigdeploy.data.prepare import prepare
from trigdeploy.data.splits import sample_rows
from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import ToptagGenConfig


@pytest.fixture(scope="module")
def toptag_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tt") / "t.h5"
    write_toptag(ToptagGenConfig(jets=3000, seed=21, chunk_size=1000), path, progress=False)
    return path


def toptag_cfg(path, *overrides, kind="toptag_jet"):
    return run_config(
        [path],
        *overrides,
        data={"chunk_rows": 700},
        features={"kind": kind, "n_constituents": 5},
        scaling={"sample_rows": 1500},
    )


def table_file(tmp_path, n=2000, seed=0, **extra):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    df = pd.DataFrame(
        {
            "f1": rng.normal(size=n) + y,
            "f2": rng.normal(size=n),
            "eventNumber": np.arange(n),
            "mcWeight": np.ones(n),
            "is_signal": y,
            "ttv": np.zeros(n, np.int64),
        }
    )
    for k, v in extra.items():
        df[k] = v(df) if callable(v) else v
    path = tmp_path / "tab.h5"
    df.to_hdf(path, key="table", format="table")
    return path, df


def table_cfg(path, *overrides):
    return run_config([path], *overrides, name="tab", data={"chunk_rows": 300})


def test_toptag_never_uses_truth_or_split_tag(toptag_file, tmp_path):
    result = prepare(toptag_cfg(toptag_file, kind="toptag_jet_constituents"), tmp_path, progress=False)
    report = json.loads((tmp_path / "features.json").read_text())
    assert report["features"] == result.features
    assert len(result.features) == 14 + 15
    for col in ("truthE", "truthPX", "truthPY", "truthPZ", "ttv", "is_signal_new"):
        assert col not in result.features
        assert col in report["dropped"]
    assert report["dropped"]["ttv"] == "split tag"
    assert report["dropped"]["truthE"] == "truth-level column"
    assert report["label"] == {
        "kind": "column",
        "inputs": ["is_signal_new"],
        "background": "background",
        "signal": "signal",
    }  # auto-detected, not ttv
    assert report["label_is_function_of_inputs"] is False


def test_splits_disjoint_spread_reproducible(toptag_file, tmp_path):
    a = prepare(toptag_cfg(toptag_file), tmp_path / "a", progress=False)
    prepare(toptag_cfg(toptag_file), tmp_path / "b", progress=False)
    c = prepare(toptag_cfg(toptag_file, "split.seed=7"), tmp_path / "c", progress=False)
    sa, sb = (np.load(p / "splits.npz") for p in (tmp_path / "a", tmp_path / "b"))
    np.testing.assert_array_equal(sa["val"], sb["val"])
    np.testing.assert_array_equal(sa["test"], sb["test"])
    assert not np.array_equal(sa["test"], np.load(tmp_path / "c" / "splits.npz")["test"])
    train, val, test = (set(a.rows(s)) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert len(train | val | test) == 3000
    assert (len(val), len(test)) == (300, 600)
    for rows in (a.rows("val"), a.rows("test")):  # spread over the whole file, not the first rows
        assert rows.min() < 300 and rows.max() > 2700
        assert 0.3 < np.mean(rows < 1500) < 0.7
    assert c.rows("test").tolist() != a.rows("test").tolist()


def test_scaling_fit_on_spread_training_sample(toptag_file, tmp_path):
    result = prepare(toptag_cfg(toptag_file), tmp_path, progress=False)
    pre = json.loads((tmp_path / "preprocess.json").read_text())
    assert pre["features"] == result.features
    x, _ = result.arrays("train")
    # mean/std come from a 1500-row sample of 2100 training rows: the full-training-set mean of
    # the standardised features is within a few sampling errors (σ/√1500 ≈ 0.026) of 0
    assert np.all(np.abs(x.mean(0)) < 0.15)
    assert np.all(np.abs(x.std(0) - 1) < 0.15)
    assert [w for w in sample_rows(100_000, 1600)] == [(int(s), int(s) + 100) for s in np.linspace(0, 99_900, 16)]


def test_batches_cover_split_in_order(toptag_file, tmp_path):
    result = prepare(toptag_cfg(toptag_file), tmp_path, progress=False)
    rows = np.concatenate([r for _, _, r in result.batches("val", batch_rows=64)])
    np.testing.assert_array_equal(rows, result.rows("val"))
    xs, ys = result.arrays("val")
    xb = np.concatenate([x for x, _, _ in result.batches("val", batch_rows=64)])
    np.testing.assert_array_equal(xb, xs)


def test_planted_label_copy_stops_the_run(tmp_path):
    path, _ = table_file(tmp_path, innocent=lambda d: d["is_signal"] * 2.0 + 1.0)
    with pytest.raises(TrigdeployError, match="feature 'innocent' alone separates the label .*AUC 1.0000"):
        prepare(table_cfg(path), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "features.json").exists()
    cfg = table_cfg(path, "leak_guard.allow_separating=[innocent]")
    prepare(cfg, tmp_path / "ok", progress=False)


def test_planted_anti_correlated_leak_stops_the_run(toptag_file, tmp_path):
    path, _ = table_file(tmp_path, flipped=lambda d: 1 - d["is_signal"])
    with pytest.raises(TrigdeployError, match="feature 'flipped' alone separates"):
        prepare(table_cfg(path), tmp_path / "run", progress=False)


def test_name_rules_drop_ids_weights_split_and_label(tmp_path):
    path, _ = table_file(tmp_path)
    result = prepare(table_cfg(path), tmp_path / "run", progress=False)
    assert result.features == ["f1", "f2"]
    assert result.report["dropped"] == {
        "eventNumber": "identifier",
        "mcWeight": "weight (bookkeeping)",
        "is_signal": "defines the label",
        "ttv": "split tag",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["features.columns=[f1, eventNumber]"], "feature column 'eventNumber' cannot be used: identifier"),
        (["features.columns=[f1, is_signal]"], "feature column 'is_signal' cannot be used: defines the label"),
        (["features.columns=[f1, nope]"], "features.columns not found: nope"),
        (["label.column=ttv"], "label column 'ttv' is a split tag"),
        (["label.column=zz"], "label column 'zz' not found"),
        (["label.column=f1"], "label column 'f1' must be 0/1"),
        (["label.cut=f9 > 1"], "label.cut uses column\\(s\\) not in the data: f9"),
        (["label.cut=f1.real > 1"], "not allowed"),
        (["label.column=is_signal", "label.cut=f1 > 0"], "set one of column, onehot, cut"),
        (["data.selection=f1 > 100"], "no sampled row passes data.selection 'f1 > 100'"),
        (["split.mode=column"], "holds a single class|split is empty"),
        (["split.val_fraction=0.5", "split.test_fraction=0.5"], "val_fraction \\+ test_fraction must be < 1"),
        (["split.mode=files"], "needs split.val_files and split.test_files"),
        (["data.derived={g: truthE * 2}"], "unknown column|not found"),
    ],
    ids=[
        "explicit-identifier",
        "explicit-label",
        "missing-feature",
        "ttv-as-label",
        "missing-label",
        "non-binary-label",
        "cut-unknown-column",
        "cut-attribute",
        "two-labels",
        "selection-empties",
        "ttv-all-train",
        "fractions",
        "files-mode-missing",
        "derived-unknown",
    ],
)
def test_bad_label_feature_split_config(tmp_path, overrides, message):
    path, _ = table_file(tmp_path)
    with pytest.raises(TrigdeployError, match=message) as info:
        prepare(table_cfg(path, *overrides), tmp_path / "run", progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run" / "features.json").exists()


def test_single_class_file(tmp_path):
    path, _ = table_file(tmp_path, is_signal=0)
    with pytest.raises(TrigdeployError, match="single class"):
        prepare(table_cfg(path), tmp_path / "run", progress=False)


def test_non_numeric_column_dropped_or_refused(tmp_path):
    path, _ = table_file(tmp_path, name="abc")
    result = prepare(table_cfg(path), tmp_path / "run", progress=False)
    assert result.report["dropped"]["name"].startswith("non-numeric")
    with pytest.raises(TrigdeployError, match="feature column 'name' cannot be used: non-numeric"):
        prepare(table_cfg(path, "features.columns=[f1, name]"), tmp_path / "run2", progress=False)


def _with_nans(d):
    v = d["f2"].to_numpy().copy()
    v[::50] = np.nan
    v[7] = np.inf
    return v


@pytest.mark.parametrize("policy", ["error", "drop", "impute"], ids=["error", "drop", "impute"])
def test_nan_policy(tmp_path, policy):
    path, _ = table_file(tmp_path, f2=_with_nans)
    cfg = table_cfg(path, f"data.nan_policy={policy}")
    if policy == "error":
        with pytest.raises(TrigdeployError, match="feature 'f2' has NaN/inf values"):
            prepare(cfg, tmp_path / "run", progress=False)
        return
    result = prepare(cfg, tmp_path / "run", progress=False)
    bad = 2000 // 50 + 1
    if policy == "drop":
        assert result.report["nan"] == {"dropped": bad, "imputed_values": 0}
        assert result.report["rows"]["unused"] == bad
    else:
        assert result.report["nan"] == {"dropped": 0, "imputed_values": bad}
        x, _ = result.arrays("train")
        assert np.isfinite(x).all()


def test_cut_label_and_onehot(tmp_path):
    path, df = table_file(tmp_path, bkg=lambda d: 1 - d["is_signal"])
    result = prepare(table_cfg(path, "label.onehot=[bkg, is_signal]"), tmp_path / "oh", progress=False)
    assert result.report["dropped"]["bkg"] == "defines the label"
    cut = prepare(table_cfg(path, "label.cut=f2 > 0.5"), tmp_path / "cut", progress=False)
    assert "f2" not in cut.features and cut.report["dropped"]["f2"] == "defines the label"
    _, y = cut.arrays("test")
    np.testing.assert_array_equal(y, (df["f2"].to_numpy() > 0.5)[cut.rows("test")])


def test_label_function_of_inputs_is_loud(tmp_path, caplog):
    path, _ = table_file(tmp_path)
    result = prepare(
        table_cfg(path, "label.cut=f2 > 0.5", "leak_guard.keep_label_inputs=true"), tmp_path / "run", progress=False
    )
    assert "f2" in result.features
    assert result.report["label_is_function_of_inputs"] is True
    assert result.report["label_function_of"] == ["f2"]
    assert any(
        r.levelname == "WARNING" and "the label is a function of the input features (f2)" in r.getMessage()
        for r in caplog.records
    )


def test_split_column_and_split_files(tmp_path):
    rng = np.random.default_rng(3)
    files = {}
    for name, ttv in (("train", 0), ("val", 2), ("test", 1)):
        y = rng.integers(0, 2, 400)
        df = pd.DataFrame({"f1": rng.normal(size=400) + y, "is_signal_new": y, "ttv": np.full(400, ttv)})
        df.to_hdf(tmp_path / f"{name}.h5", key="table", format="table")
        files[name] = str(tmp_path / f"{name}.h5")
    by_files = prepare(
        table_cfg(
            files["train"],
            "split.mode=files",
            f"split.val_files=[{files['val']}]",
            f"split.test_files=[{files['test']}]",
        ),
        tmp_path / "f",
        progress=False,
    )
    assert (len(by_files.rows("train")), len(by_files.rows("val")), len(by_files.rows("test"))) == (400, 400, 400)
    np.testing.assert_array_equal(by_files.rows("test"), np.arange(800, 1200))
    by_column = prepare(
        table_cfg(
            files["train"], "split.mode=column", f"data.files=[{files['train']}, {files['val']}, {files['test']}]"
        ),
        tmp_path / "c",
        progress=False,
    )
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(by_column.rows(split), by_files.rows(split))


def test_cache_reused_and_invalidated(toptag_file, tmp_path):
    first = prepare(toptag_cfg(toptag_file), tmp_path, progress=False)
    stamp = (first.cache_dir / "features.npy").stat().st_mtime_ns
    again = prepare(toptag_cfg(toptag_file), tmp_path, progress=False)
    assert again.cache_dir == first.cache_dir
    assert (again.cache_dir / "features.npy").stat().st_mtime_ns == stamp
    other = prepare(toptag_cfg(toptag_file, "split.test_fraction=0.3"), tmp_path, progress=False)
    assert other.cache_dir != first.cache_dir
    assert not first.cache_dir.exists()  # stale cache removed
    assert len(other.rows("test")) == 900


def test_root_cut_task_end_to_end(tmp_path, repo):
    from trigdeploy.config import load_config
    from trigdeploy.data.generate import write_atlas_mini
    from trigdeploy.generators import AtlasMiniGenConfig

    mini = tmp_path / "mini.root"
    write_atlas_mini(AtlasMiniGenConfig(events=4000, seed=5), mini, progress=False)
    cfg = load_config(repo / "configs" / "atlas_mini.yaml", data_files=[str(mini)])
    result = prepare(cfg, tmp_path / "run", progress=False)
    report = json.loads((tmp_path / "run" / "features.json").read_text())
    assert report["label_is_function_of_inputs"] is True
    assert {"lep_E_0", "lep_eta_0", "lep_pt_0"} <= set(result.features)
    for leak in (
        "lep_truthMatched_0",
        "jet_trueflav_0",
        "eventNumber",
        "runNumber",
        "channelNumber",
        "mcWeight",
        "scaleFactor_PILEUP",
    ):
        assert leak in report["dropped"] and leak not in result.features
    physics = load_config(repo / "configs" / "atlas_mini_physics.yaml", data_files=[str(mini)])
    result = prepare(physics, tmp_path / "phys", progress=False)
    assert "channelNumber" not in result.features
    assert result.report["dropped"]["channelNumber"] == "defines the label"
    assert result.report["label_is_function_of_inputs"] is False


def test_toptag_features_on_a_table_without_constituents(tmp_path):
    path, _ = table_file(tmp_path)
    with pytest.raises(
        TrigdeployError, match="features.kind toptag_jet needs the Top Quark Tagging constituent columns"
    ):
        prepare(table_cfg(path, "features.kind=toptag_jet"), tmp_path / "run", progress=False)


def test_rntuple_and_ttree_give_the_same_prepared_features(tmp_path, repo):
    """The generated ATLAS mini tree rewritten as an RNTuple (uproot) prepares to the same cache."""
    import awkward as ak
    import numpy as np
    import uproot

    from trigdeploy.config import load_config
    from trigdeploy.data.generate import write_atlas_mini
    from trigdeploy.generators import AtlasMiniGenConfig

    tree = tmp_path / "tree.root"
    write_atlas_mini(AtlasMiniGenConfig(events=3000, seed=7), tree, progress=False)
    with uproot.open(tree) as f:
        content = f["mini"].arrays(library="ak")
    ntuple = tmp_path / "ntuple.root"
    with uproot.recreate(ntuple) as f:
        f.mkrntuple("mini", content)
    results = {}
    for name, path in (("tree", tree), ("ntuple", ntuple)):
        cfg = load_config(repo / "configs" / "atlas_mini.yaml", data_files=[str(path)])
        results[name] = prepare(cfg, tmp_path / name, progress=False)
    a, b = results["tree"], results["ntuple"]
    assert a.features == b.features and len(a.features) > 20
    np.testing.assert_array_equal(a.codes, b.codes)
    for x, y in zip(a.open_cache(), b.open_cache()):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert ak.num(content["lep_pt"], axis=0) == 3000


@pytest.mark.parametrize("how", ["same-path", "symlink", "hard-link", "copy", "relative-path"])
def test_a_file_given_twice_is_refused(tmp_path, how, monkeypatch):
    """Rows of one file twice would be in train and test alike (a test AUC that means nothing)."""
    import os
    import shutil

    path, _ = table_file(tmp_path)
    other = tmp_path / "other.h5"
    if how == "symlink":
        other.symlink_to(path)
    elif how == "hard-link":
        os.link(path, other)
    elif how == "copy":
        shutil.copyfile(path, other)
    elif how == "relative-path":
        monkeypatch.chdir(tmp_path)
        other = path.name
    else:
        other = path
    with pytest.raises(TrigdeployError, match=f"input file {other} is (the same file as|a copy of) {path}") as info:
        prepare(table_cfg(path, f"data.files=[{path}, {other}]"), tmp_path / "run", progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run" / "features.json").exists()


def test_two_different_files_are_not_taken_for_copies(tmp_path):
    """Two files of the same size and layout but other rows: both read (the check can tell them apart)."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    (a, _), (b, _) = table_file(tmp_path / "a", seed=1), table_file(tmp_path / "b", seed=2)
    assert a.stat().st_size == b.stat().st_size
    result = prepare(table_cfg(a, f"data.files=[{a}, {b}]"), tmp_path / "run", progress=False)
    assert result.n_rows == 4000
