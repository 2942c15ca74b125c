"""The ``conifer`` form: an XGBoost ensemble → conifer's float C++ emulation (leaf-exact against
XGBoost), then fixed-point HLS and VHDL projects, each equal to the fixed-point emulation on every test event."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy import fpga
from trigdeploy.convert.context import ExportContext, say
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.convert.manifest import Device
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType
from trigdeploy.io import sha256_file, write_json_atomic
from trigdeploy.logits import as_logits, compare
from trigdeploy.models.families import load_booster
from trigdeploy.train.metrics import logit_auc


def _conifer(kind, ex: ExportContext) -> dict:
    """XGBoost → conifer: float C++ emulation (leaf-exact), then fixed-point HLS and VHDL projects."""
    from trigdeploy.convert import ensemble as en

    src = ex.run_dir / kind.artifact
    if not np.isfinite(ex.x_test).all():
        raise TrigdeployError(
            f"{kind.name}: the test split has non-finite inputs; conifer ignores XGBoost's learned "
            "missing-value directions, so the firmware would disagree (use data nan_policy drop/impute)"
        )
    t0 = time.perf_counter()
    booster = load_booster(src)
    ens = en.ensemble_from_booster(booster)
    write_json_atomic(ex.out_dir / f"{kind.name}.conifer.json", ens)
    entry: dict = {
        "source": {"file": src.name, "sha256": sha256_file(src)},
        "ensemble": {
            "file": f"{kind.name}.conifer.json",
            "n_trees": ens["n_trees"],
            "max_depth": ens["max_depth"],
            "n_features": ens["n_features"],
            "base_margin": ens["init_predict"][0] if en.n_outputs(ens) == 1 else ens["init_predict"],
            "n_classes": ens["n_classes"],
        },
        "projects": {"cpp": _float_cpp(kind, ex, booster, ens)},
    }
    q = _fixed_point(kind, ex, booster, ens)
    ex.exact[kind.name] = q  # the forms after this one (rtl_bdt) start from the same quantized ensemble
    entry["fixed_point"] = q.figures
    ref_file = ex.save_reference(kind, q.x, q.reference)
    # exported only as what another form requires (a scan point's rtl_bdt): the quantized ensemble, no projects
    wanted = ex.target.forms is None or "conifer" in ex.target.forms
    for backend in ex.target.conifer.Backends if wanted else ():
        entry["projects"][backend] = _backend_project(kind, ex, backend, ens, q, ref_file)
    entry["seconds"] = time.perf_counter() - t0
    return entry


def _float_cpp(kind, ex: ExportContext, booster, ens: dict) -> dict:
    """conifer's float C++ emulation of the ensemble, leaf- and margin-exact against XGBoost on the test split."""
    from trigdeploy.convert import ensemble as en
    from trigdeploy.convert import to_conifer as tc

    staging, final = ex.fw_dir / f"{kind.name}_cpp", ex.fw_final / f"{kind.name}_cpp"
    cpp = tc.cpp_float_check(ens, booster, ex.x_test, staging, ex.log, ex.cache)
    if not cpp["ok"]:
        raise TrigdeployError(
            f"{kind.name}: conifer float emulation disagrees with XGBoost on {cpp['n_leaf_mismatch']} leaf "
            f"paths / {cpp['n_margin_mismatch']} margins of {cpp['n_events']} test events"
        )
    n_tb = ex.target.testbench_events
    tc.write_testbench(staging, ex.x_test[:n_tb], en.xgb_margin(booster, ex.x_test[:n_tb]))
    tc.point_project_at(staging, final)
    say(
        f"{kind.name} conifer cpp (float) → {final} (leaf agreement {100 * cpp['leaf_agreement']:.2f} % on "
        f"{cpp['n_events']} events, margins equal: {cpp['n_margin_mismatch'] == 0})"
    )
    return {"project": str(final), "precision": "float", "vs_xgboost": cpp}


@dataclass(frozen=True)
class QuantizedEnsemble:
    """The ensemble at the target's conifer Precision, as the forms after ``conifer`` reuse it
    (``ExportContext.exact[kind]``)."""

    fmt: FixedType  # the one fixed-point type of inputs, thresholds and scores
    ensemble: dict  # the quantized ensemble
    x: np.ndarray  # the test split on the input grid (what the port sees)
    reference: np.ndarray  # the bit-exact fixed-point emulation on it
    figures: dict  # the manifest's fixed_point entry
    float_ensemble: dict  # the float32-exact ensemble it was quantized from
    booster: object  # the XGBoost booster
    leaves: np.ndarray  # the leaf each tree reaches on ``x`` (checked equal to XGBoost's own)
    margin: np.ndarray  # XGBoost's margins on the float test split


