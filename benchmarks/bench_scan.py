"""A design scan on one worker and on a Dask LocalCluster of two: wall times, speed-up, the cache hit.

    .venv/bin/python benchmarks/bench_scan.py --run runs/toptag \
        --grid hgq.beta=1e-6,2e-6,3e-6,5e-6,7e-6,1e-5,1.5e-5,2e-5,3e-5,5e-5 --grid hgq.epochs=10,20 \
        [--work /tmp/td-scan] [--out benchmarks/results/scan.json] [--point-threads 1] [--baseline dask]

The trained run (its data stage, float MLP and config; not its scan) is copied twice under ``--work``, each
copy with its own export and firmware roots and so with cold build and synthesis caches. The scan's points
run first one at a time in this process (``workers=1``), then as tasks on a Dask ``LocalCluster`` of two
workers (one thread each), then again on the second copy with nothing changed (every point read back). Each
point's csim and its compilers run on its worker's share of the cores (in-process: all of them; on Dask: one);
``--point-threads 1`` gives every point one core in both, how points scale on a cluster of one-core workers.
``--baseline dask`` runs the one-worker scan as a Dask ``LocalCluster`` of one worker instead of in this process
(the issue's "2 Dask workers vs 1": the same machinery either way, its start and each worker's imports included).
The records of the two runs must be equal (times and paths aside): the script fails otherwise. Results:
``scan.json`` and a Markdown table on standard output (the one in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

from trigdeploy.bench.scan import ScanOptions, scan_run, scan_target
from trigdeploy.bench.scanpoints import grid_points
from trigdeploy.config import DaskClusterConfig
from trigdeploy.targets import load_target

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_scan")


def _copy(run: Path, root: Path) -> Path:
    """The run without its scan, at ``root/runs/<name>`` (a fresh root: cold caches)."""
    shutil.rmtree(root, ignore_errors=True)
    dst = root / "runs" / run.name
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("scan", "checkpoints", "csim", "synth_logs"))
    return dst


def _figures(records: list[dict]) -> list[dict]:
    """The records without times and paths (what two runs of the same points must share)."""
    out = []
    for r in records:
        kept = {k: v for k, v in r.items() if k not in ("seconds", "run")}
        kept["training"] = {k: v for k, v in r["training"].items() if k != "seconds"}
        if "side_by_side" in r:  # a Yosys-counted point: each estimator's row, the count's run time aside
            kept["side_by_side"] = [{k: v for k, v in row.items() if k != "seconds"} for row in r["side_by_side"]]
        out.append(kept)
    return out


def measure(
    run: Path,
    axes: list[str],
    work: Path,
    max_lut: float,
    point_threads: int | None = None,
    baseline: str = "in-process",
) -> dict:
    """Time the scan of ``axes`` on ``run``: on one worker (``baseline``: in this process, or a Dask LocalCluster of
    one), on two Dask workers, and again with nothing changed (``point_threads``: each point's csim threads and
    compilers, default the scan's own share of the cores)."""
    points = grid_points(axes)
    target = scan_target(load_target(REPO / "export" / "targets" / "default.yaml"), None)  # as trigdeploy scan
    out: dict = {"run": str(run), "points": len(points), "axes": axes, "cores": len(os.sched_getaffinity(0))}
    out["point_threads"] = point_threads or "the worker's share of the cores"
    out["baseline"] = baseline
    one = {"workers": 1} if baseline == "in-process" else {"dask": DaskClusterConfig(workers=1)}
    times, records = {}, {}
    for name, kwargs in (("one worker", one), ("Dask, 2 workers", {"dask": DaskClusterConfig(workers=2)})):
        root = work / name.split(",")[0].replace(" ", "_")
        copy = _copy(run, root)
        opts = ScanOptions(target, max_lut, root / "export", root / "firmware", point_threads)
        t0 = time.perf_counter()
        records[name] = scan_run(copy, points, opts, **kwargs)
        times[name] = time.perf_counter() - t0
        logger.info("%s: %d points in %.0f s", name, len(points), times[name])
    t0 = time.perf_counter()
    again = scan_run(copy, points, opts, workers=1)
    times["again, nothing changed"] = time.perf_counter() - t0
    if _figures(records["one worker"]) != _figures(records["Dask, 2 workers"]) or _figures(again) != _figures(
        records["Dask, 2 workers"]
    ):
        raise SystemExit("bench_scan: the Dask scan's records differ from the in-process ones")
    out["seconds"] = times
    out["speedup_2_workers"] = times["one worker"] / times["Dask, 2 workers"]
    stages: dict[str, float] = {}
    for r in records["one worker"]:
        for k, v in r["seconds"].items():
            stages[k] = stages.get(k, 0.0) + v
    out["stage_seconds_one_worker"] = stages
    out["lut_sources"] = sorted({(r.get("design") or {}).get("lut_source") or "none" for r in again})
    return out


def markdown(r: dict) -> str:
    """The result as the table of BENCHMARKS.md."""
    s = r["seconds"]
    lines = [
        f"| {r['points']} points ({', '.join(r['axes'])}) | wall |",
        "|---|---|",
        f"| one worker ({'in-process' if r.get('baseline', 'in-process') == 'in-process' else 'Dask LocalCluster'}) "
        f"| {s['one worker']:,.0f} s |",
        f"| Dask LocalCluster, 2 workers | {s['Dask, 2 workers']:,.0f} s (**{r['speedup_2_workers']:.2f}×**) |",
        f"| again, nothing changed | {s['again, nothing changed']:,.1f} s |",
    ]
    stages = ", ".join(f"{k} {v:,.0f} s" for k, v in r["stage_seconds_one_worker"].items())
    return "\n".join(lines) + f"\n\nOne worker's points, by stage: {stages}.\n"


def main(argv: list[str] | None = None) -> int:
    """Measure and write ``scan.json``; print the Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a trained run (its float MLP and data stage)")
    ap.add_argument("--grid", action="append", required=True, metavar="KIND.KEY=V1,V2")
    ap.add_argument("--work", type=Path, default=Path("/tmp/td-scan"))
    ap.add_argument("--max-lut-estimate", type=float, default=20_000)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scan.json")
    ap.add_argument("--point-threads", type=int, help="each point's csim threads and compilers (default: its share)")
    ap.add_argument("--baseline", choices=("in-process", "dask"), default="in-process", help="the one-worker scan")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("trigdeploy").setLevel(logging.WARNING)
    result = measure(args.run.resolve(), args.grid, args.work, args.max_lut_estimate, args.point_threads, args.baseline)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
