"""``trigdeploy export``: every trained model of a run → checked, deployable artifacts + manifest.

* float MLPs (``mlp``, ``seed_mlp``) → ``export/<run>/<model>.onnx``, ONNX Runtime parity on the
  whole test split;
* the float trigger MLP (``mlp``) also → hls4ml by post-training quantization at profiled
  per-layer precisions (``firmware/<run>/mlp_<backend>/``), with error statistics and the AUC
  change against the float model on the whole test split and an overflow report;
* the QAT MLP (``qmlp``) → ``export/<run>/qmlp.qonnx.onnx`` (QONNX parity with Brevitas on the
  test split) → one hls4ml project per backend in ``firmware/<run>/qmlp_<backend>/``, compiled
  and C-simulated on the whole test split against QONNX execution before it is moved into place;
* ``preprocess.json`` beside the artifacts and ``manifest.json`` (source model hashes, package
  versions, precisions, every parity figure, what is not exported yet).

An artifact that fails its check is not written; the export stops with the failing figure.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.config import ExportTarget
from trigdeploy.convert._tools import ToolFailed
from trigdeploy.convert.manifest import file_hashes
from trigdeploy.data.prepare import load_split, run_classes
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import partial_name, remove_stale_partials, sha256_file, write_json_atomic, write_text_atomic
from trigdeploy.layout import RunLayout
from trigdeploy.logits import as_logits, compare, n_logits
from trigdeploy.train.metrics import logit_auc
from trigdeploy.versions import package_versions

logger = logging.getLogger(__name__)

EXPORT_MARKER = ".trigdeploy-export"  # in every export/<run> and firmware/<run> folder trigdeploy writes
# what older trigdeploy versions wrote there without the marker (accepted for replacement)
_KNOWN_EXPORT = re.compile(r"manifest\.json|export\.log|preprocess\.json|[\w.]+\.onnx|bdt\.conifer\.json|\..*")
_KNOWN_FIRMWARE = re.compile(r"[A-Za-z0-9]\w*_(vitis|vivado|rtl|cpp|xilinxhls|vhdl)|\..*")  # <kind>_<backend>
PACKAGES = ("torch", "brevitas", "onnx", "onnxruntime", "qonnx", "hls4ml", "conifer", "xgboost", "numpy")


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _ptq(kind, model, n_inputs: int, ex: _Export) -> dict:
    """Float MLP → hls4ml at profiled precisions, per backend; refuses a project that loses too much AUC."""
    run_dir, target, fw_dir, fw_final, x_test, y_test, log = (ex.run_dir, ex.target, ex.fw_dir, ex.fw_final, ex.x_test,
                                                               ex.y_test, ex.log)
    import torch

    from trigdeploy.convert import ptq, to_hls4ml

    x_train, _ = load_split(run_dir, "train")
    sample = x_train[np.linspace(0, len(x_train) - 1, min(target.ptq_profile_rows, len(x_train))).astype(int)]
    prof = ptq.profile(model, sample)
    choice = ptq.choose_precisions(model, prof, target.ptq_width, target.ptq_headroom_bits)
    overflow = ptq.overflow_report(ptq.profile(model, x_test), choice)
    for o in overflow:
        logger.warning(f"{kind.name} PTQ: layer {o['layer']} reaches {o['observed_max_abs']:.4g} on the test split, beyond its "
                    f"type {o['type']} (max {o['type_max']:.4g}): it saturates")
    with torch.no_grad():
        ref = as_logits(model(torch.from_numpy(np.ascontiguousarray(x_test))).numpy(), len(x_test))
    auc_float = logit_auc(y_test, ref)
    ref_file = ex.save_reference(kind, x_test, ref)
    n_tb = min(target.testbench_events, len(x_test))
    out = {"precisions": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in choice.items()},
           "profile_rows": int(len(sample)), "width": target.ptq_width, "headroom_bits": target.ptq_headroom_bits,
           "overflow_on_test": overflow, "backends": {}}
    for backend in target.hls4ml.Backends:
        t1 = time.perf_counter()
        staging = fw_dir / f"{kind.name}_{backend.lower()}"
        final = fw_final / staging.name
        hm = to_hls4ml.convert_ptq(model, n_inputs, choice, target.hls4ml, backend, staging,
                                   (x_test[:n_tb], ref[:n_tb]), log)
        compile_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        y_hls = to_hls4ml.predict(hm, x_test, ex.cache)
        rate = len(x_test) / max(time.perf_counter() - t2, 1e-9)
        same = compare(y_hls, ref)
        auc_hls = logit_auc(y_test, y_hls)
        stats = {"n_events": same["n_events"], "max_abs_diff_logit": same["max_abs_diff"],
                 "mean_abs_diff_logit": same["mean_abs_diff"], "auc_float": auc_float, "auc_hls4ml": auc_hls,
                 "auc_change": auc_hls - auc_float, "events_per_s": rate}
        if auc_float - auc_hls > target.ptq_max_auc_loss:
            raise TrigdeployError(f"{kind.name} {backend} PTQ: AUC {auc_float:.5f} → {auc_hls:.5f} loses more than "
                                  f"ptq_max_auc_loss {target.ptq_max_auc_loss}; widen ptq_width")
        to_hls4ml.write_readme(
            staging, backend, target.hls4ml, f"{kind.name} (float, post-training quantized)", n_inputs,
            f"then converted to the port type `{choice['input_1']['result']}`.",
            f"Checked before writing against the float model on {stats['n_events']} test events: max |Δ logit| "
            f"{stats['max_abs_diff_logit']:.3g}, AUC {auc_float:.5f} → {auc_hls:.5f}. `tb_data/` holds test events "
            f"and the float model's logits (the expected values are within the error above, not equal).",
            n_logits(ref))
        out["backends"][backend] = {"project": str(final), "vs_float": stats, "convert_compile_seconds": compile_s,
                                    "testbench_events": n_tb}
        ex.ptq.setdefault(kind.name, {"precisions": choice, "hls4ml": y_hls, "backend": backend, "float": ref})
        ex.add_project(staging.name, kind, f"hls4ml {backend} PTQ csim", "float PyTorch model", ref_file, exact=False,
                       expected=y_hls, max_auc_loss=target.ptq_max_auc_loss)
        _say(f"{kind.name} PTQ {backend} → {final} (max |Δ logit| {stats['max_abs_diff_logit']:.3g}, "
            f"AUC {auc_float:.5f} → {auc_hls:.5f})")
    return out


def load_booster(path: Path):
    """The trained XGBoost booster, cut to its early-stopping best iteration (what ``predict`` uses)."""
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(path))
    best = booster.attr("best_iteration")
    return booster[: int(best) + 1] if best is not None else booster


def _conifer(kind, ex: _Export) -> dict:
    """XGBoost → conifer: float C++ emulation (leaf-exact), then fixed-point HLS and VHDL projects."""
    src, target, out_dir, fw_dir, fw_final, cache, x_test, y_test, log = (
        ex.run_dir / kind.artifact, ex.target, ex.out_dir, ex.fw_dir, ex.fw_final, ex.cache, ex.x_test, ex.y_test,
        ex.log)
    from trigdeploy.convert import to_conifer as tc
    from trigdeploy.cxx import harness, testbench

    if not np.isfinite(x_test).all():
        raise TrigdeployError(f"{kind.name}: the test split has non-finite inputs; conifer ignores XGBoost's learned "
                              "missing-value directions, so the firmware would disagree (use data nan_policy drop/impute)")
    t0 = time.perf_counter()
    booster = load_booster(src)
    ens = tc.ensemble_from_booster(booster)
    write_json_atomic(out_dir / f"{kind.name}.conifer.json", ens)
    entry: dict = {"source": {"file": src.name, "sha256": _sha256(src)},
                   "ensemble": {"file": f"{kind.name}.conifer.json", "n_trees": ens["n_trees"], "max_depth": ens["max_depth"],
                                "n_features": ens["n_features"],
                                "base_margin": ens["init_predict"][0] if tc.n_outputs(ens) == 1 else ens["init_predict"],
                                "n_classes": ens["n_classes"]},
                   "projects": {}}
    staging = fw_dir / f"{kind.name}_cpp"
    cpp = tc.cpp_float_check(ens, booster, x_test, staging, log, cache)
    if not cpp["ok"]:
        raise TrigdeployError(f"{kind.name}: conifer float emulation disagrees with XGBoost on {cpp['n_leaf_mismatch']} leaf "
                              f"paths / {cpp['n_margin_mismatch']} margins of {cpp['n_events']} test events")
    tc.write_testbench(staging, x_test[: target.testbench_events], tc.xgb_margin(booster, x_test[: target.testbench_events]))
    tc.point_project_at(staging, fw_final / f"{kind.name}_cpp")
    entry["projects"]["cpp"] = {"project": str(fw_final / f"{kind.name}_cpp"), "precision": "float", "vs_xgboost": cpp}
    _say(f"{kind.name} conifer cpp (float) → {fw_final / f'{kind.name}_cpp'} (leaf agreement {100 * cpp['leaf_agreement']:.2f} % on "
        f"{cpp['n_events']} events, margins equal: {cpp['n_margin_mismatch'] == 0})")

    fmt = tc.FixedType.parse(target.conifer.Precision)
    ens_q, qinfo = tc.quantize_ensemble(ens, fmt)
    x_q = fmt.quantize_inputs(x_test)
    leaves_fixed, leaves_q, leaves_float = tc.leaves(ens_q, x_q), tc.leaves(ens, x_q), tc.leaves(ens, x_test)
    ref_q, wrapped = tc.emulate_fixed(ens_q, leaves_fixed, fmt)
    exact_q = tc.score(ens, leaves_q)
    bound = (ens["n_trees"] + 1) * fmt.lsb / 2
    same_leaf = (leaves_fixed == tc.xgb_leaves(booster, x_q)).all(axis=1)
    margin = tc.xgb_margin(booster, x_test)
    fixed = {"precision": str(fmt), "lsb": fmt.lsb, "inputs": "floor onto the grid, saturate (done before the port)",
             "thresholds": "rounded up onto the input grid", "leaves": "rounded to nearest", **qinfo,
             "n_events": int(len(x_q)), "n_sum_wrapped": wrapped,
             "vs_xgboost_on_quantized_inputs": {
                 "leaf_agreement": float(same_leaf.mean()), "max_abs_diff_margin": float(np.abs(ref_q - exact_q).max()),
                 "bound": bound, "within_bound": bool((np.abs(ref_q - exact_q) <= bound).all())},
             "vs_xgboost_on_float_inputs": {
                 "max_abs_diff_margin": float(np.abs(ref_q - margin).max()),
                 "mean_abs_diff_margin": float(np.abs(ref_q - margin).mean()),
                 "n_leaf_changed_by_input_quantization": int((~(leaves_float == leaves_q).all(axis=1)).sum()),
                 "auc_xgboost": logit_auc(y_test, margin), "auc_fixed": logit_auc(y_test, ref_q)}}
    if not (same_leaf.all() and fixed["vs_xgboost_on_quantized_inputs"]["within_bound"]) or wrapped:
        raise TrigdeployError(f"{kind.name}: fixed point {fmt} leaves XGBoost's leaves or its error bound on the test split "
                              f"(leaf agreement {same_leaf.mean():.4%}, {wrapped} wrapped sums, saturated thresholds "
                              f"{qinfo['thresholds_saturated']}): widen conifer Precision")
    auc_loss = fixed["vs_xgboost_on_float_inputs"]["auc_xgboost"] - fixed["vs_xgboost_on_float_inputs"]["auc_fixed"]
    if auc_loss > target.bdt_max_auc_loss:
        raise TrigdeployError(
            f"{kind.name}: conifer Precision {fmt}: test AUC {fixed['vs_xgboost_on_float_inputs']['auc_xgboost']:.5f} (XGBoost) → "
            f"{fixed['vs_xgboost_on_float_inputs']['auc_fixed']:.5f} (fixed point) loses more than bdt_max_auc_loss "
            f"{target.bdt_max_auc_loss} (LSB {fmt.lsb:g}, {qinfo['thresholds_saturated']} thresholds and "
            f"{qinfo['leaves_saturated']} leaves saturated); widen conifer Precision")
    entry["fixed_point"] = fixed
    ref_file = ex.save_reference(kind, x_q, ref_q)
    n_tb = min(target.testbench_events, len(x_q))
    part = target.conifer.XilinxPart or target.hls4ml.Part
    clock = target.conifer.ClockPeriod or target.hls4ml.ClockPeriod
    for backend in target.conifer.Backends:
        t1 = time.perf_counter()
        staging = fw_dir / f"{kind.name}_{backend}"
        final = fw_final / staging.name
        cfg = {"Precision": str(fmt), "XilinxPart": part}
        if backend == "xilinxhls":
            cfg.update(ClockPeriod=clock, Unroll=target.conifer.Unroll)
        tc.make_project(ens_q, backend, staging, cfg, log)
        tc.write_testbench(staging, x_q[:n_tb], ref_q[:n_tb])
        info = {"project": str(final), "part": part, "precision": str(fmt), "testbench_events": n_tb}
        if backend == "xilinxhls":
            tc.fix_hls_top(staging)
            # the testbench (which compiles the tree tables too: minutes) builds beside the vendor build on the
            # other core and is cached for csim
            b = testbench.build(staging, cache)
            hx = harness.Harness(b.library)
            t2 = time.perf_counter()
            y = as_logits(hx.run(x_q), len(x_q))
            rate = len(x_q) / max(time.perf_counter() - t2, 1e-9)
            same = compare(y, ref_q)
            n_bad = same["n_mismatch"]
            info.update(clock_period_ns=clock, unroll=target.conifer.Unroll, compile_seconds=b.compile_seconds,
                        csim_vs_emulation={"n_events": same["n_events"], "n_mismatch": n_bad,
                                           "max_abs_diff": same["max_abs_diff"], "events_per_s": rate})
            if n_bad:
                raise TrigdeployError(f"{kind.name} xilinxhls: C simulation differs from the fixed-point emulation on {n_bad} "
                                      f"of {len(y)} test events; project not written")
            ex.add_project(staging.name, kind, "conifer HLS csim",
                           "fixed-point emulation of the XGBoost ensemble (leaf-exact)", ref_file, exact=True)
        elif backend == "vhdl":
            ex.add_project(staging.name, kind, "conifer VHDL (GHDL)",
                           "fixed-point emulation of the XGBoost ensemble (leaf-exact)", ref_file, exact=True,
                           simulator="ghdl")
        info["seconds"] = time.perf_counter() - t1
        tc.write_readme(staging, backend, part, clock, fmt, ens, fixed, info)
        tc.point_project_at(staging, final)
        entry["projects"][backend] = info
        _say(f"{kind.name} conifer {backend} → {final}" + (f" (C simulation vs fixed-point emulation: "
                                                  f"{info['csim_vs_emulation']['n_mismatch']} mismatches on "
                                                  f"{len(x_q)} events)" if backend == "xilinxhls" else ""))
    entry["seconds"] = time.perf_counter() - t0
    return entry


def _owned(path: Path, marker: str, known: re.Pattern) -> bool:
    """Is ``path`` absent, empty, marked as trigdeploy's, or made only of what trigdeploy writes there?"""
    if not path.exists():
        return True
    if not path.is_dir():
        return False
    entries = list(path.iterdir())
    return (path / marker).exists() or all(known.fullmatch(e.name) for e in entries)


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by the finished ``staging`` folder (the old one is removed afterwards)."""
    old = partial_name(final.with_name(final.name + ".old"))
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def export_run(run_dir: Path, target: ExportTarget, export_root: Path | None = None,
               firmware_root: Path | None = None, progress: bool = True) -> dict:
    """Export every model of ``run_dir``; returns the manifest (also written to ``export/<run>/``).

    ``export_root``/``firmware_root`` default to the run's layout (``trigdeploy.layout``). Messages go
    through ``logging``; ``progress`` is accepted like every stage's, but export draws no progress bar.

    Everything is built in hidden staging folders beside ``export/<run>`` and ``firmware/<run>`` and
    swapped in only after every check passed: a failed, interrupted or killed export leaves the
    previous complete export in place (or nothing). The staging folders of a killed export are
    removed by the next one. A tool failure is one line naming the tool, the project and the log.
    """
    layout = RunLayout.of(run_dir, export_root, firmware_root)
    run_dir, export_root, firmware_root = layout.run_dir, layout.export_root, layout.firmware_root
    x_test, y_test = load_split(run_dir, "test")
    name = layout.name
    out_final, fw_final = layout.export_dir, layout.firmware_dir
    for path, known in ((out_final, _KNOWN_EXPORT), (fw_final, _KNOWN_FIRMWARE)):
        if not _owned(path, EXPORT_MARKER, known):
            raise TrigdeployError(f"{path} exists and was not written by trigdeploy export (no {EXPORT_MARKER}); "
                                  "move it away or choose another --export-root/--firmware-root")
    for root in (Path(export_root), Path(firmware_root)):
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(root)
    out_dir, fw_dir = partial_name(out_final), partial_name(fw_final)
    failed_log = Path(export_root) / f"{name}.export-failed.log"
    log: list[str] = []
    try:
        for d in (out_dir, fw_dir):
            d.mkdir()
            (d / EXPORT_MARKER).write_text("written by trigdeploy export; replaced as a whole by the next export\n")
        with timing.stage("export") as rec:
            manifest = _export_models(run_dir, target, out_dir, fw_dir, fw_final, layout.csim_cache,
                                      x_test, y_test, log)
            manifest["timing"] = rec.report()
        write_text_atomic(out_dir / "export.log", "\n".join(log))
        write_json_atomic(out_dir / layout.manifest.name, manifest)
        # firmware first: until the export folder (with the manifest) is swapped, nothing claims the new projects
        _swap_in(fw_dir, fw_final)
        _swap_in(out_dir, out_final)
        failed_log.unlink(missing_ok=True)
        return manifest
    except BaseException as exc:
        with contextlib.suppress(OSError):
            write_text_atomic(failed_log, "\n".join(log))
        if isinstance(exc, ToolFailed):
            raise TrigdeployError(f"{exc}; full log: {failed_log}") from None
        raise
    finally:
        for d in (out_dir, fw_dir):
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class _Export:
    """What every form exporter needs: the run, the target, the staging folders, the test split, the log."""

    run_dir: Path
    target: ExportTarget
    out_dir: Path
    fw_dir: Path
    fw_final: Path
    cache: Path
    x_test: np.ndarray
    y_test: np.ndarray
    log: list[str]
    loaded: dict = field(default_factory=dict)
    projects: list[dict] = field(default_factory=list)
    references: dict = field(default_factory=dict)  # kind name → (inputs, logits, file) saved by save_reference
    ptq: dict = field(default_factory=dict)  # kind name → PTQ precisions and the first hls4ml project's outputs
    exact: dict = field(default_factory=dict)  # kind name → a fixed-point model's exact parts and reference

    def save_reference(self, kind, inputs: np.ndarray, logits: np.ndarray, name: str | None = None) -> str:
        """Save what a kind's firmware projects are fed (the test split as the port sees it) and the
        reference logits they must reproduce; csim and bench read them instead of recomputing.
        ``name``: a second reference of the same kind (another port type), e.g. the PTQ RTL's."""
        rel = f"references/{name or kind.name}.npz"
        (self.out_dir / "references").mkdir(exist_ok=True)
        np.savez(self.out_dir / rel, inputs=np.asarray(inputs), logits=np.asarray(logits))
        if name is None:
            self.references[kind.name] = (inputs, logits, rel)
        return rel

    def add_project(self, name: str, kind, form: str, reference: str, reference_file: str, exact: bool,
                    reference_form: str | None = None, simulator: str = "hls", expected: np.ndarray | None = None,
                    max_auc_loss: float | None = None) -> None:
        """A firmware project for csim and bench: what it is, what it is checked against, how strictly,
        and which simulator runs it. A project that is not exact (PTQ) gives the outputs export
        recorded for it (``expected``, which csim must reproduce bit for bit) and the physics gate
        export applied (``max_auc_loss``)."""
        entry = {"name": name, "model": kind.name, "form": form, "reference": reference,
                 "reference_file": reference_file, "reference_form": reference_form, "exact": exact,
                 "simulator": simulator}
        if not exact:
            if expected is None or max_auc_loss is None:
                raise ValueError(f"project {name}: a project that is not exact needs expected outputs and a gate")
            rel = f"references/{name}.expected.npz"
            (self.out_dir / "references").mkdir(exist_ok=True)
            np.savez(self.out_dir / rel, logits=np.asarray(expected))
            entry.update(expected_file=rel, max_auc_loss=max_auc_loss)
        self.projects.append(entry)

    def seal(self) -> list[dict]:
        """The projects with the SHA-256 of every file they and their references hold (what csim verifies)."""
        for p in self.projects:
            p["files"] = file_hashes(self.fw_dir / p["name"])
            p["reference_sha256"] = sha256_file(self.out_dir / p["reference_file"])
            if p.get("expected_file"):
                p["expected_sha256"] = sha256_file(self.out_dir / p["expected_file"])
        return self.projects

    def torch_model(self, kind):
        """The kind's trained torch model and its saved metadata (loaded once per export)."""
        from trigdeploy.train.run import load_torch_model

        if kind.name not in self.loaded:
            self.loaded[kind.name] = load_torch_model(self.run_dir / kind.artifact)
        return self.loaded[kind.name]


