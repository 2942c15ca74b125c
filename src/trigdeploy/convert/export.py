"""``trigdeploy export``: every trained model of a run → checked, deployable artifacts + manifest.

* float MLPs (``mlp``, ``seed_mlp``) → ``export/<run>/<model>.onnx``, ONNX Runtime parity on the
  whole test split;
* the QAT MLP (``qmlp``) → ``export/<run>/qmlp.qonnx.onnx`` (QONNX parity with Brevitas on the
  test split) → one hls4ml project per backend in ``firmware/<run>/qmlp_<backend>/``, compiled
  and C-simulated on the whole test split against QONNX execution before it is moved into place;
* ``preprocess.json`` beside the artifacts and ``manifest.json`` (source model hashes, package
  versions, precisions, every parity figure, what is not exported yet).

An artifact that fails its check is not written; the export stops with the failing figure.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from trigdeploy.config import ExportTarget
from trigdeploy.data.scaling import Standardizer
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic, write_text_atomic

PENDING = {
    "hls4ml_ptq": "float MLP → hls4ml with profiled per-layer precision: not implemented yet (issue #5)",
    "conifer": "XGBoost → conifer projects: not implemented yet (issue #5)",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("torch", "brevitas", "onnx", "onnxruntime", "qonnx", "hls4ml", "xgboost", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def load_test_split(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The run's test split: scaled features (float32) and labels, from its feature cache."""
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        raise TrigdeployError(f"run {run_dir} is incomplete (no metrics.json): run trigdeploy train first")
    splits = np.load(run_dir / "splits.npz")
    caches = [p for p in (run_dir / "cache").iterdir() if (p / "meta.json").is_file()]
    if len(caches) != 1:
        raise TrigdeployError(f"run {run_dir}: expected one feature cache in {run_dir / 'cache'}, found {len(caches)}")
    codes = np.load(caches[0] / "codes.npy")
    rows = np.flatnonzero(codes == 2)
    if not np.array_equal(rows, splits["test"][codes[splits["test"]] == 2]):
        raise TrigdeployError(f"run {run_dir}: feature cache and splits.npz disagree; train the run again")
    x = np.load(caches[0] / "features.npy", mmap_mode="r")[rows]
    y = np.load(caches[0] / "labels.npy", mmap_mode="r")[rows]
    return Standardizer.load(run_dir / "preprocess.json").transform(x), np.asarray(y)


