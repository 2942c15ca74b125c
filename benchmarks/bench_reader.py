"""Streaming-reader throughput against a raw PyTables read of the same columns, and peak RSS.

    python benchmarks/bench_reader.py --dir /tmp/readbench [--jets 300000 1211000]

Generates the files if missing (toptag layout), then for each file, in fresh processes and
alternating to even out the page cache, best of ``--repeat``:
  * raw:      ``tables`` row-range reads of /table/table, the contiguous constituent columns taken
              as a view of the values block (the least work PyTables allows)
  * reader:   ``Dataset.chunks`` (trigdeploy's streaming reader, prefetch thread on): a dict of
              800 column views per chunk
  * matrix:   ``HDF5Table.read_matrix`` (one (n, 800) float32 array per chunk)
Writes benchmarks/results/reader.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from toptag_files import SIZES, best_of, toptag_file

CHILD = r"""
import json, resource, sys, time
import numpy as np
mode, path, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
from trigdeploy.data.layouts import toptag_constituent_columns
cols = toptag_constituent_columns()
import tables
from trigdeploy.config import DataConfig
from trigdeploy.data.dataset import Dataset
from trigdeploy.data.hdf5 import HDF5Table
t0 = time.perf_counter(); rows = 0; checksum = 0.0
if mode == "raw":
    with tables.open_file(path) as f:
        t = f.root.table.table
        names = list(t.attrs.values_block_0_kind)
        first = names.index(cols[0])
        assert names[first:first + len(cols)] == cols  # contiguous: a view, no copy
        for s in range(0, t.nrows, chunk):
            block = t.read(s, min(s + chunk, t.nrows))["values_block_0"][:, first:first + len(cols)]
            rows += len(block); checksum += float(block[:, 0].sum())
elif mode == "reader":
    with Dataset(DataConfig(format="hdf5", files=(path,), chunk_rows=chunk)) as ds:
        for c in ds.chunks(cols):
            rows += c.stop - c.start; checksum += float(c.columns[cols[0]].sum())
else:
    with HDF5Table(path) as t:
        for s in range(0, t.n_rows, chunk):
            m = t.read_matrix(s, min(s + chunk, t.n_rows), cols)
            rows += len(m); checksum += float(m[:, 0].sum())
dt = time.perf_counter() - t0
print(json.dumps({"mode": mode, "rows": rows, "seconds": dt, "rows_per_s": rows / dt, "checksum": checksum,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def measure(mode: str, path: Path, chunk: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), str(chunk)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, required=True, help="where the benchmark files are kept")
    ap.add_argument("--jets", type=int, nargs="+", default=SIZES)
    ap.add_argument("--chunk", type=int, default=10_400, help="rows per read (default: the 32 MiB default chunk)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "reader.json")
    args = ap.parse_args()
    table = []
    for n in args.jets:
        path = toptag_file(args.dir, n)
        best = best_of(
            args.repeat, ("raw", "reader", "matrix"), lambda mode, path=path: measure(mode, path, args.chunk)
        )
        assert len({round(b["checksum"], 3) for b in best.values()}) == 1, "modes read different data"
        table.append(
            {
                "jets": n,
                "file_bytes": path.stat().st_size,
                "in_memory_bytes": n * 806 * 4,
                "chunk_rows": args.chunk,
                **{m: best[m] for m in best},
            }
        )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(table, indent=2) + "\n")
    print(
        "| rows | file GB | in-memory GB | raw PyTables rows/s | reader rows/s | ratio | matrix rows/s | "
        "reader peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for t in table:
        raw, rd, mx = t["raw"], t["reader"], t["matrix"]
        print(
            f"| {t['jets']:,} | {t['file_bytes'] / 1e9:.2f} | {t['in_memory_bytes'] / 1e9:.2f} | "
            f"{raw['rows_per_s']:,.0f} | {rd['rows_per_s']:,.0f} | {rd['rows_per_s'] / raw['rows_per_s']:.2f} | "
            f"{mx['rows_per_s']:,.0f} | {rd['peak_rss_bytes'] / 1e6:,.0f} |"
        )


if __name__ == "__main__":
    main()