def _say(text: str) -> None:
    logger.info("export: %s", text)


def _form_onnx(kind, ex: _Export) -> dict:
    """Float torch model → ONNX, ONNX Runtime parity on the whole test split."""
    from trigdeploy.convert import to_onnx

    t0 = time.perf_counter()
    model, saved = ex.torch_model(kind)
    dst = ex.out_dir / f"{kind.name}.onnx"
    to_onnx.export_onnx(model, saved["n_inputs"], dst, ex.target.onnx_opset, ex.log)
    parity = to_onnx.parity(model, dst, ex.x_test)
    if not parity["ok"]:
        raise TrigdeployError(f"{kind.name}: ONNX Runtime differs from PyTorch by {parity['max_abs_diff_logit']:.3g} "
                              f"(tolerance {parity['tolerance']}); ONNX not written")
    _say(f"{kind.name} → {dst.name} (ORT max |Δ logit| {parity['max_abs_diff_logit']:.2g} on {parity['n_events']} events)")
    return {"onnx": {"file": dst.name, "sha256": _sha256(dst), "opset": ex.target.onnx_opset, "ort_parity": parity,
                     "seconds": time.perf_counter() - t0}}


def _form_ptq(kind, ex: _Export) -> dict:
    """Float trigger MLP → hls4ml by post-training quantization (the FPGA form of the float model)."""
    model, saved = ex.torch_model(kind)
    return {"hls4ml_ptq": _ptq(kind, model, saved["n_inputs"], ex)}


