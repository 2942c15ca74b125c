"""``trigdeploy csim``: every exported firmware project of a run, C-simulated on the whole test split.

Per project: the batched harness output against the model's reference on every test event
(QONNX execution for the QAT MLP and the bit-exact fixed-point emulation for the conifer BDT,
both must agree on every event; the float model for PTQ, with error statistics), the AUC of
both, the decisions that flip at each operating threshold of ``metrics.json``, and the
project's own testbench built and run with g++. Results: ``runs/<name>/csim.json`` and
``csim.md``. A failed bit-exactness check is reported in the files and makes the command fail.

The whole split runs on the fast arithmetic (``harness``) where it covers the project. The
vendor-header build, which the testbench uses anyway, re-simulates ``CROSS_CHECK_EVENTS`` events
spread over the split; any difference between the two sends the whole split through the vendor
build instead and is recorded, so the report always states what the vendor headers compute.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from trigdeploy.csim import testbench
from trigdeploy.cxx import harness
from trigdeploy.data.prepare import load_split
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic, write_text_atomic
from trigdeploy.layout import RunLayout

logger = logging.getLogger(__name__)

CROSS_CHECK_EVENTS = 4096


def compare(y: np.ndarray, csim: np.ndarray, reference: np.ndarray, thresholds: dict[str, float], exact: bool) -> dict:
    """Whole-array comparison of C-simulated logits with the reference logits."""
    from trigdeploy.train.metrics import roc_auc, sigmoid

    csim, reference = np.asarray(csim, np.float64).reshape(-1), np.asarray(reference, np.float64).reshape(-1)
    if csim.shape != reference.shape:
        raise TrigdeployError(f"C simulation gave {csim.shape} outputs for {reference.shape} reference outputs")
    diff = np.abs(csim - reference)
    p_ref, p_sim = sigmoid(reference), sigmoid(csim)
    flips = {name: int(((p_ref >= t) != (p_sim >= t)).sum()) for name, t in thresholds.items()}
    out = {"n_events": int(len(csim)), "n_mismatch": int((diff > 0).sum()), "max_abs_diff": float(diff.max()),
           "mean_abs_diff": float(diff.mean()), "auc_reference": roc_auc(y, reference), "auc_csim": roc_auc(y, csim),
           "decision_flips": flips, "bit_exact_required": exact}
    out["ok"] = out["n_mismatch"] == 0 if exact else True
    return out


def _thresholds(run_dir: Path, model: str) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v["threshold"] for k, v in metrics.get(model, {}).get("thresholds", {}).items()}


class Reference(NamedTuple):
    """What one firmware project is fed and checked against."""

    model: str           # run model name (mlp, qmlp, bdt)
    name: str            # what the reference is
    form: str            # the project as a deployed form, e.g. "hls4ml Vitis csim"
    inputs: np.ndarray   # test split as the firmware port sees it
    logits: np.ndarray   # the reference's logits on ``inputs``
    exact: bool          # must the C simulation reproduce them bit for bit?


def references(run_dir: Path, export_dir: Path, manifest: dict, x_test: np.ndarray) -> dict[str, Reference]:
    """The reference of every exported firmware project, keyed by project directory name."""
    out = {}
    models = manifest["models"]
    if "qmlp" in models:
        from qonnx.core.modelwrapper import ModelWrapper

        from trigdeploy.convert import to_qonnx
        from trigdeploy.train.run import load_torch_model

        model, _ = load_torch_model(run_dir / "qmlp.pt")
        x_grid = to_qonnx.input_quantizer(model).quantize(x_test)
        ref = to_qonnx.execute(ModelWrapper(str(export_dir / models["qmlp"]["qonnx"]["file"])), x_grid)
        for backend, info in models["qmlp"].get("hls4ml", {}).items():
            out[Path(info["project"]).name] = Reference("qmlp", "QONNX execution", f"hls4ml {backend} csim",
                                                        x_grid, ref, True)
    if "hls4ml_ptq" in models.get("mlp", {}):
        import torch

        from trigdeploy.train.run import load_torch_model

        model, _ = load_torch_model(run_dir / "mlp.pt")
        with torch.no_grad():
            ref = model(torch.from_numpy(np.ascontiguousarray(x_test))).numpy()
        for backend, info in models["mlp"]["hls4ml_ptq"]["backends"].items():
            out[Path(info["project"]).name] = Reference("mlp", "float PyTorch model", f"hls4ml {backend} PTQ csim",
                                                        x_test, ref, False)
    if "xilinxhls" in models.get("bdt", {}).get("projects", {}):
        from trigdeploy.convert import to_conifer as tc

        ens = json.loads((export_dir / models["bdt"]["ensemble"]["file"]).read_text())
        fmt = tc.FixedType.parse(models["bdt"]["fixed_point"]["precision"])
        x_q = fmt.quantize_inputs(x_test)
        ens_q = tc.quantize_ensemble(ens, fmt)[0]
        ref, _ = tc.emulate_fixed(ens_q, tc.leaves(ens_q, x_q), fmt)
        out[Path(models["bdt"]["projects"]["xilinxhls"]["project"]).name] = Reference(
            "bdt", "fixed-point emulation of the XGBoost ensemble (leaf-exact)", "conifer HLS csim", x_q, ref, True)
    return out


def simulate(project: Path, cache: Path, x: np.ndarray, threads: int | None = None,
             arithmetic: str = "fast") -> tuple[np.ndarray, dict]:
    """Outputs of ``project`` on ``x`` as the vendor headers compute them, and how they were obtained.

    With ``fast``: the fast build runs every event, the vendor build a spread sample of them; on
    any difference the vendor build runs every event."""
    def timed(h: harness.Harness) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        out = h.run(x)
        return out, len(x) / max(time.perf_counter() - t0, 1e-9)

    h, b = harness.load(project, cache, threads, arithmetic)
    y, rate = timed(h)
    info = {"arithmetic": b.arithmetic, "arithmetic_detail": harness.ARITHMETIC[b.arithmetic],
            "compile_seconds": b.compile_seconds, "build_cached": b.cached, "events_per_s": rate}
    if b.fallback:
        info["fast_fallback"] = b.fallback
    if b.arithmetic == "fast":
        hv, bv = harness.load(project, cache, threads, "vendor")
        idx = np.unique(np.linspace(0, len(x) - 1, min(CROSS_CHECK_EVENTS, len(x))).astype(np.int64))
        differ = int((hv.run(x[idx]) != y[idx]).any(axis=1).sum())
        info["vendor_cross_check"] = {"events": int(len(idx)), "differ": differ,
                                      "vendor_compile_seconds": bv.compile_seconds}
        if differ:
            y, rate = timed(hv)
            info.update(arithmetic="vendor", arithmetic_detail=harness.ARITHMETIC["vendor"], events_per_s=rate)
    return y, info


def csim_run(run_dir: Path, export_root: Path | None = None, firmware_root: Path | None = None,
             threads: int | None = None, progress: bool = True, arithmetic: str = "fast") -> dict:
    """C-simulate every project of an exported run; writes and returns ``csim.json``."""
    layout = RunLayout.of(run_dir, export_root, firmware_root)
    run_dir, export_dir, manifest_path = layout.run_dir, layout.export_dir, layout.manifest
    if not manifest_path.is_file():
        raise TrigdeployError(f"{manifest_path} not found: run trigdeploy export --run {run_dir} first")
    manifest = json.loads(manifest_path.read_text())
    x_test, y_test = load_split(run_dir, "test")
    if manifest.get("test_events") != len(x_test):
        raise TrigdeployError(f"{manifest_path} was exported from another test split ({manifest.get('test_events')} "
                              f"events, run has {len(x_test)}): export again")
    cache = layout.csim_cache
    report: dict = {"run": str(run_dir), "threads": threads or harness.Harness.default_threads(), "projects": {}}
    for name, (model, ref_name, _, x, ref, exact) in references(run_dir, export_dir, manifest, x_test).items():
        project = layout.project(name)
        if not project.is_dir():
            raise TrigdeployError(f"{project} not found (listed in {manifest_path}): export again")
        tb = testbench.check(project, cache, exact)  # first: it builds the vendor harness alongside its own code
        y, info = simulate(project, cache, x, threads, arithmetic)
        entry = {"model": model, "reference": ref_name, "project": str(project), **info,
                 **compare(y_test, y[:, 0], ref, _thresholds(run_dir, model), exact)}
        entry["testbench"] = tb
        entry["ok"] = entry["ok"] and entry["testbench"]["ok"]
        report["projects"][name] = entry
        cc = entry.get("vendor_cross_check")
        checked = f" (vendor headers on {cc['events']} events: {cc['differ']} differ)" if cc else ""
        logger.info(f"csim: {name}: {entry['n_mismatch']} of {entry['n_events']} events differ from the {ref_name} "
                 f"(max {entry['max_abs_diff']:.3g}); AUC {entry['auc_reference']:.5f} (reference) vs "
                 f"{entry['auc_csim']:.5f} (csim); {entry['events_per_s']:.0f} events/s, {entry['arithmetic']} "
                 f"arithmetic{checked}; testbench {'ok' if entry['testbench']['ok'] else 'FAILED'}")
        if entry.get("fast_fallback"):
            logger.info(f"csim: {name}: {entry['fast_fallback']}; used the vendor headers")
    if not report["projects"]:
        raise TrigdeployError(f"{manifest_path}: no firmware project to simulate")
    report["ok"] = all(p["ok"] for p in report["projects"].values())
    write_json_atomic(layout.csim_json, report)
    write_text_atomic(layout.csim_md, markdown(report))
    if not report["ok"]:
        bad = [n for n, p in report["projects"].items() if not p["ok"]]
        raise TrigdeployError(f"C simulation differs from the reference for {', '.join(bad)} (see {run_dir / 'csim.json'})")
    return report


def _arithmetic(p: dict) -> str:
    cc = p.get("vendor_cross_check")
    if p["arithmetic"] == "fast":
        return f"fast ({cc['differ']} of {cc['events']} differ)"
    if cc:
        return f"vendor: fast differed on {cc['differ']} of {cc['events']}"
    return "vendor" + (" (fast headers do not cover it)" if p.get("fast_fallback") else "")


def markdown(report: dict) -> str:
    """The csim report as a Markdown table."""
    lines = [f"# C simulation of {report['run']} (whole test split, {report['threads']} threads)", "",
             "| project | reference | events | mismatches | max \\|Δ\\| | AUC reference | AUC csim | flips (F1 / Youden) | events/s "
             "| arithmetic (vendor cross-check) | testbench |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, p in report["projects"].items():
        flips = p["decision_flips"]
        lines.append(f"| {name} | {p['reference']} | {p['n_events']} | {p['n_mismatch']}"
                     f"{'' if p['bit_exact_required'] else ' (PTQ: not required)'} | {p['max_abs_diff']:.3g} | "
                     f"{p['auc_reference']:.5f} | {p['auc_csim']:.5f} | {flips.get('f1', '–')} / {flips.get('youden', '–')} | "
                     f"{p['events_per_s']:.0f} | {_arithmetic(p)} | {'ok' if p['testbench']['ok'] else 'FAILED'} "
                     f"({p['testbench']['n_events']} events) |")
    lines += ["", "Arithmetic: *fast* is trigdeploy's `ap_fixed` in machine integers (cxx/fast_ap), *vendor* the `ap_` headers Vitis "
                  "compiles; the vendor build re-simulates a spread sample of every fast run."]
    return "\n".join(lines) + "\n"
