"""A Deep Sets design folded in time: its cost and schedule for each fold, exact on the whole test split.

    .venv/bin/python benchmarks/bench_fold.py [--run runs/toptag_l1] [--kinds hgq_deepsets qdeepsets] \
        [--folds 1 2 4 8 16] [--out benchmarks/results/fold.json]

For each fixed-point Deep Sets of an exported run (``make demo`` exports ``runs/toptag_l1``) and each fold F (the
export target's ``sets_rtl.fold``): the design ``trigdeploy export`` would write (``convert.sets_logic``: F = 1 the
whole set at once, else N / F copies of φ over F clocks), checked before it is written as export checks it, written
to a scratch folder, run by Verilator on every test event of the run's export (its ``references/<kind>.npz``: the
port's values and the model's exact logits) and counted by Yosys (open synthesis, not Vivado). Results: the JSON
file and a Markdown table on standard output (the one in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_fold")


def _design(ints, fold: int, clock: float, x: np.ndarray, ref: np.ndarray):
    """(logic, its check on every event, seconds): what export builds and checks (``sets_logic.design``)."""
    from trigdeploy.convert import sets_logic

    t0 = time.perf_counter()
    logic, checker, _ = sets_logic.design(ints, fold, clock)
    return logic, checker(x, ref), time.perf_counter() - t0


def _one(kind: str, ints, fold: int, data: tuple, where: Path, part: str, clock: float) -> dict:
    """One design: built, checked, written (``where``), run by Verilator on every event."""
    from trigdeploy.convert import to_rtl
    from trigdeploy.hdl import verilator
    from trigdeploy.logits import compare

    x, ref = data
    logic, check, check_s = _design(ints, fold, clock, x, ref)
    if not check["ok"]:
        raise SystemExit(f"{kind} fold {fold}: the design differs from the reference: {check}")
    project = where / f"{kind}_fold{fold}"
    info = to_rtl.write_rtl(logic, project, part, clock)
    open_cost = to_rtl.write_open_synth_variant(logic, project / "open_synth", part, clock)
    t0 = time.perf_counter()
    model, _ = verilator.load(project, where / "verilator-cache")
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim = compare(model.predict(x), ref)
    return {
        "kind": kind,
        "fold": fold,
        "particles": ints.particles,
        "phi_copies": ints.particles // fold,
        "ii": info["ii"],
        "latency_cycles": info["pipeline_stages"],
        "latency_ns": info["latency_ns"],
        "alkaid_lut": round(info["lut_estimate_alkaid"]),
        "alkaid_lut_open_synth": round(open_cost),
        "reg_bits": info["reg_bits"],
        "check": {k: check[k] for k in ("n_events", "n_mismatch")},
        "verilator": {k: sim[k] for k in ("n_events", "n_mismatch", "max_abs_diff")},
        "seconds": {"trace_check": round(check_s, 1), "verilator_build": round(build_s, 1),
                    "verilator_sim": round(time.perf_counter() - t0, 1)},
        "project": project,
    }  # fmt: skip


def _yosys(row: dict, where: Path) -> dict:
    from trigdeploy.hdl import projects, yosys

    r = yosys.synthesize_design(
        projects.alkaid_design(row["project"]), where / "yosys-cache", where, row["project"].name
    )
    row["yosys"] = {k: r[k] for k in ("lut", "ff", "carry", "mux", "seconds", "tool")}
    return row


def _table(rows: list[dict]) -> str:
    head = [
        "| model | fold | φ copies | II (clocks) | latency (clocks / ns) | alkaid LUT | Yosys LUT | Yosys FF | "
        "Verilator mismatches | Yosys s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        y, v = r["yosys"], r["verilator"]
        head.append(
            f"| {r['kind']} | {r['fold']} | {r['phi_copies']} | {r['ii']} | {r['latency_cycles']} / "
            f"{r['latency_ns']:g} | {r['alkaid_lut_open_synth']:,} | {y['lut']:,} | {y['ff']:,} | "
            f"{v['n_mismatch']} of {v['n_events']:,} | {y['seconds']:.0f} |"
        )
    return "\n".join(head)


def main(argv: list[str] | None = None) -> int:
    """Measure every (kind, fold), write the JSON, print the table."""
    from trigdeploy.models.families import load_torch_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/toptag_l1")
    ap.add_argument("--export", default=None, help="the run's export folder (default: export/<run name>)")
    ap.add_argument("--kinds", nargs="+", default=["hgq_deepsets", "qdeepsets"])
    ap.add_argument("--folds", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    ap.add_argument("--jobs", type=int, default=2, help="Yosys runs at once")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fold.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run = Path(args.run)
    export = Path(args.export or Path("export") / run.name)
    manifest = json.loads((export / "manifest.json").read_text())
    part, clock = manifest["device"]["part"], float(manifest["device"]["clock_ns"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="td-fold-") as tmp:
        for kind in args.kinds:
            ints = load_torch_model(run / f"{kind}.pt")[0].integers()
            refs = np.load(export / "references" / f"{kind}.npz")
            data = (refs["inputs"], refs["logits"])
            for fold in args.folds:
                rows.append(_one(kind, ints, fold, data, Path(tmp), part, clock))
                logger.info("%s fold %d: Verilator %s", kind, fold, rows[-1]["verilator"])
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            rows = list(pool.map(lambda r: _yosys(r, Path(tmp)), rows))
    for r in rows:
        r.pop("project")
    record = {"run": str(run), "part": part, "clock_ns": clock, "designs": rows}
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    sys.stdout.write(_table(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
