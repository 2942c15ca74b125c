"""The ``rtl_bdt`` form: the XGBoost ensemble as logic, an alkaid Verilog project ``<kind>_rtl``.

What the design computes, on the port's grid (conifer's ``Precision``: the same quantized inputs and the
same thresholds, rounded up onto that grid, as conifer's projects): every distinct (feature, threshold)
comparison ``x[f] < t`` once, shared by every tree that tests it; each tree's leaf chosen by a
multiplexer tree over those bits, its constants on a grid of their own (``leaf_frac`` fractional bits,
rounded to nearest from XGBoost's float32 leaves); per class, the leaves and the base margin summed
exactly in a balanced adder tree. alkaid pipelines it at the target clock (a new event every clock).

The reference is this integer arithmetic in NumPy: the sum of the leaf codes XGBoost's own leaves pick
(the conifer form checked them leaf for leaf against XGBoost on the quantized inputs) plus the base code,
times 2^-leaf_frac. It differs from XGBoost's margin on the quantized inputs by at most
(trees per class + 1) × 2^-leaf_frac / 2 (checked on every test event). Before anything is written,
alkaid's interpreter of the traced logic equals the reference on every test event; csim runs the Verilog
in Verilator against it, synth counts it with Yosys.

The leaf grid: ``export target bdt_rtl.leaf_frac``, or by default the coarsest grid (from ``Precision``'s
fractional bits down) before the first whose validation AUC falls more than ``bdt_rtl.max_val_auc_loss``
below the AUC with leaves on ``Precision``'s grid; the test split only gates the result against XGBoost
(``bdt_max_auc_loss``), it does not choose it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from trigdeploy.convert.context import ExportContext, alkaid_missing, rtl_cost, rtl_project, say
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType


@dataclass(frozen=True)
class LeafGrid:
    """The leaves' grid and how it was chosen."""

    frac: int  # fractional bits of the leaves and the base margin
    chosen_by: str  # "export target" or "validation AUC"
    tried: dict[int, float]  # fractional bits → validation AUC (what the choice saw; empty when given)
    auc_xgboost_val: float | None = None


def on_leaf_grid(q, frac: int) -> dict:
    """The quantized ensemble ``q.ensemble`` (thresholds on the input grid) with XGBoost's float32 leaves and
    base margins (``q.float_ensemble``) rounded to nearest, half to even, onto the grid of ``frac``
    fractional bits: the values the design's constants hold."""
    out = copy.deepcopy(q.ensemble)
    scale = 2.0**frac
    for group, float_group in zip(out["trees"], q.float_ensemble["trees"]):
        for tree, float_tree in zip(group, float_group):
            tree["value"] = [
                float(np.rint(v * scale) / scale) if f < 0 else 0.0
                for v, f in zip(float_tree["value"], tree["feature"])
            ]
    out["init_predict"] = [float(np.rint(b * scale) / scale) for b in q.float_ensemble["init_predict"]]
    return out


def reference(ens_leaf: dict, leaves: np.ndarray) -> np.ndarray:
    """The design's outputs for the leaf matrix ``leaves``: exact sums (every value is on the leaf grid and
    far below 2^53 LSBs, so float64 adds them without rounding); ``(n,)``, or ``(n, K)``."""
    from trigdeploy.convert import ensemble as en

    return en.score(ens_leaf, leaves)


def comparison_fracs(ens: dict, fmt: FixedType) -> dict[int, int]:
    """Per tested feature, the fewest fractional bits every one of its thresholds lies on (at most ``fmt``'s):
    for an input on ``fmt``'s grid and a threshold on the coarser grid of ``k`` bits, ``x < t`` equals
    ``floor_k(x) < t``, so the comparison needs only the input bits above 2^-k (``train.bdt.input_frac``
    puts every threshold on such a grid)."""
    thresholds: dict[int, set[float]] = {}
    for group in ens["trees"]:
        for tree in group:
            for f, t in zip(tree["feature"], tree["threshold"]):
                if f >= 0:
                    thresholds.setdefault(f, set()).add(t)
    return {
        f: next(k for k in range(fmt.frac + 1) if k == fmt.frac or all(float(t * 2.0**k).is_integer() for t in ts))
        for f, ts in sorted(thresholds.items())
    }


