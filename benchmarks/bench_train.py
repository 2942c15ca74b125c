"""Training throughput: the first pass from the file (features into the cache) vs epochs from the cache.

    python benchmarks/bench_train.py [--config configs/toptag.yaml] [--data FILE ...] [--run-root /tmp/bt]

For each data file: ``trigdeploy train`` with a fresh run directory (so the cache is built), in a
fresh process. Reads back the data-stage time (file → features cache), per-model training time,
and per-epoch rows/s of the torch models from the run directory. Writes
benchmarks/results/train.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/toptag.yaml")
    ap.add_argument("--data", nargs="*", default=[], help="data files (default: the config's own)")
    ap.add_argument("--run-root", type=Path, default=Path("/tmp/trigdeploy-bench-train"))
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "train.json")
    args = ap.parse_args()
    rows = []
    for data in args.data or [None]:
        run = args.run_root / (Path(data).stem if data else "default")
        shutil.rmtree(run, ignore_errors=True)
        cmd = [sys.executable, "-m", "trigdeploy", "train", "--config", args.config, "--run-dir", str(run), "--quiet"]
        if data:
            cmd += ["--data", data]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
        wall = time.perf_counter() - t0
        metrics = json.loads((run / "metrics.json").read_text())
        info = json.loads((run / "run.json").read_text())
        state = json.loads((run / "train_state.json").read_text())
        n_rows = sum(sum(c.values()) for c in info["class_counts"].values())
        entry = {
            "data": data or "config default",
            "rows": n_rows,
            "wall_seconds": wall,
            "data_stage_seconds": info["data_stage_seconds"],
            "models": {},
        }
        for name, m in metrics.items():
            e = {"seconds": m["training"]["seconds"], "rows_seen": m["training"]["rows_seen"], "auc": m["auc"]}
            hist = state[name].get("history")
            if hist:
                e["epoch_rows_per_s"] = [h["rows_per_s"] for h in hist]
                e["epochs"] = len(hist)
            entry["models"][name] = e
        rows.append(entry)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        "| data rows | data stage s (file → cache) | file-pass rows/s | model | train s | rows/s (epochs from cache) | test AUC |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for name, m in r["models"].items():
            per_s = (
                f"{sorted(m['epoch_rows_per_s'])[len(m['epoch_rows_per_s']) // 2]:,.0f} (median of {m['epochs']} epochs)"
                if "epoch_rows_per_s" in m
                else f"{m['rows_seen'] / m['seconds']:,.0f}"
            )
            print(
                f"| {r['rows']:,} | {r['data_stage_seconds']:.1f} | {r['rows'] / r['data_stage_seconds']:,.0f} | {name} | "
                f"{m['seconds']:.1f} | {per_s} | {m['auc']:.4f} |"
            )


if __name__ == "__main__":
    main()