def _exact_hls4ml_project(kind, ex: _Export, backend: str, build, x_grid: np.ndarray, reference: np.ndarray,
                          what: str) -> tuple[Path, Path, dict, float]:
    """``build(staging folder)`` writes and compiles the kind's hls4ml project for ``backend``; its C
    simulation must equal ``reference`` on every row of ``x_grid``, or nothing is written. Returns the
    staging and final folders, the check and the convert + compile time."""
    from trigdeploy.convert import to_hls4ml

    t1 = time.perf_counter()
    staging = ex.fw_dir / f"{kind.name}_{backend.lower()}"
    hm = build(staging)
    compile_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    check = to_hls4ml.check(hm, x_grid, reference, ex.cache)
    check["events_per_s"] = check["n_events"] / max(time.perf_counter() - t2, 1e-9)
    if not check["ok"]:
        raise TrigdeployError(f"{kind.name} {backend}: hls4ml C simulation differs from {what} on {check['n_mismatch']} of "
                              f"{check['n_events']} test events (max {check['max_abs_diff']:.3g}); project not written")
    return staging, ex.fw_final / staging.name, check, compile_s


def _form_qonnx_hls4ml(kind, ex: _Export) -> dict:
    """Brevitas QAT model → QONNX (parity with Brevitas) → one bit-exact hls4ml project per backend."""
    from trigdeploy.convert import to_hls4ml, to_qonnx

    target, log = ex.target, ex.log
    t0 = time.perf_counter()
    model, saved = ex.torch_model(kind)
    quantizer = to_qonnx.input_quantizer(model)
    qpath = ex.out_dir / f"{kind.name}.qonnx.onnx"
    m = to_qonnx.export_qonnx(model, saved["n_inputs"], qpath, log)
    x_grid = quantizer.quantize(ex.x_test)
    q_parity = to_qonnx.parity(model, m, x_grid)
    if not q_parity["ok"]:
        raise TrigdeployError(f"{kind.name}: QONNX execution differs from Brevitas on {q_parity['n_mismatch']} test events "
                              f"(max {q_parity['max_abs_diff']:.3g}); QONNX not written")
    reference = to_qonnx.execute(m, x_grid)
    ref_file = ex.save_reference(kind, x_grid, reference)
    entry = {
        "qonnx": {"file": qpath.name, "sha256": _sha256(qpath), "parity_vs_brevitas": q_parity,
                  "seconds": time.perf_counter() - t0},
        "input_port": {"hls4ml": quantizer.hls_type, "hls": quantizer.ap_type, "scale": quantizer.scale,
                       "bits": quantizer.bits},
        "hls4ml": {},
    }
    _say(f"{kind.name} → {qpath.name} (Brevitas vs QONNX: {q_parity['n_mismatch']} mismatches on {q_parity['n_events']} events)")
    n_tb = min(target.testbench_events, len(x_grid))
    for backend in target.hls4ml.Backends:
        staging, final, check, compile_s = _exact_hls4ml_project(
            kind, ex, backend, lambda out, backend=backend: to_hls4ml.convert(m, target.hls4ml, backend, out, quantizer,
                                                             (x_grid[:n_tb], reference[:n_tb]), log),
            x_grid, reference, "QONNX")
        to_hls4ml.write_readme(
            staging, backend, target.hls4ml, f"{kind.name} (quantization-aware)", saved["n_inputs"],
            f"then quantized to the port type `{quantizer.ap_type}` (round half to even, saturate), exactly as "
            "the QAT model's input quantizer does.",
            f"Checked before writing: C simulation equals `qonnx.core.onnx_exec` on {check['n_events']} test "
            f"events ({check['n_mismatch']} mismatches). `tb_data/` holds test events on the input grid and the "
            "QONNX outputs.", n_logits(reference))
        ex.add_project(staging.name, kind, f"hls4ml {backend} csim", "QONNX execution", ref_file, exact=True,
                       reference_form="QONNX")
        entry["hls4ml"][backend] = {"project": str(final), "part": target.hls4ml.Part,
                                    "clock_period_ns": target.hls4ml.ClockPeriod,
                                    "reuse_factor": target.hls4ml.ReuseFactor,
                                    "strategy": target.hls4ml.Strategy, "csim_vs_qonnx": check,
                                    "convert_compile_seconds": compile_s, "testbench_events": n_tb}
        _say(f"{kind.name} {backend} → {final} (C simulation vs QONNX: {check['n_mismatch']} mismatches "
             f"on {check['n_events']} events)")
    return entry