def trace(ens_leaf: dict, fmt: FixedType):
    """alkaid ``CombLogic`` of the ensemble on ``fmt``'s input grid: shared comparisons (each on the input
    bits its feature's thresholds need, ``comparison_fracs``), a multiplexer tree per tree, a balanced exact
    sum per class. Returns (logic, number of distinct comparisons)."""
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.ops import quantize

    inp = FVArrayInput((ens_leaf["n_features"],))
    x = quantize(inp, 1, fmt.integer - 1, fmt.frac)  # the port's grid (the inputs arrive on it)
    # the bits below a feature's thresholds' grid are dropped (floor: wires, no logic; the range is kept)
    xs = {f: quantize(x[f], 1, fmt.integer - 1, k) for f, k in comparison_fracs(ens_leaf, fmt).items()}
    bits: dict[tuple[int, float], object] = {}

    def node(tree: dict, n: int):
        f = tree["feature"][n]
        if f < 0:
            return tree["value"][n]
        bit = bits.setdefault((f, tree["threshold"][n]), xs[f] < tree["threshold"][n])
        return bit.msb_mux(node(tree, tree["children_left"][n]), node(tree, tree["children_right"][n]))

    outputs = []
    for c in range(len(ens_leaf["trees"][0])):
        values = [node(group[c], 0) for group in ens_leaf["trees"]] + [ens_leaf["init_predict"][c]]
        while len(values) > 1:  # balanced: log2(trees) adder stages, not one per tree
            values = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)] + values[
                len(values) - len(values) % 2 :
            ]
        if isinstance(values[0], float):
            raise TrigdeployError("rtl_bdt: every tree of a class is a single leaf; there is no logic to write")
        outputs.append(values[0])
    return alkaid_trace(inp, outputs[0] if len(outputs) == 1 else outputs), len(bits)


def choose_leaf_grid(q, cfg, x_val: np.ndarray | None, y_val: np.ndarray | None) -> LeafGrid:
    """``cfg.leaf_frac`` (``targets.BDTRTLTarget``) where given, else the coarsest leaf grid, from ``q.fmt``'s
    fractional bits down, before the first whose validation AUC (on ``x_val`` quantized as the port does)
    falls more than ``cfg.max_val_auc_loss`` below the AUC with leaves on ``q.fmt``'s grid: what the leaf
    grid alone costs (the input grid's loss is conifer's ``Precision``'s, the same for every leaf grid)."""
    from trigdeploy.convert import ensemble as en
    from trigdeploy.train.metrics import logit_auc

    if cfg.leaf_frac is not None:
        return LeafGrid(cfg.leaf_frac, "export target", {})
    if y_val is None or len(np.unique(y_val)) < 2:
        return LeafGrid(q.fmt.frac, "conifer Precision (no validation split with every class)", {})
    leaves = en.leaves(q.ensemble, q.fmt.quantize_inputs(x_val))
    tried: dict[int, float] = {}
    chosen = q.fmt.frac
    for frac in range(q.fmt.frac, -1, -1):  # the first, the port's own grid, loses nothing against itself
        tried[frac] = logit_auc(y_val, reference(on_leaf_grid(q, frac), leaves))
        if tried[q.fmt.frac] - tried[frac] > cfg.max_val_auc_loss:
            break
        chosen = frac
    return LeafGrid(chosen, "validation AUC", tried, logit_auc(y_val, en.xgb_margin(q.booster, x_val)))


