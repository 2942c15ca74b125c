"""``trigdeploy bench``: physics, CPU latency and FPGA estimates of every model of a run, side by side.

Writes ``benchmarks/results/<run>.json`` (all figures, machine and package versions),
``<run>.md`` (tables), ``<run>_roc.png`` (1/εB vs εS, every model and form) and
``<run>_pareto.png`` (AUC against estimated LUTs; with ``--sweep`` the QAT MLP retrained at
several bit widths). FPGA figures are estimates (each export form's ``cost``: ``trigdeploy.fpga``,
alkaid's and conifer's models) unless a synthesis report replaces them (``trigdeploy synth``).
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from pathlib import Path

from trigdeploy import fpga, timing
from trigdeploy.bench import latency, physics
from trigdeploy.bench.front import Point, alkaid_available, front_points, scan
from trigdeploy.convert.manifest import Manifest
from trigdeploy.data.cache import load_split, run_classes
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic, write_text_atomic
from trigdeploy.layout import RunLayout
from trigdeploy.versions import package_versions

logger = logging.getLogger(__name__)

def _machine() -> dict:
    import os

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "system": platform.platform()}


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


def sweep_points(bits: list[int], part: str = "", clock_ns: float = 5.0) -> list[Point]:
    """The uniform-bit sweep's points: the QAT MLP retrained at each weight width b (activations and inputs
    b + 2 bits) from the run's float MLP and feature cache, with its AUC, rejection, the hls4ml estimate
    and (with alkaid) the RTL's cost model and latency."""
    from trigdeploy.config import QMLPConfig

    rtl = alkaid_available() and bool(part)
    return [Point({"sweep": "qmlp", "weight_bits": b, "part": part, "clock_ns": clock_ns, "rtl": rtl}, QMLPConfig,
                  "the sweep", _sweep_point, (b, part, clock_ns, rtl)) for b in bits]


def _sweep_point(r, b: int, part: str, clock_ns: float, rtl: bool, progress: bool) -> dict:
    """The QAT MLP retrained at ``b``-bit weights (``b + 2``-bit activations): physics and costs."""
    import torch

    from trigdeploy.bench.front import rtl_figures, training_rate
    from trigdeploy.train import nn as tnn

    model, qcfg, fit = r.fit({"weight_bits": b, "act_bits": b + 2, "input_bits": b + 2}, f"{r.kind.name}_w{b}", progress)
    phys = r.physics(tnn.predict(model, r.x_test, torch.device("cpu")))
    est = fpga.estimate_mlp(fpga.qat_layers(model, qcfg.bias_bits), clock_ns)
    point = {"weight_bits": b, "act_bits": b + 2, **phys, "lut": est["lut"], "ff": est["ff"],
             "dsp": est["dsp"], "latency_cycles": est["latency_cycles"], "train_seconds": fit.seconds,
             "rows_per_s": training_rate(fit)}
    if rtl:
        from trigdeploy.convert import to_rtl

        point["rtl"] = rtl_figures(to_rtl.trace(model, len(r.prepared.features)), part, clock_ns)
    logger.info(f"bench: sweep w{b}/a{b + 2}: AUC {phys['auc']:.5f}, ≈{est['lut']} LUT (hls4ml estimate)"
                + (f", ≈{point['rtl']['lut']:,} LUT (alkaid RTL)" if "rtl" in point else ""))
    return point


def open_synthesis(layout: RunLayout, manifest: Manifest) -> dict | None:
    """``trigdeploy synth``'s Yosys counts of this very export, or None (not run, or another export's)."""
    if not layout.synth_json.is_file():
        logger.info(f"bench: no {layout.synth_json} (trigdeploy synth): FPGA figures are estimates only")
        return None
    data = json.loads(layout.synth_json.read_text())
    if data.get("manifest_sha256") != manifest.sha256:
        logger.warning(f"bench: {layout.synth_json} is from another export; run trigdeploy synth again (ignored)")
        return None
    return data


