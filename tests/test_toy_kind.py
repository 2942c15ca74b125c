"""A model kind registered from this one file runs through train → export → csim → bench.

The toy kind is a logistic regression (one torch Linear layer) with an ONNX form only: no stage
module names it, so it exercises the registry, the per-form exporters, the manifest's project
list and the report code paths that must not assume the built-in kinds.
"""

from __future__ import annotations

import json

import pytest
from torch import nn

from conftest import SMALL_TRAIN, run_config
from trigdeploy.config import MLPConfig
from trigdeploy.data.generate import write_toptag
from trigdeploy.generators import ToptagGenConfig
from trigdeploy.models import registry


@pytest.fixture
def logreg():
    kind = registry.register(
        registry.ModelKind(
            "logreg",
            MLPConfig,
            "logreg.pt",
            "torch",
            "PyTorch",
            build=lambda n, cfg: nn.Sequential(nn.Linear(n, 1)),
            forms=("onnx",),
        )
    )
    yield kind
    registry.unregister("logreg")


@pytest.mark.integration
def test_toy_kind_from_one_file_runs_every_stage(logreg, tmp_path):
    from trigdeploy.bench.run import bench_run
    from trigdeploy.convert.export import export_run
    from trigdeploy.csim.run import csim_run
    from trigdeploy.targets import ExportTarget
    from trigdeploy.train.run import train_run

    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=1500, seed=3, chunk_size=1500), data, progress=False)
    cfg = run_config(
        [data],
        name="toy",
        features={"kind": "toptag_jet"},
        scaling={"sample_rows": 1000},
        train={**SMALL_TRAIN, "logreg": {"epochs": 8, "batch_size": 64, "lr": 0.02}},
    )
    assert cfg.train.model("logreg") == MLPConfig(epochs=8, batch_size=64, lr=0.02)
    run = tmp_path / "runs" / "toy"
    metrics = train_run(cfg, run, progress=False)
    assert set(metrics) == {"logreg"} and metrics["logreg"]["auc"] > 0.8  # jet substructure separates top from QCD
    assert "logreg:" in (run / "config.yaml").read_text()

    manifest = export_run(run, ExportTarget(source="test"))
    assert set(manifest["models"]) == {"logreg"} and manifest["projects"] == []
    assert manifest["models"]["logreg"]["onnx"]["ort_parity"]["ok"]
    assert (tmp_path / "export" / "toy" / "logreg.onnx").is_file()  # the layout's default root beside runs/

    report = csim_run(run)
    assert report["projects"] == {} and report["ok"]

    bench = bench_run(run, progress=False)
    forms = bench["physics"]["logreg"]
    assert set(forms) == {"PyTorch", "ONNX Runtime"}
    assert abs(forms["PyTorch"]["auc"] - forms["ONNX Runtime"]["auc"]) < 1e-6
    assert json.loads((tmp_path / "benchmarks" / "results" / "toy.json").read_text())["physics"]["logreg"]
