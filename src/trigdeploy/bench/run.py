"""``trigdeploy bench``: physics, CPU latency and FPGA estimates of every model of a run, side by side.

Writes ``benchmarks/results/<run>.json`` (all figures, machine and package versions),
``<run>.md`` (tables), ``<run>_roc.png`` (1/εB vs εS, every model and form) and
``<run>_pareto.png`` (AUC against estimated LUTs; with ``--sweep`` the QAT MLP retrained at
several bit widths). FPGA figures are estimates (each export form's ``cost``: ``trigdeploy.fpga``,
alkaid's and conifer's models) unless a synthesis report replaces them (``trigdeploy synth``).
"""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path

from trigdeploy import timing
from trigdeploy.bench import beside, budget, latency, physics
from trigdeploy.bench.pareto import dominated, pareto_entries, pareto_plot
from trigdeploy.bench.report import markdown
from trigdeploy.bench.scanread import read_points
from trigdeploy.bench.synthreport import DesignCount, NotCounted, SynthReport
from trigdeploy.config import load_config
from trigdeploy.convert.manifest import Manifest
from trigdeploy.csim.report import CsimReport
from trigdeploy.data.cache import load_split, run_classes
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic, write_text_atomic
from trigdeploy.layout import RunLayout
from trigdeploy.train.results import RunMetrics
from trigdeploy.versions import package_versions

logger = logging.getLogger(__name__)


def _machine() -> dict:
    import os

    cpu = platform.processor()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def fpga_estimates(layout: RunLayout, models: dict, clock_ns: float, reuse: int) -> tuple[dict, dict[str, str]]:
    """Estimates of every exported FPGA form of the run's models, and which label is each model's
    Pareto point ({label: model})."""
    from trigdeploy.convert.forms import FORMS
    from trigdeploy.models import registry

    out, points = {}, {}
    for form in (f for f in FORMS.values() if f.cost):  # in the forms' report order
        for kind in registry.KINDS.values():
            if form.name in kind.forms and kind.name in models:
                for label, est, is_point in form.cost(kind, layout, models[kind.name], clock_ns, reuse):
                    out[label] = est
                    if is_point:
                        points[label] = kind.name
    return out, points


def open_synthesis(layout: RunLayout, manifest: Manifest) -> SynthReport | None:
    """``trigdeploy synth``'s Yosys counts of this very export, or None (not run, or another export's)."""
    if not layout.synth_json.is_file():
        logger.info(f"bench: no {layout.synth_json} (trigdeploy synth): FPGA figures are estimates only")
        return None
    report = SynthReport.load(layout.synth_json)
    if report.manifest_sha256 != manifest.sha256:
        logger.warning(f"bench: {layout.synth_json} is from another export; run trigdeploy synth again (ignored)")
        return None
    return report


def open_csim(layout: RunLayout, manifest: Manifest) -> CsimReport | None:
    """``trigdeploy csim``'s results for this very export, or None (not run, or another export's)."""
    if not layout.csim_json.is_file():
        return None
    report = CsimReport.load(layout.csim_json)
    return report if report.manifest_sha256 == manifest.sha256 else None


def side_by_side(synth: SynthReport | None, est: dict, models: dict) -> list[dict]:
    """Every synthesized design with each estimator of it and its ratio to the Yosys count; then the
    vendor's C synthesis estimate of every HLS project, where ``trigdeploy synth`` ran the tools."""
    rows = _open_rows(synth, est, models)
    for v in synth.vendor.values() if synth else ():
        if v.lut is None:  # a report without resources: nothing to put beside the counts
            continue
        rows.append(
            {
                "design": v.project,
                "source": f"{v.method} ({v.part}, {v.clock_target_ns:g} ns; "
                f"latency {v.latency_cycles_worst} cycles, II {v.ii})",
                "lut": v.lut,
                "ff": v.ff,
                "dsp": v.dsp,
                "ratio_to_yosys": None,
                "vendor": True,
            }
        )
    return rows


def _open_rows(synth: SynthReport | None, est: dict, models: dict) -> list[dict]:
    """The Yosys rows of ``side_by_side`` and each estimator's row beside them."""
    rows = []
    for name, d in synth.designs.items() if synth else ():
        if isinstance(d, NotCounted):
            rows.append({"design": name, "source": "Yosys", "skipped": f"failed: {d.why}" if d.failed else d.why})
            continue
        counts = {"lut": d.lut, "ff": d.ff, "carry": d.carry, "dsp": d.dsp, "seconds": d.seconds, "tool": d.tool}
        rows.append({"design": name, "source": d.label, **counts})
        if d.estimate is not None:
            rows.append(
                {
                    "design": name,
                    "source": f"{d.estimator} cost model ({d.variant}: like for like)",
                    "lut": round(d.estimate),
                    "ratio_to_yosys": d.estimate / max(d.lut, 1),
                    "estimator": f"{d.estimator} cost model",
                    "same_logic": True,
                }
            )
            rtl = models.get(d.model, {}).get("rtl", {})
            if "lut_estimate_alkaid" in rtl:
                rows.append(
                    {
                        "design": name,
                        "source": "alkaid cost model (src/, ternary adders: the Vivado design)",
                        "lut": round(rtl["lut_estimate_alkaid"]),
                        "ratio_to_yosys": None,
                        "estimator": "alkaid cost model (the Vivado design, ternary adders)",
                        "same_logic": False,
                    }
                )
        rows += _estimator_rows(name, d, est)
    return rows


