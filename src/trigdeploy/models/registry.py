"""The model kinds a run can train: one declaration per kind, looked up by the stages.

A kind names its config section (``train.<name>``), the file its trained model is saved to in
the run directory, its family (which trainer fits it and how it is saved: ``torch`` for the
MLPs, ``xgboost``, ``sklearn``), how it is built (torch kinds), what its trained form is
called in reports, which kind it is initialised from, and which exported forms it has (each an
registered ``convert.forms.Form``). Adding a kind is one ``register`` call (plus, for a new family,
one trainer in ``train.run.TRAINERS``, and for a new form one file in ``convert/forms/``). Stages
above this one check what they need of a kind when it is registered (``add_check``: the export
forms check that a kind's forms exist and come in an order that satisfies their requirements).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trigdeploy.config import MODEL_FIELDS, MODEL_SECTIONS, BDTConfig, HGQConfig, MLPConfig, QMLPConfig, RFConfig


@dataclass(frozen=True)
class ModelKind:
    name: str  # config section train.<name>; the model's name in reports
    config: type  # that section's dataclass
    artifact: str  # its file in the run directory
    family: str  # trainer and file format: "torch", "xgboost", "sklearn"
    label: str  # its trained form in reports ("PyTorch", "XGBoost", …)
    build: Callable[..., Any] | None = None  # torch kinds: (n_inputs, config[, n_outputs]) → module
    saved_as: str | None = None  # the kind recorded in the file, when another kind's builder fits
    init_from: Callable[[Any], str | None] = lambda cfg: None  # the kind whose weights it starts from
    forms: tuple[str, ...] = ()  # exported forms, in order (``convert.forms.FORMS``)
    not_exported: str = ""  # why a kind without forms stays where it is


KINDS: dict[str, ModelKind] = {}
_CHECKS: list[Callable[[ModelKind], None]] = []


def add_check(check: Callable[[ModelKind], None]) -> None:
    """Run ``check`` (which raises ``ValueError`` for a kind it cannot serve) on every kind registered so
    far and on each one registered later, before it is added."""
    for kind in KINDS.values():
        check(kind)
    _CHECKS.append(check)


def register(kind: ModelKind) -> ModelKind:
    """Add a kind; a kind without a built-in ``TrainConfig`` field gets its ``train.<name>`` section."""
    if kind.name in KINDS:
        raise ValueError(f"model kind {kind.name!r} is registered twice")
    for check in _CHECKS:
        check(kind)
    KINDS[kind.name] = kind
    if kind.name not in MODEL_FIELDS:
        MODEL_SECTIONS[kind.name] = kind.config
    return kind


def unregister(name: str) -> None:
    """Remove a kind registered by ``register`` (tests, plugins that unload)."""
    KINDS.pop(name)
    MODEL_SECTIONS.pop(name, None)


def kind(name: str) -> ModelKind:
    """The registered kind called ``name``."""
    return KINDS[name]


def _build_mlp(n_inputs: int, cfg, n_outputs: int = 1):
    from trigdeploy.models.mlp import build_mlp

    return build_mlp(n_inputs, cfg, n_outputs)


def _build_qmlp(n_inputs: int, cfg, n_outputs: int = 1):
    from trigdeploy.models.qmlp import build_qmlp

    return build_qmlp(n_inputs, cfg, n_outputs)


def _build_hgq(n_inputs: int, cfg, n_outputs: int = 1):
    from trigdeploy.models.hgq import build_hgq

    return build_hgq(n_inputs, cfg, n_outputs)


# training order: the QAT twin after the float MLP it is initialised from
register(ModelKind("mlp", MLPConfig, "mlp.pt", "torch", "PyTorch", _build_mlp, forms=("onnx", "hls4ml_ptq", "rtl_ptq")))
# the seed analysis' reference network stays on CPU/GPU: ONNX only
register(
    ModelKind("seed_mlp", MLPConfig, "seed_mlp.pt", "torch", "PyTorch", _build_mlp, saved_as="mlp", forms=("onnx",))
)
register(
    ModelKind(
        "qmlp",
        QMLPConfig,
        "qmlp.pt",
        "torch",
        "PyTorch",
        _build_qmlp,
        init_from=lambda cfg: "mlp" if cfg.init == "float" else None,
        # the RTL before the hls4ml projects: with export --prebuild-csim its Verilator build, the longer, starts first
        forms=("qonnx", "rtl", "qonnx_hls4ml"),
    )
)
register(
    ModelKind(
        "hgq",
        HGQConfig,
        "hgq.pt",
        "torch",
        "PyTorch",
        _build_hgq,
        init_from=lambda cfg: "mlp" if cfg.init == "float" else None,
        forms=("hls4ml_hgq", "rtl_hgq"),
    )
)
register(ModelKind("bdt", BDTConfig, "bdt.json", "xgboost", "XGBoost", forms=("conifer", "rtl_bdt")))
register(
    ModelKind(
        "rf",
        RFConfig,
        "rf.skops",
        "sklearn",
        "scikit-learn",
        not_exported="RandomForest stays on the CPU (scikit-learn); no FPGA export",
    )
)

# kinds declared in their own file, registered in this order (training order: a twin after its source). The
# package names this module as its own ``trigdeploy.plugins`` entry point, so that a config is parsed with
# their ``train.<name>`` sections whatever imported what before.
from trigdeploy.models import deepsets, hgq_deepsets, qdeepsets  # noqa: E402

for _own in (deepsets, qdeepsets, hgq_deepsets):
    _own.register()
