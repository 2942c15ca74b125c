"""K-class training: every model kind with K outputs, per-class metrics, saved models that reload to
the same scores (the run: ``three_class_run`` in conftest)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_config
from trigdeploy.errors import TrigdeployError

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

    from trigdeploy.data.prepare import load_split
    from trigdeploy.train.run import load_torch_model

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


def test_bdt_on_dask_refuses_k_classes_in_one_line(tmp_path):
    from trigdeploy.train.run import train_run

    rng = np.random.default_rng(1)
    k = rng.integers(0, 3, 900)
    pd.DataFrame({"f1": rng.normal(size=900) + k, "kind": k}).to_hdf(tmp_path / "k.h5", key="table", format="table")
    cfg = run_config([tmp_path / "k.h5"], "label.column=kind", "label.classes={a: 0, b: 1, c: 2}", name="k",
                     features={"exclude": ["kind"]}, train={"bdt": {"n_estimators": 5, "dask": {"workers": 1}}})
    with pytest.raises(TrigdeployError, match="train.bdt.dask: K-class BDTs train in one process so far") as e:
        train_run(cfg, tmp_path / "run", progress=False)
    assert "\n" not in str(e.value) and not (tmp_path / "run" / "metrics.json").exists()