def _form_conifer(kind, ex: _Export) -> dict:
    """XGBoost → conifer C++ (leaf-exact), HLS and VHDL projects (fixed point, bit-exact C simulation)."""
    entry = _conifer(kind, ex)
    entry.pop("source")
    return entry


def _alkaid_missing(kind) -> dict | None:
    try:
        import alkaid  # noqa: F401 - only whether it is installed
    except ImportError:
        logger.warning(f"export: {kind.name} RTL skipped: alkaid is not installed (the [rtl] extra)")
        return {"rtl": {"skipped": "alkaid not installed"}}
    return None


def _rtl_project(kind, ex: _Export, comb, trace_s: float, x_grid: np.ndarray, check_ref: np.ndarray, check_what: str,
                 description: str, tb_expected: np.ndarray) -> dict:
    """alkaid's interpreter of ``comb`` must equal ``check_ref`` on every test event, then the Verilog
    project ``<kind>_rtl`` is written (its ``tb_data`` expects ``tb_expected``)."""
    from trigdeploy.convert import to_rtl

    check = to_rtl.check(comb, x_grid, check_ref)
    if not check["ok"]:
        raise TrigdeployError(f"{kind.name} RTL: alkaid's logic differs from the {check_what} on {check['n_mismatch']} of "
                              f"{check['n_events']} test events (max {check['max_abs_diff']:.3g}); project not written")
    staging = ex.fw_dir / f"{kind.name}_rtl"
    final = ex.fw_final / staging.name
    part, clock = ex.target.hls4ml.Part, ex.target.hls4ml.ClockPeriod
    n_tb = min(ex.target.testbench_events, len(x_grid))
    t1 = time.perf_counter()
    info = to_rtl.write_project(comb, staging, part, clock, x_grid[:n_tb], tb_expected[:n_tb], description,
                                f"Checked before writing: alkaid's interpreter of this logic equals the {check_what} "
                                f"on {check['n_events']} test events ({check['n_mismatch']} mismatches).")
    _say(f"{kind.name} RTL → {final} (alkaid vs {check_what}: {check['n_mismatch']} mismatches on {check['n_events']} "
         f"events; {info['pipeline_stages']} stages, ≈{info['lut_estimate_alkaid']:,.0f} LUT by alkaid's model)")
    return {"project": str(final), "part": part, "clock_period_ns": clock, "check": check, "checked_against": check_what,
            "trace_seconds": trace_s, "write_seconds": time.perf_counter() - t1, **info}


