"""The report's tables of what a trigger is designed to: accept rates, budget verdicts, the estimators' errors
and the pairwise comparisons of models (``trigdeploy.bench.report`` puts them in the Markdown)."""

from __future__ import annotations


def paired(tests: list[dict]) -> str:
    """A verdict on DeLong paired tests at 5 %: for K classes the class with the smallest p, Bonferroni-
    corrected over the K tests (p · K)."""
    if all(t["identical"] for t in tests):
        return "identical ranking"
    worst = min(tests, key=lambda t: t["p"])
    p = min(1.0, worst["p"] * len(tests))
    verdict = "**differs**" if p < 0.05 else "within stat."
    return f"{verdict}: ΔAUC {worst['delta']:+.1e} (p {p:.2g})"


def _hz(v: float) -> str:
    """A rate in Hz, kHz or MHz."""
    for unit, scale in (("MHz", 1e6), ("kHz", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} Hz"


def _rate_cells(t: dict) -> list[str]:
    """One rate view's cells: the accept rate at each εS, the highest εS at each budget (with intervals)."""
    cells = []
    for e in t["at_efficiency"].values():
        lo, hi = e["rate_ci_hz"]
        cells.append(f"{_hz(e['rate_hz'])} [{_hz(lo)}, {_hz(hi)}]{'†' if e['statistics_limited'] else ''}")
    for b in t["at_budget"].values():
        lo, hi = b["signal_efficiency_ci"]
        cells.append(f"{b['signal_efficiency']:.3f} [{lo:.3f}, {hi:.3f}]{'†' if b['statistics_limited'] else ''}")
    return cells


def rates_table(r: dict) -> list[str]:
    """Trigger rates: each model's first and last form (per class for K classes)."""
    first = next((f["rates"] for by_form in r["physics"].values() for f in by_form.values() if "rates" in f), None)
    if first is None:
        return []
    classes = r.get("classes") or []
    multi = len(classes) > 2
    view = first[next(iter(first))] if multi else first
    effs, budgets = list(view["at_efficiency"]), [b["budget_hz"] for b in view["at_budget"].values()]
    lines = [
        "",
        f"## Trigger rates (input {_hz(view['input_hz'])}, background fraction {view['background_fraction']:g})",
        "",
        "Accept rate R · (f · εB + (1 − f) · εS) at each signal efficiency, and the highest εS whose rate fits "
        "each budget, with 95 % intervals (Clopper–Pearson on the test events); † where fewer than 10 "
        "background events pass (statistics-limited). Each model's first and last form."
        + (" Per class against the rest as the test split mixes them." if multi else ""),
        "",
        f"| model | form |{' class |' if multi else ''} "
        + " | ".join([f"rate @ {e.replace('eff_S=', 'εS=')}" for e in effs] + [f"εS @ {_hz(b)}" for b in budgets])
        + " |",
        "|---|---|" + ("---|" if multi else "") + "---|" * (len(effs) + len(budgets)),
    ]
    for model, by_form in r["physics"].items():
        shown = list(by_form.items())
        for form, f in [shown[0], shown[-1]] if len(shown) > 1 else shown:
            views = list(f["rates"].items()) if multi else [(None, f["rates"])]
            for c, t in views:
                lines.append(f"| {model} | {form} |{f' {c} |' if multi else ''} " + " | ".join(_rate_cells(t)) + " |")
    return lines


def budget_table(r: dict) -> list[str]:
    """Every design, from every source of its figures, as a share of the device and against the budget."""
    b = r.get("budget")
    if not b:
        return []
    dev, budget = b["device"], b["budget"]
    set_items = [f"{k.replace('_fraction', '')} ≤ {v:.0%}" if k.endswith("fraction") else f"{k} ≤ {v:g}"
                 for k, v in budget.items() if v is not None]  # fmt: skip
    head = f"## Budget verdict: {b['part']}" + (f" ({dev['name']})" if dev else " (device totals not tabulated)")
    lines = ["", head, "", f"Budget: {', '.join(set_items) if set_items else 'none set (export target: budget)'}."]
    if dev:
        lines[-1] += f" Device: {dev['lut']:,} LUT, {dev['ff']:,} FF, {dev['dsp']:,} DSP (AMD DS890)."
    lines += [
        "Each design's figures as its source gives them: Yosys counts are open synthesis, not Vivado; the "
        "estimators' errors against Yosys are in the side-by-side table.",
        "",
        "| design | source | LUT | % LUT | FF | % FF | DSP | % DSP | latency (ns) | II | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in b["designs"]:
        cells = []
        for key in ("lut", "ff", "dsp"):
            v, share = d.get(key), d.get(f"{key}_fraction")
            cells += ["" if v is None else f"{v:,}", "" if share is None else f"{share:.2%}"]
        lat = "" if d.get("latency_ns") is None else f"{d['latency_ns']:g}"
        ii = "" if d.get("ii") is None else str(d["ii"])
        lines.append(f"| {d['design']} | {d['source']} | {' | '.join(cells)} | {lat} | {ii} | {_verdict(d)} |")
    return lines


def _verdict(d: dict) -> str:
    """fits / over (the items that fail) / unknown items."""
    failed = [k for k, v in d["checks"].items() if v is False]
    unknown = [k for k, v in d["checks"].items() if v is None]
    if d["fits"] is None:
        return "–" if not d["checks"] else "unknown"
    text = "fits" if d["fits"] else f"**over**: {', '.join(failed)}"
    return text + (f" ({', '.join(unknown)} unknown)" if unknown else "")


def estimator_table(r: dict) -> list[str]:
    """Each estimator's ratio to the Yosys counts of the designs it estimates."""
    errors = r.get("estimator_errors") or []
    if not errors:
        return []
    lines = [
        "",
        "## The estimators against Yosys",
        "",
        "Estimated LUTs ÷ Yosys LUTs over this report's synthesized designs. *Same logic*: the estimator costs the "
        "very netlist Yosys counted (its error); otherwise it costs another architecture of the same model "
        "(hls4ml's multiplier-per-product design beside alkaid's distributed arithmetic; alkaid's Vivado variant "
        "with ternary adders): a comparison, not an error.",
        "",
        "| estimator | same logic | designs | mean ratio | range |",
        "|---|---|---|---|---|",
    ]
    for e in errors:
        lines.append(
            f"| {e['estimator']} | {'yes' if e['same_logic'] else 'no'} | {', '.join(e['designs'])} | "
            f"{e['mean_ratio']:.2f} | {e['min_ratio']:.2f}–{e['max_ratio']:.2f} |"
        )
    return lines


def comparisons_table(r: dict) -> list[str]:
    """The models compared pairwise on the same test events (their first forms)."""
    rows = r.get("model_comparisons") or []
    if not rows:
        return []
    lines = [
        "",
        "## Models against each other (same test events)",
        "",
        "DeLong's paired test of the AUCs of two models' first forms on the same events: ΔAUC is the second "
        "model's minus the first's (for K classes, the class with the smallest p, Bonferroni-corrected over the "
        "classes).",
        "",
        "| model A | model B | B against A |",
        "|---|---|---|",
    ]
    for c in rows:
        tests = list(c.get("binary", c.get("per_class", {})).values())
        lines.append(f"| {c['a']} · {c['form_a']} | {c['b']} · {c['form_b']} | {paired(tests)} |")
    return lines
