"""The development loop from a clean clone: each stage's wall time and where it goes.

    .venv/bin/python benchmarks/bench_loop.py [--rev HEAD] [--baseline 8befefc] [--jets5] [--test] \
        [--work /tmp/td-loop] [--out benchmarks/results/loop.json]
    .venv/bin/python benchmarks/bench_loop.py --only-test --baseline 8befefc --out benchmarks/results/loop_test.json
    .venv/bin/python benchmarks/bench_loop.py --only-firmware [--warm] --baseline 8befefc --out …/loop_firmware.json

For each commit (the baseline first, so that both are measured one after the other on the same
machine): a fresh ``git clone`` of this repository, ``make install`` (timed apart), then the demo's
make targets one at a time (``hdl-tools data train export-hls csim synth bench``), each timed; a
second ``make scan`` and ``make bench`` with nothing changed; then the loop a physicist iterates: a retrain of the same
architecture with another seed followed by ``export`` + ``csim`` (the build cache warm) and ``make bench``; with
``--jets5`` and ``--test``, ``make jets5`` and ``make test``. The stages' own breakdowns
(``timing`` in run.json, the manifest, csim.json, synth.json and bench's report: their ten
longest steps and cache hits) are copied into the result. ``--only-test`` times ``make install`` and ``make test``
alone (the suite's figure without the demo's hour); ``--only-demo`` ``make install`` and the demo's stages alone;
``--only-firmware`` the demo up to csim (a trained run to
verified firmware, cold), and with ``--warm`` the retrain and warm export + csim after it (of ``--rev`` only: that goal is absolute). Results: ``loop.json`` and a Markdown
table on standard output (the one in BENCHMARKS.md). Wall times depend on the machine (machines
of the same size here differ about 2×): compare commits measured in one invocation.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = ("hdl-tools", "data", "train", "export-hls", "csim", "synth", "scan", "sets", "bench")  # make demo's order
RUN = Path("runs/toptag")
# where each stage writes its own breakdown (relative to the clone), by make target
BREAKDOWN = {
    "train": RUN / "run.json",
    "export-hls": Path("export/toptag/manifest.json"),
    "csim": RUN / "csim.json",
    "synth": RUN / "synth.json",
    "bench": Path("benchmarks/results/toptag.json"),
}

logger = logging.getLogger("bench_loop")


def _timed(cmd: list[str], cwd: Path, log: Path) -> float:
    """Run ``cmd`` in ``cwd`` (output appended to ``log``, ``check=True``); its wall seconds."""
    t0 = time.perf_counter()
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, check=True)
    seconds = time.perf_counter() - t0
    logger.info(f"{cwd.name}: {' '.join(cmd)}: {seconds:.0f} s")
    return seconds


def _breakdown(clone: Path, target: str) -> dict | None:
    path = BREAKDOWN.get(target)
    if path is None or not (clone / path).is_file():
        return None
    t = json.loads((clone / path).read_text()).get("timing")
    return None if t is None else {k: t[k] for k in ("wall_seconds", "top", "cache_hits") if k in t}


def _optional(out: dict, key: str, cmd: list[str], clone: Path, log: Path) -> None:
    """Time ``cmd`` into ``out[key]``; a failure is recorded (``failed``) instead of ending the measurement."""
    try:
        out[key] = _timed(cmd, clone, log)
    except subprocess.CalledProcessError as err:
        out.setdefault("failed", []).append(f"{' '.join(cmd)}: exit {err.returncode} (see {log.name})")
        logger.error(f"{clone.name}: {' '.join(cmd)} failed (exit {err.returncode}); the log is {log}")


def _clone(rev: str, work: Path) -> tuple[Path, Path, dict]:
    """A fresh clone of ``rev`` in ``work``, ``make install`` timed: (the clone, its log, the figures so far)."""
    sha = subprocess.run(["git", "rev-parse", rev], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    clone = work / sha[:10]
    subprocess.run(["rm", "-rf", str(clone)], check=True)
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", sha], cwd=clone, check=True)
    log = work / f"{sha[:10]}.log"
    out = {
        "rev": rev,
        "sha": sha,
        "install_seconds": _timed(["make", "install"], clone, log),
        "stages": {},
        "breakdown": {},
    }
    return clone, log, out


def _stages(out: dict, clone: Path, log: Path, targets, save) -> None:
    """Each of the demo's make ``targets`` the commit has, timed into ``out["stages"]`` with its own breakdown
    (``save(out)`` after each); a target the commit's Makefile lacks is skipped (scan: before it, bench trained
    the sweep and the front itself; sets: before the constituent-level run joined the demo)."""
    makefile = (clone / "Makefile").read_text()
    for target in targets:
        if f"\n{target}:" not in makefile:
            continue
        out["stages"][target] = _timed(["make", target], clone, log)
        breakdown = _breakdown(clone, target)
        if breakdown:
            out["breakdown"][target] = breakdown
        save(out)


def _test(out: dict, clone: Path, log: Path) -> None:
    """``make test`` as a developer runs it (each commit's own Makefile: its workers, if it has them)."""
    _optional(out, "test_seconds", ["make", "test", "PYTEST_ARGS=-p no:cacheprovider -q"], clone, log)


def measure_tests(rev: str, work: Path, save=lambda out: None) -> dict:
    """``make install`` and ``make test`` of one commit, from a fresh clone in ``work``."""
    clone, log, out = _clone(rev, work)
    save(out)
    _test(out, clone, log)
    return out


def _warm(out: dict, clone: Path, log: Path) -> None:
    """A retrain of the same architecture (seed 8), then ``make export-hls csim`` with the build cache warm."""
    td = str(clone / ".venv" / "bin" / "trigdeploy")
    out["retrain_seconds"] = _timed([td, "train", "--config", "configs/toptag.yaml", "--set", "seed=8"], clone, log)
    out["warm_export_csim_seconds"] = _timed(["make", "export-hls"], clone, log) + _timed(["make", "csim"], clone, log)
    out["breakdown"]["warm export"] = _breakdown(clone, "export-hls")
    out["breakdown"]["warm csim"] = _breakdown(clone, "csim")


def _demo(rev: str, work: Path, save) -> tuple[Path, Path, dict]:
    """``make install`` and the demo's stages (``make demo``'s targets, one at a time) of one commit, from a fresh
    clone in ``work``: (the clone, its log, the figures)."""
    clone, log, out = _clone(rev, work)
    _stages(out, clone, log, DEMO, save)
    out["demo_seconds"] = sum(out["stages"].values())
    out["cold_export_csim_seconds"] = out["stages"]["export-hls"] + out["stages"]["csim"]
    return clone, log, out


def measure_demo(rev: str, work: Path, save=lambda out: None) -> dict:
    """``make install`` and the demo's stages of one commit, from a fresh clone in ``work``."""
    return _demo(rev, work, save)[2]


def measure_firmware(rev: str, work: Path, warm: bool, save=lambda out: None) -> dict:
    """The demo up to verified firmware (``make hdl-tools data train export-hls csim``) of one commit, from a fresh
    clone in ``work``; with ``warm``, then a retrain and export + csim again (the build cache warm)."""
    clone, log, out = _clone(rev, work)
    _stages(out, clone, log, DEMO[: DEMO.index("csim") + 1], save)
    out["cold_export_csim_seconds"] = out["stages"]["export-hls"] + out["stages"]["csim"]
    if warm:
        _warm(out, clone, log)
    return out


def measure(rev: str, work: Path, jets5: bool, test: bool, save=lambda out: None) -> dict:
    """Every figure of one commit, from a fresh clone in ``work`` (``save(out)`` after each step)."""
    clone, log, out = _demo(rev, work, save)
    if "scan" in out["stages"]:  # nothing changed since the demo's: every point read back
        out["second_scan_seconds"] = _timed(["make", "scan"], clone, log)
    out["second_bench_seconds"] = _timed(["make", "bench"], clone, log)  # nothing changed since the demo's
    out["breakdown"]["second bench"] = _breakdown(clone, "bench")
    _warm(out, clone, log)
    out["bench_after_retrain_seconds"] = _timed(["make", "bench"], clone, log)  # the scans' float MLP changed
    save(out)
    if jets5:
        _optional(out, "jets5_seconds", ["make", "jets5"], clone, log)
        save(out)
    if test:
        _test(out, clone, log)
    return out


def markdown(results: list[dict]) -> str:
    """One column per commit (and the ratio to the first when there are two)."""
    rows = [
        ("make install", "install_seconds"),
        *[(f"make {t}", t) for t in DEMO],
        ("demo (sum of its stages)", "demo_seconds"),
        ("export + csim, cold (the demo's two stages)", "cold_export_csim_seconds"),
        ("retrain, same architecture (seed 8)", "retrain_seconds"),
        ("→ export + csim, warm build cache", "warm_export_csim_seconds"),
        ("second make scan, nothing changed (every point read back)", "second_scan_seconds"),
        ("second make bench, nothing changed", "second_bench_seconds"),
        ("make bench after the retrain (before scan: it retrained the sweep and front)", "bench_after_retrain_seconds"),
        ("make jets5", "jets5_seconds"),
        ("make test", "test_seconds"),
    ]
    head = "| step | " + " | ".join(r["sha"][:7] for r in results) + (" | ratio |" if len(results) == 2 else " |")
    lines = [head, "|---" * (len(results) + 1 + (len(results) == 2)) + "|"]
    for label, key in rows:
        vals = [r["stages"].get(key) if key in DEMO else r.get(key) for r in results]
        if all(v is None for v in vals):
            continue
        cells = ["–" if v is None else f"{v:,.0f} s" for v in vals]
        if len(results) == 2:
            cells.append(f"{vals[1] / vals[0]:.2f}×" if None not in vals and vals[0] else "–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure ``--baseline`` (if given) then ``--rev``; write loop.json and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--baseline", default=None, help="a commit measured first, on the same machine")
    ap.add_argument("--jets5", action="store_true", help="also time make jets5")
    ap.add_argument("--test", action="store_true", help="also time make test")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--only-test", action="store_true", help="time make install and make test alone")
    only.add_argument("--only-demo", action="store_true", help="time make install and the demo's stages alone")
    only.add_argument(
        "--only-firmware", action="store_true", help="time the demo up to csim alone (cold export + csim)"
    )
    ap.add_argument(
        "--warm", action="store_true", help="with --only-firmware: then a retrain and a warm export + csim of --rev"
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/td-loop"))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "loop.json")
    args = ap.parse_args(argv)
    if args.warm and not args.only_firmware:
        ap.error("--warm goes with --only-firmware (the whole loop times the warm export + csim anyway)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []

    def save(partial: dict | None = None) -> None:
        done = results + ([partial] if partial is not None else [])
        args.out.write_text(json.dumps({"machine": f"{os.cpu_count()} cores", "results": done}, indent=2) + "\n")

    for rev in (args.baseline, args.rev):
        if rev:
            if args.only_test:
                results.append(measure_tests(rev, args.work, save))
            elif args.only_demo:
                results.append(measure_demo(rev, args.work, save))
            elif args.only_firmware:
                # the warm loop's goal is absolute (≤ 60 s on a fast machine): timed for --rev only
                results.append(measure_firmware(rev, args.work, args.warm and rev == args.rev, save))
            else:
                results.append(measure(rev, args.work, args.jets5, args.test, save))
            save()
    sys.stdout.write(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