def side_by_side(synth: dict | None, est: dict, models: dict) -> list[dict]:
    """Every synthesized design with each estimator of it and its ratio to the Yosys count; then the
    vendor's C synthesis estimate of every HLS project, where ``trigdeploy synth`` ran the tools."""
    rows = _open_rows(synth, est, models)
    for name, v in (synth or {}).get("vendor", {}).items():
        if "lut" not in v:  # a report without resources: nothing to put beside the counts
            continue
        rows.append({"design": name, "source": f"{v['method']} ({v['part']}, {v['clock_target_ns']:g} ns; "
                                               f"latency {v['latency_cycles_worst']} cycles, II {v['ii']})",
                     "lut": v["lut"], "ff": v.get("ff", 0), "dsp": v.get("dsp", 0), "ratio_to_yosys": None,
                     "vendor": True})
    return rows


def _open_rows(synth: dict | None, est: dict, models: dict) -> list[dict]:
    """The Yosys rows of ``side_by_side`` and each estimator's row beside them."""
    rows = []
    for name, d in (synth or {}).get("designs", {}).items():
        if "lut" not in d:
            rows.append({"design": name, "source": "Yosys", "skipped": d.get("skipped") or f"failed: {d.get('failed')}"})
            continue
        rows.append({"design": name, "source": d["label"], "lut": d["lut"], "ff": d["ff"], "carry": d["carry"],
                     "dsp": d["dsp"], "seconds": d["seconds"], "tool": d["tool"]})
        model = d["model"]
        if "estimate_alkaid" in d:
            rows.append({"design": name, "source": f"alkaid cost model ({d['variant']}: like for like)",
                         "lut": round(d["estimate_alkaid"]), "ratio_to_yosys": d["estimate_alkaid"] / max(d["lut"], 1)})
            rtl = models.get(model, {}).get("rtl", {})
            if "lut_estimate_alkaid" in rtl:
                rows.append({"design": name, "source": "alkaid cost model (src/, ternary adders: the Vivado design)",
                             "lut": round(rtl["lut_estimate_alkaid"]), "ratio_to_yosys": None})
        for label, e in est.items():
            if label.split(" (")[0] in (model, f"{model} PTQ") and "alkaid" not in label:
                same = "conifer VHDL" in label
                rows.append({"design": name, "source": f"{label}: {e['method']}" + ("" if same else " (another architecture)"),
                             "lut": e["lut"], "ratio_to_yosys": e["lut"] / max(d["lut"], 1) if same else None})
    return rows


def _point(model: str, group: str, physics_: dict, cost: dict, lut_source: str) -> dict:
    """One entry of the ``pareto`` list."""
    rejection = {"rejection_at_0.3": physics_["rejection_at_0.3"]} if "rejection_at_0.3" in physics_ else {}  # K classes: none
    return {"model": model, "group": group, "auc": physics_["auc"], **rejection, "lut": cost["lut"], "ff": cost["ff"],
            "dsp": cost["dsp"], "lut_source": lut_source, "latency_ns": cost.get("latency_ns")}