def _form_rtl(kind, ex: _Export) -> dict:
    """QAT MLP → alkaid Verilog project, bit-exact against QONNX on the whole test split (alkaid's
    interpreter of the traced logic); without alkaid installed, one line and no project."""
    skipped = _alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.convert import to_rtl

    model, saved = ex.torch_model(kind)
    if kind.name not in ex.references:
        raise ValueError(f"model kind {kind.name}: the rtl form checks against the QONNX reference; list "
                         "qonnx_hls4ml before rtl in its forms")  # a registration error, not user input
    x_grid, reference, ref_file = ex.references[kind.name]  # QONNX execution on the input grid, saved by this export
    t0 = time.perf_counter()
    comb = to_rtl.trace(model, saved["n_inputs"])
    entry = _rtl_project(kind, ex, comb, time.perf_counter() - t0, x_grid, reference, "QONNX execution",
                         f"{kind.name} (quantization-aware)", reference)
    ex.add_project(f"{kind.name}_rtl", kind, "alkaid RTL (Verilator)", "QONNX execution", ref_file, exact=True,
                   reference_form="QONNX", simulator="verilator")
    return {"rtl": entry}


def _form_rtl_ptq(kind, ex: _Export) -> dict:
    """Float MLP at its hls4ml PTQ precisions → alkaid Verilog project, bit-exact against the hls4ml
    project's C simulation on the whole test split before it is written; csim then reports its error
    against the float model, as for the hls4ml PTQ projects."""
    if not ex.target.ptq_rtl:
        _say(f"{kind.name} PTQ RTL not requested (export target ptq_rtl: true exports this reference design)")
        return {"rtl": {"skipped": "not requested (export target ptq_rtl: true)"}}
    skipped = _alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.convert import to_rtl

    if kind.name not in ex.ptq:
        raise ValueError(f"model kind {kind.name}: the rtl_ptq form needs the PTQ precisions; list hls4ml_ptq "
                         "before rtl_ptq in its forms")  # a registration error, not user input
    ptq = ex.ptq[kind.name]
    model, saved = ex.torch_model(kind)
    t0 = time.perf_counter()
    try:
        comb = to_rtl.trace_ptq(model, ptq["precisions"], saved["n_inputs"])
    except to_rtl.Unsupported as exc:
        logger.warning(f"export: {kind.name} RTL skipped: {exc}")
        return {"rtl": {"skipped": str(exc)}}
    x_grid = to_rtl.ptq_input_grid(ex.x_test, ptq["precisions"])
    entry = _rtl_project(kind, ex, comb, time.perf_counter() - t0, x_grid, ptq["hls4ml"],
                         f"hls4ml {ptq['backend']} PTQ C simulation", f"{kind.name} (float, post-training quantized)",
                         ptq["hls4ml"])
    ref_file = ex.save_reference(kind, x_grid, ptq["float"], name=f"{kind.name}_rtl")
    ex.add_project(f"{kind.name}_rtl", kind, "alkaid RTL PTQ (Verilator)", "float PyTorch model", ref_file, exact=False,
                   simulator="verilator", expected=ptq["hls4ml"], max_auc_loss=ex.target.ptq_max_auc_loss)
    return {"rtl": entry}


