"""``trigdeploy csim``: every exported firmware project of a run, C-simulated on the whole test split.

Every project the export's manifest lists is run by its project type's simulator
(``trigdeploy.simulators``: the HLS harness and testbench, Verilator, GHDL, or a registered one) on
the inputs the export saved for it, and compared on every test event with the reference the export
saved beside them (QONNX execution for the QAT MLP and the bit-exact fixed-point emulation for the
conifer BDT, both must agree on every event; the float model for PTQ, with error statistics): the
AUC of both, the decisions that flip at each operating threshold of ``metrics.json``, and the
project's own testbench. Results: ``runs/<name>/csim.json``, ``csim.md`` and each project's outputs
in ``csim/<project>.npz`` (what ``bench`` reports). A failed bit-exactness check is reported in the
files and makes the command fail. The HLS arithmetic (``--arithmetic`` fast, vendor or auto) is
described in ``cxx.simulate``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.convert.manifest import Manifest
from trigdeploy.cxx import harness
from trigdeploy.data.cache import load_split
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import atomic_path, write_json_atomic, write_text_atomic
from trigdeploy.layout import RunLayout
from trigdeploy.logits import as_logits, probabilities
from trigdeploy.logits import compare as compare_logits
from trigdeploy.simulators import SIMULATORS
from trigdeploy.simulators import missing as missing_simulator
from trigdeploy.train.metrics import logit_auc
from trigdeploy.train.results import RunMetrics

logger = logging.getLogger(__name__)


def compare(
    y: np.ndarray, csim: np.ndarray, reference: np.ndarray, thresholds: dict[str, tuple[int | None, float]], exact: bool
) -> dict:
    """Whole-array comparison of C-simulated logits with the reference logits, ``(n,)`` or ``(n, K)``
    (an event differs when any of its logits does). ``thresholds``: name → (class column or None for
    one logit, threshold on the probability); the decisions that flip at each, and for K classes the
    events whose most probable class changes (``argmax``)."""
    ref = as_logits(reference)
    sim = as_logits(csim, len(ref)) if np.size(csim) == np.size(ref) else as_logits(csim)
    if sim.shape != ref.shape:
        raise TrigdeployError(f"C simulation gave {sim.shape} outputs for {ref.shape} reference outputs")
    p_ref, p_sim = probabilities(ref), probabilities(sim)
    flips = {}
    for name, (column, t) in thresholds.items():
        a, b = (p_ref, p_sim) if column is None else (p_ref[:, column], p_sim[:, column])
        flips[name] = int(((a >= t) != (b >= t)).sum())
    if ref.ndim == 2:
        flips["argmax"] = int((ref.argmax(axis=1) != sim.argmax(axis=1)).sum())
    # events, mismatches, max and mean |Δ| (and n_logits for K classes) from the shared comparison;
    # "ok" is judged here: a PTQ project's differences are reported, not judged
    out = {
        **compare_logits(sim, ref),
        "auc_reference": logit_auc(y, ref),
        "auc_csim": logit_auc(y, sim),
        "decision_flips": flips,
        "bit_exact_required": exact,
    }
    out["ok"] = out["n_mismatch"] == 0 if exact else True
    return out


def judge_inexact(csim: np.ndarray, entry: dict, expected: np.ndarray, max_auc_loss: float) -> dict:
    """A project that need not reproduce its reference (PTQ) is still judged: its outputs must be
    exactly those export recorded for it, and it must pass export's physics gate (AUC loss)."""
    same = compare_logits(csim, expected)
    loss = entry["auc_reference"] - entry["auc_csim"]
    gate = loss <= max_auc_loss
    return {
        "n_mismatch": same["n_mismatch"],
        "max_abs_diff": same["max_abs_diff"],
        "auc_loss": loss,
        "max_auc_loss": max_auc_loss,
        "ok": bool(same["n_mismatch"] == 0 and gate),
    }


def _thresholds(metrics: RunMetrics, model: str) -> dict[str, tuple[int | None, float]]:
    """The operating thresholds of ``metrics.json`` for ``model``: name → (class column, threshold); K-class
    models have one set per class (``<class> eff_S=x``); none for a model the run's metrics do not list."""
    return metrics[model].operating_points() if model in metrics else {}


def saved_outputs(layout: RunLayout, manifest: Manifest, project: str) -> np.ndarray | None:
    """The logits ``csim`` saved for ``project`` of this very export, or None (not simulated, or stale)."""
    path = layout.csim_output(project)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        return f["logits"] if str(f["manifest_sha256"]) == manifest.sha256 else None


def simulated_logits(layout: RunLayout, manifest: Manifest, project: str) -> np.ndarray | None:
    """The logits ``csim`` saved for ``project`` of this very export on the whole test split, ``(n,)`` or
    ``(n, K)``; None where it has not simulated it (or simulated another export)."""
    logits = saved_outputs(layout, manifest, project)
    return None if logits is None else as_logits(logits, manifest.test_events)