def pareto_entries(metrics: dict, est: dict, point_labels: dict[str, str], synth: dict | None,
                   sweep_points: list[dict], front: list[dict]) -> list[dict]:
    """One entry per point of the resource plot: the run's exported models at their best LUT source
    (``yosys`` count of their RTL > ``alkaid`` cost model > ``estimate``), the uniform-bit sweep and the
    resource-aware front; each with AUC, 1/εB at εS = 0.3, LUT, FF, DSP, the LUT source and latency."""
    out = []
    designs = {d["model"]: (name, d) for name, d in (synth or {}).get("designs", {}).items() if "lut" in d}
    for model in dict.fromkeys(point_labels.values()):
        if model not in metrics:
            continue
        labels = [label for label, m in point_labels.items() if m == model]
        rtl = next((est[label] for label in labels if "alkaid" in label), None)
        other = next((est[label] for label in labels if "alkaid" not in label), None)
        # K classes: the macro AUC; no single background rejection (the per-class ones are in the physics tables)
        physics_ = {"auc": metrics[model]["auc"]}
        if "rejection" in metrics[model]:  # null in metrics.json: no background passes
            physics_["rejection_at_0.3"] = _unbounded(metrics[model]["rejection"]["eff_S=0.3"])
        if model in designs:
            name, d = designs[model]
            latency = (rtl or other or {}).get("latency_ns")
            if d.get("source", "").startswith("conifer"):
                latency = next((est[label]["latency_ns"] for label in est if label.startswith(f"{model} (conifer VHDL")), latency)
            out.append(_point(f"{model} ({name})", "run", physics_, {**d, "latency_ns": latency}, "yosys"))
        elif rtl is not None or other is not None:
            out.append(_point(model, "run", physics_, rtl if rtl is not None else other,
                              "alkaid" if rtl is not None else "estimate"))
    for p in sweep_points:  # the hls4ml estimate has no latency of the RTL: none
        cost = p.get("rtl") or {"lut": p["lut"], "ff": p["ff"], "dsp": p["dsp"], "lut_source": "estimate"}
        out.append(_point(f"uniform w{p['weight_bits']}a{p['act_bits']}", "sweep", p, cost, cost["lut_source"]))
    out += [_point(p["model"], "front", p, p, p["lut_source"]) for p in front]
    return out


def dominated(point: dict, others: list[dict]) -> bool:
    """Is ``point`` dominated (no more LUTs, no less AUC, one of them strictly) by one of ``others``?"""
    return any(o["lut"] <= point["lut"] and o["auc"] >= point["auc"] and (o["lut"], o["auc"]) != (point["lut"], point["auc"])
               for o in others)