def _estimator_rows(name: str, d: DesignCount, est: dict) -> list[dict]:
    """Each estimate of the design's model beside its count; a ratio only for an estimate of the same
    architecture (conifer's VHDL estimators of its VHDL)."""
    rows = []
    for label, e in est.items():
        if label.split(" (")[0] in (d.model, f"{d.model} PTQ") and "alkaid" not in label:
            same = "conifer VHDL" in label and d.source.startswith("conifer VHDL")
            rows.append(
                {
                    "design": name,
                    "source": f"{label}: {e['method']}" + ("" if same else " (another architecture)"),
                    "lut": e["lut"],
                    "ratio_to_yosys": e["lut"] / max(d.lut, 1) if same else None,
                    "estimator": f"{e['method']}: {label.split(' (', 1)[-1].rstrip(')')}",
                    "same_logic": same,
                }
            )
    return rows


def bench_run(
    run_dir: Path,
    out_dir: Path | None = None,
    export_root: Path | None = None,
    firmware_root: Path | None = None,
    progress: bool = True,
) -> dict:
    """All benchmark figures of one exported run and of its design scan's points (``trigdeploy scan``: read,
    never trained here); writes JSON, Markdown and plots to ``out_dir`` (default: the layout's results root)."""
    with timing.stage("bench") as rec:
        return _bench(RunLayout.of(run_dir, export_root, firmware_root, out_dir), rec)


def inputs_given(features) -> str:
    """What the designs of a run with ``features`` (its ``FeaturesConfig``) take at their port, in words: which
    input computation their counts hold and which they leave out."""
    if features.kind == "constituents" and features.inputs == "l1":
        return (
            "L1 words: each particle's integer pT, eta, phi and the jet's eta, phi; the set models compute the "
            "mask, log pT, delta eta and delta phi in the design (in its LUTs and latency)"
        )
    if features.kind == "constituents":
        jet = f" and the jet's {', '.join(features.jet_features)} beside them" if features.jet_features else ""
        return (
            f"the particles' features{jet}, computed in float64 and scaled outside the designs (preprocess.json): "
            "not in their LUTs or latency"
        )
    if features.kind == "columns":
        return "the file's columns, scaled outside the designs (preprocess.json): not in their LUTs or latency"
    return (
        f"{features.kind} features, computed in float64 from the constituents and scaled outside the designs "
        "(preprocess.json): not in their LUTs or latency"
    )


VERSIONS = ("torch", "brevitas", "onnxruntime", "qonnx", "hls4ml", "conifer", "xgboost", "numpy")  # in the report


def _bench(layout: RunLayout, rec: timing.Record) -> dict:
    run_dir, out_dir = layout.run_dir, layout.results_root
    if not layout.manifest.is_file():
        raise TrigdeployError(f"{layout.manifest} not found: run trigdeploy export --run {run_dir} first")
    typed, cfg = Manifest.load(layout.manifest), load_config(layout.config)
    name, quoted = run_dir.name, cfg.bench.quoted_efficiency
    out_dir.mkdir(parents=True, exist_ok=True)
    own, scanned = _measure(layout, (cfg.bench, cfg.features), rec, scan=True)
    entries, beside_runs = _beside(layout, cfg.bench, own, rec)
    m = beside.merged(own, beside_runs)
    classes = list(run_classes(run_dir))
    plots = _plots(layout, m, classes)
    scan_rows = [r for p in scanned for r in p.pop("side_by_side")]  # each point's counts beside its estimators
    sw, front = ([p for p in scanned if p["group"] == g] for g in ("sweep", "front"))
    counted = any(p["lut_source"] == "yosys" for p in m.points)
    what = "Yosys counts where synthesized, models elsewhere" if counted else "models only"
    pareto_plot(m.points, out_dir / plots["pareto"], f"{name}: physics vs FPGA LUTs ({what})", quoted)
    report = {
        "run": str(run_dir),
        "target": typed.target,
        "machine": _machine(),
        "versions": package_versions(VERSIONS),
        "test_events": int(len(m.y)),
        "quoted_efficiency": quoted,
        "inputs": own.inputs,
        "beside": entries,
        "classes": classes,
        "physics": m.physics,
        "model_comparisons": physics.compare_models(m.y, m.scores, classes),
        "cpu_latency": m.latency,
        "fpga": m.fpga,
        "fpga_side_by_side": m.rows,
        "sweep": sw,
        "front": front,
        "scan": [p for p in scanned if p["group"] not in ("sweep", "front")],
        "pareto": m.points,
        "budget": budget.verdicts(typed.device.part, typed.budget, m.fpga, m.points),
        "estimator_errors": budget.estimator_errors(m.rows + scan_rows),  # the designs and the scan points'
        "plots": plots,
    }
    report["timing"] = rec.report()
    write_json_atomic(out_dir / f"{name}.json", report)
    write_text_atomic(out_dir / f"{name}.md", markdown(report))
    return report