def _hgq_reference(kind, ex: _Export):
    """The resource-aware model's exact parts and its fixed-point reference on the port's grid (saved once)."""
    from trigdeploy.convert import to_rtl

    model, saved = ex.torch_model(kind)
    if kind.name not in ex.exact:
        seq, choice = model.exact_parts()
        x_grid = to_rtl.ptq_input_grid(ex.x_test, choice)
        reference = model.reference(x_grid)
        ref_file = ex.save_reference(kind, x_grid, reference)
        ex.exact[kind.name] = {"precisions": choice, "model": seq, "x_grid": x_grid, "reference": reference,
                               "ref_file": ref_file, "summary": model.summary()}
    return ex.exact[kind.name], saved


def _form_hls4ml_hgq(kind, ex: _Export) -> dict:
    """Resource-aware MLP → one hls4ml project per backend at the model's own trained precisions, C-simulated
    on the whole test split: 0 mismatches against the model's exact fixed-point reference, or nothing is written."""
    from trigdeploy.convert import to_hls4ml

    h, saved = _hgq_reference(kind, ex)
    x_grid, reference, choice = h["x_grid"], h["reference"], h["precisions"]
    n_tb = min(ex.target.testbench_events, len(x_grid))
    entry = {"precisions": choice, "summary": h["summary"], "auc_fixed_point": logit_auc(ex.y_test, reference),
             "hls4ml": {}}
    for backend in ex.target.hls4ml.Backends:
        staging, final, check, compile_s = _exact_hls4ml_project(
            kind, ex, backend, lambda out, backend=backend: to_hls4ml.convert_ptq(h["model"], saved["n_inputs"], choice, ex.target.hls4ml,
                                                                backend, out, (x_grid[:n_tb], reference[:n_tb]), ex.log),
            x_grid, reference, "the model's fixed-point reference")
        to_hls4ml.write_readme(
            staging, backend, ex.target.hls4ml, f"{kind.name} (resource-aware, per-weight precision)", saved["n_inputs"],
            f"then converted to the port type `{choice['input_1']['result']}` (round half up, saturate), exactly "
            "as the model's input quantizer does.",
            f"Checked before writing: C simulation equals the model's exact fixed-point reference on "
            f"{check['n_events']} test events ({check['n_mismatch']} mismatches); {h['summary']['weights_kept']} of "
            f"{h['summary']['weights']} weights remain (the others are 0 and cost nothing). `tb_data/` holds test "
            "events on the input grid and the reference logits.", n_logits(reference))
        ex.add_project(staging.name, kind, f"hls4ml {backend} csim", "fixed-point reference of the model", h["ref_file"],
                       exact=True, reference_form="fixed-point reference")
        entry["hls4ml"][backend] = {"project": str(final), "part": ex.target.hls4ml.Part,
                                    "clock_period_ns": ex.target.hls4ml.ClockPeriod, "csim_vs_reference": check,
                                    "convert_compile_seconds": compile_s, "testbench_events": n_tb}
        _say(f"{kind.name} {backend} → {final} (C simulation vs fixed-point reference: {check['n_mismatch']} "
             f"mismatches on {check['n_events']} events)")
    return {"hls4ml_hgq": entry}


