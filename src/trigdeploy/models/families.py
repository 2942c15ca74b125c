"""Model families: how a trained model of each family is saved in its run, loaded back, scored, and run on
one CPU thread for ``bench``'s latency table. A kind (``models.registry``) names its family; each family's
trainer is ``train.run.TRAINERS[name]``.

Loading runs no code from the file: PyTorch files are read with ``weights_only``, XGBoost from its own JSON,
scikit-learn from skops' format with only scikit-learn's tree type trusted beyond skops' defaults (a
joblib/pickle file would run whatever it names, so trigdeploy neither writes nor reads one). A new family is
one ``register_family`` call; a kind that names an unregistered family is refused when it is registered.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import atomic_path
from trigdeploy.models import registry
from trigdeploy.models.protocols import ExactReference
from trigdeploy.schema import parse_section

# what a RandomForest file may hold beyond skops' own trusted types (scikit-learn estimators, NumPy arrays)
SKOPS_TRUSTED = ("sklearn.tree._tree.Tree",)


@dataclass(frozen=True)
class Family:
    """How the models of one family are saved, loaded, scored and timed.

    ``save(model, path, meta)`` writes atomically (``meta``: what the trainer records beside the model, where
    the format holds it); ``load(path)`` gives the model back or one line naming the file; ``scores(model, x)``
    the probabilities of the scaled features ``x``: ``(n,)`` for two classes, ``(n, K)`` for K;
    ``engine(model)`` a one-thread predict function and its label for the CPU latency table, for the kinds
    ``on_cpu(kind)`` says are deployed on a CPU in this form (the others are not even loaded for it)."""

    name: str
    save: Callable[[Any, Path, dict], None]
    load: Callable[[Path], Any]
    scores: Callable[[Any, np.ndarray], np.ndarray]
    engine: Callable[[Any], tuple[str, Callable[[np.ndarray], Any]]]
    on_cpu: Callable[[Any], bool] = lambda kind: True


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add a family (each name once)."""
    if family.name in FAMILIES:
        raise ValueError(f"model family {family.name!r} is registered twice")
    FAMILIES[family.name] = family
    return family


def family_of(kind) -> Family:
    """The family of a registered kind."""
    return FAMILIES[kind.family]


def _check_family(kind) -> None:
    if kind.family not in FAMILIES:
        raise ValueError(f"model kind {kind.name!r}: unknown family {kind.family!r} (registered: {sorted(FAMILIES)})")


# ---------------------------------------------------------------------------------------------- torch


def build_torch_model(kind: str, n_inputs: int, cfg, n_outputs: int = 1):
    """The untrained network of torch kind ``kind`` (see ``models.registry``) with ``n_outputs`` logits
    (a kind's builder is asked for outputs only when there is more than one)."""
    build = registry.kind(kind).build
    return build(n_inputs, cfg) if n_outputs == 1 else build(n_inputs, cfg, n_outputs)


def _front_of_its_time(config: dict) -> dict:
    """A saved model's config, its L1 front as it was trained: a file written before ``angle_scale_bits`` existed
    (its ``l1_port`` without the key) was trained with Δη and Δφ unscaled (0), not at today's default."""
    port = config.get("l1_port") if isinstance(config, dict) else None
    if isinstance(port, dict) and "angle_scale_bits" not in port:
        return {**config, "l1_port": {**port, "angle_scale_bits": 0}}
    return config


def load_torch_model(path: Path):
    """Rebuild a saved torch model (``mlp.pt``, ``qmlp.pt``, ``hgq.pt``, …) with its weights: (model, saved)."""
    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)  # never unpickles code
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrigdeployError(
            f"{path}: not a loadable trigdeploy model file (refused or corrupt: {first[:160]})"
        ) from None
    if not isinstance(saved, dict) or not {"kind", "config", "n_inputs", "state_dict"} <= set(saved):
        raise TrigdeployError(f"{path}: not a trigdeploy model file (expected kind, config, n_inputs, state_dict)")
    kind = registry.KINDS.get(saved["kind"])
    if kind is None or kind.family != "torch":
        raise TrigdeployError(f"{path}: unknown model kind {saved['kind']!r}")
    cfg = parse_section(kind.config, _front_of_its_time(saved["config"]), f"train.{saved['kind']}", str(path))
    model = build_torch_model(saved["kind"], saved["n_inputs"], cfg, int(saved.get("n_outputs", 1)))
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return model, saved


