"""Training throughput of the float and QAT MLPs on one GPU (bf16 autocast) against the CPU.

    python benchmarks/bench_gpu_train.py --run runs/toptag [--epochs 4] [--out FILE]

Reads an existing run's data stage (``load_prepared``: the feature cache, no HDF5 reading) and
trains the config's MLP shapes from scratch with the trainer of ``trigdeploy train``
(``train.nn.fit``), on ``cuda`` when available and on the CPU, at batch sizes 512 and 4096.
Reports rows/s (median of the epochs after the first) and the test AUC. The batches are
gathered and scaled on the CPU from the memory-mapped cache, as in ``trigdeploy train``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/toptag")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results/gpu_train.json")
    args = parser.parse_args()

    import torch

    from trigdeploy.config import MLPConfig, QMLPConfig, load_config
    from trigdeploy.data.cache import load_prepared
    from trigdeploy.models.families import build_torch_model, torch_predict
    from trigdeploy.schema import parse_section, to_dict
    from trigdeploy.train import nn as tnn
    from trigdeploy.train.metrics import roc_auc

    run = Path(args.run)
    cfg = load_config(run / "config.yaml")
    prepared = load_prepared(run)
    val, (x_test, y_test) = prepared.arrays("val"), prepared.arrays("test")
    devices = (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]
    out = {
        "run": str(run),
        "train_rows": int(len(prepared.rows("train"))),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_threads": torch.get_num_threads(),
        "results": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for kind, cls in (("mlp", MLPConfig), ("qmlp", QMLPConfig)):
            base = to_dict(getattr(cfg.train, kind))
            for device in devices:
                for batch in (512, 4096):
                    mcfg = parse_section(
                        cls,
                        {
                            **base,
                            "epochs": args.epochs,
                            "batch_size": batch,
                            "early_stopping_patience": 100,
                            "init": "scratch",
                        }
                        if kind == "qmlp"
                        else {**base, "epochs": args.epochs, "batch_size": batch, "early_stopping_patience": 100},
                        f"train.{kind}",
                        "bench",
                    )
                    torch.manual_seed(0)
                    model = build_torch_model(kind, len(prepared.features), mcfg)
                    res = tnn.fit(
                        kind,
                        model,
                        prepared,
                        mcfg,
                        val,
                        seed=0,
                        device=torch.device(device),
                        checkpoint=Path(tmp) / f"{kind}.ckpt",
                        progress=False,
                    )
                    rates = [h["rows_per_s"] for h in res.history[1:]] or [res.history[0]["rows_per_s"]]
                    auc = roc_auc(y_test, torch_predict(model.cpu(), x_test))
                    row = {
                        "model": kind,
                        "device": device,
                        "batch": batch,
                        "rows_per_s": float(np.median(rates)),
                        "test_auc": auc,
                        "epochs": args.epochs,
                    }
                    out["results"].append(row)
                    print(f"| {kind} | {device} | {batch} | {row['rows_per_s']:,.0f} | {auc:.5f} |", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
