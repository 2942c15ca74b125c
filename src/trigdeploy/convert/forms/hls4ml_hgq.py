"""The ``hls4ml_hgq`` form: the resource-aware MLP → one hls4ml project per backend at its own trained
precisions, C-simulated equal to its fixed-point reference on every test event before it is written."""

from __future__ import annotations

from trigdeploy import fpga
from trigdeploy.convert.context import ExportContext, exact_hls4ml_project, hgq_reference, hls4ml_mlp_cost, say
from trigdeploy.convert.forms import Form, register_form
from trigdeploy.fixed import Precisions
from trigdeploy.logits import n_logits
from trigdeploy.train.metrics import logit_auc


def _export(kind, ex: ExportContext) -> dict:
    """Resource-aware MLP → one hls4ml project per backend at the model's own trained precisions, C-simulated
    on the whole test split: 0 mismatches against the model's exact fixed-point reference, or nothing is written."""
    h, saved = hgq_reference(kind, ex)
    entry = {
        "precisions": h["precisions"].as_dict(),
        "summary": h["summary"],
        "auc_fixed_point": logit_auc(ex.y_test, h["reference"]),
        "hls4ml": {},
    }
    for backend in ex.target.hls4ml.Backends:
        entry["hls4ml"][backend] = _backend(kind, h, saved["n_inputs"], backend, ex)
    return {"hls4ml_hgq": entry}


def _backend(kind, h: dict, n_inputs: int, backend: str, ex: ExportContext) -> dict:
    """One backend's project, equal to the fixed-point reference on the whole test split, with its README."""
    from trigdeploy.convert import to_hls4ml

    x_grid, reference, choice = h["x_grid"], h["reference"], h["precisions"]
    n_tb = min(ex.target.testbench_events, len(x_grid))
    staging, final, check, compile_s = exact_hls4ml_project(
        kind,
        ex,
        backend,
        lambda out: to_hls4ml.convert_ptq(
            h["model"], n_inputs, choice, ex.target.hls4ml, backend, out, (x_grid[:n_tb], reference[:n_tb]), ex.log
        ),
        x_grid,
        reference,
        "the model's fixed-point reference",
    )
    to_hls4ml.write_readme(
        staging,
        backend,
        ex.target.hls4ml,
        f"{kind.name} (resource-aware, per-weight precision)",
        n_inputs,
        f"then converted to the port type `{choice.port.hls4ml}` (round half up, saturate), exactly "
        "as the model's input quantizer does.",
        f"Checked before writing: C simulation equals the model's exact fixed-point reference on "
        f"{check['n_events']} test events ({check['n_mismatch']} mismatches); {h['summary']['weights_kept']} of "
        f"{h['summary']['weights']} weights remain (the others are 0 and cost nothing). `tb_data/` holds test "
        "events on the input grid and the reference logits.",
        n_logits(reference),
    )
    ex.add_project(
        staging.name,
        kind,
        f"hls4ml {backend} csim",
        "fixed-point reference of the model",
        h["ref_file"],
        exact=True,
        device=ex.hls4ml_device,
        reference_form="fixed-point reference",
    )
    say(
        f"{kind.name} {backend} → {final} (C simulation vs fixed-point reference: {check['n_mismatch']} "
        f"mismatches on {check['n_events']} events)"
    )
    return {
        "project": str(final),
        "part": ex.target.hls4ml.Part,
        "clock_period_ns": ex.target.hls4ml.ClockPeriod,
        "csim_vs_reference": check,
        "convert_compile_seconds": compile_s,
        "testbench_events": n_tb,
    }


def _cost(kind, layout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    if not entry.get("hls4ml_hgq", {}).get("hls4ml"):
        return []
    return hls4ml_mlp_cost(
        kind,
        layout,
        f"{kind.name} (hls4ml)",
        lambda model, _: fpga.ptq_layers(
            model.exact_parts()[0], Precisions.from_dict(entry["hls4ml_hgq"]["precisions"], kind.name)
        ),
        clock_ns,
        reuse,
    )


register_form(Form("hls4ml_hgq", _export, simulators=("hls",), cost=_cost))
