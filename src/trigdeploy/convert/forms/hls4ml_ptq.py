"""The ``hls4ml_ptq`` form: a float MLP → hls4ml by post-training quantization at profiled per-layer
precisions, one project per backend, refused where it loses more AUC than the target allows."""

from __future__ import annotations

import logging
import time

import numpy as np

from trigdeploy import fpga
from trigdeploy.convert.context import ExportContext, hls4ml_mlp_cost, say
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.data.cache import load_split
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import Precisions
from trigdeploy.logits import as_logits, compare, n_logits
from trigdeploy.train.metrics import logit_auc

logger = logging.getLogger("trigdeploy.convert.export")


def _ptq(kind, model, n_inputs: int, ex: ExportContext) -> dict:
    """Float MLP → hls4ml at profiled precisions, per backend; refuses a project that loses too much AUC."""
    import torch

    target, x_test = ex.target, ex.x_test
    choice, out = _precisions(kind, model, ex)
    with torch.no_grad():
        ref = as_logits(model(torch.from_numpy(np.ascontiguousarray(x_test))).numpy(), len(x_test))
    ref_file = ex.save_reference(kind, x_test, ref)
    for backend in target.hls4ml.Backends:
        out["backends"][backend] = _backend(kind, model, n_inputs, choice, backend, ref, ref_file, ex)
    return out


def _precisions(kind, model, ex: ExportContext) -> tuple[Precisions, dict]:
    """Per-layer precisions profiled on a sample of the training split (the overflow on the test split
    reported, never used to choose): (the choice, the form's record of it)."""
    from trigdeploy.convert import ptq

    target = ex.target
    x_train, _ = load_split(ex.run_dir, "train")
    sample = x_train[np.linspace(0, len(x_train) - 1, min(target.ptq_profile_rows, len(x_train))).astype(int)]
    prof = ptq.profile(model, sample)
    choice = ptq.choose_precisions(model, prof, target.ptq_width, target.ptq_headroom_bits)
    overflow = ptq.overflow_report(ptq.profile(model, ex.x_test), choice)
    for o in overflow:
        logger.warning(
            f"{kind.name} PTQ: layer {o['layer']} reaches {o['observed_max_abs']:.4g} on the test split, beyond its "
            f"type {o['type']} (max {o['type_max']:.4g}): it saturates"
        )
    return choice, {
        "precisions": choice.as_dict(),
        "profile_rows": int(len(sample)),
        "width": target.ptq_width,
        "headroom_bits": target.ptq_headroom_bits,
        "overflow_on_test": overflow,
        "backends": {},
    }


def _backend(kind, model, n_inputs: int, choice: Precisions, backend: str, ref, ref_file, ex: ExportContext) -> dict:
    """One backend's PTQ project: converted, checked against the float model on the whole test split
    (refused beyond ``ptq_max_auc_loss``), written with its README and added to the manifest."""
    from trigdeploy.convert import to_hls4ml

    target, x_test, y_test = ex.target, ex.x_test, ex.y_test
    n_tb = min(target.testbench_events, len(x_test))
    t1 = time.perf_counter()
    staging = ex.fw_dir / f"{kind.name}_{backend.lower()}"
    final = ex.fw_final / staging.name
    hm = to_hls4ml.convert_ptq(
        model, n_inputs, choice, target.hls4ml, backend, staging, (x_test[:n_tb], ref[:n_tb]), ex.log
    )
    compile_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    y_hls = to_hls4ml.predict(hm, x_test, ex.cache)
    rate = len(x_test) / max(time.perf_counter() - t2, 1e-9)
    stats = _vs_float(y_test, y_hls, ref, rate)
    auc_float, auc_hls = stats["auc_float"], stats["auc_hls4ml"]
    if auc_float - auc_hls > target.ptq_max_auc_loss:
        raise TrigdeployError(
            f"{kind.name} {backend} PTQ: AUC {auc_float:.5f} → {auc_hls:.5f} loses more than "
            f"ptq_max_auc_loss {target.ptq_max_auc_loss}; widen ptq_width"
        )
    to_hls4ml.write_readme(
        staging,
        backend,
        target.hls4ml,
        f"{kind.name} (float, post-training quantized)",
        n_inputs,
        f"then converted to the port type `{choice.port.hls4ml}`.",
        f"Checked before writing against the float model on {stats['n_events']} test events: max |Δ logit| "
        f"{stats['max_abs_diff_logit']:.3g}, AUC {auc_float:.5f} → {auc_hls:.5f}. `tb_data/` holds test events "
        f"and the float model's logits (the expected values are within the error above, not equal).",
        n_logits(ref),
    )
    ex.ptq.setdefault(kind.name, {"precisions": choice, "hls4ml": y_hls, "backend": backend, "float": ref})
    ex.add_project(
        staging.name,
        kind,
        f"hls4ml {backend} PTQ csim",
        "float PyTorch model",
        ref_file,
        exact=False,
        device=ex.hls4ml_device,
        expected=y_hls,
        max_auc_loss=target.ptq_max_auc_loss,
    )
    say(
        f"{kind.name} PTQ {backend} → {final} (max |Δ logit| {stats['max_abs_diff_logit']:.3g}, "
        f"AUC {auc_float:.5f} → {auc_hls:.5f})"
    )
    return {"project": str(final), "vs_float": stats, "convert_compile_seconds": compile_s, "testbench_events": n_tb}


def _vs_float(y_test, y_hls, ref, rate: float) -> dict:
    """How a PTQ project's logits differ from the float model's on the test split, and both AUCs."""
    same = compare(y_hls, ref)
    auc_float, auc_hls = logit_auc(y_test, ref), logit_auc(y_test, y_hls)
    return {
        "n_events": same["n_events"],
        "max_abs_diff_logit": same["max_abs_diff"],
        "mean_abs_diff_logit": same["mean_abs_diff"],
        "auc_float": auc_float,
        "auc_hls4ml": auc_hls,
        "auc_change": auc_hls - auc_float,
        "events_per_s": rate,
    }


def _export(kind, ex: ExportContext) -> dict:
    """Float trigger MLP → hls4ml by post-training quantization (the FPGA form of the float model)."""
    model, saved = ex.torch_model(kind)
    return {"hls4ml_ptq": _ptq(kind, model, saved["n_inputs"], ex)}


def _cost(kind, layout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    if "hls4ml_ptq" not in entry:
        return []
    return hls4ml_mlp_cost(
        kind,
        layout,
        f"{kind.name} PTQ (hls4ml)",
        lambda model, _: fpga.ptq_layers(model, Precisions.from_dict(entry["hls4ml_ptq"]["precisions"], kind.name)),
        clock_ns,
        reuse,
    )


register_form(Form("hls4ml_ptq", _export, simulators=("hls",), cost=_cost))