def csim_run(
    run_dir: Path,
    export_root: Path | None = None,
    firmware_root: Path | None = None,
    threads: int | None = None,
    arithmetic: str = "auto",
) -> dict:
    """C-simulate every project of an exported run; writes and returns ``csim.json`` and saves each
    project's outputs (``<run>/csim/<project>.npz``) for ``bench``. ``threads`` (default: the cores) bounds
    the simulation's threads and the compilers its builds run at once (a scan point's csim runs on one).
    Messages go through ``logging``, one line per project."""
    layout = RunLayout.of(run_dir, export_root, firmware_root)
    with timing.stage("csim") as rec:
        report = _simulate_all(layout, threads, arithmetic)
        report["timing"] = rec.report()
    write_json_atomic(layout.csim_json, report)
    write_text_atomic(layout.csim_md, markdown(report))
    if not report["ok"]:
        bad = [n for n, p in report["projects"].items() if not p["ok"]]
        raise TrigdeployError(f"C simulation differs from the reference for {', '.join(bad)} (see {layout.csim_json})")
    return report


def _verified(layout: RunLayout, manifest: Manifest) -> list[tuple]:
    """(manifest entry, project folder) of every project, each checked to be exactly what export wrote
    (its C++ is compiled and run: that, or nothing) and to have a simulator this trigdeploy knows."""
    out = []
    for p in manifest.projects:
        project = layout.project(p.name)
        if not project.is_dir():
            raise TrigdeployError(f"{project} not found (listed in {manifest.path}): export again")
        manifest.verify(p, project)
        if p.simulator not in SIMULATORS:
            raise TrigdeployError(
                f"{manifest.path}: project {p.name} needs simulator {p.simulator!r}, which this "
                f"trigdeploy does not have ({', '.join(SIMULATORS)})"
            )
        out.append((p, project))
    return out


def prebuild(projects: list[tuple[Callable[[Path, Path], object], Path]], cache: Path, jobs: int | None = None) -> None:
    """Each ``(build, project)``'s ``build(project, cache)`` (a simulator's ``prebuild``: an HLS project's
    testbench and vendor build) run before the projects are simulated, up to ``jobs`` at once (default:
    the cores): a compile is one core's work, while the projects are then simulated one after the other,
    each on every core. The largest projects start first. Builds already in the cache cost their key only;
    the first error is raised."""
    jobs = min(len(projects), jobs or harness.Harness.default_threads())
    if jobs < 2:
        return
    # the largest projects first (their sources' bytes: the longest compiles), the small ones fill the gaps
    projects = sorted(projects, key=lambda bp: -sum(f.stat().st_size for f in Path(bp[1]).rglob("*") if f.is_file()))
    pool = ThreadPoolExecutor(jobs)
    try:  # each task in its own copy of the context: its timing steps are recorded
        tasks = [pool.submit(contextvars.copy_context().run, build, project, cache) for build, project in projects]
        for task in tasks:
            task.result()
    finally:  # on an error or a stop, what has not started never starts (running compilers were stopped)
        pool.shutdown(wait=False, cancel_futures=True)


def _simulate_all(layout: RunLayout, threads: int | None, arithmetic: str) -> dict:
    """Every project of the manifest simulated and compared: the report ``csim_run`` writes."""
    run_dir = layout.run_dir
    manifest = Manifest.load(layout.manifest)
    _, y_test = load_split(run_dir, "test")
    if manifest.test_events != len(y_test):
        raise TrigdeployError(
            f"{manifest.path} was exported from another test split ({manifest.test_events} "
            f"events, run has {len(y_test)}): export again"
        )
    cache, metrics = layout.csim_cache, RunMetrics.load(layout.metrics)
    report: dict = {
        "run": str(run_dir),
        "manifest_sha256": manifest.sha256,  # which export this is the simulation of (bench checks it)
        "threads": threads or harness.Harness.default_threads(),
        "projects": {},
    }
    projects = _verified(layout, manifest)
    prebuild(
        [
            (SIMULATORS[p.simulator].prebuild, project)
            for p, project in projects
            if SIMULATORS[p.simulator].prebuild and not missing_simulator(p.simulator)
        ],
        cache,
        threads,
    )
    for p, project in projects:
        x, ref = manifest.reference(p)
        why = missing_simulator(p.simulator)
        if why:
            logger.warning(f"csim: {p.name} skipped: {why}")
            report.setdefault("skipped", {})[p.name] = why
            continue
        with timing.step(f"{p.name}: build and simulate {len(x)} events"):
            y, info, tb = SIMULATORS[p.simulator].run(project, cache, x, p.exact, threads, arithmetic)
        entry = {
            "model": p.model,
            "reference": p.reference,
            "project": str(project),
            "simulator": p.simulator,
            **info,
            **compare(y_test, y, ref, _thresholds(metrics, p.model), p.exact),
        }
        if not p.exact:
            entry["vs_export"] = judge_inexact(y, entry, manifest.expected(p), p.max_auc_loss)
            entry["ok"] = entry["vs_export"]["ok"]
        entry["testbench"] = tb
        entry["ok"] = entry["ok"] and entry["testbench"]["ok"]
        report["projects"][p.name] = entry
        with atomic_path(layout.csim_output(p.name)) as tmp:
            np.savez(tmp, logits=as_logits(y, len(y)), manifest_sha256=manifest.sha256)
        _say(p.name, p.reference, entry)
    if not report["projects"]:  # e.g. a run whose models have CPU forms only: nothing to simulate, said once
        logger.warning(f"csim: {manifest.path} lists no firmware project; nothing to simulate")
    report["ok"] = all(p["ok"] for p in report["projects"].values())
    return report


