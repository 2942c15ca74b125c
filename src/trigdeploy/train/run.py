"""``trigdeploy train``: every model of a run, from the prepared data to ``metrics.json``.

Order: data stage (``prepare``), float MLP, seed-reference MLP, QAT MLP (fine-tuned from the
float MLP's weights when ``init: float``), XGBoost BDT, RandomForest. Each model file is written
atomically as soon as it is trained, with its test scores in ``predictions/``. ``metrics.json``
is written last, so a run directory is complete exactly when it has one; a new ``train`` removes
it first. ``resume=True`` keeps finished models and continues interrupted ones from their
checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.config import RunConfig, dump_config
from trigdeploy.data.cache import Prepared, data_stage_print, load_prepared
from trigdeploy.data.prepare import prepare
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import atomic_path, sha256_file, write_json_atomic, write_text_atomic
from trigdeploy.layout import RunLayout
from trigdeploy.models import registry
from trigdeploy.models.families import build_torch_model, family_of, load_torch_model
from trigdeploy.models.protocols import ExactReference
from trigdeploy.schema import to_dict
from trigdeploy.train import plots
from trigdeploy.train.metrics import evaluate, evaluate_multiclass
from trigdeploy.versions import package_versions

logger = logging.getLogger(__name__)


def _device(choice: str):
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise TrigdeployError("train.device: cuda requested but no CUDA device is available")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint(
    cfg: RunConfig, run_dir: Path | None = None, reuse_data: bool = False, models: list[str] | None = None
) -> dict[str, str]:
    """A digest of everything that shapes each model of ``cfg``, by component.

    ``data``: the feature cache's key (the input files' paths, sizes and mtimes, the data, label,
    feature, leak-guard and split config, the cache format) with the scaling config and the seed;
    ``train.<model>``: that model's config, the seed, the device and (for a QAT twin initialised from
    the float MLP) the float MLP's config, or the bytes of its model file in ``run_dir`` where this run does
    not train it (``models``: the kinds it trains, default every configured one); ``code``: trigdeploy's
    version. ``reuse_data``: the run keeps the data stage it holds (``data``: the digest of those files; the
    input files are not read).
    """
    from trigdeploy import __version__
    from trigdeploy.data.cache import cache_key
    from trigdeploy.data.prepare import input_files
    from trigdeploy.io import require_input_file

    if reuse_data:  # the data stage already in ``run_dir`` (a scan point's, linked from its parent run)
        return {"data": data_stage_print(run_dir), "code": _digest(__version__)} | _model_prints(cfg, run_dir, models)
    files = input_files(cfg)
    for f in files:  # the data stage's own one-line error, before anything is written
        require_input_file(Path(f), "an HDF5 file" if cfg.data.format == "hdf5" else "a ROOT file")
    out = {"data": _digest([cache_key(cfg, files), to_dict(cfg.scaling), cfg.seed]), "code": _digest(__version__)}
    return out | _model_prints(cfg, run_dir, models)


def _model_prints(cfg: RunConfig, run_dir: Path | None, models: list[str] | None) -> dict[str, str]:
    """``fingerprint``'s ``train.<model>`` entries; a kind initialised from a kind this run does not train
    starts from that kind's model file in ``run_dir``, whose bytes it then depends on too."""
    out = {}
    tc = cfg.train
    for name, kind in registry.KINDS.items():
        mcfg = tc.model(name)
        if mcfg is None or (models is not None and name not in models):
            continue
        parts = [to_dict(mcfg), cfg.seed, tc.device]
        source = kind.init_from(mcfg)
        if source is not None:
            parts.append(to_dict(tc.model(source)))
        if source is not None and models is not None and source not in models and run_dir is not None:
            parts.append(sha256_file(_source_file(RunLayout.of(run_dir), name, source)))
        out[f"train.{name}"] = _digest(parts)
    return out


