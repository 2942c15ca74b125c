"""The resource plot of ``trigdeploy bench``: every model, sweep and front point as (LUTs, physics), with
the Yosys count where a design was synthesized and a cost model elsewhere."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from trigdeploy.bench.synthreport import SynthReport
from trigdeploy.csim.report import CsimReport
from trigdeploy.train.results import RunMetrics


def _plottable(v) -> bool:
    return v is not None and math.isfinite(v)


def _point(model: str, group: str, physics_: dict, cost: dict, lut_source: str, kind: str | None) -> dict:
    """One entry of the ``pareto`` list (``kind``: its model kind)."""
    # two classes: 1/εB at the quoted efficiency; K classes: the accuracy (there is no single background)
    second = {k: physics_[k] for k in ("rejection_quoted", "accuracy") if k in physics_}
    return {
        "model": model,
        "group": group,
        "auc": physics_["auc"],
        **second,
        "lut": cost["lut"],
        "ff": cost["ff"],
        "dsp": cost["dsp"],
        "lut_source": lut_source,
        "latency_ns": cost.get("latency_ns"),
        "ii": cost.get("ii"),
        "kind": kind,
    }


def pareto_entries(
    metrics: RunMetrics,
    est: dict,
    point_labels: dict[str, str],
    reports: tuple[SynthReport | None, CsimReport | None, dict[str, dict]],
    scanned: list[dict],
    quoted: tuple[float, dict[str, dict]] = (0.3, {}),
) -> list[dict]:
    """One entry per point of the resource plot: each Yosys-counted design of the run's exported models (a
    model with none: its ``alkaid`` cost model, else its ``estimate``) and the design scan's points
    (``scanned``: ``bench.scanread.read_points``: the uniform-bit sweep, the resource-aware front, any grid); each
    with AUC, 1/εB at the quoted signal efficiency (``rejection_quoted``), LUT, FF, DSP, the LUT source and
    latency, whether it is on the AUC front of all points (the plot's step line) and, for the run's models,
    their simulation on this export. ``reports``: ``trigdeploy synth``'s and ``csim``'s of this export (or
    None), and each project's physics from its simulated outputs (design name → ``auc``, ``rejection``): a
    design's point carries its own firmware's physics where it has them, its model's elsewhere. ``quoted``:
    the quoted efficiency and each model's physics in its trained form (bench's, at that efficiency too)."""
    synth, csim, design_physics = reports
    efficiency, model_physics = quoted
    out, simulated = [], {}
    for model in dict.fromkeys(point_labels.values()):
        if model not in metrics:
            continue
        labels = [label for label, m in point_labels.items() if m == model]
        rtl = next((est[label] for label in labels if "alkaid" in label), None)
        other = next((est[label] for label in labels if "alkaid" not in label), None)
        designs = [d for d in synth.counted.values() if d.model == model] if synth else []
        for d in designs:
            latency = (rtl or other or {}).get("latency_ns")
            if d.source.startswith("conifer"):
                latency = next(
                    (est[label]["latency_ns"] for label in est if label.startswith(f"{model} (conifer VHDL")), latency
                )
            ii = (rtl or other or {}).get("ii")
            cost = {"lut": d.lut, "ff": d.ff, "dsp": d.dsp, "latency_ns": latency, "ii": ii}
            physics_ = _physics_of(metrics, model, design_physics.get(d.name), efficiency)
            out.append(_point(f"{model} ({d.name})", "run", physics_, cost, "yosys", model))
            simulated[id(out[-1])] = simulation_of(csim, model, d.name)
        if not designs and (rtl is not None or other is not None):
            source = "alkaid" if rtl is not None else "estimate"
            physics_ = _physics_of(metrics, model, model_physics.get(model), efficiency)
            out.append(_point(model, "run", physics_, rtl if rtl is not None else other, source, model))
            simulated[id(out[-1])] = simulation_of(csim, model)
    for p in scanned:  # the design scan's points (runs of their own: simulated, counted where synthesized)
        if p.get("lut") is None:
            continue  # exported without an RTL design (no alkaid): no LUT figure
        out.append(_point(p["model"], p["group"], p, p, p["lut_source"], p.get("kind")))
        simulated[id(out[-1])] = p.get("csim")
    on_front = {id(p) for p in front_of(out)}
    for p in out:
        p["on_front"], p["csim"] = id(p) in on_front, simulated.get(id(p))
    return out


def quoted_physics(layout, record: dict, efficiency: float, y: np.ndarray) -> dict:
    """The resource plot's second figure of a point on the test split (labels ``y``: the parent's, whose data
    stage every point shares), from its design as csim simulated it (``physics_from``) or from its trained model
    where it has none: ``{"rejection_quoted": 1/εB at signal efficiency ``efficiency``}`` for two classes,
    ``{"accuracy": …}`` (the most probable class) for K classes, which have no single background."""
    from trigdeploy.convert.manifest import Manifest
    from trigdeploy.csim.run import simulated_logits
    from trigdeploy.logits import probabilities
    from trigdeploy.train.metrics import rejection_at

    name = record.get("physics_from")
    logits = simulated_logits(layout, Manifest.load(layout.manifest), name) if name else None
    if logits is not None:
        prob = probabilities(logits)
    else:
        prob = np.load(layout.predictions(record["point"]["kind"]))["test"]
    if prob.ndim == 2:
        return {"accuracy": float((prob.argmax(1) == np.asarray(y)).mean())}
    return {"rejection_quoted": rejection_at(y, prob, efficiency)}


def _physics_of(metrics: RunMetrics, model: str, figures: dict | None = None, efficiency: float = 0.3) -> dict:
    """A point's AUC and 1/εB at signal efficiency ``efficiency``: from bench's ``figures`` of the design's
    simulated outputs (or of the trained model) where given, else from ``metrics.json`` (K classes: the macro
    AUC and, where bench's figures are given, the accuracy; no single background rejection, the per-class ones
    are in the physics tables)."""
    key = f"eff_S={efficiency:g}"
    rejection = figures.get("rejection") if figures is not None else metrics[model].rejection  # K classes: none
    physics_ = {"auc": figures["auc"] if figures is not None else metrics[model].auc}
    if figures is not None and "accuracy" in figures:  # K classes (bench's figures_multiclass)
        physics_["accuracy"] = figures["accuracy"]
    if rejection is not None and key in rejection:  # inf: no background passes (null in metrics.json)
        physics_["rejection_quoted"] = rejection[key]
    return physics_


def simulation_of(csim: CsimReport | None, model: str, design: str | None = None) -> dict | None:
    """A run model's C/RTL simulation on this export: its bit-exact projects (only ``design`` where the point
    is one design), the events each ran and the mismatches of all of them (None where csim did not run on
    this export, or there is no such project)."""
    sims = [s for s in csim.of_model(model) if design is None or s.name == design] if csim else []
    if not sims:
        return None
    return {
        "projects": [s.name for s in sims],
        "n_events": sims[0].n_events,
        "n_mismatch": sum(s.n_mismatch for s in sims),
    }


def dominated(point: dict, others: list[dict], key: str = "auc") -> bool:
    """Is ``point`` dominated (no more LUTs, no less ``key``, one of them strictly) by one of ``others``?"""
    return any(
        o["lut"] <= point["lut"] and o[key] >= point[key] and (o["lut"], o[key]) != (point["lut"], point[key])
        for o in others
    )


def front_of(points: list[dict], key: str = "auc") -> list[dict]:
    """The points no other point dominates in LUTs and ``key`` (higher is better), in order of LUTs; points
    without a finite ``key`` take no part."""
    pts = [p for p in points if _plottable(p.get(key))]
    return sorted((p for p in pts if not dominated(p, pts, key)), key=lambda p: (p["lut"], -p[key]))


_GROUPS = {"sweep": ("o", "C0", "uniform-bit QAT sweep"), "front": ("^", "C3", "resource-aware (β scan)")}
# any other scan (--grid): squares, one colour per kind (none of the run models' colours)
_GRID = ("s", ("teal", "goldenrod", "navy", "olive"))
_SIZE = {"*": 11}  # a star reads as small as a diamond only when larger
_BEATEN = "0.65"  # grey: another point has at least this one's figure at no more LUTs
_RUN_COLOURS = ("C4", "C1", "C2", "C6", "C5", "C8", "C9")  # the run's models: no blue, red (the scans), grey


def _style(p: dict, points: list[dict]) -> tuple[str, str, str]:
    """(marker, colour, legend name) of a point: by group for the sweep and the front, by kind for other scan
    points, one colour per run model (diamonds; stars for the models of a run benched beside it)."""
    runs = [q for q in points if q["group"] == "run" and q.get("beside") == p.get("beside")]
    if p["group"] in _GROUPS:
        marker, color, name = _GROUPS[p["group"]]
        return marker, color, f"{name} ({p['lut_source']})"
    if p["group"] != "run":  # a grid point: by its kind
        kinds = sorted({q.get("kind", "") for q in points if q["group"] not in (*_GROUPS, "run")})
        colour = _GRID[1][kinds.index(p.get("kind", "")) % len(_GRID[1])]
        return _GRID[0], colour, f"{p.get('kind', 'scan')} grid scan ({p['lut_source']})"
    marker = "*" if p.get("beside") else "D"  # a run benched beside this one: stars, its own colours
    return marker, _RUN_COLOURS[runs.index(p) % len(_RUN_COLOURS)], f"{p['model']} ({p['lut_source']})"


def _panel(ax, points: list[dict], key: str, front: bool) -> None:
    """One panel: every point against its LUTs, coloured where it is on the front (grey where another point
    beats it), the front as a step line through the non-dominated points (``front``)."""
    on = {id(p) for p in front_of(points, key)} if front else {id(p) for p in points}
    for p in points:
        if not _plottable(p.get(key)):  # no figure, or 1/εB unbounded (no background passes)
            continue
        marker, color, _ = _style(p, points)
        c = color if id(p) in on else _BEATEN
        filled = c if p["lut_source"] == "yosys" else "none"
        ax.plot([p["lut"]], [p[key]], marker, color=c, markerfacecolor=filled, ms=_SIZE.get(marker, 6))
    f = front_of(points, key) if front else []
    if f:
        ax.step([p["lut"] for p in f], [p[key] for p in f], where="post", color="k", lw=0.8)


def _legend(ax, points: list[dict]) -> None:
    """One entry per scan group and per run model (filled: Yosys count, open: a model), the front, the grey."""
    from matplotlib.lines import Line2D

    entries = {}
    for p in points:
        marker, color, name = _style(p, points)
        filled = p["lut_source"] == "yosys"
        entries.setdefault(
            name,
            Line2D([], [], marker=marker, ls="", color=color, mfc=color if filled else "none", ms=_SIZE.get(marker, 6)),
        )
    entries["front: no other point better at no more LUTs"] = Line2D([], [], color="k", lw=0.8)
    entries["beaten by another point"] = Line2D([], [], marker="o", ls="", color=_BEATEN, mfc="none")
    ax.legend(entries.values(), entries.keys(), fontsize=7, loc="best")  # clear of the points


def plot_panels(points: list[dict], efficiency: float = 0.3) -> tuple[tuple[str, str, bool], ...]:
    """The resource plot's three panels, each (point key, y label, whether it draws a front): the AUC; 1/εB at
    the quoted efficiency, or where no point has one and some have an accuracy (K classes: no single background)
    the accuracy; the latency."""
    second = ("rejection_quoted", f"1/εB at εS = {efficiency:g} (test)", True)
    if not any(_plottable(p.get("rejection_quoted")) for p in points) and any("accuracy" in p for p in points):
        second = ("accuracy", "test accuracy (the most probable class)", True)
    return ("auc", "test AUC", True), second, ("latency_ns", "latency (ns)", False)


def pareto_plot(points: list[dict], path: Path, title: str, efficiency: float = 0.3) -> None:
    """AUC, 1/εB at the quoted signal efficiency (K classes: the accuracy) and latency against LUTs, every
    model, sweep and front point: filled markers Yosys counts, open ones models; the non-dominated front as a
    step line (AUC, 1/εB or accuracy), the points it leaves out grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    for ax, (key, ylabel, front) in zip(axes, plot_panels(points, efficiency)):
        _panel(ax, points, key, front)
        if points:
            ax.set_xscale("log")
        ax.set_xlabel("LUTs (source in the legend; Yosys is open synthesis, no Vivado)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    if not points:
        axes[0].text(0.5, 0.5, "no FPGA design in this export", ha="center", va="center", transform=axes[0].transAxes)
    else:
        _legend(axes[0], points)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
