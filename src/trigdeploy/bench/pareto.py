"""The resource plot of ``trigdeploy bench``: every model, sweep and front point as (LUTs, physics), with
the Yosys count where a design was synthesized and a cost model elsewhere."""

from __future__ import annotations

import math
from pathlib import Path

from trigdeploy.bench.synthreport import SynthReport
from trigdeploy.train.results import RunMetrics


def _plottable(v) -> bool:
    return v is not None and math.isfinite(v)


def _point(model: str, group: str, physics_: dict, cost: dict, lut_source: str) -> dict:
    """One entry of the ``pareto`` list."""
    rejection = (
        {"rejection_at_0.3": physics_["rejection_at_0.3"]} if "rejection_at_0.3" in physics_ else {}
    )  # K classes: none
    return {
        "model": model,
        "group": group,
        "auc": physics_["auc"],
        **rejection,
        "lut": cost["lut"],
        "ff": cost["ff"],
        "dsp": cost["dsp"],
        "lut_source": lut_source,
        "latency_ns": cost.get("latency_ns"),
    }


def pareto_entries(
    metrics: RunMetrics,
    est: dict,
    point_labels: dict[str, str],
    synth: SynthReport | None,
    sweep_points: list[dict],
    front: list[dict],
) -> list[dict]:
    """One entry per point of the resource plot: the run's exported models at their best LUT source
    (``yosys`` count of their RTL > ``alkaid`` cost model > ``estimate``), the uniform-bit sweep and the
    resource-aware front; each with AUC, 1/εB at εS = 0.3, LUT, FF, DSP, the LUT source and latency."""
    out = []
    designs = {d.model: d for d in synth.counted.values()} if synth else {}  # a model's last counted design
    for model in dict.fromkeys(point_labels.values()):
        if model not in metrics:
            continue
        labels = [label for label, m in point_labels.items() if m == model]
        rtl = next((est[label] for label in labels if "alkaid" in label), None)
        other = next((est[label] for label in labels if "alkaid" not in label), None)
        # K classes: the macro AUC; no single background rejection (the per-class ones are in the physics tables)
        physics_ = {"auc": metrics[model].auc}
        if metrics[model].rejection is not None:  # inf: no background passes (null in metrics.json)
            physics_["rejection_at_0.3"] = metrics[model].rejection["eff_S=0.3"]
        if model in designs:
            d = designs[model]
            latency = (rtl or other or {}).get("latency_ns")
            if d.source.startswith("conifer"):
                latency = next(
                    (est[label]["latency_ns"] for label in est if label.startswith(f"{model} (conifer VHDL")), latency
                )
            cost = {"lut": d.lut, "ff": d.ff, "dsp": d.dsp, "latency_ns": latency}
            out.append(_point(f"{model} ({d.name})", "run", physics_, cost, "yosys"))
        elif rtl is not None or other is not None:
            out.append(
                _point(
                    model,
                    "run",
                    physics_,
                    rtl if rtl is not None else other,
                    "alkaid" if rtl is not None else "estimate",
                )
            )
    for p in sweep_points:  # the hls4ml estimate has no latency of the RTL: none
        cost = p.get("rtl") or {"lut": p["lut"], "ff": p["ff"], "dsp": p["dsp"], "lut_source": "estimate"}
        out.append(_point(f"uniform w{p['weight_bits']}a{p['act_bits']}", "sweep", p, cost, cost["lut_source"]))
    out += [_point(p["model"], "front", p, p, p["lut_source"]) for p in front]
    return out


def dominated(point: dict, others: list[dict]) -> bool:
    """Is ``point`` dominated (no more LUTs, no less AUC, one of them strictly) by one of ``others``?"""
    return any(
        o["lut"] <= point["lut"] and o["auc"] >= point["auc"] and (o["lut"], o["auc"]) != (point["lut"], point["auc"])
        for o in others
    )


def pareto_plot(points: list[dict], path: Path, title: str) -> None:
    """AUC, 1/εB at εS = 0.3 and latency against LUTs; filled markers: Yosys counts, open: models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    panels = (("auc", "test AUC"), ("rejection_at_0.3", "1/εB at εS = 0.3 (test)"), ("latency_ns", "latency (ns)"))
    for ax, (key, ylabel) in zip(axes, panels):
        for group, style, color, name in (
            ("sweep", "o-", "C0", "uniform-bit QAT sweep"),
            ("front", "^-", "C3", "resource-aware front (β sweep)"),
        ):
            pts = sorted((p for p in points if p["group"] == group and _plottable(p.get(key))), key=lambda p: p["lut"])
            if pts:
                ax.plot(
                    [p["lut"] for p in pts],
                    [p[key] for p in pts],
                    style,
                    color=color,
                    label=f"{name} ({pts[0]['lut_source']})",
                    markerfacecolor="none",
                )
        for i, p in enumerate(q for q in points if q["group"] == "run"):
            if not _plottable(p.get(key)):  # no figure, or 1/εB unbounded (no background passes)
                continue
            filled = p["lut_source"] == "yosys"
            ax.plot(
                [p["lut"]],
                [p[key]],
                "D" if filled else "s",
                color=f"C{(i + 4) % 10}",
                label=f"{p['model']} ({p['lut_source']})",
                markerfacecolor=f"C{(i + 4) % 10}" if filled else "none",
            )
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
