"""The Markdown report of ``trigdeploy bench``: physics, CPU latency, FPGA tables and the design scans."""

from __future__ import annotations

import math

from trigdeploy.bench.physics import efficiencies
from trigdeploy.bench.report_tables import budget_table, comparisons_table, estimator_table, paired, rates_table
from trigdeploy.train.intervals import rejection_interval_of


def _rej(v: float | None, n_background: int | None = None) -> str:
    """A 1/εB cell: "> N" (or ∞) when no background event passes (inf, or null as read from JSON)."""
    if v is None or math.isinf(v):
        return "∞" if n_background is None else f"> {n_background}"
    return f"{v:.0f}"


def _point_rej(p: dict, n_background: int | None = None) -> str:
    """The 1/εB cell of a front or resource-plot point, with its 95 % interval and † where statistics-limited
    when the test split's background count is known; for K classes (no single background) the point's accuracy
    (``_second_column`` names the column), "–" where it has neither."""
    if "rejection_quoted" not in p:
        return f"{p['accuracy']:.4f}" if "accuracy" in p else "–"
    v = p["rejection_quoted"]
    n = n_background or None  # unknown (K classes, an older report): the value alone
    return _rej_with(v, n, rejection_interval_of(v, n) if n else None)


def _n_background(r: dict) -> int | None:
    """The test split's background events (two classes), from the physics tables."""
    first = next((f for by_form in r["physics"].values() for f in by_form.values()), {})
    return int(first["rejection_limit"]) if "rejection_limit" in first else None


def _ci(f: dict, key: str = "auc", digits: int = 4) -> str:
    """``value [lo, hi]`` of a figure with its 95 % interval (``key_ci``), or the value alone."""
    ci = f.get(f"{key}_ci")
    value = f"{f[key]:.5f}"
    return value if not ci else f"{value} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _rej_ci(f: dict, eff: str, n_bkg: int) -> str:
    """A physics table's 1/εB cell at ``eff`` with its interval (``rejection_ci``)."""
    return _rej_with(f["rejection"][eff], n_bkg, f.get("rejection_ci", {}).get(eff))


def _rej_with(v: float | None, n_background: int | None, ci: dict | None) -> str:
    """A 1/εB cell with its 95 % interval (``ci``: ``intervals.rejection_interval``'s record, or None: the
    value alone); † where fewer than 10 background events pass (statistics-limited)."""
    if not ci:
        return _rej(v, n_background)
    lo, hi = ci["ci"]
    return f"{_rej(v, n_background)} [{lo:.0f}, {_rej(hi)}]{'†' if ci['statistics_limited'] else ''}"


def _versus(f: dict) -> str:
    """The paired comparison of a form's AUC with its model's first form (DeLong, same events)."""
    v = f.get("versus")
    return paired(list(v.get("binary", v.get("per_class", {})).values())) if v else "–"


def _physics_binary(r: dict) -> list[str]:
    effs = efficiencies(r.get("quoted_efficiency", 0.3))  # the tables' efficiencies and the quoted one
    lines = [
        f"| model | form | AUC [95 % CI] | {' | '.join(f'1/εB @ εS={e:g} [95 % CI]' for e in effs)} | F1 @ F1-thr | "
        "acc @ Youden | vs the model's first form |",
        "|---|---|---|" + "---|" * len(effs) + "---|---|---|",
    ]
    for model, by_form in r["physics"].items():
        for form, f in by_form.items():
            t = f["at_thresholds"]
            n_bkg = int(f["rejection_limit"])
            rejections = " | ".join(_rej_ci(f, f"eff_S={e:g}", n_bkg) for e in effs)
            lines.append(
                f"| {model} | {form} | {_ci(f)} | {rejections} | {t.get('f1', {}).get('f1', float('nan')):.4f} | "
                f"{t.get('youden', {}).get('accuracy', float('nan')):.4f} | {_versus(f)} |"
            )
    return lines + [
        "",
        f"Rejections are limited by the {int(next(iter(next(iter(r['physics'].values())).values()))['rejection_limit'])} "
        'test background events: "> N" where none of them passes. Intervals are 95 %: DeLong for the AUC, '
        "Clopper–Pearson on the background events passing each working point for 1/εB (its threshold held "
        "where it keeps εS of the test signal); † marks a working point fewer than 10 background events "
        "pass (statistics-limited). The last column compares each form's AUC with its model's first form on "
        "the same events (DeLong's paired test): a form that ranks every pair of events alike is identical.",
    ]