def _beside(layout: RunLayout, cfg, own: beside.Measured, rec: timing.Record) -> tuple[list[dict], list]:
    """The runs ``bench.beside`` names (``cfg``: the ``bench`` section), each measured like this run and named
    ``<run>/…``, or left out with the one line why: (the report's ``beside`` entries, the measurements)."""
    entries, measured = [], []
    for name in cfg.beside:
        run = str(layout.run_dir.parent / name)
        try:
            other = beside.layout_beside(layout, name)
            m, _ = _measure(other, (cfg, load_config(other.config).features), rec, scan=False)
            beside.check_labels(layout, other, own.y, m.y)
        except TrigdeployError as e:
            logger.warning(f"bench: {name} left out of {layout.name}'s report: {e}")
            entries.append({"run": run, "skipped": str(e)})
            continue
        entries.append({"run": run, "prefix": f"{name}/", "inputs": m.inputs})
        measured.append(beside.prefixed(m, name))
    return entries, measured


def _measure(layout: RunLayout, sections: tuple, rec: timing.Record, scan: bool) -> tuple[beside.Measured, list[dict]]:
    """Everything bench measures of one exported run (``sections``: the benched run's ``bench`` section, so that
    runs beside it are measured at the same working points and rates, and this run's ``features``): physics of
    every form, CPU latency, FPGA estimates and counts, the resource plot's points; with ``scan``, its design
    scan's points too."""
    cfg, features = sections
    typed, metrics = Manifest.load(layout.manifest), RunMetrics.load(layout.metrics)
    x_test, y_test = load_split(layout.run_dir, "test")
    t0 = time.perf_counter()
    logger.info(f"bench: physics of {layout.name} (every model, every form, whole test split)")
    scores = physics.forms(layout, typed, x_test)
    effs = physics.efficiencies(cfg.quoted_efficiency)
    phys = {m: physics.model_figures(y_test, by_form, metrics[m], cfg.rate, effs) for m, by_form in scores.items()}
    rec.add(f"physics of every form ({layout.name})", time.perf_counter() - t0)
    logger.info("bench: CPU latency (1 thread, pinned to core 0)")
    with timing.step(f"CPU latency ({layout.name})"):
        lat = latency.measure(layout.run_dir, layout.export_dir, x_test)
    logger.info("bench: FPGA estimates")
    est, point_labels = fpga_estimates(layout, typed.models, typed.device.clock_ns, typed.device.reuse)
    synth = open_synthesis(layout, typed)
    fpga = (est, point_labels)
    run = (typed, metrics, synth, y_test)
    scanned, points = _resource_points(layout, run, phys, fpga, cfg.quoted_efficiency, scan)
    inputs = inputs_given(features)
    rows = side_by_side(synth, est, typed.models)
    return beside.Measured(y_test, scores, phys, lat, est, points, rows, inputs), scanned


def _plots(layout: RunLayout, m: beside.Measured, classes: list[str]) -> dict[str, str]:
    """The ROC plot (and, for K classes, the confusion matrices) of every model and form measured: their file
    names in the results folder."""
    name, out_dir = layout.run_dir.name, layout.results_root
    multi = classes if len(classes) > 2 else None
    plots = {"roc": f"{name}_roc.png", "pareto": f"{name}_pareto.png"}
    physics.roc_plot(m.y, m.scores, out_dir / plots["roc"], f"{name}: {len(m.y)} test events", multi)
    if multi:
        plots["confusion"] = f"{name}_confusion.png"
        physics.confusion_plot(m.physics, out_dir / plots["confusion"], f"{name}: test confusion matrices")
    return plots


def _resource_points(
    layout: RunLayout, run: tuple, phys: dict, fpga: tuple, quoted: float, scan: bool = True
) -> tuple[list, list]:
    """The design scan's points (read, never trained; none unless ``scan``) and every point of the resource
    plot, 1/εB quoted at signal efficiency ``quoted`` (``run``: the manifest, metrics, synth report, test labels;
    ``fpga``: the estimates and their labels): (scan points, plot points)."""
    typed, metrics, synth, y = run
    est, point_labels = fpga
    scanned = read_points(layout, quoted, y) if scan else []
    simulated = {p.name: phys[p.model][p.form] for p in typed.projects if p.form in phys.get(p.model, {})}
    trained = {model: next(iter(by_form.values())) for model, by_form in phys.items()}  # the trained form first
    reports = (synth, open_csim(layout, typed), simulated)
    points = pareto_entries(metrics, est, point_labels, reports, scanned, (quoted, trained))
    _mark_dominated(points, [p for p in scanned if p["group"] == "front"])
    return scanned, points


def _mark_dominated(points: list[dict], front: list[dict]) -> None:
    """Each resource-aware point dominated by a uniform-bit one or not."""
    uniform = [p for p in points if p["group"] == "sweep"]
    for p, entry in zip(front, (q for q in points if q["group"] == "front")):
        p["dominated_by_uniform_sweep"] = dominated(entry, uniform) if uniform else None