def _checked(kind, ex: ExportContext, q, grid: LeafGrid) -> tuple[dict, np.ndarray, dict]:
    """The ensemble on the chosen leaf grid and its reference on the test split, checked: within the rounding
    bound of XGBoost's leaves on the quantized inputs on every event, and the test AUC gate."""
    from trigdeploy.convert import ensemble as en
    from trigdeploy.train.metrics import logit_auc

    ens_leaf = on_leaf_grid(q, grid.frac)
    ref = reference(ens_leaf, q.leaves)  # the leaves conifer's form checked against XGBoost's on every event
    exact = en.score(q.float_ensemble, q.leaves)  # XGBoost's float32 leaves, summed exactly
    bound = (q.ensemble["n_trees"] + 1) * 2.0**-grid.frac / 2
    worst = float(np.abs(ref - exact).max())
    auc = {"auc_xgboost": logit_auc(ex.y_test, q.margin), "auc_rtl": logit_auc(ex.y_test, ref)}
    if worst > bound:
        raise TrigdeployError(
            f"{kind.name} RTL: leaves on 2^-{grid.frac} move a score by {worst:.4g}, beyond the rounding bound "
            f"{bound:.4g}; project not written"
        )
    if auc["auc_xgboost"] - auc["auc_rtl"] > ex.target.bdt_max_auc_loss:
        raise TrigdeployError(
            f"{kind.name} RTL: leaves on 2^-{grid.frac}: test AUC {auc['auc_xgboost']:.5f} (XGBoost) → "
            f"{auc['auc_rtl']:.5f} loses more than bdt_max_auc_loss {ex.target.bdt_max_auc_loss}; "
            "set export target bdt_rtl.leaf_frac higher"
        )
    figures = {
        "leaf_frac": grid.frac,
        "leaf_lsb": 2.0**-grid.frac,
        "chosen_by": grid.chosen_by,
        "max_val_auc_loss": ex.target.bdt_rtl.max_val_auc_loss,
        "auc_xgboost_val": grid.auc_xgboost_val,
        "val_auc_by_leaf_frac": {str(k): v for k, v in grid.tried.items()},
        "vs_xgboost_on_quantized_inputs": {"max_abs_diff_margin": worst, "bound": bound, "within_bound": True},
        "vs_xgboost_on_float_inputs": auc,
    }
    return ens_leaf, ref, figures


def _export(kind, ex: ExportContext) -> dict:
    """The quantized ensemble (conifer's, which the registration puts before this form) → shared comparisons,
    per-tree multiplexers and an exact adder tree, traced with alkaid; its interpreter equal to the NumPy
    reference on every test event before the Verilog project is written."""
    skipped = alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.data.cache import load_split

    q, cfg = ex.exact[kind.name], ex.target.bdt_rtl
    t0 = time.perf_counter()
    grid = choose_leaf_grid(q, cfg, *(load_split(ex.run_dir, "val") if cfg.leaf_frac is None else (None, None)))
    ens_leaf, ref, figures = _checked(kind, ex, q, grid)
    comb, n_bits = trace(ens_leaf, q.fmt)
    fracs = comparison_fracs(ens_leaf, q.fmt)
    figures["distinct_comparisons"] = n_bits
    figures["comparison_input_bits"] = {  # per tested feature: the port's integer bits + its thresholds' grid
        "mean": float(np.mean([q.fmt.integer + k for k in fracs.values()])),
        "port": q.fmt.width,
    }
    entry = rtl_project(
        kind,
        ex,
        comb,
        time.perf_counter() - t0,
        q.x,
        ref,
        f"fixed-point emulation (leaves on 2^-{grid.frac})",
        f"{kind.name} (XGBoost ensemble as logic)",
        ref,
        port=f"the conifer Precision grid `{q.fmt}` (the export's `preprocess.json` standardisation, then floor "
        "onto the grid and saturate, as for conifer's projects)",
    )
    ref_file = ex.save_reference(kind, q.x, ref, name=f"{kind.name}_rtl")
    reference = f"fixed-point emulation of the XGBoost ensemble (leaves on 2^-{grid.frac}, leaf-exact)"
    ex.add_rtl_project(kind, reference, ref_file, form="alkaid RTL BDT (Verilator)")
    say(
        f"{kind.name} RTL: {n_bits} shared comparisons, leaves on 2^-{grid.frac} ({grid.chosen_by}), test AUC "
        f"{figures['vs_xgboost_on_float_inputs']['auc_rtl']:.5f} (XGBoost {figures['vs_xgboost_on_float_inputs']['auc_xgboost']:.5f})"
    )
    return {"rtl": {**entry, "ensemble_as_logic": figures}}


# the quantized ensemble and input grid of the conifer form, which must come before it
register_form(Form("rtl_bdt", _export, requires=("conifer",), simulators=("verilator",), cost=rtl_cost))
