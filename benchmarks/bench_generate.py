"""Generator throughput and peak memory, each run in a fresh process.

    python benchmarks/bench_generate.py --out-dir /tmp/gen [--toptag-jets 300000 1211000]
        [--pythia-jets 2000] [--mini-events 500000]

Writes benchmarks/results/generate.json and prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys
from pathlib import Path
from trigdeploy.generators import AtlasMiniGenConfig, PythiaGenConfig, ToptagGenConfig
from trigdeploy.data.generate import WRITERS
kind, out, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
params = {"toptag": lambda: ToptagGenConfig(jets=n), "pythia": lambda: PythiaGenConfig(jets=n, workers=2),
          "atlas_mini": lambda: AtlasMiniGenConfig(events=n)}[kind]()
summary = WRITERS[kind](params, out, progress=False)
summary["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
summary["peak_rss_children_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
summary["file_bytes"] = out.stat().st_size
print(json.dumps(summary))
"""


def run(kind: str, out: Path, n: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(out), str(n)], check=True, capture_output=True, text=True
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(kind=kind, n=n, rows_per_s=n / result["seconds"])
    out.unlink()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, required=True, help="scratch directory for the generated files")
    ap.add_argument("--toptag-jets", type=int, nargs="+", default=[300_000, 1_211_000])
    ap.add_argument("--pythia-jets", type=int, default=2000)
    ap.add_argument("--mini-events", type=int, default=500_000)
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "generate.json")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    results = [run("toptag", args.out_dir / f"toptag_{n}.h5", n) for n in args.toptag_jets]
    results.append(run("atlas_mini", args.out_dir / "mini.root", args.mini_events))
    if args.pythia_jets:
        results.append(run("pythia", args.out_dir / "pythia.h5", args.pythia_jets))
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": __import__("os").cpu_count()}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    print("| generator | rows | seconds | rows/s | file MB | in-memory MB (float32) | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        in_mem = r["n"] * 806 * 4 / 1e6 if r["kind"] != "atlas_mini" else float("nan")
        rss = max(r["peak_rss_bytes"], r["peak_rss_children_bytes"]) / 1e6
        print(
            f"| {r['kind']} | {r['n']:,} | {r['seconds']:.0f} | {r['rows_per_s']:,.0f} | "
            f"{r['file_bytes'] / 1e6:,.0f} | {in_mem:,.0f} | {rss:,.0f} |"
        )


if __name__ == "__main__":
    main()