def export_run(run_dir: Path, target: ExportTarget, export_root: Path = Path("export"),
               firmware_root: Path = Path("firmware"), progress: bool = True) -> dict:
    """Export every model of ``run_dir``; returns the manifest (also written to ``export/<run>/``)."""
    from trigdeploy.convert import to_hls4ml, to_onnx, to_qonnx
    from trigdeploy.train.run import load_torch_model

    run_dir = Path(run_dir)
    x_test, _ = load_test_split(run_dir)
    name = run_dir.name
    out_dir = Path(export_root) / name
    fw_dir = Path(firmware_root) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)  # incomplete until the new manifest lands
    log: list[str] = []
    manifest: dict = {"run": str(run_dir), "target": target.source, "versions": _versions(), "models": {},
                      "not_exported": dict(PENDING), "test_events": int(len(x_test))}
    shutil.copyfile(run_dir / "preprocess.json", out_dir / "preprocess.json")

    def say(text: str) -> None:
        if progress:
            print(f"export: {text}", flush=True)

    for model_name in ("mlp", "seed_mlp"):
        src = run_dir / f"{model_name}.pt"
        if not src.exists():
            continue
        t0 = time.perf_counter()
        model, saved = load_torch_model(src)
        dst = out_dir / f"{model_name}.onnx"
        to_onnx.export_onnx(model, saved["n_inputs"], dst, target.onnx_opset, log)
        parity = to_onnx.parity(model, dst, x_test)
        if not parity["ok"]:
            dst.unlink()
            raise TrigdeployError(f"{model_name}: ONNX Runtime differs from PyTorch by {parity['max_abs_diff_logit']:.3g} "
                                  f"(tolerance {parity['tolerance']}); ONNX not written")
        manifest["models"][model_name] = {
            "source": {"file": src.name, "sha256": _sha256(src)},
            "onnx": {"file": dst.name, "sha256": _sha256(dst), "opset": target.onnx_opset, "ort_parity": parity,
                     "seconds": time.perf_counter() - t0},
        }
        say(f"{model_name} → {dst} (ORT max |Δ logit| {parity['max_abs_diff_logit']:.2g} on {parity['n_events']} events)")

    src = run_dir / "qmlp.pt"
    if src.exists():
        t0 = time.perf_counter()
        model, saved = load_torch_model(src)
        quantizer = to_qonnx.input_quantizer(model)
        qpath = out_dir / "qmlp.qonnx.onnx"
        m = to_qonnx.export_qonnx(model, saved["n_inputs"], qpath, log)
        x_grid = quantizer.quantize(x_test)
        q_parity = to_qonnx.parity(model, m, x_grid)
        if not q_parity["ok"]:
            qpath.unlink()
            raise TrigdeployError(f"qmlp: QONNX execution differs from Brevitas on {q_parity['n_mismatch']} test events "
                                  f"(max {q_parity['max_abs_diff']:.3g}); QONNX not written")
        reference = to_qonnx.execute(m, x_grid)
        entry = {
            "source": {"file": src.name, "sha256": _sha256(src)},
            "qonnx": {"file": qpath.name, "sha256": _sha256(qpath), "parity_vs_brevitas": q_parity,
                      "seconds": time.perf_counter() - t0},
            "input_port": {"hls4ml": quantizer.hls_type, "hls": quantizer.ap_type, "scale": quantizer.scale,
                           "bits": quantizer.bits},
            "hls4ml": {},
        }
        say(f"qmlp → {qpath} (Brevitas vs QONNX: {q_parity['n_mismatch']} mismatches on {q_parity['n_events']} events)")
        n_tb = min(target.testbench_events, len(x_grid))
        for backend in target.hls4ml.Backends:
            t1 = time.perf_counter()
            final = fw_dir / f"qmlp_{backend.lower()}"
            staging = final.with_name(final.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            hm = to_hls4ml.convert(m, target.hls4ml, backend, staging, quantizer,
                                   (x_grid[:n_tb], reference[:n_tb]), log)
            compile_s = time.perf_counter() - t1
            t2 = time.perf_counter()
            check = to_hls4ml.check(hm, x_grid, reference)
            check["events_per_s"] = check["n_events"] / max(time.perf_counter() - t2, 1e-9)
            if not check["ok"]:
                shutil.rmtree(staging, ignore_errors=True)
                raise TrigdeployError(f"qmlp {backend}: hls4ml C simulation differs from QONNX on {check['n_mismatch']} of "
                                      f"{check['n_events']} test events (max {check['max_abs_diff']:.3g}); project not written")
            to_hls4ml.write_readme(staging, backend, target.hls4ml, quantizer, "qmlp", saved["n_inputs"], check)
            to_hls4ml.replace_dir(staging, final)
            entry["hls4ml"][backend] = {"project": str(final), "part": target.hls4ml.Part,
                                        "clock_period_ns": target.hls4ml.ClockPeriod,
                                        "reuse_factor": target.hls4ml.ReuseFactor,
                                        "strategy": target.hls4ml.Strategy, "csim_vs_qonnx": check,
                                        "convert_compile_seconds": compile_s, "testbench_events": n_tb}
            say(f"qmlp {backend} → {final} (C simulation vs QONNX: {check['n_mismatch']} mismatches "
                f"on {check['n_events']} events)")
        manifest["models"]["qmlp"] = entry
    if not manifest["models"]:
        raise TrigdeployError(f"run {run_dir}: no exportable model (mlp.pt, seed_mlp.pt, qmlp.pt)")
    write_text_atomic(out_dir / "export.log", "\n".join(log))
    write_json_atomic(out_dir / "manifest.json", manifest)
    return manifest
