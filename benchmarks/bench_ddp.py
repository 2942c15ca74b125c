"""Float-MLP training throughput: one process against DDP with 2 processes (torchrun, gloo, CPU).

    python benchmarks/bench_ddp.py [--config configs/toptag.yaml] [--epochs 3]

Trains only the float MLP of the config (its data must exist: ``make data``) three ways, each in
a fresh run directory under a temporary folder: 1 process × 1 thread, 1 process × 2 threads, and
2 processes × 1 thread under ``torchrun``. Reports training rows/s (all ranks together, median
over the epochs after the first) and the test AUC. Writes benchmarks/results/ddp.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def run(cmd: list[str], env: dict) -> None:
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/toptag.yaml")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    base = [
        "--set",
        "train.qmlp=null",
        "--set",
        "train.bdt=null",
        "--set",
        f"train.mlp.epochs={args.epochs}",
        "--set",
        "train.mlp.early_stopping_patience=100",
        "--quiet",
    ]
    cases = {
        "1 process × 1 thread": (1, 1),
        "1 process × 2 threads": (1, 2),
        "2 processes × 1 thread (DDP, gloo)": (2, 1),
    }
    out = {
        "config": args.config,
        "epochs": args.epochs,
        "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "cases": {},
    }
    with tempfile.TemporaryDirectory(prefix="td-ddp-") as tmp:
        for name, (nproc, threads) in cases.items():
            run_dir = Path(tmp) / name.split()[0] / str(threads)
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            train = [
                "-m",
                "trigdeploy",
                "train",
                "--config",
                args.config,
                "--run-dir",
                str(run_dir),
                "--set",
                f"train.threads={threads}",
                *base,
            ]
            cmd = (
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), *train]
                if nproc > 1
                else [sys.executable, *train]
            )
            run(cmd, env)
            m = json.loads((run_dir / "metrics.json").read_text())["mlp"]
            history = json.loads((run_dir / "train_state.json").read_text())["mlp"]["history"]
            rates = [h["rows_per_s"] for h in history[1:]] or [history[0]["rows_per_s"]]
            out["cases"][name] = {
                "rows_per_s": float(np.median(rates)),
                "auc": m["auc"],
                "global_batch": (m["training"].get("distributed") or {}).get("global_batch"),
            }
            print(f"| {name} | {np.median(rates):,.0f} | {m['auc']:.5f} |", flush=True)
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/ddp.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