def _multiclass_overall(r: dict) -> list[str]:
    """K classes: macro AUC and accuracy with their intervals, per-class AUC, the paired comparison."""
    classes = r["classes"]
    lines = [
        f"| model | form | macro AUC [95 % CI] | accuracy [95 % CI] | {' | '.join(f'AUC {c}' for c in classes)} "
        "| vs the model's first form |",
        "|---|---|---|---|" + "---|" * (len(classes) + 1),
    ]
    for model, by_form in r["physics"].items():
        for form, f in by_form.items():
            ci = f.get("accuracy_ci")
            acc = f"{f['accuracy']:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
            lines.append(
                f"| {model} | {form} | {_ci(f)} | {acc} | "
                + " | ".join(f"{f['per_class'][c]['auc']:.5f}" for c in classes)
                + f" | {_versus(f)} |"
            )
    return lines + [
        "",
        "Intervals are 95 %: the macro AUC's is the mean of the per-class DeLong half-widths (conservative "
        "whatever their correlation), the accuracy's Clopper–Pearson. The last column compares each class's "
        "AUC with the model's first form on the same events (DeLong's paired test; the class with the smallest "
        "p, Bonferroni-corrected over the classes).",
    ]


def _physics_multiclass(r: dict) -> list[str]:
    """K classes: the overall table; then per class the rejection of every other class and what the
    validation thresholds keep; the confusion matrices."""
    classes = r["classes"]
    lines = _multiclass_overall(r)
    lines += [
        "",
        "### Per class, one against each other class (test; thresholds from validation)",
        "",
        "1/ε of the other class at the class's efficiency εS (on the events of the two classes), and at the "
        "validation threshold for εS = 0.5: the test efficiency and the acceptance of every other class. "
        "Forms that agree bit for bit give the same figures; the table lists each model's trained form and "
        "its last firmware form.",
        "",
        f"| model | form | class | AUC | {' | '.join(f'1/ε {c} @ εS=0.3' for c in classes)} | "
        f"{' | '.join(f'1/ε {c} @ εS=0.5' for c in classes)} | εS @ val thr 0.5 |",
        "|---|---|---|---|" + "---|" * (2 * len(classes) + 1),
    ]
    for model, by_form in r["physics"].items():
        shown = list(by_form.items())
        for form, f in [shown[0], shown[-1]] if len(shown) > 1 else shown:
            for c in classes:
                p = f["per_class"][c]
                n = f["n_test_per_class"]
                r3 = " | ".join("" if o == c else _rej(p["rejection"]["eff_S=0.3"][o], n[o]) for o in classes)
                r5 = " | ".join("" if o == c else _rej(p["rejection"]["eff_S=0.5"][o], n[o]) for o in classes)
                thr = p["thresholds"].get("eff_S=0.5")
                lines.append(
                    f"| {model} | {form} | {c} | {p['auc']:.5f} | {r3} | {r5} | "
                    f"{'' if thr is None else format(thr['signal_efficiency'], '.3f')} |"
                )
    lines += ["", "### Confusion matrices (test; rows: true class, columns: largest logit)", ""]
    for model, by_form in r["physics"].items():
        form, f = list(by_form.items())[-1]
        lines += [
            f"{model} · {form} (accuracy {f['accuracy']:.4f}):",
            "",
            "| true \\ predicted | " + " | ".join(classes) + " |",
            "|---|" + "---|" * len(classes),
        ]
        lines += [
            f"| {c} | " + " | ".join(str(v) for v in row) + " |" for c, row in zip(classes, f["confusion_matrix"])
        ]
        lines.append("")
    return lines


def _beside_lines(r: dict) -> list[str]:
    """The runs benched beside this one (``bench.beside``): their prefix and what their designs' ports take."""
    lines = []
    for b in r.get("beside", []):
        if "skipped" in b:
            lines += [f"Not benched beside it: `{b['run']}` ({b['skipped']}).", ""]
            continue
        lines += [
            f"Beside it, as `{b['prefix']}…`: the models and designs of `{b['run']}`, trained on the same data files "
            f"and split (the same {r['test_events']} test events, checked); inputs at its designs' ports: "
            f"{b['inputs']}.",
            "",
        ]
    return lines


