"""The CUDA path of the trainer (bf16 autocast, device placement, GPU-resident rows), on a GPU machine only."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import run_config
from trigdeploy.config import MLPConfig
from trigdeploy.data.generate import write_toptag
from trigdeploy.generators import ToptagGenConfig
from trigdeploy.models.families import load_torch_model
from trigdeploy.train.run import train_run

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.device, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def small_run_config(tmp_path, train: dict):
    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=4000, seed=21, chunk_size=2000), data, progress=False)
    return run_config(
        [data], name="cuda", seed=2, features={"kind": "toptag_jet"}, scaling={"sample_rows": 2000}, train=train
    )


def test_mlp_and_qat_train_on_cuda(tmp_path):
    cfg = small_run_config(
        tmp_path,
        {
            "device": "cuda",
            "mlp": {"hidden": [32, 16], "epochs": 3, "batch_size": 256},
            "qmlp": {"hidden": [32, 16], "epochs": 2, "batch_size": 256, "init": "float"},
        },
    )
    metrics = train_run(cfg, tmp_path / "run", progress=False)
    for name in ("mlp", "qmlp"):
        assert metrics[name]["training"]["device"].startswith("cuda")
        assert metrics[name]["auc"] > 0.85  # toptag_jet features reach ≈ 0.95 on CPU with this setup
    model, _ = load_torch_model(tmp_path / "run" / "mlp.pt")  # saved from the GPU, reloads on CPU
    assert next(model.parameters()).device.type == "cpu"


def test_gpu_resident_rows_train_like_streamed_rows(tmp_path):
    from trigdeploy.data.prepare import prepare
    from trigdeploy.models.families import build_torch_model
    from trigdeploy.train import nn as tnn

    prepared = prepare(small_run_config(tmp_path, {"mlp": {}}), tmp_path / "run", progress=False)
    val = prepared.arrays("val")
    weights = []
    for budget in (4.0, 0.0):  # resident on the GPU, then streamed from the CPU
        cfg = dataclasses.replace(MLPConfig(hidden=(16, 8), epochs=2, batch_size=128), gpu_resident_gb=budget)
        torch.manual_seed(0)
        model = build_torch_model("mlp", len(prepared.features), cfg)
        tnn.fit(
            "mlp",
            model,
            prepared,
            cfg,
            val,
            seed=0,
            device=torch.device("cuda"),
            checkpoint=tmp_path / f"{budget}.ckpt",
            progress=False,
        )
        weights.append(torch.cat([p.detach().float().cpu().reshape(-1) for p in model.parameters()]))
    # same batches in the same order; only GPU reduction order may differ between the two runs
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-3, atol=1e-4)