def _fixed_point(kind, ex: ExportContext, booster, ens: dict) -> QuantizedEnsemble:
    """The ensemble in the target's conifer Precision and its bit-exact emulation on the test split, checked:
    XGBoost's own leaves on the quantized inputs, the error bound, no wrapped sum, the AUC gate."""
    from trigdeploy.convert import ensemble as en

    x_test, y_test, target = ex.x_test, ex.y_test, ex.target
    fmt = FixedType.parse(target.conifer.Precision)
    ens_q, qinfo = en.quantize_ensemble(ens, fmt)
    x_q = fmt.quantize_inputs(x_test)
    leaves_fixed, leaves_q, leaves_float = en.leaves(ens_q, x_q), en.leaves(ens, x_q), en.leaves(ens, x_test)
    ref_q, wrapped = en.emulate_fixed(ens_q, leaves_fixed, fmt)
    exact_q = en.score(ens, leaves_q)
    bound = (ens["n_trees"] + 1) * fmt.lsb / 2
    same_leaf = (leaves_fixed == en.xgb_leaves(booster, x_q)).all(axis=1)
    margin = en.xgb_margin(booster, x_test)
    on_float = {
        "max_abs_diff_margin": float(np.abs(ref_q - margin).max()),
        "mean_abs_diff_margin": float(np.abs(ref_q - margin).mean()),
        "n_leaf_changed_by_input_quantization": int((~(leaves_float == leaves_q).all(axis=1)).sum()),
        "auc_xgboost": logit_auc(y_test, margin),
        "auc_fixed": logit_auc(y_test, ref_q),
    }
    fixed = {
        "precision": str(fmt),
        "lsb": fmt.lsb,
        "inputs": "floor onto the grid, saturate (done before the port)",
        "thresholds": "rounded up onto the input grid",
        "leaves": "rounded to nearest",
        **qinfo,
        "n_events": int(len(x_q)),
        "n_sum_wrapped": wrapped,
        "vs_xgboost_on_quantized_inputs": {
            "leaf_agreement": float(same_leaf.mean()),
            "max_abs_diff_margin": float(np.abs(ref_q - exact_q).max()),
            "bound": bound,
            "within_bound": bool((np.abs(ref_q - exact_q) <= bound).all()),
        },
        "vs_xgboost_on_float_inputs": on_float,
    }
    if not (same_leaf.all() and fixed["vs_xgboost_on_quantized_inputs"]["within_bound"]) or wrapped:
        raise TrigdeployError(
            f"{kind.name}: fixed point {fmt} leaves XGBoost's leaves or its error bound on the test split "
            f"(leaf agreement {same_leaf.mean():.4%}, {wrapped} wrapped sums, saturated thresholds "
            f"{qinfo['thresholds_saturated']}): widen conifer Precision"
        )
    if on_float["auc_xgboost"] - on_float["auc_fixed"] > target.bdt_max_auc_loss:
        raise TrigdeployError(
            f"{kind.name}: conifer Precision {fmt}: test AUC {on_float['auc_xgboost']:.5f} (XGBoost) → "
            f"{on_float['auc_fixed']:.5f} (fixed point) loses more than bdt_max_auc_loss "
            f"{target.bdt_max_auc_loss} (LSB {fmt.lsb:g}, {qinfo['thresholds_saturated']} thresholds and "
            f"{qinfo['leaves_saturated']} leaves saturated); widen conifer Precision"
        )
    return QuantizedEnsemble(fmt, ens_q, x_q, ref_q, fixed, ens, booster, leaves_fixed, margin)