def markdown(r: dict) -> str:
    """The bench report as Markdown: physics, CPU latency, FPGA figures, scans, the plots."""
    multi = len(r.get("classes", ())) > 2
    lines = [
        f"# Benchmarks of `{r['run']}`",
        "",
        f"{r['test_events']} test events; {r['machine']['cpu']} ({r['machine']['cores']} cores).",
        "",
        *([f"Inputs at each design's port: {r['inputs']}.", ""] if r.get("inputs") else []),
        *_beside_lines(r),
        "## Physics (test split; thresholds chosen on validation)",
        "",
    ]
    if multi:
        lines.append(
            f"{len(r['classes'])} classes ({', '.join(r['classes'])}); the scores of every form are the "
            "softmax of its logits, computed outside the firmware."
        )
        lines.append("")
    lines += _physics_multiclass(r) if multi else _physics_binary(r)
    lines += comparisons_table(r) + rates_table(r)
    lines += [
        "",
        f"## CPU latency (1 thread per engine, pinned to core {r['cpu_latency']['pinned_core']})",
        "",
        "| engine | p50 µs | p50 µs, quietest block | p99 µs | events/s @1 | @64 | @4096 |",
        "|---|---|---|---|---|---|---|",
    ]
    for eng, e in r["cpu_latency"]["engines"].items():
        s, t = e["single_event"], e["events_per_s"]
        lines.append(
            f"| {eng} | {s['p50_us']:.1f} | {s['p50_quiet_us']:.1f} | {s['p99_us']:.1f} | {t['1']:,.0f} | "
            f"{t['64']:,.0f} | {t['4096']:,.0f} |"
        )
    c = r["cpu_latency"]
    if "ort_speedup_vs_torch_batch1" in c:
        lines += [
            "",
            f"ONNX Runtime vs PyTorch eager at batch 1 (p50): **{c['ort_speedup_vs_torch_batch1']:.1f}×** "
            f"(quietest blocks: {c['ort_speedup_vs_torch_batch1_quiet']:.1f}×). Each single-event figure "
            f"comes from {next(iter(c['engines'].values()))['single_event']['calls']:,} calls in blocks; "
            "the quietest block's median is the one that is stable on a shared VM.",
        ]
    lines += _fpga_tables(r) + estimator_table(r) + budget_table(r) + _scan_tables(r)
    lines += ["", f"![ROC]({r['plots']['roc']})", "", f"![Pareto]({r['plots']['pareto']})", ""]
    if "confusion" in r["plots"]:
        lines += [f"![Confusion]({r['plots']['confusion']})", ""]
    return "\n".join(lines)