def _form_rtl_hgq(kind, ex: _Export) -> dict:
    """Resource-aware MLP → alkaid Verilog project at its own precisions (pruned weights are absent from
    the logic), alkaid's interpreter bit-exact against the fixed-point reference before it is written."""
    skipped = _alkaid_missing(kind)
    if skipped:
        return skipped
    from trigdeploy.convert import to_rtl

    h, saved = _hgq_reference(kind, ex)
    t0 = time.perf_counter()
    comb = to_rtl.trace_ptq(h["model"], h["precisions"], saved["n_inputs"])
    entry = _rtl_project(kind, ex, comb, time.perf_counter() - t0, h["x_grid"], h["reference"],
                         "model's fixed-point reference", f"{kind.name} (resource-aware, per-weight precision)",
                         h["reference"])
    ex.add_project(f"{kind.name}_rtl", kind, "alkaid RTL (Verilator)", "fixed-point reference of the model",
                   h["ref_file"], exact=True, reference_form="fixed-point reference", simulator="verilator")
    return {"rtl": entry}


# exported form (a name in models.registry) → its exporter; each returns its part of the model's manifest entry
FORMS = {"onnx": _form_onnx, "hls4ml_ptq": _form_ptq, "qonnx_hls4ml": _form_qonnx_hls4ml, "conifer": _form_conifer,
         "rtl": _form_rtl, "rtl_ptq": _form_rtl_ptq, "hls4ml_hgq": _form_hls4ml_hgq, "rtl_hgq": _form_rtl_hgq}