def _source_file(layout: RunLayout, name: str, source: str) -> Path:
    """The model file in the run of the kind ``name`` starts from (``init: float``) when this run does not
    train that kind itself (a scan point: the parent run's float MLP); one line if it is missing."""
    path = layout.model_file(registry.kind(source).artifact)
    if not path.is_file():
        raise TrigdeployError(
            f"{layout.run_dir}: train.{name} starts from the {source} model ({path.name}), which this run "
            f"neither trains (no train.{source}) nor holds"
        )
    return path


def check_resume(cfg: RunConfig, run_dir: Path, current: dict[str, str]) -> None:
    """Refuse ``--resume`` when what shapes the run's models changed since it started (nothing is
    written before this check)."""
    layout = RunLayout.of(run_dir)
    path = layout.fingerprint
    started = layout.train_state.exists() or any(layout.checkpoints.glob("*.ckpt"))
    if not path.is_file():
        if started:
            raise TrigdeployError(
                f"{run_dir}: cannot resume: the run has no fingerprint.json (trained by an older "
                "trigdeploy); train without --resume"
            )
        return
    try:
        saved = json.loads(path.read_text())
    except ValueError:
        raise TrigdeployError(f"{path}: not valid JSON; train without --resume") from None
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if changed:
        raise TrigdeployError(
            f"{run_dir}: cannot resume: {', '.join(changed)} changed since the run started "
            f"(see {path.name}); train without --resume, or into another --run-dir"
        )


@dataclass
class _Fit:
    """What every trainer of ``_train_run`` needs."""

    cfg: RunConfig
    layout: RunLayout
    prepared: Prepared
    val: tuple[np.ndarray, np.ndarray]
    x_test: np.ndarray
    device: object
    ctx: object
    resume: bool
    progress: bool
    on_batch: object
    trained: dict  # name → trained torch model (what a QAT twin is initialised from)


def _with_port(mcfg, cfg: RunConfig):
    """A set model's section on L1 words (``features.inputs: l1``) with their grid (``l1_port``: its front's
    constants, saved with its config), or with the count of the jet's values after the set (``jet_features``)."""
    if cfg.features.jet_features and hasattr(mcfg, "jet_features"):
        mcfg = dataclasses.replace(mcfg, jet_features=len(cfg.features.jet_features))
    return dataclasses.replace(mcfg, l1_port=cfg.features.l1) if cfg.features.inputs == "l1" else mcfg


def _train_torch(kind, mcfg, fx: _Fit):
    """Fit a torch kind (DDP under torchrun), save it on rank 0; (val scores, test scores, state entry)."""
    import torch

    from trigdeploy.models.mlp import copy_linear_weights
    from trigdeploy.train import nn as tnn

    torch.manual_seed(fx.cfg.seed)
    model = build_torch_model(kind.name, len(fx.prepared.features), mcfg, fx.prepared.n_outputs)
    source = kind.init_from(mcfg)
    if source is not None:
        if source not in fx.trained:  # not trained in this run: its model file in the run (a scan point's parent's)
            fx.trained[source], _ = load_torch_model(_source_file(fx.layout, kind.name, source))
        copy_linear_weights(fx.trained[source], model)
    tnn.calibrate(model, fx.prepared)  # fixed-point kinds' integer bits
    result = tnn.fit(
        kind.name,
        model,
        fx.prepared,
        mcfg,
        fx.val,
        seed=fx.cfg.seed,
        device=fx.device,
        checkpoint=fx.layout.checkpoint(kind.name),
        resume=fx.resume,
        progress=fx.progress,
        on_batch=fx.on_batch,
    )
    model.cpu()
    fx.trained[kind.name] = model
    if not fx.ctx.main:
        return None
    info = {
        "seconds": result.seconds,
        "rows_seen": result.rows_seen,
        "best_epoch": result.best_epoch,
        "best_val_auc": result.best_val_auc,
        "pos_weight": result.pos_weight,
        **({"class_weights": result.class_weights} if result.class_weights else {}),
        "epochs_run": len(result.history),
        "resumed_from": result.resumed_from,
        "device": str(fx.device),
        "distributed": result.distributed,
        **({"epoch_selection": result.epoch_selection} if result.epoch_selection else {}),
    }
    meta = {
        "kind": kind.saved_as or kind.name,
        "config": to_dict(mcfg),
        "n_inputs": len(fx.prepared.features),
        "features": fx.prepared.features,
        "n_outputs": fx.prepared.n_outputs,
        "classes": list(fx.prepared.classes),
        "fit": info,
    }
    fam = family_of(kind)
    fam.save(model, fx.layout.model_file(kind.artifact), meta)
    if isinstance(model, ExactReference):  # a fixed-point model: its scores are those of the exact arithmetic
        info["summary"] = model.summary()
    # the score scale of thresholds and predictions: sigmoid of one logit, softmax of K
    return fam.scores(model, fx.val[0]), fam.scores(model, fx.x_test), {"info": info, "history": result.history}


