"""``trigdeploy bench``: physics, CPU latency and FPGA estimates of every model of a run, side by side.

Writes ``benchmarks/results/<run>.json`` (all figures, machine and package versions),
``<run>.md`` (tables), ``<run>_roc.png`` (1/εB vs εS, every model and form) and
``<run>_pareto.png`` (AUC against estimated LUTs; with ``--sweep`` the QAT MLP retrained at
several bit widths). FPGA figures are estimates (``bench.fpga``) unless a synthesis report
replaces them (``trigdeploy synth``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
import time
from pathlib import Path

from trigdeploy.bench import fpga, latency, physics
from trigdeploy.convert.manifest import Manifest
from trigdeploy.data.prepare import load_split
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


def _hls4ml_mlp_cost(kind, layout: RunLayout, label: str, layers_of, clock_ns: float,
                     reuse: int) -> list[tuple[str, dict, bool]]:
    """trigdeploy's analytic estimate of an hls4ml MLP; ``layers_of(model, saved)`` gives its layers."""
    from trigdeploy.train.run import load_torch_model

    model, saved = load_torch_model(layout.model_file(kind.artifact))
    return [(label, fpga.estimate_mlp(layers_of(model, saved), clock_ns, reuse), True)]


def _cost_qat_hls4ml(kind, layout: RunLayout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    if not entry.get("hls4ml"):
        return []
    return _hls4ml_mlp_cost(kind, layout, f"{kind.name} (hls4ml)",
                            lambda model, saved: fpga.qat_layers(model, saved["config"]["bias_bits"]), clock_ns, reuse)


def _cost_ptq_hls4ml(kind, layout: RunLayout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    if "hls4ml_ptq" not in entry:
        return []
    return _hls4ml_mlp_cost(kind, layout, f"{kind.name} PTQ (hls4ml)",
                            lambda model, _: fpga.ptq_layers(model, entry["hls4ml_ptq"]["precisions"]), clock_ns, reuse)


def _cost_conifer(kind, layout: RunLayout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    from trigdeploy.convert.to_conifer import FixedType, quantize_ensemble

    if "fixed_point" not in entry:
        return []
    ens = json.loads((layout.export_dir / entry["ensemble"]["file"]).read_text())
    fmt = FixedType.parse(entry["fixed_point"]["precision"])
    est = fpga.conifer_estimates(quantize_ensemble(ens, fmt)[0])
    return [(f"{kind.name} (conifer {name})", {**est[backend], "latency_ns": est[backend]["latency_cycles"] * clock_ns,
                                              "estimate": True, "method": est["method"]}, backend == "hls")
            for backend, name in (("hls", "HLS"), ("vhdl", "VHDL"))]


def _cost_rtl(kind, layout: RunLayout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    rtl = entry.get("rtl", {})
    if "project" not in rtl:  # not exported (an older export, or alkaid was not installed)
        return []
    return [(f"{kind.name} (alkaid RTL)", {"lut": int(round(rtl["lut_estimate_alkaid"])), "ff": rtl["reg_bits"], "dsp": 0,
                                           "bram": 0, "latency_cycles": rtl["pipeline_stages"],
                                           "latency_ns": rtl["latency_ns"], "ii": 1, "estimate": True,
                                           "method": "alkaid cost model (distributed arithmetic RTL)"}, True)]


# exported form → its FPGA cost (label, figures, is it the model's point on the Pareto plot), in report order
FORM_COSTS = {"qonnx_hls4ml": _cost_qat_hls4ml, "rtl": _cost_rtl, "hls4ml_ptq": _cost_ptq_hls4ml,
              "rtl_ptq": _cost_rtl, "conifer": _cost_conifer}


def fpga_estimates(layout: RunLayout, models: dict, clock_ns: float, reuse: int) -> tuple[dict, dict[str, str]]:
    """Estimates of every exported FPGA form of the run's models, and which label is each model's
    Pareto point ({label: model})."""
    from trigdeploy.models import registry

    out, points = {}, {}
    for form, cost in FORM_COSTS.items():
        for kind in registry.KINDS.values():
            if form in kind.forms and kind.name in models:
                for label, est, is_point in cost(kind, layout, models[kind.name], clock_ns, reuse):
                    out[label] = est
                    if is_point:
                        points[label] = kind.name
    return out, points


def sweep(run_dir: Path, bits: list[int], progress: bool) -> list[dict]:
    """Retrain the QAT MLP at each weight width b (activations and inputs b + 2 bits), from the run's
    float MLP and feature cache; returns AUC and FPGA estimates per width."""
    import torch

    from trigdeploy.config import QMLPConfig, load_config, parse_section, to_dict
    from trigdeploy.data.prepare import load_prepared
    from trigdeploy.models import registry
    from trigdeploy.models.mlp import copy_linear_weights
    from trigdeploy.train import nn as tnn
    from trigdeploy.train.metrics import roc_auc
    from trigdeploy.train.run import build_torch_model, load_torch_model

    cfg = load_config(RunLayout.of(run_dir).config)
    qat = [k for k in registry.KINDS.values() if issubclass(k.config, QMLPConfig) and cfg.train.model(k.name)]
    source = qat and qat[0].init_from(dataclasses.replace(cfg.train.model(qat[0].name), init="float"))
    if not qat or not source or not (run_dir / registry.kind(source).artifact).is_file():
        raise TrigdeployError(f"{run_dir}: the sweep needs a run with a QAT model and the float model it starts from")
    kind, qbase = qat[0], cfg.train.model(qat[0].name)
    prepared = load_prepared(run_dir)  # the run's data stage, read as it is
    val, (x_test, y_test) = prepared.arrays("val"), prepared.arrays("test")
    float_model, _ = load_torch_model(run_dir / registry.kind(source).artifact)
    out = []
    for b in bits:
        qcfg = parse_section(type(qbase), {**to_dict(qbase), "weight_bits": b, "act_bits": b + 2, "input_bits": b + 2},
                             f"train.{kind.name}", "sweep")
        torch.manual_seed(cfg.seed)
        model = build_torch_model(kind.name, len(prepared.features), qcfg)
        copy_linear_weights(float_model, model)
        t0 = time.perf_counter()
        ckpt = run_dir / "sweep" / f"{kind.name}_w{b}.ckpt"
        ckpt.parent.mkdir(exist_ok=True)
        tnn.fit(f"{kind.name}_w{b}", model, prepared, qcfg, val, seed=cfg.seed, device=torch.device("cpu"),
                checkpoint=ckpt, resume=False, progress=progress, on_batch=None)
        ckpt.unlink(missing_ok=True)
        model.cpu().eval()
        auc = roc_auc(y_test, tnn.predict(model, x_test, torch.device("cpu")))
        est = fpga.estimate_mlp(fpga.qat_layers(model, qcfg.bias_bits), 5.0)
        out.append({"weight_bits": b, "act_bits": b + 2, "auc": auc, "lut": est["lut"], "ff": est["ff"],
                    "dsp": est["dsp"], "latency_cycles": est["latency_cycles"], "train_seconds": time.perf_counter() - t0})
        logger.info(f"bench: sweep w{b}/a{b + 2}: AUC {auc:.5f}, ≈{est['lut']} LUT (estimate)")
    return out


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
    """Every synthesized design with each estimator of it and its ratio to the Yosys count."""
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


def pareto_plot(points: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    sweep_pts = [p for p in points if p["kind"] == "sweep"]
    if sweep_pts:
        ax.plot([p["lut"] for p in sweep_pts], [p["auc"] for p in sweep_pts], "o-", color="C0", label="QAT MLP sweep")
        for p in sweep_pts:
            ax.annotate(p["label"], (p["lut"], p["auc"]), textcoords="offset points", xytext=(5, -10), fontsize=8)
    for i, p in enumerate(q for q in points if q["kind"] != "sweep"):
        synthesized = p.get("source") == "yosys"
        ax.plot([p["lut"]], [p["auc"]], "D" if synthesized else "s", color=f"C{i + 1}",
                label=p["label"] + (" — Yosys count" if synthesized else " — estimate"),
                markerfacecolor=f"C{i + 1}" if synthesized else "none")
    if not points:
        ax.text(0.5, 0.5, "no FPGA design in this export", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.set_xscale("log")
    ax.set_xlabel("LUTs (filled: Yosys open synthesis; open: estimate; no Vivado)")
    ax.set_ylabel("test AUC")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title)
    if points:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def bench_run(run_dir: Path, out_dir: Path | None = None, export_root: Path | None = None,
              firmware_root: Path | None = None, sweep_bits: list[int] | None = None, progress: bool = True) -> dict:
    """All benchmark figures of one exported run; writes JSON, Markdown and plots to ``out_dir``
    (default: the layout's results root)."""
    layout = RunLayout.of(run_dir, export_root, firmware_root, out_dir)
    run_dir, out_dir, export_dir = layout.run_dir, layout.results_root, layout.export_dir
    if not layout.manifest.is_file():
        raise TrigdeployError(f"{layout.manifest} not found: run trigdeploy export --run {run_dir} first")
    typed = Manifest.load(layout.manifest)
    metrics = json.loads(layout.metrics.read_text())
    x_test, y_test = load_split(run_dir, "test")
    target = typed.target
    clock = 5.0
    reuse = 1
    for m in typed.models.values():
        for info in m.get("hls4ml", {}).values():
            clock, reuse = info["clock_period_ns"], info["reuse_factor"]
    name = run_dir.name

    logger.info("bench: physics (every model, every form, whole test split)")
    scores = physics.forms(layout, typed, x_test)
    phys = {model: {form: physics.figures(y_test, s, {k: v["threshold"] for k, v in metrics[model]["thresholds"].items()})
                    for form, s in by_form.items()} for model, by_form in scores.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    physics.roc_plot(y_test, scores, out_dir / f"{name}_roc.png", f"{name}: {len(y_test)} test events")

    logger.info("bench: CPU latency (1 thread, pinned to core 0)")
    lat = latency.measure(run_dir, export_dir, x_test)

    logger.info("bench: FPGA estimates")
    est, point_labels = fpga_estimates(layout, typed.models, clock, reuse)
    points = [{"kind": "model", "label": label, "lut": est[label]["lut"], "auc": metrics[model]["auc"], "source": "estimate"}
              for label, model in point_labels.items() if model in metrics]
    synth = open_synthesis(layout, typed)
    for design, d in (synth or {}).get("designs", {}).items():
        if "lut" in d and d["model"] in metrics:  # the synthesized count replaces the model's estimate on the plot
            points = [p for p in points if not (p["kind"] == "model" and point_labels.get(p["label"]) == d["model"]
                                                and ("alkaid" in p["label"]) == ("estimate_alkaid" in d))]
            points.append({"kind": "model", "label": f"{d['model']} ({design})", "lut": d["lut"],
                           "auc": metrics[d["model"]]["auc"], "source": "yosys"})
    sw = sweep(run_dir, sweep_bits, progress) if sweep_bits else []
    points += [{"kind": "sweep", "label": f"w{p['weight_bits']}a{p['act_bits']}", "lut": p["lut"], "auc": p["auc"]} for p in sw]
    pareto_plot(points, out_dir / f"{name}_pareto.png",
                f"{name}: AUC vs FPGA LUTs ({'Yosys counts and estimates' if synth else 'estimates'})")

    report = {"run": str(run_dir), "target": target, "machine": _machine(), "versions": package_versions(("torch", "brevitas", "onnxruntime", "qonnx", "hls4ml", "conifer", "xgboost", "numpy")),
              "test_events": int(len(y_test)), "physics": phys, "cpu_latency": lat, "fpga": est,
              "fpga_side_by_side": side_by_side(synth, est, typed.models), "sweep": sw,
              "plots": {"roc": f"{name}_roc.png", "pareto": f"{name}_pareto.png"}}
    write_json_atomic(out_dir / f"{name}.json", report)
    write_text_atomic(out_dir / f"{name}.md", markdown(report))
    return report


def markdown(r: dict) -> str:
    lines = [f"# Benchmarks of `{r['run']}`", "",
             f"{r['test_events']} test events; {r['machine']['cpu']} ({r['machine']['cores']} cores).", "",
             "## Physics (test split; thresholds chosen on validation)", "",
             "| model | form | AUC | 1/εB @ εS=0.3 | 1/εB @ εS=0.5 | F1 @ F1-thr | acc @ Youden |", "|---|---|---|---|---|---|---|"]
    for model, by_form in r["physics"].items():
        for form, f in by_form.items():
            t = f["at_thresholds"]
            lines.append(f"| {model} | {form} | {f['auc']:.5f} | {f['rejection']['eff_S=0.3']:.0f} | "
                         f"{f['rejection']['eff_S=0.5']:.0f} | {t.get('f1', {}).get('f1', float('nan')):.4f} | "
                         f"{t.get('youden', {}).get('accuracy', float('nan')):.4f} |")
    lines += ["", f"Rejections are limited by the {int(next(iter(next(iter(r['physics'].values())).values()))['rejection_limit'])} "
              "test background events (1/εB cannot exceed that).", "",
              f"## CPU latency (1 thread per engine, pinned to core {r['cpu_latency']['pinned_core']})", "",
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
        lines += ["Yosys `synth_xilinx` counts are open-synthesis counts, not Vivado's (no LUT packing, no timing); "
                  "no Vivado/Vitis here, so no vendor column.", "",
                  "| design | source | LUT | FF | CARRY | DSP | estimate / Yosys | time (s) |", "|---|---|---|---|---|---|---|---|"]
        for row in rows:
            if "skipped" in row:
                lines.append(f"| {row['design']} | Yosys: skipped ({row['skipped']}) | | | | | | |")
                continue
            ratio, secs = row.get("ratio_to_yosys"), row.get("seconds")
            ff, carry, dsp = (f"{row[k]:,}" if k in row else "" for k in ("ff", "carry", "dsp"))
            lines.append(f"| {row['design']} | {row['source']} | {row['lut']:,} | {ff} | {carry} | {dsp} | "
                         f"{'' if ratio is None else f'{ratio:.2f}'} | {'' if secs is None else f'{secs:.0f}'} |")
    if r["sweep"]:
        lines += ["", "## Quantization sweep (QAT MLP)", "", "| weights / activations | AUC | LUT (est.) | FF (est.) | latency (cycles) |",
                  "|---|---|---|---|---|"]
        for p in r["sweep"]:
            lines.append(f"| {p['weight_bits']} / {p['act_bits']} bits | {p['auc']:.5f} | {p['lut']:,} | {p['ff']:,} | {p['latency_cycles']} |")
    lines += ["", f"![ROC]({r['plots']['roc']})", "", f"![Pareto]({r['plots']['pareto']})", ""]
    return "\n".join(lines)

