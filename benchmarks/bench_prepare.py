"""The data stage's first pass (file → feature cache) against the reader, on 1 and 2 workers.

    python benchmarks/bench_prepare.py --dir /tmp/readbench [--jets 300000 1211000] [--repeat 2]

For each file (toptag layout, generated if missing) and in fresh processes, best of ``--repeat``:
  * raw:           PyTables row ranges of the table (``bench_reader.py``'s baseline), nothing else
  * reader:        ``Dataset.chunks`` delivering what the first pass reads (the label column and the
                   800 constituent columns as one array), nothing computed
  * 1 worker:      ``trigdeploy prepare`` of ``configs/toptag.yaml`` with ``data.workers: 1`` (the
                   features computed in the prepare process, the next chunk read on a thread)
  * 1 core:        the same pinned to one CPU (reader thread included)
  * 2 workers:     ``data.workers: 2`` (the prepare process and one spawned worker)
The first-pass rate is rows / seconds of the streaming pass (what ``prepare`` reports as
``first_pass``); the whole ``prepare`` (sampling, leak guard, scaler, splits) is timed beside it.
The caches of every run are compared byte for byte. Writes benchmarks/results/prepare.json and
prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

from toptag_files import SIZES, best_of, toptag_file

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import hashlib, json, os, resource, shutil, sys, time
mode, path, run_dir, workers, pin = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
if pin:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
from trigdeploy.config import load_config
cfg = load_config("configs/toptag.yaml", [f"data.workers={workers}"], [path])
if __name__ == "__main__":
    if mode == "reader":
        from trigdeploy.data.dataset import Dataset
        from trigdeploy.data.layouts import toptag_constituent_columns
        t0 = time.perf_counter(); rows = 0
        with Dataset(cfg.data) as ds:
            for c in ds.chunks(["is_signal_new"], matrix_columns=toptag_constituent_columns()):
                rows += c.stop - c.start
        out = {"rows": rows, "seconds": time.perf_counter() - t0}
    elif mode == "raw":  # PyTables row ranges of the table, nothing else (bench_reader.py's baseline)
        import tables
        t0 = time.perf_counter(); rows = 0
        with tables.open_file(path) as f:
            t = f.root.table.table
            for s in range(0, t.nrows, 10_400):
                rows += len(t.read(s, min(s + 10_400, t.nrows)))
        out = {"rows": rows, "seconds": time.perf_counter() - t0}
    else:
        from trigdeploy.data.prepare import prepare
        shutil.rmtree(run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        p = prepare(cfg, run_dir, progress=False)
        total = time.perf_counter() - t0
        digest = hashlib.sha256()
        for name in ("features.npy", "labels.npy", "codes.npy"):
            digest.update((p.cache_dir / name).read_bytes())
        out = {"rows": p.build["rows_computed"], "seconds": p.build["seconds"], "prepare_seconds": total,
               "workers": p.build["workers"], "cache_sha256": digest.hexdigest()}
        shutil.rmtree(run_dir, ignore_errors=True)
    out["rows_per_s"] = out["rows"] / out["seconds"]
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["children_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps(out))
"""

MODES = {"raw": (1, False), "reader": (1, False), "1 worker": (1, False), "1 core": (1, True), "2 workers": (2, False)}


def measure(mode: str, path: Path, run_dir: Path) -> dict:
    workers, pin = MODES[mode]
    kind = mode if mode in ("raw", "reader") else "prepare"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(path), str(run_dir), str(workers), "1" if pin else "0"],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, required=True, help="where the benchmark files are kept")
    ap.add_argument("--jets", type=int, nargs="+", default=SIZES)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "prepare.json")
    args = ap.parse_args()
    table = []
    for n in args.jets:
        path = toptag_file(args.dir, n)
        best = best_of(args.repeat, MODES, lambda mode, path=path: measure(mode, path, args.dir / "run"))
        digests = {m: b["cache_sha256"] for m, b in best.items() if "cache_sha256" in b}
        if len(set(digests.values())) != 1:
            raise SystemExit(f"caches differ between runs on {path}: {digests}")
        table.append({"jets": n, "file_bytes": path.stat().st_size, **best})
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "cores": len(__import__("os").sched_getaffinity(0)),
                },
                "runs": table,
            },
            indent=2,
        )
        + "\n"
    )
    print(
        "| rows | raw PyTables rows/s | reader rows/s | first pass rows/s: 1 worker | 1 core | 2 workers | "
        "2 workers / 1 worker | 2 workers / 1 core | 1 worker / raw | prepare s (1 / 2 workers) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in table:
        raw, rd, one, core, two = (t[m]["rows_per_s"] for m in MODES)
        print(
            f"| {t['jets']:,} | {raw:,.0f} | {rd:,.0f} | {one:,.0f} | {core:,.0f} | {two:,.0f} | {two / one:.2f}× | "
            f"{two / core:.2f}× | {one / raw:.3f} | {t['1 worker']['prepare_seconds']:.1f} / "
            f"{t['2 workers']['prepare_seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
