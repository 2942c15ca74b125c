"""K-class training: every model kind with K outputs, per-class metrics, saved models that reload to
the same scores (the run: ``three_class_run`` in conftest)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_config

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("model", ["mlp", "qmlp", "hgq", "bdt", "rf"], ids=["mlp", "qmlp", "hgq", "bdt", "rf"])
def test_every_kind_learns_three_classes(three_class_run, model):
    run, metrics, _ = three_class_run
    m = metrics[model]
    assert m["classes"] == ["g", "q", "t"]
    # three Gaussian blobs one unit of σ·1.5 apart: chance is 0.5 accuracy (the largest class) and
    # AUC 0.5; a model that learned them reaches AUC ≈ 0.8 per class
    assert m["accuracy"] > 0.6 and all(m["per_class"][c]["auc"] > 0.7 for c in "gqt")
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == m["n_test"] and list(cm.sum(1)) == [m["n_test_per_class"][c] for c in "gqt"]
    assert np.trace(cm) / cm.sum() == pytest.approx(m["accuracy"])
    scores = np.load(run / "predictions" / f"{model}.npz")["test"]
    assert scores.shape == (m["n_test"], 3) and np.allclose(scores.sum(1), 1.0)


def test_weights_balance_the_classes(three_class_run):
    _, metrics, k = three_class_run
    w = np.array(metrics["mlp"]["training"]["class_weights"])
    counts = np.bincount(k, minlength=3)  # all rows; the weights use the training rows (70 %)
    assert w[0] < w[1] < w[2] and w == pytest.approx(counts.sum() / (3 * counts), rel=0.1)


@pytest.mark.parametrize("model", ["mlp", "qmlp"], ids=["mlp", "qmlp"])
def test_saved_networks_reload_with_three_outputs(three_class_run, model):
    import torch

    from trigdeploy.data.cache import load_split
    from trigdeploy.models.families import load_torch_model

    run, _, _ = three_class_run
    net, saved = load_torch_model(run / f"{model}.pt")
    assert saved["n_outputs"] == 3 and saved["classes"] == ["g", "q", "t"]
    x, _ = load_split(run, "test")
    with torch.no_grad():
        p = torch.softmax(net(torch.from_numpy(x)).float(), 1).numpy()
    np.testing.assert_allclose(p, np.load(run / "predictions" / f"{model}.npz")["test"], rtol=0, atol=1e-6)


def test_features_json_and_run_json_name_the_classes(three_class_run):
    run, _, _ = three_class_run
    assert (run / "confusion.png").stat().st_size > 0
    report = json.loads((run / "features.json").read_text())
    assert report["label"]["classes"] == ["g", "q", "t"]
    assert set(json.loads((run / "run.json").read_text())["class_counts"]["test"]) == {"g", "q", "t"}


def test_bdt_on_dask_trains_k_classes_like_one_process(tmp_path):
    from trigdeploy.convert.ensemble import ensemble_from_booster
    from trigdeploy.models.families import load_booster
    from trigdeploy.train.run import train_run

    rng = np.random.default_rng(1)
    k = rng.choice(3, 3000, p=[0.6, 0.25, 0.15])
    pd.DataFrame({"f1": rng.normal(size=3000) + k, "f2": rng.normal(size=3000) - 0.7 * k, "kind": k}).to_hdf(
        tmp_path / "k.h5", key="table", format="table"
    )
    bdt = {"n_estimators": 20, "max_depth": 3}
    out = {}
    for name, extra in (("single", {}), ("dask", {"dask": {"workers": 2, "partition_rows": 500}})):
        cfg = run_config(
            [tmp_path / "k.h5"],
            "label.column=kind",
            "label.classes={a: 0, b: 1, c: 2}",
            name="k",
            features={"exclude": ["kind"]},
            train={"bdt": {**bdt, **extra}},
        )
        out[name] = train_run(cfg, tmp_path / name, progress=False)["bdt"]
    info = out["dask"]["training"]
    assert info["dask"]["partitions"] == 5 and info["class_weights"] == pytest.approx(
        out["single"]["training"]["class_weights"]
    )
    # distributed 'hist' merges per-worker quantile sketches: trees differ slightly, AUCs agree to ~1e-3
    for c in "abc":
        assert abs(out["dask"]["per_class"][c]["auc"] - out["single"]["per_class"][c]["auc"]) < 0.01
    assert np.load(tmp_path / "dask" / "predictions" / "bdt.npz")["test"].shape == (out["dask"]["n_test"], 3)
    ens = ensemble_from_booster(load_booster(tmp_path / "dask" / "bdt.json"))  # exports: one tree set per class
    assert ens["n_classes"] == 3 and ens["n_trees"] == info["best_iteration"] + 1