def _export_models(run_dir: Path, target: ExportTarget, out_dir: Path, fw_dir: Path, fw_final: Path, cache: Path,
                   x_test: np.ndarray, y_test: np.ndarray, log: list[str]) -> dict:
    """Every exported form of every trained model of ``run_dir`` (``models.registry``) into the staging
    folders ``out_dir`` and ``fw_dir``; the manifest names the projects by their final folder ``fw_final``."""
    from trigdeploy.models import registry

    manifest: dict = {"run": str(run_dir), "target": target.source, "versions": package_versions(PACKAGES), "models": {},
                      "test_events": int(len(x_test)), "classes": list(run_classes(run_dir))}
    shutil.copyfile(RunLayout.of(run_dir).preprocess, out_dir / "preprocess.json")
    ex = _Export(run_dir, target, out_dir, fw_dir, fw_final, cache, x_test, y_test, log)
    for kind in registry.KINDS.values():
        src = run_dir / kind.artifact
        if not src.exists():
            continue
        if not kind.forms:
            manifest.setdefault("not_exported", {})[kind.name] = kind.not_exported
            continue
        entry = {"source": {"file": src.name, "sha256": _sha256(src)}}
        for form in kind.forms:
            with timing.step(f"{kind.name} {form}"):
                entry.update(FORMS[form](kind, ex))
        manifest["models"][kind.name] = entry
    if not manifest["models"]:
        raise TrigdeployError(f"run {run_dir}: no exportable model "
                              f"({', '.join(k.artifact for k in registry.KINDS.values() if k.forms)})")
    manifest["projects"] = ex.seal()
    return manifest
