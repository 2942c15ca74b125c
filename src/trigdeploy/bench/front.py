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
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic
from trigdeploy.layout import RunLayout, inside

logger = logging.getLogger(__name__)


class PointCache:
    """Sweep and front points kept under ``<run>/sweep/points/`` by a hash of everything that shapes them:
    the run's config, data stage and float MLP (the bytes of ``config.yaml``, ``features.json``,
    ``preprocess.json``, ``splits.npz`` and the model file), the point's own settings, the FPGA part
    and clock, and the versions of the packages that train and cost them. A second ``bench`` with
    nothing changed trains nothing; any change retrains just the points it touches, with the
    ``Retrainer`` that ``make_retrainer`` builds on the first of them (``retrainer``)."""

    VERSIONS = ("trigdeploy", "torch", "brevitas", "numpy", "alkaid")

    def __init__(self, run_dir: Path, make_retrainer: Callable[[], Retrainer]):
        from trigdeploy.models import registry
        from trigdeploy.versions import package_versions

        self.run_dir = Path(run_dir)
        self._make_retrainer, self._retrainer = make_retrainer, None
        layout = RunLayout.of(run_dir)
        h = hashlib.sha256()
        for path in (layout.config, layout.features, layout.preprocess, layout.splits,
                     self.run_dir / registry.kind("mlp").artifact):
            h.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<absent>") + b"\0")
        h.update(json.dumps(package_versions(self.VERSIONS), sort_keys=True).encode())
        self.base = h.hexdigest()

    @property
    def retrainer(self) -> Retrainer:
        """The run's retrainer, built when a point is first computed (reading points back needs none)."""
        if self._retrainer is None:
            self._retrainer = self._make_retrainer()
        return self._retrainer

    def get(self, what: dict, compute: Callable[[], dict]) -> dict:
        """The point described by ``what`` (JSON-able settings): read back, or computed and stored."""
        key = hashlib.sha256((self.base + json.dumps(what, sort_keys=True)).encode()).hexdigest()[:24]
        path = inside(self.run_dir / "sweep" / "points" / f"{key}.json", self.run_dir, "a cached sweep point")
        try:
            point = json.loads(path.read_text())
            if isinstance(point, dict) and point.get("settings") == what:
                logger.info("bench: %s read back (nothing that shapes it changed)", point.get("label", key))
                return _unbounded_rejection(point["point"])
        except (OSError, ValueError, KeyError):
            pass
        point = compute()
        write_json_atomic(path, {"settings": what, "label": point.get("model", str(what)), "point": point})
        return point


def _unbounded_rejection(point: dict) -> dict:
    """A point read back: strict JSON wrote an unbounded 1/εB (no background passes) as null."""
    if "rejection_at_0.3" in point and point["rejection_at_0.3"] is None:
        point["rejection_at_0.3"] = float("inf")
    return point


class Retrainer:
    """Fine-tunes models of a run from its float MLP, on its feature cache; scores them on its test split."""

    def __init__(self, run_dir: Path, want: type, what: str):
        from trigdeploy.config import load_config
        from trigdeploy.data.prepare import load_prepared
        from trigdeploy.models import registry
        from trigdeploy.train.run import load_torch_model

        self.run_dir = Path(run_dir)
        self.cfg = load_config(RunLayout.of(run_dir).config)
        # the run's kind of that config (its settings), else the registered one at its defaults
        configured = (k for k in registry.KINDS.values() if issubclass(k.config, want) and self.cfg.train.model(k.name))
        self.kind = next(configured, None) or next(k for k in registry.KINDS.values() if k.config is want)
        mlp = self.cfg.train.mlp
        self.base = self.cfg.train.model(self.kind.name) or (want(hidden=mlp.hidden) if mlp else None)
        source = self.kind.init_from(dataclasses.replace(self.base, init="float")) if self.base is not None else None
        if not source or not (self.run_dir / registry.kind(source).artifact).is_file():
            raise TrigdeployError(f"{run_dir}: {what} needs a run with the float MLP it starts from "
                                  f"({registry.kind('mlp').artifact})")
        self.prepared = load_prepared(run_dir)  # the run's data stage, read as it is
        self.val, (self.x_test, self.y_test) = self.prepared.arrays("val"), self.prepared.arrays("test")
        self.float_model, _ = load_torch_model(self.run_dir / registry.kind(source).artifact)

    def fit(self, changes: dict, tag: str, progress: bool):
        """The kind at its run config with ``changes``, fine-tuned from the float MLP; (model, config, fit result)."""
        import torch

        from trigdeploy.config import parse_section, to_dict
        from trigdeploy.models.mlp import copy_linear_weights
        from trigdeploy.train import nn as tnn
        from trigdeploy.train.run import build_torch_model

        cfg = parse_section(type(self.base), {**to_dict(self.base), **changes, "init": "float"},
                            f"train.{self.kind.name}", tag)
        torch.manual_seed(self.cfg.seed)
        model = build_torch_model(self.kind.name, len(self.prepared.features), cfg, self.prepared.n_outputs)
        copy_linear_weights(self.float_model, model)
        tnn.calibrate(model, self.prepared)
        ckpt = self.run_dir / "sweep" / f"{tag}.ckpt"
        ckpt.parent.mkdir(exist_ok=True)
        result = tnn.fit(tag, model, self.prepared, cfg, self.val, seed=self.cfg.seed, device=torch.device("cpu"),
                         checkpoint=ckpt, resume=False, progress=progress, on_batch=None)
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
    return {"lut": int(round(info["lut_estimate_alkaid"])), "ff": info["reg_bits"], "dsp": 0,
            "latency_cycles": info["pipeline_stages"], "latency_ns": info["latency_ns"], "lut_source": "alkaid"}


def alkaid_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("alkaid") is not None


def hgq_front(run_dir: Path, betas: list[float], part: str, clock_ns: float, progress: bool) -> list[dict]:
    """The resource-aware MLP fine-tuned from the run's float MLP at each cost weight ``beta``: exact
    AUC and rejection, weights kept, EBOPs, and alkaid's LUTs and latency of its RTL."""
    from trigdeploy.config import HGQConfig

    if not alkaid_available():
        raise TrigdeployError("--pareto: the front's LUTs come from alkaid's RTL; install the [rtl] extra")
    cache = PointCache(run_dir, lambda: Retrainer(run_dir, HGQConfig, "--pareto"))
    return [cache.get({"front": "hgq", "beta": beta, "part": part, "clock_ns": clock_ns},
                      lambda beta=beta: _front_point(cache.retrainer, beta, part, clock_ns, progress))
            for beta in sorted(betas)]


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
        raise TrigdeployError(f"--pareto beta {beta:g}: alkaid's logic differs from the model on {check['n_mismatch']} "
                              "test events")
    s = model.summary()
    point = {"model": f"{r.kind.name} β={beta:g}", "beta": beta, **r.physics(scores), **rtl_figures(comb, part, clock_ns),
             "ebops": s["ebops"], "weights_kept": s["weights_kept"], "weights": s["weights"],
             "train_seconds": fit.seconds, "rows_per_s": training_rate(fit)}
    logger.info(f"bench: front β={beta:g}: AUC {point['auc']:.5f}, {s['weights_kept']}/{s['weights']} weights, "
                f"≈{point['lut']:,} LUT (alkaid), {point['latency_ns']:g} ns")
    return point


def training_rate(fit) -> float:
    """Training rows per second from the cache, over every epoch (validation included in the time)."""
    return sum(h["rows"] for h in fit.history) / max(sum(h["seconds"] for h in fit.history), 1e-9)
