"""``trigdeploy scan``: a run's design scan, each point a run (``bench.scan``); the parser and the command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trigdeploy.errors import TrigdeployError

PARETO_BETAS = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5)  # the resource-aware front's cost weights (EBOPs), by default
SWEEP_BITS = (4, 6, 8)  # the uniform-bit sweep's weight widths, by default


def target_options(parser: argparse.ArgumentParser) -> None:
    """``--set`` of a command that exports (export, scan): overrides of the export target's keys."""
    parser.add_argument(
        "--set",
        dest="target_overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a key of the export target (repeatable; e.g. sets_rtl.fold=16); the value is parsed as YAML "
        "and the manifest records it",
    )


def add_scan_command(verbs, common: argparse.ArgumentParser, positive_int) -> argparse.ArgumentParser:
    """The ``scan`` command and its options."""
    scan = verbs.add_parser(
        "scan",
        parents=[common],
        help="design scan: each point a run in <run>/scan/ (trained, exported, simulated, synthesized; cached)",
    )
    scan.add_argument(
        "--run",
        required=True,
        help="the trained run whose data stage the points take (and the float model fine-tuned kinds start from)",
    )
    scan.add_argument(
        "--sweep", nargs="*", type=int, metavar="BITS", help="the QAT MLP at these weight widths (default 4 6 8)"
    )
    scan.add_argument(
        "--pareto",
        nargs="*",
        type=float,
        metavar="BETA",
        help="the resource-aware MLP at these cost weights (default "
        f"{' '.join(f'{b:g}' for b in PARETO_BETAS)}): the front",
    )
    scan.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KIND.KEY=V1,V2",
        help="points of a kind at these values of one key (repeatable; several keys of a kind: their product); "
        "a key under features. (e.g. hgq_deepsets.features.n_constituents=8,32) gives each point a data stage "
        "of its own, and the model it starts from is trained there too; a list is a value too (layer widths: "
        "hgq.hidden=[32,16],[16,16]: the float model it starts from is trained again at that shape)",
    )
    scan.add_argument("--target", help="export target file (default: export/targets/default.yaml)")
    target_options(scan)
    scan.add_argument(
        "--forms",
        nargs="+",
        metavar="FORM",
        help="the forms each point exports (default: the target's forms, else the RTL forms and what they "
        "require; hls4ml projects for the target's first backend only)",
    )
    scan.add_argument(
        "--max-lut-estimate",
        type=float,
        default=100_000,
        metavar="LUT",
        help="Yosys counts points whose RTL alkaid estimates at or below this (default 100000); alkaid's elsewhere",
    )
    where = scan.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, help="points run at a time here (default: the cores available)")
    where.add_argument("--dask-workers", type=positive_int, metavar="N", help="run the points on a Dask LocalCluster")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run the points on this Dask scheduler (tcp://host:8786)")
    for flag, what in (("--export-root", "exported artifacts"), ("--firmware-root", "firmware projects")):
        scan.add_argument(flag, help=f"the run's root of {what} (the points' go to <root>/<run name>.scan/)")
    return scan


def points_of(args: argparse.Namespace) -> list:
    """The scan's points from ``--sweep``, ``--pareto`` and ``--grid`` (a flag without values: its defaults); one
    line if they name none."""
    from trigdeploy.bench.scanpoints import scan_points

    bits = [] if args.sweep is None else (args.sweep or list(SWEEP_BITS))
    betas = [] if args.pareto is None else (args.pareto or list(PARETO_BETAS))
    return scan_points(bits, betas, args.grid)


def cmd_scan(args: argparse.Namespace, default_target: Path) -> int:
    """Run the scan's points; print each point's run, AUC and LUTs (with their source) as JSON."""
    from trigdeploy.bench.scan import ScanOptions, scan_run, scan_target
    from trigdeploy.config import DaskClusterConfig
    from trigdeploy.targets import load_target

    if not args.max_lut_estimate > 0:
        raise TrigdeployError(f"--max-lut-estimate: expected a positive number, got {args.max_lut_estimate}")
    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise TrigdeployError(f"run directory not found: {run_dir}")
    points = points_of(args)
    target = scan_target(load_target(args.target or default_target, args.target_overrides), args.forms)
    opts = ScanOptions(target, args.max_lut_estimate, args.export_root, args.firmware_root)
    dask = None
    if args.dask_workers or args.scheduler:
        dask = DaskClusterConfig(scheduler=args.scheduler, workers=args.dask_workers or 2)
    done = scan_run(run_dir, points, opts, args.workers, dask)
    for p in done:
        d = p.get("design") or {}
        print(json.dumps({"point": p["run"], "auc": p["auc"], "lut": d.get("lut"), "lut_source": d.get("lut_source")}))
    return 0