def _backend_project(kind, ex: ExportContext, backend: str, ens: dict, q: QuantizedEnsemble, ref_file: str) -> dict:
    """One conifer backend's fixed-point project (``xilinxhls``: its C simulation equal to the emulation on
    every test event before anything is written, checked in the background while the export goes on;
    ``vhdl``: run by GHDL in csim), registered for csim. Its manifest entry is complete once the export
    collected that check."""
    from trigdeploy.convert import to_conifer as tc

    t1, target = time.perf_counter(), ex.target
    n_tb = min(target.testbench_events, len(q.x))
    part = target.conifer.XilinxPart or target.hls4ml.Part
    clock = target.conifer.ClockPeriod or target.hls4ml.ClockPeriod
    staging = ex.fw_dir / f"{kind.name}_{backend}"
    final = ex.fw_final / staging.name
    cfg = {"Precision": str(q.fmt), "XilinxPart": part}
    if backend == "xilinxhls":
        cfg.update(ClockPeriod=clock, Unroll=target.conifer.Unroll)
        if target.conifer.WeightPrecision is not None:  # the trees' one-hot weights (axis-aligned splits)
            cfg.update(WeightPrecision=target.conifer.WeightPrecision)
    tc.make_project(q.ensemble, backend, staging, cfg, ex.log)
    tc.write_testbench(staging, q.x[:n_tb], q.reference[:n_tb])
    info = {"project": str(final), "part": part, "precision": str(q.fmt), "testbench_events": n_tb}
    what = "fixed-point emulation of the XGBoost ensemble (leaf-exact)"
    form, sim = {"xilinxhls": ("conifer HLS csim", "hls"), "vhdl": ("conifer VHDL (GHDL)", "ghdl")}[backend]
    ex.add_project(staging.name, kind, form, what, ref_file, exact=True, device=Device(part, clock), simulator=sim)
    tc.point_project_at(staging, final)

    def done(checked: dict | None) -> None:  # the project's README and its line in the log, once checked
        info.update(checked or {})
        tc.write_readme(staging, backend, part, clock, q.fmt, ens, q.figures, info)
        said = "" if checked is None else f" (C simulation vs fixed-point emulation: {_mismatches(checked)})"
        say(f"{kind.name} conifer {backend} → {final}{said}")

    if backend == "xilinxhls":
        tc.fix_hls_top(staging)
        info.update(clock_period_ns=clock, unroll=target.conifer.Unroll)
        info.update(weight_precision=target.conifer.WeightPrecision or str(q.fmt))
        cache = Path(ex.cache).resolve()  # the thread's paths do not depend on the working directory
        ex.in_background(lambda: _hls_check(kind, staging.resolve(), cache, q), done)
    else:
        done(None)
    info["seconds"] = time.perf_counter() - t1  # writing the project (its background check times itself)
    return info


def _mismatches(checked: dict) -> str:
    c = checked["csim_vs_emulation"]
    return f"{c['n_mismatch']} mismatches on {c['n_events']} events"


def _hls_check(kind, project: Path, cache: Path, q: QuantizedEnsemble) -> dict:
    """The HLS project's C simulation on the whole test split, equal to the emulation on every event (else
    the export fails and nothing is written). Its vendor build compiles the testbench in the design's unit
    (the tree tables once): the testbench is cached for csim. Runs in the background: no context."""
    from trigdeploy.cxx import harness, testbench

    t0 = time.perf_counter()
    b = testbench.build(project, cache)
    hx = harness.Harness(b.library)
    t2 = time.perf_counter()
    y = as_logits(hx.run(q.x), len(q.x))
    rate = len(q.x) / max(time.perf_counter() - t2, 1e-9)
    same = compare(y, q.reference)
    n_bad = same["n_mismatch"]
    if n_bad:
        raise TrigdeployError(
            f"{kind.name} xilinxhls: C simulation differs from the fixed-point emulation on {n_bad} "
            f"of {len(y)} test events; project not written"
        )
    return {
        "compile_seconds": b.compile_seconds,
        "check_seconds": time.perf_counter() - t0,
        "csim_vs_emulation": {
            "n_events": same["n_events"],
            "n_mismatch": n_bad,
            "max_abs_diff": same["max_abs_diff"],
            "events_per_s": rate,
        },
    }


def _export(kind, ex: ExportContext) -> dict:
    """XGBoost → conifer C++ (leaf-exact), HLS and VHDL projects (fixed point, bit-exact C simulation)."""
    entry = _conifer(kind, ex)
    entry.pop("source")
    return entry


def _cost(kind, layout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    """conifer's own estimators of the quantized ensemble, for its HLS and VHDL backends."""
    from trigdeploy.convert.ensemble import quantize_ensemble

    if "fixed_point" not in entry:
        return []
    ens = json.loads((layout.export_dir / entry["ensemble"]["file"]).read_text())
    fmt = FixedType.parse(entry["fixed_point"]["precision"])
    est = fpga.conifer_estimates(quantize_ensemble(ens, fmt)[0])
    return [
        (
            f"{kind.name} (conifer {name})",
            {
                **est[backend],
                "latency_ns": est[backend]["latency_cycles"] * clock_ns,
                "estimate": True,
                "method": est["method"],
            },
            backend == "hls",
        )
        for backend, name in (("hls", "HLS"), ("vhdl", "VHDL"))
    ]


register_form(Form("conifer", _export, simulators=("hls", "ghdl"), cost=_cost, background=True))