def _save_torch(model, path: Path, meta: dict) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save({**meta, "state_dict": model.state_dict()}, tmp)


def torch_predict(model, x: np.ndarray, device=None, batch: int = 65536) -> np.ndarray:
    """Scores (float64) of ``x`` on ``device`` (default the CPU): the sigmoid ``(n,)`` of one logit, the
    softmax ``(n, K)`` of K."""
    import torch

    device = device or torch.device("cpu")
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch])).to(device)).float()
            p = torch.sigmoid(logits).squeeze(1) if logits.shape[1] == 1 else torch.softmax(logits, 1)
            out.append(p.cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _torch_scores(model, x: np.ndarray) -> np.ndarray:
    """A fixed-point model's scores are those of its exact arithmetic; a float model's, its forward pass."""
    from trigdeploy.logits import probabilities

    return probabilities(model.reference(x)) if isinstance(model, ExactReference) else torch_predict(model, x)


def _torch_engine(model):
    """PyTorch eager on one thread."""
    import torch

    def eager(batch):
        with torch.inference_mode():
            return model(torch.from_numpy(batch)).numpy()

    return "PyTorch eager", eager


# -------------------------------------------------------------------------------------------- xgboost


def load_booster(path: Path):
    """The trained XGBoost booster, cut to its early-stopping best iteration (what ``predict`` uses)."""
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except xgb.core.XGBoostError as exc:
        raise TrigdeployError(f"{path}: not an XGBoost model file ({str(exc).splitlines()[0][:160]})") from None
    best = booster.attr("best_iteration")
    return booster[: int(best) + 1] if best is not None else booster


def _save_booster(booster, path: Path, meta: dict) -> None:
    with atomic_path(path) as tmp:
        booster.save_model(tmp)


def booster_proba(booster, x: np.ndarray) -> np.ndarray:
    """Signal probabilities ``(n,)`` (K classes: ``(n, K)``) from the trees up to the booster's
    ``best_iteration`` (what ``predict_proba`` uses)."""
    import xgboost as xgb

    best = booster.attr("best_iteration")
    rng = (0, int(best) + 1) if best is not None else (0, 0)
    return booster.predict(xgb.DMatrix(np.asarray(x, np.float32)), iteration_range=rng).astype(np.float64)


def _xgboost_engine(booster):
    booster.set_param({"nthread": 1})
    return "XGBoost inplace_predict", lambda batch: booster.inplace_predict(batch)


# ------------------------------------------------------------------------------------------- sklearn


def _save_forest(model, path: Path, meta: dict) -> None:
    import skops.io

    with atomic_path(path) as tmp:
        skops.io.dump(model, tmp)


def load_forest(path: Path):
    """A scikit-learn forest saved by ``trigdeploy train`` (skops' format), loaded without running code from
    the file: a file naming any type beyond skops' defaults and ``SKOPS_TRUSTED`` is refused."""
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises zipfile/JSON/its own errors for a file that is not its format
        raise TrigdeployError(f"{path}: not a skops model file ({type(exc).__name__}: {exc})") from None
    extra = sorted(set(untrusted) - set(SKOPS_TRUSTED))
    if extra:
        raise TrigdeployError(f"{path}: names types trigdeploy does not load ({', '.join(extra)}); refused")
    return skops.io.load(path, trusted=list(untrusted))


def _forest_scores(model, x: np.ndarray) -> np.ndarray:
    p = model.predict_proba(x)
    return p if p.shape[1] > 2 else p[:, 1]


def _forest_engine(model):
    model.set_params(n_jobs=1)
    return "scikit-learn predict_proba", lambda batch: model.predict_proba(batch)


# a torch kind runs on a CPU where it has an ONNX form (the float MLPs); the fixed-point ones are FPGA designs
register_family(
    Family(
        "torch",
        _save_torch,
        lambda p: load_torch_model(p)[0],
        _torch_scores,
        _torch_engine,
        on_cpu=lambda kind: "onnx" in kind.forms,
    )
)
register_family(Family("xgboost", _save_booster, load_booster, booster_proba, _xgboost_engine))
register_family(Family("sklearn", _save_forest, load_forest, _forest_scores, _forest_engine))
registry.add_check(_check_family)