def _say(name: str, reference: str, entry: dict) -> None:
    """One project's csim result in the log: mismatches, AUCs, speed, arithmetic and testbench."""
    cc = entry.get("vendor_cross_check")
    checked = f" (vendor headers on {cc['events']} events: {cc['differ']} differ)" if cc else ""
    logger.info(
        f"csim: {name}: {entry['n_mismatch']} of {entry['n_events']} events differ from the {reference} "
        f"(max {entry['max_abs_diff']:.3g}); AUC {entry['auc_reference']:.5f} (reference) vs "
        f"{entry['auc_csim']:.5f} (csim); {entry['events_per_s']:.0f} events/s, {entry['arithmetic']} "
        f"arithmetic{checked}; testbench {'ok' if entry['testbench']['ok'] else 'FAILED'}"
    )
    if entry.get("fast_fallback"):
        logger.info(f"csim: {name}: {entry['fast_fallback']}; used the vendor headers")
    elif entry.get("arithmetic_choice"):
        logger.info(f"csim: {name}: {entry['arithmetic_choice']}")


def _arithmetic(p: dict) -> str:
    if p["arithmetic"] not in harness.ARITHMETIC:  # an RTL simulator: the design itself, no C++ arithmetic
        return p["arithmetic"]
    cc = p.get("vendor_cross_check")
    if p["arithmetic"] == "fast":
        return f"fast ({cc['differ']} of {cc['events']} differ)"
    if cc:
        return f"vendor: fast differed on {cc['differ']} of {cc['events']}"
    if p.get("fast_fallback"):
        return "vendor (fast headers do not cover it)"
    return "vendor (every event; auto: seconds, no fast build)" if p.get("arithmetic_choice") else "vendor"


def _ptq_cell(p: dict) -> str:
    v = p.get("vs_export")
    if v is None:
        return " (PTQ: not required)"
    return (
        f" (PTQ: {v['n_mismatch']} differ from export's outputs; AUC loss {v['auc_loss']:.2g} ≤ "
        f"{v['max_auc_loss']:g}: {'ok' if v['ok'] else 'FAILED'})"
    )


def markdown(report: dict) -> str:
    """The csim report as a Markdown table."""
    lines = [
        f"# C simulation of {report['run']} (whole test split, {report['threads']} threads)",
        "",
        "| project | reference | events | mismatches | max \\|Δ\\| | AUC reference | AUC csim | flips (F1 / Youden; "
        "K classes: argmax) | events/s "
        "| arithmetic (vendor cross-check) | testbench |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in report["projects"].items():
        flips = p["decision_flips"]
        flip_text = (
            f"{flips['argmax']} (argmax)"
            if "argmax" in flips
            else f"{flips.get('f1', '–')} / {flips.get('youden', '–')}"
        )
        lines.append(
            f"| {name} | {p['reference']} | {p['n_events']} | {p['n_mismatch']}"
            f"{'' if p['bit_exact_required'] else _ptq_cell(p)} | {p['max_abs_diff']:.3g} | "
            f"{p['auc_reference']:.5f} | {p['auc_csim']:.5f} | {flip_text} | "
            f"{p['events_per_s']:.0f} | {_arithmetic(p)} | {'ok' if p['testbench']['ok'] else 'FAILED'} "
            f"({p['testbench']['n_events']} events) |"
        )
    for name, why in report.get("skipped", {}).items():
        lines.append(f"| {name} | skipped: {why} | | | | | | | | | |")
    lines += [
        "",
        "Arithmetic: *fast* is trigdeploy's `ap_fixed` in machine integers (cxx/fast_ap), *vendor* the `ap_` headers Vitis "
        "compiles; the vendor build re-simulates a spread sample of every fast run, and runs the whole split "
        "itself where that takes seconds (`--arithmetic auto`, the default).",
    ]
    return "\n".join(lines) + "\n"
