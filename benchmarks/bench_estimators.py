"""Each FPGA estimator against the Yosys count of the same design, over every design the demos and tests count.

    .venv/bin/python benchmarks/bench_estimators.py [--runs runs] [--tests | --tests-from DIR] \
        [--work /tmp/td-estimators] [--out benchmarks/results/estimators.json]

Every run folder under ``--runs`` (the demo's ``runs/toptag``, ``runs/toptag_l1``, ``runs/jets5`` and their design
scans' points) whose ``synth.json`` counts its current export is read as bench reads it: each Yosys count with
each estimate of the same model beside it (``bench.run.side_by_side``: alkaid's model of the open-synthesis
netlist and of the Vivado design, conifer's VHDL estimators, trigdeploy's hls4ml model). With ``--tests``, the
tests that synthesize (``pytest -m "not slow and not device"`` on the test files that run Yosys, with
``--basetemp`` under ``--work``) run first and their runs are read too: tiny designs, where fixed overheads
weigh. Each run's export is found by the digest ``synth.json`` names. The groups are bench's
(``bench.budget.estimator_errors``): per estimator and whether it costs the same logic, the designs and their
ratios, the mean and the range. Results: ``estimators.json`` and a Markdown table on standard output (the one in
BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from trigdeploy.bench.budget import estimator_errors
from trigdeploy.bench.run import fpga_estimates, side_by_side
from trigdeploy.bench.synthreport import SynthReport
from trigdeploy.convert.manifest import Manifest
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic
from trigdeploy.layout import RunLayout

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_estimators")
# the test files whose tests run Yosys on the designs they export (the default suite; the slow ones are larger)
SYNTH_TESTS = (
    "tests/bench/test_bench_run.py",
    "tests/bench/test_scan.py",
    "tests/hdl/test_yosys.py",
    "tests/test_cli.py",
)


def _manifests(roots: list[Path]) -> dict[str, Path]:
    """Every export manifest under ``roots``, by its digest."""
    out = {}
    for root in roots:
        for path in root.rglob("manifest.json"):
            try:
                out[Manifest.load(path).sha256] = path
            except (TrigdeployError, OSError, ValueError, KeyError, TypeError):
                continue  # not an export manifest (or a broken one): nothing to read
    return out


def rows_of(synth_json: Path, manifests: dict[str, Path], label: str) -> list[dict]:
    """bench's side-by-side rows of one run (its Yosys counts and each estimate beside them), its designs named
    ``<label>/<design>``; none where no manifest under the searched roots is the export ``synth.json`` counts."""
    report = SynthReport.load(synth_json)
    manifest = manifests.get(report.manifest_sha256)
    if manifest is None:
        logger.warning("%s: its export was not found (another export since?); left out", synth_json)
        return []
    run_dir = synth_json.parent
    layout = RunLayout(run_dir, manifest.parent.parent, manifest.parent.parent, manifest.parent.parent)
    typed = Manifest.load(manifest)
    try:
        est, _ = fpga_estimates(layout, typed.models, typed.device.clock_ns, typed.device.reuse)
    except (OSError, TrigdeployError) as e:  # a test's run with files removed on purpose
        logger.warning("%s: its models cannot be read (%s); left out", run_dir, e)
        return []
    return [{**r, "design": f"{label}/{r['design']}"} for r in side_by_side(report, est, typed.models)]


def _netlist(row: dict) -> tuple:
    """What tells a counted netlist from another: its source and Yosys's four counts (the tests count the shared
    run's designs in several copies; each netlist is taken once)."""
    return (row["source"], row["lut"], row.get("ff"), row.get("carry"), row.get("dsp"))


def collect(roots: list[tuple[str, Path]]) -> tuple[list[dict], dict[tuple, str]]:
    """The side-by-side rows of every run with a ``synth.json`` under each (label, root), each estimator's row of
    a netlist once (the first run that has it names it), and every distinct netlist counted (→ its first name)."""
    manifests = _manifests([REPO / "export", *(root for _, root in roots)])
    rows, seen, netlists = [], set(), {}
    for label, root in roots:
        for synth_json in sorted(root.rglob("synth.json")):
            name = synth_json.parent.relative_to(root).as_posix()
            found = rows_of(synth_json, manifests, f"{label}:{name}")
            counted = {r["design"]: _netlist(r) for r in found if r["source"].startswith("Yosys") and "lut" in r}
            for design, key in counted.items():
                netlists.setdefault(key, design)
            for r in found:
                if "estimator" in r and r["design"] in counted:
                    key = (r["estimator"], r["same_logic"], counted[r["design"]])
                    if key in seen:
                        continue
                    seen.add(key)
                rows.append(r)
    return rows, netlists


def run_tests(work: Path) -> Path:
    """Run the tests that synthesize, keeping their folders under ``work``: the folder."""
    base = work / "pytest"
    work.mkdir(parents=True, exist_ok=True)  # pytest makes --basetemp, not its parents
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow and not device"]
    subprocess.run([*cmd, f"--basetemp={base}", *SYNTH_TESTS], cwd=REPO, check=True)
    return base


def markdown(by_origin: dict[str, list[dict]]) -> str:
    """The estimators' table: per origin of the designs and estimator, same logic or not, the number of designs,
    the mean and the range of estimate ÷ Yosys."""
    lines = [
        "| designs | estimator | same logic | designs counted | mean | range |",
        "|---|---|---|---|---|---|",
    ]
    for origin, groups in by_origin.items():
        for g in groups:
            lines.append(
                f"| {origin} | {g['estimator']} | {'yes' if g['same_logic'] else 'no'} | {len(g['designs'])} | "
                f"{g['mean_ratio']:.2f} | {g['min_ratio']:.2f}–{g['max_ratio']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    """Collect, group and write."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=REPO / "runs", help="run folders of the demos (default: runs/)")
    ap.add_argument("--tests", action="store_true", help="also run the tests that synthesize and read their runs")
    ap.add_argument(
        "--tests-from", type=Path, help="read the tests' folders of an earlier --tests run (its --basetemp)"
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/td-estimators"), help="where the tests' folders go")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "estimators.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    roots = [("demos", args.runs)]
    if args.tests_from:
        roots.append(("tests", args.tests_from))
    elif args.tests:
        roots.append(("tests", run_tests(args.work)))
    rows, netlists = collect(roots)
    by_origin = {
        label: estimator_errors([r for r in rows if r["design"].startswith(f"{label}:")]) for label, _ in roots
    }
    if len(roots) > 1:
        by_origin["all"] = estimator_errors(rows)
    counted = sorted(netlists.values())
    write_json_atomic(args.out, {"designs_counted": counted, "estimators": by_origin, "rows": rows})
    logger.info("%d distinct netlists counted by Yosys; %s", len(counted), args.out)
    sys.stdout.write(markdown(by_origin) + "\n")


if __name__ == "__main__":
    main()
