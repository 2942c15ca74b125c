"""XGBoost on a 2-worker Dask ``LocalCluster`` against the single-process model."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SMALL_TRAIN, run_config
from trigdeploy.data.generate import write_toptag
from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import ToptagGenConfig
from trigdeploy.train.run import train_run

BDT = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.2}


def cfg(path, bdt):
    return run_config(
        [path],
        name="dask",
        seed=9,
        data={"chunk_rows": 1000},
        features={"kind": "toptag_jet"},
        scaling={"sample_rows": 2000},
        train={**SMALL_TRAIN, "bdt": bdt},
    )


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("dask") / "t.h5"
    write_toptag(ToptagGenConfig(jets=5000, seed=77, chunk_size=2500), path, progress=False)
    return path


def test_dask_local_cluster_matches_single_process(data_file, tmp_path):
    single = train_run(cfg(data_file, BDT), tmp_path / "single", progress=False)["bdt"]
    dask_bdt = {**BDT, "dask": {"workers": 2, "partition_rows": 700}}  # 3500 training rows → 5 partitions
    distributed = train_run(cfg(data_file, dask_bdt), tmp_path / "dask", progress=False)["bdt"]
    info = distributed["training"]["dask"]
    assert (info["workers"], info["partitions"], distributed["training"]["rows_seen"]) == (2, 5, 3500)
    # Distributed 'hist' builds its quantile sketch per worker and merges it, so split candidates
    # (and trees) differ slightly from one process: the AUCs agree to a few 1e-3, not bit for bit.
    assert abs(distributed["auc"] - single["auc"]) < 0.005
    scores = np.load(tmp_path / "dask" / "predictions" / "bdt.npz")["test"]
    assert scores.shape == (1000,) and np.isfinite(scores).all()


def test_dask_refuses_single_process_sampling_options(data_file, tmp_path):
    with pytest.raises(TrigdeployError, match="train.bdt.smote': SMOTE resamples in memory"):
        train_run(cfg(data_file, {**BDT, "smote": True, "dask": {}}), tmp_path / "x", progress=False)