def _fpga_tables(r: dict) -> list[str]:
    """The FPGA estimates and the open-synthesis counts beside them."""
    lines: list[str] = []
    lines += [
        "",
        "## FPGA (estimates: no Vivado/Vitis here)",
        "",
        "| design | LUT | FF | DSP | BRAM | latency (cycles) | latency (ns) | II | method |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for design, e in r["fpga"].items():
        lines.append(
            f"| {design} | {e['lut']:,} | {e['ff']:,} | {e['dsp']} | {e['bram']} | {e['latency_cycles']} | "
            f"{e['latency_ns']:.0f} | {e['ii']} | {e['method']} |"
        )
    rows = r.get("fpga_side_by_side", [])
    lines += ["", "## FPGA resources side by side: open synthesis and the estimators", ""]
    if not rows:
        lines.append("No RTL design synthesized (run `trigdeploy synth`; it needs Yosys, and GHDL for the VHDL BDT).")
    else:
        vendor = any(row.get("vendor") for row in rows)
        lines += [
            "Yosys `synth_xilinx` counts are open-synthesis counts, not Vivado's (no LUT packing, no timing); "
            + (
                "the vendor rows are the HLS tool's C synthesis estimates of the HLS projects."
                if vendor
                else "no Vivado/Vitis here, so no vendor column."
            ),
            "",
            "| design | source | LUT | FF | CARRY | DSP | estimate / Yosys | time (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            if "skipped" in row:
                lines.append(f"| {row['design']} | Yosys: skipped ({row['skipped']}) | | | | | | |")
                continue
            ratio, secs = row.get("ratio_to_yosys"), row.get("seconds")
            ff, carry, dsp = (f"{row[k]:,}" if k in row else "" for k in ("ff", "carry", "dsp"))
            lines.append(
                f"| {row['design']} | {row['source']} | {row['lut']:,} | {ff} | {carry} | {dsp} | "
                f"{'' if ratio is None else f'{ratio:.2f}'} | {'' if secs is None else f'{secs:.0f}'} |"
            )
    return lines


def _second_column(r: dict) -> str:
    """The scan and resource tables' physics column after the AUC: 1/εB at the quoted efficiency, or for K
    classes the accuracy (the cell ``_point_rej`` gives)."""
    if len(r.get("classes", ())) > 2:
        return "accuracy"
    return f"1/εB @ εS={r.get('quoted_efficiency', 0.3):g} [95 % CI]"


def _scan_tables(r: dict) -> list[str]:
    """The quantization sweep, the resource-aware front and every point of the resource plot."""
    lines: list[str] = []
    n_bkg, second = _n_background(r), _second_column(r)
    if r["sweep"]:
        lines += [
            "",
            "## Quantization sweep (QAT MLP; each point a run: trigdeploy scan)",
            "",
            f"| weights / activations | AUC | {second} | LUT | LUT source | FF | latency (ns) | csim mismatches |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for p in r["sweep"]:
            lines.append(
                f"| {p['weight_bits']} / {p['act_bits']} bits | {p['auc']:.5f} | {_point_rej(p, n_bkg)} | "
                f"{_n(p['lut'])} | {p['lut_source'] or '–'} | {_n(p['ff'])} | {_n(p['latency_ns'], 'g')} | {_sim(p)} |"
            )
    if r.get("front"):
        lines += [
            "",
            "## Resource-aware front (per-weight precision, pruning; fine-tuned from the float MLP; each point a run)",
            "",
            f"| β (cost weight) | AUC | {second} | weights kept | EBOPs | LUT | LUT source | FF | "
            "latency (ns) | csim mismatches |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in r["front"]:
            lines.append(
                f"| {p['beta']:g} | {p['auc']:.5f} | {_point_rej(p, n_bkg)} | {p['weights_kept']:,} / "
                f"{p['weights']:,} | {p['ebops']:,.0f} | {_n(p['lut'])} | {p['lut_source'] or '–'} | {_n(p['ff'])} | "
                f"{_n(p['latency_ns'], 'g')} | {_sim(p)} |"
            )
    lines += _grid_table(r["scan"], n_bkg, second) if r.get("scan") else []
    if r.get("pareto"):
        lines += [
            "",
            "## All points of the resource plot",
            "",
            "LUT source: `yosys` = open-synthesis count of the RTL (not Vivado), `alkaid` = alkaid's cost model "
            "of the RTL (the Vivado design), `estimate` = trigdeploy's hls4ml or conifer's model. Front: ✓ where "
            "no other point has at least its AUC at no more LUTs (LUTs of different sources compared as they are).",
            "",
            f"| point | AUC | {second} | LUT | FF | DSP | LUT source | latency (ns) | front | csim mismatches |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in sorted(r["pareto"], key=lambda p: p["lut"]):
            lat = "" if p["latency_ns"] is None else f"{p['latency_ns']:g}"
            sim = _sim(p)
            lines.append(
                f"| {p['model']} | {p['auc']:.5f} | {_point_rej(p, n_bkg)} | {p['lut']:,} | {p['ff']:,} | "
                f"{p['dsp']} | {p['lut_source']} | {lat} | {'✓' if p.get('on_front') else ''} | {sim} |"
            )
    return lines


def _grid_table(points: list[dict], n_bkg: int | None, second: str) -> list[str]:
    """The scan's other points (``--grid``): each design's simulated AUC, the model's beside it where they differ;
    the column ``second`` (``_second_column``: 1/εB at the quoted efficiency, or the accuracy)."""
    lines = [
        "",
        "## Other scan points",
        "",
        "AUC of the design as simulated; the trained model's beside it where they differ (a BDT's leaves on "
        "a coarser grid than XGBoost's).",
        "",
        f"| point | AUC | model's AUC | {second} | LUT | LUT source | latency (ns) | csim mismatches |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        model_auc = p.get("model_auc", p["auc"])
        lines.append(
            f"| {p['model']} | {p['auc']:.5f} | {'=' if model_auc == p['auc'] else f'{model_auc:.5f}'} | "
            f"{_point_rej(p, n_bkg)} | {_n(p['lut'])} | {p['lut_source'] or '–'} | {_n(p['latency_ns'], 'g')} | "
            f"{_sim(p)} |"
        )
    return lines


def _n(v, spec: str = ",") -> str:
    """A number in a table cell; – where there is none."""
    return "–" if v is None else format(v, spec)


def _sim(p: dict) -> str:
    """A point's simulation cell: mismatches over events, and its exact projects."""
    c = p.get("csim")
    n = len(c["projects"]) if c else 0
    return f"{c['n_mismatch']} / {c['n_events']:,} ({n} exact project{'s' if n > 1 else ''})" if c else "–"