def _train_xgboost(kind, mcfg, fx: _Fit):
    """Fit XGBoost (in process, or on Dask), save the booster cut at its best iteration's marker."""
    from trigdeploy.train import trees

    if mcfg.dask is None:
        model, info = trees.fit_bdt(fx.prepared, mcfg, fx.cfg.seed, fx.val)
    else:
        model, info = trees.fit_bdt_dask(fx.prepared, mcfg, fx.cfg.seed, fx.val, fx.layout.preprocess)
    booster = model.get_booster()
    booster.set_attr(best_iteration=str(info["best_iteration"]))
    fam = family_of(kind)
    fam.save(booster, fx.layout.model_file(kind.artifact), {})
    return fam.scores(booster, fx.val[0]), fam.scores(booster, fx.x_test), {"info": info}


def _train_sklearn(kind, mcfg, fx: _Fit):
    """Fit the RandomForest baseline; saved in skops' format (loaded back without running code from the file)."""
    from trigdeploy.train import trees

    model, info = trees.fit_rf(fx.prepared, mcfg, fx.cfg.seed, fx.cfg.train.threads)
    fam = family_of(kind)
    fam.save(model, fx.layout.model_file(kind.artifact), {})
    return fam.scores(model, fx.val[0]), fam.scores(model, fx.x_test), {"info": info}


TRAINERS = {"torch": _train_torch, "xgboost": _train_xgboost, "sklearn": _train_sklearn}


