"""The resource front: models retrained from the run's float MLP at several settings, each with its
physics and its firmware cost, and the ``pareto`` list of the bench report.

* ``Retrainer`` fine-tunes a torch kind from the run's float MLP on the run's own feature cache (the
  trainer of ``trigdeploy train``: early stopping, the same batches and seed);
* ``rtl_figures`` traces a model to alkaid's RTL and reads its cost model (LUT, FF) and pipeline latency;
* ``pareto_entries`` puts the run's models, the uniform-bit sweep and the resource-aware front on one
  list, each point at the best LUT source available (Yosys > alkaid > estimate), labelled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic
from trigdeploy.layout import RunLayout

logger = logging.getLogger(__name__)


def _shaping_config(path: Path) -> bytes:
    """The run config as it shapes a scan point: every section but ``bench`` (the report's rate view),
    canonically; the file's bytes where it cannot be read as a config (the point is then computed)."""
    from trigdeploy.config import load_config
    from trigdeploy.schema import to_dict

    try:
        raw = to_dict(load_config(path))
    except (TrigdeployError, OSError):
        return b"config.yaml\0" + (path.read_bytes() if path.is_file() else b"<absent>") + b"\0"
    raw.pop("bench", None)
    raw.pop("source", None)
    return b"config\0" + json.dumps(raw, sort_keys=True, default=str).encode() + b"\0"


class PointCache:
    """Sweep and front points kept under ``<run>/sweep/points/`` by a hash of everything that shapes them:
    the run's config (all but its ``bench`` section), data stage and float MLP (the bytes of ``features.json``,
    ``preprocess.json``, ``splits.npz`` and the model file), the point's own settings, the FPGA part
    and clock, and the versions of the packages that train and cost them. A second ``bench`` with
    nothing changed trains nothing; any change retrains just the points it touches."""

    VERSIONS = ("trigdeploy", "torch", "brevitas", "numpy", "alkaid")

    def __init__(self, run_dir: Path):
        from trigdeploy.models import registry
        from trigdeploy.versions import package_versions

        self.run_dir = Path(run_dir)
        self.layout = layout = RunLayout.of(run_dir)
        h = hashlib.sha256()
        h.update(_shaping_config(layout.config))
        for path in (
            layout.features,
            layout.preprocess,
            layout.splits,
            self.run_dir / registry.kind("mlp").artifact,
        ):
            h.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<absent>") + b"\0")
        h.update(json.dumps(package_versions(self.VERSIONS), sort_keys=True).encode())
        self.base = h.hexdigest()

    def _path(self, what: dict) -> Path:
        key = hashlib.sha256((self.base + json.dumps(what, sort_keys=True)).encode()).hexdigest()[:24]
        return self.layout.scan_point(key)

    def read(self, what: dict) -> dict | None:
        """The stored point of settings ``what``, or None when nothing that shapes it was computed before."""
        try:
            point = json.loads(self._path(what).read_text())
            if isinstance(point, dict) and point.get("settings") == what:
                logger.info("bench: %s read back (nothing that shapes it changed)", point.get("label", what))
                return _unbounded_rejection(point["point"])
        except (OSError, ValueError, KeyError):
            pass
        return None

    def write(self, what: dict, point: dict) -> dict:
        """Store ``point`` under its settings ``what`` (atomically); returns it."""
        write_json_atomic(self._path(what), {"settings": what, "label": point.get("model", str(what)), "point": point})
        return point


@dataclasses.dataclass(frozen=True)
class Point:
    """One point of a design scan: ``what``, its JSON-able settings (the cache key); ``want``, the config
    class of the kind it retrains (``what_for`` names the option in errors); ``compute(retrainer, *args,
    progress=...)``, a module-level function returning the point's figures (it may run in a worker)."""

    what: dict
    want: type
    what_for: str
    compute: Callable[..., dict]
    args: tuple = ()


_WORKER_RETRAINERS: dict[type, Retrainer] = {}  # a worker process's retrainers (it serves one run)


def _compute(run_dir: Path, point: Point, progress: bool, retrainers: dict | None = None) -> dict:
    """``point`` computed on one torch thread (the same figures in a worker and in-process, whatever the
    machine's core count), with the run's retrainer of its kind, built on first use."""
    import torch

    retrainers = _WORKER_RETRAINERS if retrainers is None else retrainers
    if point.want not in retrainers:
        retrainers[point.want] = Retrainer(run_dir, point.want, point.what_for)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return point.compute(retrainers[point.want], *point.args, progress=progress)
    finally:
        torch.set_num_threads(threads)


def _worker_logging(level: int) -> None:
    """A scan worker logs its points' lines to stderr at the parent's level."""
    root = logging.getLogger("trigdeploy")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


def scan(run_dir: Path, points: list[Point], progress: bool, workers: int | None = None) -> list[dict]:
    """Every point's figures, in order: read back from the ``PointCache``, the others trained on one thread
    each, in up to ``workers`` processes at once (default: the cores this process may use). Each point is
    stored as soon as it is done, so a failure or a stop loses only the points still training."""
    cache = PointCache(run_dir)
    found = [cache.read(p.what) for p in points]
    missing = [i for i, f in enumerate(found) if f is None]
    n = min(len(missing), workers or len(os.sched_getaffinity(0)))
    if n <= 1:
        retrainers: dict = {}
        for i in missing:
            found[i] = cache.write(points[i].what, _compute(run_dir, points[i], progress, retrainers))
        return found
    logger.info("bench: %d scan points to train, %d at a time (one torch thread each)", len(missing), n)
    error: BaseException | None = None
    level = logging.getLogger("trigdeploy").getEffectiveLevel()
    with ProcessPoolExecutor(n, multiprocessing.get_context("spawn"), _worker_logging, (level,)) as pool:
        futures = {pool.submit(_compute, run_dir, points[i], False): i for i in missing}
        for done in as_completed(futures):
            i = futures[done]
            if done.cancelled():
                continue
            if done.exception() is not None:  # the first failure stops what has not started; the rest is kept
                error = error or done.exception()
                for f in futures:
                    f.cancel()
                continue
            found[i] = cache.write(points[i].what, done.result())
            logger.info("bench: %s trained", found[i].get("model", points[i].what))
    if error is not None:
        raise error
    return found


def _unbounded_rejection(point: dict) -> dict:
    """A point read back: strict JSON wrote an unbounded 1/εB (no background passes) as null."""
    if "rejection_at_0.3" in point and point["rejection_at_0.3"] is None:
        point["rejection_at_0.3"] = float("inf")
    return point


class Retrainer:
    """Fine-tunes models of a run from its float MLP, on its feature cache; scores them on its test split."""

    def __init__(self, run_dir: Path, want: type, what: str):
        from trigdeploy.config import load_config
        from trigdeploy.data.cache import load_prepared
        from trigdeploy.models import registry
        from trigdeploy.models.families import load_torch_model

        self.run_dir = Path(run_dir)
        self.layout = RunLayout.of(run_dir)
        self.cfg = load_config(self.layout.config)
        # the run's kind of that config (its settings), else the registered one at its defaults
        configured = (k for k in registry.KINDS.values() if issubclass(k.config, want) and self.cfg.train.model(k.name))
        self.kind = next(configured, None) or next(k for k in registry.KINDS.values() if k.config is want)
        mlp = self.cfg.train.mlp
        self.base = self.cfg.train.model(self.kind.name) or (want(hidden=mlp.hidden) if mlp else None)
        source = self.kind.init_from(dataclasses.replace(self.base, init="float")) if self.base is not None else None
        if not source or not (self.run_dir / registry.kind(source).artifact).is_file():
            raise TrigdeployError(
                f"{run_dir}: {what} needs a run with the float MLP it starts from ({registry.kind('mlp').artifact})"
            )
        self.prepared = load_prepared(run_dir)  # the run's data stage, read as it is
        self.val, (self.x_test, self.y_test) = self.prepared.arrays("val"), self.prepared.arrays("test")
        self.float_model, _ = load_torch_model(self.run_dir / registry.kind(source).artifact)

    def fit(self, changes: dict, tag: str, progress: bool):
        """The kind at its run config with ``changes``, fine-tuned from the float MLP; (model, config, fit result)."""
        import torch

        from trigdeploy.models.families import build_torch_model
        from trigdeploy.models.mlp import copy_linear_weights
        from trigdeploy.schema import parse_section, to_dict
        from trigdeploy.train import nn as tnn

        cfg = parse_section(
            type(self.base), {**to_dict(self.base), **changes, "init": "float"}, f"train.{self.kind.name}", tag
        )
        torch.manual_seed(self.cfg.seed)
        model = build_torch_model(self.kind.name, len(self.prepared.features), cfg, self.prepared.n_outputs)
        copy_linear_weights(self.float_model, model)
        tnn.calibrate(model, self.prepared)
        ckpt = self.layout.scan_checkpoint(tag)
        ckpt.parent.mkdir(exist_ok=True)
        result = tnn.fit(
            tag,
            model,
            self.prepared,
            cfg,
            self.val,
            seed=self.cfg.seed,
            device=torch.device("cpu"),
            checkpoint=ckpt,
            resume=False,
            progress=progress,
            on_batch=None,
        )
        ckpt.unlink(missing_ok=True)
        return model.cpu().eval(), cfg, result

    def physics(self, scores: np.ndarray) -> dict:
        """AUC and 1/εB at εS = 0.3 of probabilities ``(n,)`` (inf: no background passes); K classes ``(n, K)``:
        the macro AUC and no ``rejection_at_0.3`` (no single background)."""
        from trigdeploy.train.metrics import auc_any, rejection_at

        if scores.ndim == 2:
            return {"auc": auc_any(self.y_test, scores)}
        return {"auc": auc_any(self.y_test, scores), "rejection_at_0.3": rejection_at(self.y_test, scores, 0.3)}


def rtl_figures(comb, part: str, clock_ns: float) -> dict:
    """alkaid's cost model (the Vivado design, with ternary adders) and pipeline latency of ``comb``."""
    from trigdeploy.convert.to_rtl import write_rtl

    with tempfile.TemporaryDirectory(prefix="td-front-") as tmp:
        info = write_rtl(comb, Path(tmp), part, clock_ns)
    return {
        "lut": int(round(info["lut_estimate_alkaid"])),
        "ff": info["reg_bits"],
        "dsp": 0,
        "latency_cycles": info["pipeline_stages"],
        "latency_ns": info["latency_ns"],
        "ii": 1,  # alkaid's pipeline takes a new event every clock
        "lut_source": "alkaid",
    }


def alkaid_available() -> bool:
    """Is alkaid (the ``[rtl]`` extra) installed?"""
    import importlib.util

    return importlib.util.find_spec("alkaid") is not None


def front_points(betas: list[float], part: str, clock_ns: float) -> list[Point]:
    """The resource-aware front's points: the resource-aware MLP fine-tuned from the run's float MLP at each
    cost weight ``beta`` (exact AUC and rejection, weights kept, EBOPs, alkaid's LUTs and latency of its RTL)."""
    from trigdeploy.config import HGQConfig

    if betas and not alkaid_available():
        raise TrigdeployError("--pareto: the front's LUTs come from alkaid's RTL; install the [rtl] extra")
    return [
        Point(
            {"front": "hgq", "beta": beta, "part": part, "clock_ns": clock_ns},
            HGQConfig,
            "--pareto",
            _front_point,
            (beta, part, clock_ns),
        )
        for beta in sorted(betas)
    ]


def _front_point(r: Retrainer, beta: float, part: str, clock_ns: float, progress: bool) -> dict:
    """One resource-aware model fine-tuned at cost weight ``beta``, checked in alkaid's logic and costed."""
    from trigdeploy.convert import to_rtl
    from trigdeploy.logits import probabilities

    model, cfg, fit = r.fit({"beta": beta}, f"{r.kind.name}_beta{beta:g}", progress)
    scores = probabilities(model.reference(r.x_test))
    seq, choice = model.exact_parts()
    comb = to_rtl.trace_ptq(seq, choice, len(r.prepared.features))
    x_grid = to_rtl.ptq_input_grid(r.x_test, choice)
    check = to_rtl.check(comb, x_grid, model.reference(x_grid))
    if not check["ok"]:
        raise TrigdeployError(
            f"--pareto beta {beta:g}: alkaid's logic differs from the model on {check['n_mismatch']} test events"
        )
    s = model.summary()
    point = {
        "model": f"{r.kind.name} β={beta:g}",
        "beta": beta,
        **r.physics(scores),
        **rtl_figures(comb, part, clock_ns),
        "ebops": s["ebops"],
        "weights_kept": s["weights_kept"],
        "weights": s["weights"],
        "train_seconds": fit.seconds,
        "rows_per_s": training_rate(fit),
    }
    logger.info(
        f"bench: front β={beta:g}: AUC {point['auc']:.5f}, {s['weights_kept']}/{s['weights']} weights, "
        f"≈{point['lut']:,} LUT (alkaid), {point['latency_ns']:g} ns"
    )
    return point


def training_rate(fit) -> float:
    """Training rows per second from the cache, over every epoch (validation included in the time)."""
    return sum(h["rows"] for h in fit.history) / max(sum(h["seconds"] for h in fit.history), 1e-9)