def pareto_plot(points: list[dict], path: Path, title: str) -> None:
    """AUC, 1/εB at εS = 0.3 and latency against LUTs; filled markers: Yosys counts, open: models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    panels = (("auc", "test AUC"), ("rejection_at_0.3", "1/εB at εS = 0.3 (test)"), ("latency_ns", "latency (ns)"))
    for ax, (key, ylabel) in zip(axes, panels):
        for group, style, color, name in (("sweep", "o-", "C0", "uniform-bit QAT sweep"),
                                          ("front", "^-", "C3", "resource-aware front (β sweep)")):
            pts = sorted((p for p in points if p["group"] == group and _plottable(p.get(key))), key=lambda p: p["lut"])
            if pts:
                ax.plot([p["lut"] for p in pts], [p[key] for p in pts], style, color=color,
                        label=f"{name} ({pts[0]['lut_source']})", markerfacecolor="none")
        for i, p in enumerate(q for q in points if q["group"] == "run"):
            if not _plottable(p.get(key)):  # no figure, or 1/εB unbounded (no background passes)
                continue
            filled = p["lut_source"] == "yosys"
            ax.plot([p["lut"]], [p[key]], "D" if filled else "s", color=f"C{(i + 4) % 10}",
                    label=f"{p['model']} ({p['lut_source']})", markerfacecolor=f"C{(i + 4) % 10}" if filled else "none")
        if points:
            ax.set_xscale("log")
        ax.set_xlabel("LUTs (source in the legend; Yosys is open synthesis, no Vivado)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    if not points:
        axes[0].text(0.5, 0.5, "no FPGA design in this export", ha="center", va="center", transform=axes[0].transAxes)
    else:
        axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scans(run_dir: Path, bits: list[int], betas: list[float], part: str, clock: float,
           progress: bool) -> tuple[list[dict], list[dict]]:
    """The sweep's and the front's points, trained together (``front.scan``): (sweep, front)."""
    # the front's points train longest (up to its epochs, pruning as they go): they start first, and the
    # sweep's shorter points fill the workers' last gaps
    with timing.step(f"design scan: QAT sweep ({len(bits)} widths) and resource-aware front ({len(betas)} betas)"):
        done = scan(run_dir, front_points(betas, part, clock) + sweep_points(bits, part, clock), progress)
    return done[len(betas):], done[:len(betas)]


def bench_run(run_dir: Path, out_dir: Path | None = None, export_root: Path | None = None,
              firmware_root: Path | None = None, sweep_bits: list[int] | None = None,
              pareto_betas: list[float] | None = None, progress: bool = True) -> dict:
    """All benchmark figures of one exported run; writes JSON, Markdown and plots to ``out_dir``
    (default: the layout's results root)."""
    with timing.stage("bench") as rec:
        return _bench(RunLayout.of(run_dir, export_root, firmware_root, out_dir), rec, sweep_bits, pareto_betas,
                      progress)


def _bench(layout: RunLayout, rec: timing.Record, sweep_bits: list[int] | None, pareto_betas: list[float] | None,
           progress: bool) -> dict:
    run_dir, out_dir, export_dir = layout.run_dir, layout.results_root, layout.export_dir
    if not layout.manifest.is_file():
        raise TrigdeployError(f"{layout.manifest} not found: run trigdeploy export --run {run_dir} first")
    typed = Manifest.load(layout.manifest)
    metrics = json.loads(layout.metrics.read_text())
    x_test, y_test = load_split(run_dir, "test")
    target = typed.target
    clock, reuse, part = typed.device.clock_ns, typed.device.reuse, typed.device.part
    name = run_dir.name

    logger.info("bench: physics (every model, every form, whole test split)")
    t0 = time.perf_counter()
    scores = physics.forms(layout, typed, x_test)
    phys = {model: {form: physics.figures(y_test, s, physics.thresholds_of(metrics[model]))
                    for form, s in by_form.items()} for model, by_form in scores.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = list(run_classes(run_dir))
    multi = classes if len(classes) > 2 else None
    plots = {"roc": f"{name}_roc.png", "pareto": f"{name}_pareto.png"}
    physics.roc_plot(y_test, scores, out_dir / plots["roc"], f"{name}: {len(y_test)} test events", multi)
    if multi:
        plots["confusion"] = f"{name}_confusion.png"
        physics.confusion_plot(phys, out_dir / plots["confusion"], f"{name}: test confusion matrices")

    rec.add("physics of every form, ROC plots", time.perf_counter() - t0)
    logger.info("bench: CPU latency (1 thread, pinned to core 0)")
    with timing.step("CPU latency"):
        lat = latency.measure(run_dir, export_dir, x_test)

    logger.info("bench: FPGA estimates")
    est, point_labels = fpga_estimates(layout, typed.models, clock, reuse)
    synth = open_synthesis(layout, typed)
    sw, front = _scans(run_dir, sweep_bits or [], pareto_betas or [], part, clock, progress)
    points = pareto_entries(metrics, est, point_labels, synth, sw, front)
    uniform = [p for p in points if p["group"] == "sweep"]
    for p, entry in zip(front, (q for q in points if q["group"] == "front")):
        p["dominated_by_uniform_sweep"] = dominated(entry, uniform) if uniform else None
    pareto_plot(points, out_dir / f"{name}_pareto.png",
                f"{name}: physics vs FPGA LUTs ({'Yosys counts where synthesized, models elsewhere' if synth else 'models only'})")

    report = {"run": str(run_dir), "target": target, "machine": _machine(), "versions": package_versions(("torch", "brevitas", "onnxruntime", "qonnx", "hls4ml", "conifer", "xgboost", "numpy")),
              "test_events": int(len(y_test)), "classes": classes, "physics": phys, "cpu_latency": lat, "fpga": est,
              "fpga_side_by_side": side_by_side(synth, est, typed.models), "sweep": sw, "front": front,
              "pareto": points,
              "plots": plots}
    report["timing"] = rec.report()
    write_json_atomic(out_dir / f"{name}.json", report)
    write_text_atomic(out_dir / f"{name}.md", markdown(report))
    return report


def _plottable(v) -> bool:
    return v is not None and math.isfinite(v)


def _unbounded(v: float | None) -> float:
    """A 1/εB as read back from JSON, where null stands for no background passing (inf)."""
    return float("inf") if v is None else float(v)


def _rej(v: float | None, n_background: int | None = None) -> str:
    """A 1/εB cell: "> N" (or ∞) when no background event passes (inf, or null as read from JSON)."""
    if v is None or math.isinf(v):
        return "∞" if n_background is None else f"> {n_background}"
    return f"{v:.0f}"


def _point_rej(p: dict) -> str:
    """The 1/εB cell of a front or resource-plot point: "–" for K classes (no single background)."""
    return _rej(p["rejection_at_0.3"]) if "rejection_at_0.3" in p else "–"


def _physics_binary(r: dict) -> list[str]:
    lines = ["| model | form | AUC | 1/εB @ εS=0.3 | 1/εB @ εS=0.5 | F1 @ F1-thr | acc @ Youden |", "|---|---|---|---|---|---|---|"]
    for model, by_form in r["physics"].items():
        for form, f in by_form.items():
            t = f["at_thresholds"]
            n_bkg = int(f["rejection_limit"])
            lines.append(f"| {model} | {form} | {f['auc']:.5f} | {_rej(f['rejection']['eff_S=0.3'], n_bkg)} | "
                         f"{_rej(f['rejection']['eff_S=0.5'], n_bkg)} | {t.get('f1', {}).get('f1', float('nan')):.4f} | "
                         f"{t.get('youden', {}).get('accuracy', float('nan')):.4f} |")
    return lines + ["", f"Rejections are limited by the {int(next(iter(next(iter(r['physics'].values())).values()))['rejection_limit'])} "
                    "test background events: \"> N\" where none of them passes."]


def _physics_multiclass(r: dict) -> list[str]:
    """K classes: macro AUC, accuracy and per-class AUC per form; then per class the rejection of every
    other class and what the validation thresholds keep; the confusion matrices."""
    classes = r["classes"]
    lines = [f"| model | form | macro AUC | accuracy | {' | '.join(f'AUC {c}' for c in classes)} |",
             "|---|---|---|---|" + "---|" * len(classes)]
    for model, by_form in r["physics"].items():
        for form, f in by_form.items():
            lines.append(f"| {model} | {form} | {f['auc']:.5f} | {f['accuracy']:.4f} | "
                         + " | ".join(f"{f['per_class'][c]['auc']:.5f}" for c in classes) + " |")
    lines += ["", "### Per class, one against each other class (test; thresholds from validation)", "",
              "1/ε of the other class at the class's efficiency εS (on the events of the two classes), and at the "
              "validation threshold for εS = 0.5: the test efficiency and the acceptance of every other class. "
              "Forms that agree bit for bit give the same figures; the table lists each model's trained form and "
              "its last firmware form.", "",
              f"| model | form | class | AUC | {' | '.join(f'1/ε {c} @ εS=0.3' for c in classes)} | "
              f"{' | '.join(f'1/ε {c} @ εS=0.5' for c in classes)} | εS @ val thr 0.5 |",
              "|---|---|---|---|" + "---|" * (2 * len(classes) + 1)]
    for model, by_form in r["physics"].items():
        shown = list(by_form.items())
        for form, f in ([shown[0], shown[-1]] if len(shown) > 1 else shown):
            for c in classes:
                p = f["per_class"][c]
                n = f["n_test_per_class"]
                r3 = " | ".join("" if o == c else _rej(p["rejection"]["eff_S=0.3"][o], n[o]) for o in classes)
                r5 = " | ".join("" if o == c else _rej(p["rejection"]["eff_S=0.5"][o], n[o]) for o in classes)
                thr = p["thresholds"].get("eff_S=0.5")
                lines.append(f"| {model} | {form} | {c} | {p['auc']:.5f} | {r3} | {r5} | "
                             f"{'' if thr is None else format(thr['signal_efficiency'], '.3f')} |")
    lines += ["", "### Confusion matrices (test; rows: true class, columns: largest logit)", ""]
    for model, by_form in r["physics"].items():
        form, f = list(by_form.items())[-1]
        lines += [f"{model} · {form} (accuracy {f['accuracy']:.4f}):", "", "| true \\ predicted | " + " | ".join(classes) + " |",
                  "|---|" + "---|" * len(classes)]
        lines += [f"| {c} | " + " | ".join(str(v) for v in row) + " |" for c, row in zip(classes, f["confusion_matrix"])]
        lines.append("")
    return lines


def markdown(r: dict) -> str:
    """The bench report as Markdown: physics, CPU latency, FPGA figures, scans, the plots."""
    multi = len(r.get("classes", ())) > 2
    lines = [f"# Benchmarks of `{r['run']}`", "",
             f"{r['test_events']} test events; {r['machine']['cpu']} ({r['machine']['cores']} cores).", "",
             "## Physics (test split; thresholds chosen on validation)", ""]
    if multi:
        lines.append(f"{len(r['classes'])} classes ({', '.join(r['classes'])}); the scores of every form are the "
                     "softmax of its logits, computed outside the firmware.")
        lines.append("")
    lines += _physics_multiclass(r) if multi else _physics_binary(r)
    lines += ["", f"## CPU latency (1 thread per engine, pinned to core {r['cpu_latency']['pinned_core']})", "",
              "| engine | p50 µs | p50 µs, quietest block | p99 µs | events/s @1 | @64 | @4096 |",
              "|---|---|---|---|---|---|---|"]
    for eng, e in r["cpu_latency"]["engines"].items():
        s, t = e["single_event"], e["events_per_s"]
        lines.append(f"| {eng} | {s['p50_us']:.1f} | {s['p50_quiet_us']:.1f} | {s['p99_us']:.1f} | {t['1']:,.0f} | "
                     f"{t['64']:,.0f} | {t['4096']:,.0f} |")
    c = r["cpu_latency"]
    if "ort_speedup_vs_torch_batch1" in c:
        lines += ["", f"ONNX Runtime vs PyTorch eager at batch 1 (p50): **{c['ort_speedup_vs_torch_batch1']:.1f}×** "
                      f"(quietest blocks: {c['ort_speedup_vs_torch_batch1_quiet']:.1f}×). Each single-event figure "
                      f"comes from {next(iter(c['engines'].values()))['single_event']['calls']:,} calls in blocks; "
                      "the quietest block's median is the one that is stable on a shared VM."]
    lines += _fpga_tables(r) + _scan_tables(r)
    lines += ["", f"![ROC]({r['plots']['roc']})", "", f"![Pareto]({r['plots']['pareto']})", ""]
    if "confusion" in r["plots"]:
        lines += [f"![Confusion]({r['plots']['confusion']})", ""]
    return "\n".join(lines)


def _fpga_tables(r: dict) -> list[str]:
    """The FPGA estimates and the open-synthesis counts beside them."""
    lines: list[str] = []
    lines += ["", "## FPGA (estimates: no Vivado/Vitis here)", "",
              "| design | LUT | FF | DSP | BRAM | latency (cycles) | latency (ns) | II | method |", "|---|---|---|---|---|---|---|---|---|"]
    for design, e in r["fpga"].items():
        lines.append(f"| {design} | {e['lut']:,} | {e['ff']:,} | {e['dsp']} | {e['bram']} | {e['latency_cycles']} | "
                     f"{e['latency_ns']:.0f} | {e['ii']} | {e['method']} |")
    rows = r.get("fpga_side_by_side", [])
    lines += ["", "## FPGA resources side by side: open synthesis and the estimators", ""]
    if not rows:
        lines.append("No RTL design synthesized (run `trigdeploy synth`; it needs Yosys, and GHDL for the VHDL BDT).")
    else:
        vendor = any(row.get("vendor") for row in rows)
        lines += ["Yosys `synth_xilinx` counts are open-synthesis counts, not Vivado's (no LUT packing, no timing); "
                  + ("the vendor rows are the HLS tool's C synthesis estimates of the HLS projects." if vendor else
                     "no Vivado/Vitis here, so no vendor column."), "",
                  "| design | source | LUT | FF | CARRY | DSP | estimate / Yosys | time (s) |", "|---|---|---|---|---|---|---|---|"]
        for row in rows:
            if "skipped" in row:
                lines.append(f"| {row['design']} | Yosys: skipped ({row['skipped']}) | | | | | | |")
                continue
            ratio, secs = row.get("ratio_to_yosys"), row.get("seconds")
            ff, carry, dsp = (f"{row[k]:,}" if k in row else "" for k in ("ff", "carry", "dsp"))
            lines.append(f"| {row['design']} | {row['source']} | {row['lut']:,} | {ff} | {carry} | {dsp} | "
                         f"{'' if ratio is None else f'{ratio:.2f}'} | {'' if secs is None else f'{secs:.0f}'} |")
    return lines


def _scan_tables(r: dict) -> list[str]:
    """The quantization sweep, the resource-aware front and every point of the resource plot."""
    lines: list[str] = []
    if r["sweep"]:
        lines += ["", "## Quantization sweep (QAT MLP)", "", "| weights / activations | AUC | LUT (est.) | FF (est.) | latency (cycles) |",
                  "|---|---|---|---|---|"]
        for p in r["sweep"]:
            lines.append(f"| {p['weight_bits']} / {p['act_bits']} bits | {p['auc']:.5f} | {p['lut']:,} | {p['ff']:,} | {p['latency_cycles']} |")
    if r.get("front"):
        lines += ["", "## Resource-aware front (per-weight precision, pruning; fine-tuned from the float MLP)", "",
                  "| β (cost weight) | AUC | 1/εB @ εS=0.3 | weights kept | EBOPs | LUT (alkaid) | FF (alkaid) | "
                  "latency (ns) | training rows/s |", "|---|---|---|---|---|---|---|---|---|"]
        for p in r["front"]:
            lines.append(f"| {p['beta']:g} | {p['auc']:.5f} | {_point_rej(p)} | {p['weights_kept']:,} / "
                         f"{p['weights']:,} | {p['ebops']:,.0f} | {p['lut']:,} | {p['ff']:,} | {p['latency_ns']:g} | "
                         f"{p['rows_per_s']:,.0f} |")
    if r.get("pareto"):
        lines += ["", "## All points of the resource plot", "",
                  "LUT source: `yosys` = open-synthesis count of the RTL (not Vivado), `alkaid` = alkaid's cost model "
                  "of the RTL (the Vivado design), `estimate` = trigdeploy's hls4ml or conifer's model.", "",
                  "| point | AUC | 1/εB @ εS=0.3 | LUT | FF | DSP | LUT source | latency (ns) |",
                  "|---|---|---|---|---|---|---|---|"]
        for p in sorted(r["pareto"], key=lambda p: p["lut"]):
            lat = "" if p["latency_ns"] is None else f"{p['latency_ns']:g}"
            lines.append(f"| {p['model']} | {p['auc']:.5f} | {_point_rej(p)} | {p['lut']:,} | {p['ff']:,} | "
                         f"{p['dsp']} | {p['lut_source']} | {lat} |")
    return lines