def reproducibility() -> dict:
    """What a rerun must match for the same weights bit for bit on CPU, besides the seed, the data and the
    versions: torch's thread count (the reduction order of its kernels) and the instruction set its
    kernels were chosen for (AVX2, AVX-512: different kernels round differently), and the processor."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpu = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            cpu,
        )
    return {
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu": cpu,
        "note": "float results match bit for bit only with the same versions, threads and "
        "cpu_capability; elsewhere they may differ in the last digits",
    }


def train_run(
    cfg: RunConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    on_batch=None,
    reuse_data: bool = False,
    models: list[str] | None = None,
) -> dict:
    """Train every configured model of ``cfg`` into ``run_dir``; returns the metrics dict.

    ``reuse_data``: train on the data stage ``run_dir`` already holds (``features.json``, ``preprocess.json``,
    ``splits.npz``, the feature cache), read as it is, instead of running it (a scan point, whose data stage
    is its parent run's). ``models``: only these of the configured kinds (default: all); a kind that starts
    from one not trained here (``init: float``) starts from its model file in ``run_dir``.

    Under ``torchrun`` (see ``train.distributed``) the MLPs train with DDP; only rank 0 writes the run
    directory and returns the metrics (the other ranks return an empty dict).
    """
    from trigdeploy.train import distributed as ddp

    ctx = ddp.context()
    try:
        only = _Only(reuse_data, models)
        return _train_run(cfg, Path(run_dir), ctx, resume, progress and ctx.main, on_batch, only)
    finally:
        ddp.finish(ctx)


@dataclass(frozen=True)
class _Only:
    """What a run trains beyond the usual: on the data stage it holds (``reuse_data``), only ``models``."""

    reuse_data: bool = False
    models: list[str] | None = None


def _train_run(cfg: RunConfig, run_dir: Path, ctx, resume: bool, progress: bool, on_batch, only: _Only) -> dict:
    import torch

    from trigdeploy.train import distributed as ddp

    tc = cfg.train
    chosen = _chosen(cfg, only)
    layout = RunLayout.of(run_dir)
    if ctx.main:
        _begin(cfg, layout, run_dir, resume, only)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    device = _device(tc.device)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    ddp.init(ctx, device)
    t_start = time.perf_counter()
    if ctx.main:
        prepared: Prepared = load_prepared(run_dir) if only.reuse_data else prepare(cfg, run_dir, progress=progress)
        ddp.barrier(ctx)
    else:
        ddp.barrier(ctx)  # rank 0 builds the feature cache; the others then open it read-only
        prepared = load_prepared(run_dir)
    data_stage_seconds = time.perf_counter() - t_start
    rec = timing.Record("train", t_start)
    rec.add("data stage (prepare)", data_stage_seconds, cached=not prepared.cache_built)
    if ctx.main:
        write_text_atomic(layout.config, dump_config(cfg))
    x_val, y_val = prepared.arrays("val")
    x_test, y_test = prepared.arrays("test")
    done: dict = json.loads(layout.train_state.read_text()) if resume and layout.train_state.exists() else {}
    metrics: dict = {}
    histories: dict[str, list[dict]] = {}
    trained_models: dict = {}
    fx = _Fit(cfg, layout, prepared, (x_val, y_val), x_test, device, ctx, resume, progress, on_batch, trained_models)
    for name in chosen:
        kind = registry.kind(name)
        if not ctx.main and kind.family != "torch":
            continue  # trees train on rank 0 only
        scores = _train_kind(kind, fx, done, histories)
        if scores is None:
            continue  # a non-zero DDP rank: rank 0 saves and reports
        metrics[name] = _evaluate(kind, cfg, prepared, scores, (y_val, y_test), done[name]["info"])
        rec.add(f"train {name}", done[name]["info"].get("seconds", 0.0), cached=scores.resumed)
    if not ctx.main:
        return {}
    facts = {
        "name": cfg.name,
        "seed": cfg.seed,
        "models": chosen,
        "features": prepared.features,
        "data_stage_seconds": data_stage_seconds,
        "cache_built": prepared.cache_built,
        "device": str(device),
    }
    _finish(layout, prepared, metrics, histories, facts, rec)
    return metrics


def _chosen(cfg: RunConfig, only: _Only) -> list[str]:
    """The kinds the run trains, in the registry's order: every configured one, or ``only.models``."""
    chosen = [name for name in registry.KINDS if cfg.train.model(name) is not None]
    if not chosen:
        raise TrigdeployError(f"{cfg.source}: no model to train: add train.mlp, train.qmlp, train.bdt, …")
    unknown = [m for m in only.models or () if m not in chosen]
    if unknown:
        raise TrigdeployError(f"{cfg.source}: no train.{unknown[0]} section to train ({', '.join(chosen)})")
    return chosen if only.models is None else [name for name in chosen if name in only.models]


def _begin(cfg: RunConfig, layout: RunLayout, run_dir: Path, resume: bool, only: _Only) -> None:
    """Rank 0, before training: the resume check, the run marked incomplete, stale checkpoints gone, the fingerprint."""
    prints = fingerprint(cfg, run_dir, only.reuse_data, only.models)
    if resume:
        check_resume(cfg, run_dir, prints)
    layout.metrics.unlink(missing_ok=True)  # the run is incomplete from here on
    if not resume:
        for f in layout.checkpoints.glob("*.ckpt"):
            f.unlink()
        layout.train_state.unlink(missing_ok=True)
    write_json_atomic(layout.fingerprint, prints)


@dataclass(frozen=True)
class _Scores:
    val: np.ndarray
    test: np.ndarray
    resumed: bool  # from an earlier, interrupted run (``--resume``), not trained now


def _train_kind(kind, fx: _Fit, done: dict, histories: dict) -> _Scores | None:
    """One kind trained (or taken from the interrupted run being resumed) and its predictions saved; its
    validation and test scores, or None on a non-zero DDP rank."""
    layout, prepared, name = fx.layout, fx.prepared, kind.name
    model_path = layout.model_file(kind.artifact)
    scores_path = layout.predictions(name)
    resumed = name in done and model_path.exists() and scores_path.exists()
    if resumed:
        if kind.family == "torch":
            fx.trained[name], _ = load_torch_model(model_path)
            histories[name] = done[name]["history"]
    else:
        out = TRAINERS[kind.family](kind, _with_port(fx.cfg.train.model(name), fx.cfg), fx)
        if out is None:
            return None
        s_val, s_test, entry = out
        if "history" in entry:
            histories[name] = entry["history"]
        scores_path.parent.mkdir(exist_ok=True)
        with atomic_path(scores_path) as tmp:
            np.savez(tmp, val=s_val, test=s_test, test_rows=prepared.rows("test"), val_rows=prepared.rows("val"))
        done[name] = entry
        write_json_atomic(layout.train_state, done)
        layout.checkpoint(name).unlink(missing_ok=True)
    scores = np.load(scores_path)
    return _Scores(scores["val"], scores["test"], resumed)


def _evaluate(kind, cfg: RunConfig, prepared: Prepared, scores: _Scores, y: tuple, info: dict) -> dict:
    """A kind's metrics on the validation (thresholds) and test splits, logged in one line."""
    tc, (y_val, y_test) = cfg.train, y
    if len(prepared.classes) > 2:
        m = evaluate_multiclass(y_val, scores.val, y_test, scores.test, prepared.classes, tc.signal_efficiencies)
        logger.info(f"{kind.name}: test accuracy {m['accuracy']:.4f}, mean one-vs-rest AUC {m['auc']:.5f}")
    else:
        m = evaluate(y_val, scores.val, y_test, scores.test, tc.signal_efficiencies, tc.background_acceptances)
        logger.info(f"{kind.name}: test AUC {m['auc']:.5f}, 1/eps_B at eps_S=0.3: {m['rejection']['eff_S=0.3']:.1f}")
    m.update(training=info, model_file=kind.artifact)
    return m


def _finish(
    layout: RunLayout, prepared: Prepared, metrics: dict, histories: dict, info: dict, rec: timing.Record
) -> None:
    """Rank 0, after training: curves and confusion plots, ``run.json`` (``info``, the data stage's facts, the
    wall time from ``rec``'s start), then ``metrics.json``, written last: its presence marks a complete run."""
    if histories:
        plots.training_curves(histories, layout.training_curves)
    if len(prepared.classes) > 2:
        for name, m in metrics.items():
            logger.info(
                "%s confusion matrix (rows: true %s; columns: predicted):\n%s",
                name,
                ", ".join(prepared.classes),
                np.array(m["confusion_matrix"]),
            )
        plots.confusion(metrics, prepared.classes, layout.confusion_plot)
    report = prepared.report
    run_info = {
        "name": info["name"],
        "seed": info["seed"],
        "models": info["models"],
        "features": info["features"],
        "label_is_function_of_inputs": report["label_is_function_of_inputs"],
        "class_counts": report["class_counts"],
        "seconds": time.perf_counter() - rec.started,
        "data_stage_seconds": info["data_stage_seconds"],
        "cache_built": info["cache_built"],
        "versions": package_versions(
            ("numpy", "torch", "brevitas", "xgboost", "scikit-learn", "tables", "uproot"), python=True
        ),
        "device": info["device"],
        "reproducibility": reproducibility(),
        "timing": rec.report(),
    }
    if report["label_is_function_of_inputs"]:
        run_info["warning"] = (
            "the label is a cut on input features "
            f"({', '.join(report['label_function_of'])}): metrics measure how well a model "
            "reproduces the cut, not physics"
        )
        for m in metrics.values():
            m["label_is_function_of_inputs"] = True
    write_json_atomic(layout.run_json, run_info)
    write_json_atomic(layout.metrics, metrics)
