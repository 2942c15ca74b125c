"""Run configuration: one YAML file per run, parsed once into frozen dataclasses.

Every key is checked: an unknown key or a value of the wrong type is a ``TrigdeployError``
naming the dotted key and the file. ``--set section.key=value`` overrides are applied to the
raw mapping before validation, with values parsed by ``yaml.safe_load`` (never ``eval``), so
they are checked exactly like keys written in the file.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from trigdeploy import yamlsafe
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType

# --------------------------------------------------------------------------------------------
# Ranges and cross-field rules, checked whenever a section is built (from YAML or in code)
# --------------------------------------------------------------------------------------------

DASK_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\]):"
                          r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})")
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class FieldError(TrigdeployError):
    """A bad value of one field; ``_build`` prefixes the dotted key and the file."""

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text
        super().__init__(f"key '{name}': {text}")


def num(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
        lt: float | None = None) -> Any:
    """A numeric field (or a list of numbers) with its allowed range; ``None`` values are not checked."""
    return field(default=default, metadata={"range": (ge, gt, le, lt)})


def _range_text(ge, gt, le, lt) -> str:
    lo = f"≥ {ge}" if ge is not None else f"> {gt}" if gt is not None else ""
    hi = f"≤ {le}" if le is not None else f"< {lt}" if lt is not None else ""
    return " and ".join(t for t in (lo, hi) if t)


def _check_range(name: str, value: Any, bounds: tuple) -> None:
    if value is None:
        return
    if isinstance(value, tuple):
        for i, v in enumerate(value):
            _check_range(f"{name}[{i}]", v, bounds)
        return
    ge, gt, le, lt = bounds
    finite = math.isfinite(value) and abs(value) <= INT_MAX
    ok = ((ge is None or value >= ge) and (gt is None or value > gt) and (le is None or value <= le)
          and (lt is None or value < lt) and finite)
    if not ok:
        raise FieldError(name, f"expected a {'' if finite else 'finite '}value {_range_text(ge, gt, le, lt)}, "
                               f"got {yamlsafe.short(value)}")


SEED_MAX = 2**31 - 1  # what every library here accepts as a seed (scikit-learn, XGBoost, Pythia: less)
INT_MAX = 2**62  # no number of a config reaches it; beyond it C/C++ integers overflow
COUNT_MAX = 1_000_000  # trees, epochs: beyond any trigger model, and within the libraries' C int
CORES_MAX = 1024  # threads or worker processes
WIDTH_MAX = 4096  # neurons of a layer: a trigger MLP has tens to hundreds (a width can allocate width² weights)


class Checked:
    """Base of every config section: field ranges (``num``) and ``check()`` run on construction."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if "range" in f.metadata:
                _check_range(f.name, getattr(self, f.name), f.metadata["range"])
        self.check()

    def check(self) -> None:
        """Cross-field rules of this section; raise ``FieldError`` naming the key."""


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JetFileConfig(Checked):
    """What every generator of the Top Quark Tagging layout writes: jets, classes, split tag."""

    jets: int = num(20_000, ge=1)
    seed: int = num(1, ge=0, le=SEED_MAX)
    signal_fraction: float = num(0.5, ge=0.0, le=1.0)
    ttv: Literal[0, 1, 2] = 0
    chunk_size: int = num(10_000, ge=1)
    n_constituents: int = num(200, ge=1)


@dataclass(frozen=True)
class ToptagGenConfig(JetFileConfig):
    """Fast numpy generator in the Top Quark Tagging Reference Dataset layout."""


# per layout of the pythia generator: (pT-hat minimum, jet pT minimum, jet pT maximum) in GeV
PYTHIA_WINDOWS = {"toptag": (500.0, 550.0, 650.0), "hls4ml_jets": (850.0, 900.0, 1100.0)}


@dataclass(frozen=True)
class PythiaGenConfig(JetFileConfig):
    """Pythia8 + FastJet leading-jet generator. ``layout: toptag`` (default): top vs QCD jets in the
    Top Quark Tagging layout; ``layout: hls4ml_jets``: gluon, light-quark, W, Z and top jets in the
    layout of hls4ml's jet dataset (equal numbers per class; ``signal_fraction`` and ``ttv`` unused).
    ``pt_min``/``pt_max``/``pthat_min`` default to the layout's window (550–650 GeV, pT-hat ≥ 500;
    hls4ml_jets: 900–1100 GeV, pT-hat ≥ 850)."""

    jets: int = num(1_000, ge=1)
    chunk_size: int = num(500, ge=1)
    workers: int = num(2, ge=1, le=CORES_MAX)
    layout: Literal["toptag", "hls4ml_jets"] = "toptag"
    pthat_min: float | None = num(None, gt=0.0)
    pt_min: float | None = num(None, gt=0.0)
    pt_max: float | None = num(None, gt=0.0)

    def window(self) -> tuple[float, float, float]:
        """(pT-hat minimum, jet pT minimum, jet pT maximum) in GeV, the layout's defaults filled in."""
        d = PYTHIA_WINDOWS[self.layout]
        return tuple(d[i] if v is None else float(v) for i, v in enumerate((self.pthat_min, self.pt_min, self.pt_max)))

    def check(self) -> None:
        _, lo, hi = self.window()
        if lo >= hi:
            raise FieldError("pt_max", f"must exceed pt_min ({lo:g} GeV), got {hi:g}")


@dataclass(frozen=True)
class AtlasMiniGenConfig(Checked):
    """ATLAS Open Data 8 TeV ``mini`` tree generator (Z→ℓℓ, W→ℓν, tt̄ mixture, MeV)."""

    events: int = num(20_000, ge=1)
    seed: int = num(1, ge=0, le=SEED_MAX)
    chunk_size: int = num(20_000, ge=1)


@dataclass(frozen=True)
class GenerateConfig(Checked):
    """How the data files of a config are generated offline; exactly one generator is set."""

    toptag: ToptagGenConfig | None = None
    pythia: PythiaGenConfig | None = None
    atlas_mini: AtlasMiniGenConfig | None = None
    dask: DaskClusterConfig | None = None  # one generation job per file, spread over a Dask cluster

    def chosen(self) -> tuple[str, ToptagGenConfig | PythiaGenConfig | AtlasMiniGenConfig]:
        """Return ``(generator name, its parameters)``."""
        set_ = [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "dask"]
        set_ = [(n, v) for n, v in set_ if v is not None]
        if len(set_) != 1:
            raise TrigdeployError(
                "data.generate: expected exactly one of toptag, pythia, atlas_mini, got "
                f"{[n for n, _ in set_] or 'none'}"
            )
        return set_[0]


@dataclass(frozen=True)
class CollectionConfig(Checked):
    """A jagged ROOT collection read as the leading ``n`` objects (fixed-width columns)."""

    branches: tuple[str, ...]
    n: int = num(dataclasses.MISSING, ge=1)
    sort_by: str | None = None
    counter: str | None = None
    pad: float = 0.0


@dataclass(frozen=True)
class DataConfig(Checked):
    """Input files and how they are streamed. ``format`` says which reader reads them."""

    format: Literal["hdf5", "root"]
    files: tuple[str, ...]
    hdf5_key: str = "table"
    hdf5_names: str | None = None  # a plain 2-D dataset at hdf5_key: the 1-D dataset naming its columns
    root_tree: str = "mini"
    chunk_rows: int | None = num(None, ge=1)
    chunk_bytes: int = num(32 * 2**20, ge=1)
    prefetch: int = num(2, ge=0, le=64)
    branches: tuple[str, ...] = ()
    collections: dict[str, CollectionConfig] = field(default_factory=dict)
    selection: str | None = None
    derived: dict[str, str] = field(default_factory=dict)
    nan_policy: Literal["error", "drop", "impute"] = "error"
    generate: GenerateConfig | None = None
    # the first pass (file → feature cache): local worker processes (default: the cores available),
    # or a Dask cluster; the cache is the same whatever runs it
    workers: int | None = num(None, ge=1, le=CORES_MAX)
    dask: DaskClusterConfig | None = None

    def check(self) -> None:
        from trigdeploy.expr import derived_order

        if self.dask is not None and self.workers is not None:
            raise FieldError("workers", "counts local processes; with data.dask set, size the cluster with "
                                        "data.dask.workers (or its scheduler) instead")
        derived_order(self.derived)  # parses every expression; a cycle is a FieldError naming it
        if self.selection is not None:
            from trigdeploy.expr import Expr

            Expr(self.selection, "data.selection")


@dataclass(frozen=True)
class LabelConfig(Checked):
    """Where the label comes from; all unset means auto-detection (never a split tag).

    Binary: a 0/1 ``column``, a one-hot pair ``[background, signal]`` or a ``cut``. Multi-class
    (K > 2): ``column`` with ``classes: {name: value, …}`` (the column's value of each class),
    ``onehot`` with one column per class (the columns' names are the classes' names), or ``cuts:
    {name: expression, …}`` (exactly one true on every row).
    """

    column: str | None = None
    onehot: tuple[str, ...] = ()
    cut: str | None = None
    classes: dict[str, int] = field(default_factory=dict)
    cuts: dict[str, str] = field(default_factory=dict)
    signal: str | None = None  # two classes (classes/cuts): which is the signal (default: value 1 / a class named signal)

    def check(self) -> None:
        named = self.classes or self.cuts
        if self.signal is not None and (len(named) != 2 or self.signal not in named):
            raise FieldError("signal", f"names the signal class of two label.classes or label.cuts, got "
                                       f"{self.signal!r} for {list(named) or 'none'}")
        if self.classes:
            if not self.column:
                raise FieldError("classes", "names the values of label.column; set label.column too")
            if len(self.classes) < 2:
                raise FieldError("classes", f"needs at least 2 classes, got {len(self.classes)}")
            if len(self.classes) > 255:
                raise FieldError("classes", f"at most 255 classes, got {len(self.classes)}")
            values = list(self.classes.values())  # integers: the loader checks the type
            if len(set(values)) != len(values):
                raise FieldError("classes", f"two classes share a value: {self.classes}")
        if self.cuts:
            if len(self.cuts) < 2:
                raise FieldError("cuts", f"needs at least 2 classes, got {len(self.cuts)}")
            if len(self.cuts) > 255:
                raise FieldError("cuts", f"at most 255 classes, got {len(self.cuts)}")
            from trigdeploy.expr import Expr

            for name, text in self.cuts.items():
                Expr(text, f"label.cuts.{name}")  # parsed now: a bad expression is a load-time error
        if self.onehot and len(self.onehot) < 2:
            raise FieldError("onehot", f"needs at least 2 columns, got {len(self.onehot)}")
        if len(set(self.onehot)) != len(self.onehot):
            raise FieldError("onehot", f"a column is listed twice: {list(self.onehot)}")


@dataclass(frozen=True)
class FeaturesConfig(Checked):
    """Model inputs: table columns, or jet features computed from top-tagging constituents."""

    kind: Literal["columns", "toptag_raw", "toptag_jet", "toptag_constituents", "toptag_jet_constituents"] = "columns"
    columns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    n_constituents: int = num(10, ge=1)
    n_raw_constituents: int = num(200, ge=1)


@dataclass(frozen=True)
class LeakGuardConfig(Checked):
    """Keeps label-revealing columns out of the features (on by default)."""

    enabled: bool = True
    auc_threshold: float = num(0.999, gt=0.5, le=1.0)
    allow_separating: tuple[str, ...] = ()
    keep_label_inputs: bool = False
    extra_patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class SplitConfig(Checked):
    """Validation/test rows: random rows spread over the files, a split column, or separate files."""

    mode: Literal["random", "column", "files"] = "random"
    val_fraction: float = num(0.1, gt=0.0, lt=1.0)
    test_fraction: float = num(0.2, gt=0.0, lt=1.0)
    seed: int | None = num(None, ge=0, le=SEED_MAX)
    column: str = "ttv"
    train_values: tuple[int, ...] = (0,)
    val_values: tuple[int, ...] = (2,)
    test_values: tuple[int, ...] = (1,)
    val_files: tuple[str, ...] = ()
    test_files: tuple[str, ...] = ()

    def check(self) -> None:
        if self.mode == "random" and self.val_fraction + self.test_fraction >= 1:
            raise FieldError("test_fraction", f"val_fraction + test_fraction must be < 1, got "
                                              f"{self.val_fraction} + {self.test_fraction}")
        if self.mode == "files" and not (self.val_files and self.test_files):
            raise FieldError("mode", "'files' needs split.val_files and split.test_files")


@dataclass(frozen=True)
class ScalingConfig(Checked):
    """Feature standardisation fit on a sample of training rows spread over the files."""

    kind: Literal["standard", "none"] = "standard"
    sample_rows: int = num(100_000, ge=1)
    clip: float | None = num(None, gt=0.0)


@dataclass(frozen=True)
class MLPConfig(Checked):
    """A float PyTorch MLP and how it is trained (AdamW, plateau LR, early stopping on val AUC)."""

    hidden: tuple[int, ...] = num((64, 32, 32), ge=1, le=WIDTH_MAX)
    activation: Literal["relu", "gelu"] = "relu"
    batchnorm: bool = False
    dropout: float = num(0.0, ge=0.0, lt=1.0)
    epochs: int = num(30, ge=1, le=COUNT_MAX)
    batch_size: int = num(512, ge=1, le=2**24)
    lr: float = num(1e-3, gt=0.0, le=10.0)
    weight_decay: float = num(1e-4, ge=0.0, le=10.0)
    pos_weight: float | None = num(None, gt=0.0, le=1e6)
    lr_patience: int = num(2, ge=0)
    lr_factor: float = num(0.5, gt=0.0, lt=1.0)
    early_stopping_patience: int = num(5, ge=1)
    checkpoint_every: int = num(200, ge=1)
    shuffle_block_rows: int = num(262_144, ge=1)
    gpu_resident_gb: float = num(4.0, ge=0.0)  # on CUDA, keep the training rows on the GPU up to this size


@dataclass(frozen=True)
class QMLPConfig(MLPConfig):
    """Brevitas QAT twin: power-of-two (fixed-point) quantizers, quantized biases, no BatchNorm."""

    weight_bits: int = num(6, ge=2, le=16)  # Brevitas' signed narrow-range weights need 2 bits
    act_bits: int = num(8, ge=2, le=16)
    input_bits: int = num(8, ge=2, le=16)
    bias_bits: Literal[8, 16, 32] = 32
    init: Literal["scratch", "float"] = "float"

    def check(self) -> None:
        if self.batchnorm:
            raise FieldError("batchnorm", "not supported in the QAT twin (it would not export bit-exactly); set false")
        if self.dropout > 0:
            raise FieldError("dropout", "not supported in the QAT twin; set 0")
        if self.activation != "relu":
            raise FieldError("activation", "only relu quantizes to the hls4ml-exact form")


@dataclass(frozen=True)
class HGQConfig(MLPConfig):
    """Per-weight learned precision with an EBOPs cost term (``beta``); fine-tuned from the float MLP."""

    beta: float = num(5e-6, ge=0.0, le=1.0)       # loss weight of EBOPs (bits(w)·bits(x) summed)
    epochs: int = num(60, ge=1, le=COUNT_MAX)     # bit widths move about one bits_lr step per batch
    lr_patience: int = num(10, ge=0)              # the cost term keeps the validation AUC noisy: be patient
    early_stopping_patience: int = num(20, ge=1)
    weight_frac_bits: int = num(6, ge=-4, le=16)  # initial fractional bits of every weight
    act_frac_bits: int = num(4, ge=0, le=16)      # initial fractional bits of the input and activations
    max_frac_bits: int = num(12, ge=1, le=16)     # upper bound of every trained fractional bit count
    bits_lr: float = num(0.05, gt=0.0, le=10.0)   # learning rate of the bit counts (AdamW, no decay)
    calibration_rows: int = num(20_000, ge=1)     # training rows that set the integer bits
    calibration_quantile: float = num(0.999, gt=0.0, le=1.0)  # of |value| that fits; larger values saturate
    init: Literal["scratch", "float"] = "float"

    def check(self) -> None:
        if self.batchnorm:
            raise FieldError("batchnorm", "not supported in the resource-aware MLP (no exact fixed-point form); set false")
        if self.dropout > 0:
            raise FieldError("dropout", "not supported in the resource-aware MLP; set 0")
        if self.activation != "relu":
            raise FieldError("activation", "only relu has an exact fixed-point form here")


@dataclass(frozen=True)
class DaskClusterConfig(Checked):
    """A Dask ``distributed`` cluster: a ``LocalCluster`` of ``workers`` processes, or the
    scheduler at ``scheduler`` (e.g. ``tcp://host:8786``) for a real cluster."""

    scheduler: str | None = None
    workers: int = num(2, ge=1, le=CORES_MAX)

    def check(self) -> None:
        if self.scheduler is not None and not DASK_ADDRESS.fullmatch(self.scheduler):
            raise FieldError("scheduler", f"expected a Dask scheduler address such as tcp://host:8786 "
                                          f"(tcp, tls, ucx, ws or wss; a port 1-65535), got {yamlsafe.short(self.scheduler)}")


@dataclass(frozen=True)
class DaskConfig(DaskClusterConfig):
    """Train the BDT with ``xgboost.dask`` on that cluster, ``partition_rows`` training rows per partition."""

    partition_rows: int = num(100_000, ge=1)


@dataclass(frozen=True)
class BDTConfig(Checked):
    """XGBoost (``hist``) with early stopping on the validation split."""

    n_estimators: int = num(300, ge=1, le=COUNT_MAX)
    max_depth: int = num(4, ge=1, le=20)
    learning_rate: float = num(0.1, gt=0.0, le=1.0)
    early_stopping_rounds: int = num(20, ge=1)
    scale_pos_weight: float | None = num(None, gt=0.0, le=1e6)
    smote: bool = False
    max_train_rows: int = num(2_000_000, ge=1)
    threads: int | None = num(None, ge=1, le=CORES_MAX)
    dask: DaskConfig | None = None

    def check(self) -> None:
        if self.smote and self.dask is not None:
            raise FieldError("smote", "SMOTE resamples in memory and cannot run with train.bdt.dask; drop one")


@dataclass(frozen=True)
class RFConfig(Checked):
    """scikit-learn RandomForest baseline (as in the ATLAS seed analysis)."""

    n_estimators: int = num(100, ge=1, le=COUNT_MAX)
    max_depth: int | None = num(12, ge=1)
    smote: bool = False
    max_train_rows: int = num(500_000, ge=1)


@dataclass(frozen=True)
class TrainConfig(Checked):
    """Which models a run trains (an absent section is not trained) and the operating points."""

    mlp: MLPConfig | None = None
    qmlp: QMLPConfig | None = None
    hgq: HGQConfig | None = None
    seed_mlp: MLPConfig | None = None
    bdt: BDTConfig | None = None
    rf: RFConfig | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = num(None, ge=1, le=CORES_MAX)
    signal_efficiencies: tuple[float, ...] = num((0.3, 0.5), gt=0.0, lt=1.0)
    background_acceptances: tuple[float, ...] = num((0.01,), gt=0.0, lt=1.0)
    # sections of model kinds registered beyond the built-in ones (``models.registry``), by kind name
    extra: dict[str, Any] = field(default_factory=dict)

    def model(self, name: str) -> Any:
        """The config section of model kind ``name``, or None when the run does not train it."""
        return getattr(self, name) if name in MODEL_FIELDS else self.extra.get(name)

    def check(self) -> None:
        for name in ("qmlp", "hgq", *sorted(self.extra)):
            q = self.model(name)
            if getattr(q, "init", None) == "float" and (self.mlp is None or tuple(self.mlp.hidden) != tuple(q.hidden)):
                raise FieldError(f"{name}.init", "'float' needs train.mlp with the same hidden layers "
                                                 f"(mlp {self.mlp.hidden if self.mlp else None}, {name} {q.hidden})")


@dataclass(frozen=True)
class RunConfig(Checked):
    """A whole run: data in, models, export targets. Sections are added as stages land."""

    name: str
    data: DataConfig
    seed: int = num(42, ge=0, le=SEED_MAX)
    runs_dir: str = "runs"
    label: LabelConfig = field(default_factory=LabelConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    leak_guard: LeakGuardConfig = field(default_factory=LeakGuardConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    scaling: ScalingConfig = field(default_factory=ScalingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    source: str = field(default="", compare=False)

    def check(self) -> None:
        if not RUN_NAME.fullmatch(self.name) or self.name in (".", ".."):
            raise FieldError("name", f"expected a plain run name (letters, digits, '.', '_', '-'; no path "
                                     f"separators, not empty), got {self.name!r}")

    def run_dir(self, override: str | None = None) -> Path:
        """The run directory: ``override`` if given, else ``<runs_dir>/<name>``."""
        return Path(override) if override else Path(self.runs_dir) / self.name


# --------------------------------------------------------------------------------------------
# Generic validation
# --------------------------------------------------------------------------------------------

_INTERNAL_FIELDS = {"source", "extra"}
# TrainConfig's built-in model sections: its fields whose type is a config dataclass
MODEL_FIELDS = tuple(name for name, tp in typing.get_type_hints(TrainConfig).items()
                     if any(dataclasses.is_dataclass(a) for a in typing.get_args(tp)))
# train.<name> sections of model kinds registered elsewhere (models.registry fills it): name → dataclass
MODEL_SECTIONS: dict[str, type] = {}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"mapping of {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, key: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return the frozen, converted value."""
    origin = typing.get_origin(tp)

    def bad() -> TrigdeployError:
        return TrigdeployError(
            f"{where}: key '{key}': expected {_type_name(tp)}, got {type(value).__name__} {yamlsafe.short(value)}"
        )

    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad()
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key, where)
            except TrigdeployError:
                if len([a for a in args if a is not type(None)]) == 1:
                    raise
        raise bad()
    if origin is Literal:
        if value in typing.get_args(tp) and type(value) is not bool:
            return value
        raise bad()
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad()
        (elem,) = typing.get_args(tp)[:1]
        return tuple(_convert(elem, v, f"{key}[{i}]", where) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        key_tp, value_tp = typing.get_args(tp)
        return {
            _convert(key_tp, k, f"{key}.{k}", where): _convert(value_tp, v, f"{key}.{k}", where)
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        return _build(tp, value, key, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= INT_MAX:
            return value
        raise bad()
    if tp is float:  # .inf and .nan are YAML floats: no setting here means them
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise bad()
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    if tp is Any:
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a schema bug, not user input


def _build(cls: type, raw: dict, prefix: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in _INTERNAL_FIELDS}
    extra = {}
    if cls is TrainConfig:  # sections of registered model kinds
        extra = {k: _build(MODEL_SECTIONS[k], v if isinstance(v, dict) else {}, f"{prefix}.{k}" if prefix else k, where)
                 for k, v in raw.items() if k in MODEL_SECTIONS and v is not None}
        raw = {k: v for k, v in raw.items() if k not in MODEL_SECTIONS}
    for k in raw:
        if k not in fields:
            dotted = f"{prefix}.{k}" if prefix else str(k)
            raise TrigdeployError(
                f"{where}: unknown key '{dotted}'; expected one of: {', '.join(sorted(fields))}"
            )
    kwargs = {}
    for name, f in fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name in raw:
            kwargs[name] = _convert(hints[name], raw[name], dotted, where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise TrigdeployError(f"{where}: missing required key '{dotted}'")
    if extra:
        kwargs["extra"] = extra
    try:
        return cls(**kwargs)
    except FieldError as exc:
        dotted = f"{prefix}.{exc.name}" if prefix else exc.name
        raise TrigdeployError(f"{where}: key '{dotted}': {exc.text}") from None
    except TrigdeployError as exc:  # a rule that names its keys itself (e.g. an expression)
        raise TrigdeployError(f"{where}: {exc}") from None


def parse_section(cls: type, raw: dict, prefix: str, where: str) -> Any:
    """Validate one config section (a mapping) into its dataclass ``cls``."""
    return _build(cls, raw, prefix, where)


def to_dict(obj: Any) -> Any:
    """The plain-data (YAML/JSON-ready) form of a config dataclass, without internal fields."""
    if dataclasses.is_dataclass(obj):
        out = {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name not in _INTERNAL_FIELDS}
        if isinstance(obj, TrainConfig):
            out.update({k: to_dict(v) for k, v in obj.extra.items()})
        return out
    if isinstance(obj, tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Parse ``section.key=value``; the value is YAML (``1000`` → int, ``[a, b]`` → list)."""
    if "=" not in text:
        raise TrigdeployError(f"--set '{text}': expected section.key=value")
    key, _, value = text.partition("=")
    parts = tuple(key.strip().split("."))
    if not all(parts):
        raise TrigdeployError(f"--set '{text}': empty key component in '{key}'")
    try:
        parsed = yamlsafe.loads(value, "") if value.strip() else ""
    except TrigdeployError as exc:  # one line: what the value is and what YAML said of it
        raise TrigdeployError(f"--set '{text}': value is not valid YAML ({str(exc).removeprefix(': ')})") from None
    return parts, parsed


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Return a copy of ``raw`` with each ``section.key=value`` override applied."""
    out = copy.deepcopy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise TrigdeployError(
                    f"--set '{text}': '{'.'.join(parts[: i + 1])}' is a value, not a section"
                )
            node = nxt
        node[parts[-1]] = value
    return out


def parse_config(raw: Any, where: str = "<config>") -> RunConfig:
    """Validate a raw mapping into a ``RunConfig``."""
    if not isinstance(raw, dict):
        raise TrigdeployError(f"{where}: expected a YAML mapping at top level, got {type(raw).__name__}")
    cfg = _build(RunConfig, raw, "", where)
    return dataclasses.replace(cfg, source=where)


def load_config(
    path: str | Path, overrides: list[str] | None = None, data_files: list[str] | None = None
) -> RunConfig:
    """Read, override and validate a run config.

    ``data_files`` replaces ``data.files`` (the CLI's ``--data``: same layout, other files,
    e.g. the real public train.h5).
    """
    path = Path(path)
    if not path.exists():
        raise TrigdeployError(f"config file not found: {path}")
    if not path.is_file():
        raise TrigdeployError(f"config path is not a file: {path}")
    raw = yamlsafe.load_file(path, "config file")
    if raw is None:
        raise TrigdeployError(f"{path}: config file is empty")
    if not isinstance(raw, dict):
        raise TrigdeployError(f"{path}: expected a YAML mapping at top level")
    raw = apply_overrides(raw, list(overrides or []))
    if data_files:
        raw.setdefault("data", {})
        if not isinstance(raw["data"], dict):
            raise TrigdeployError(f"{path}: key 'data': expected mapping")
        raw["data"]["files"] = list(data_files)
    return parse_config(raw, str(path))


def dump_config(cfg: RunConfig) -> str:
    """The resolved config as YAML, saved next to every artifact."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


# --------------------------------------------------------------------------------------------
# Export targets (export/targets/*.yaml): hls4ml's own key names
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HLS4MLTarget(Checked):
    """hls4ml project settings, with hls4ml's key names (``Part``, ``ClockPeriod``, …)."""

    Part: str = "xcvu13p-flga2577-2-e"
    ClockPeriod: float = num(5.0, gt=0.0, le=1000.0)  # ns
    IOType: Literal["io_parallel"] = "io_parallel"
    Backends: tuple[Literal["Vitis", "Vivado"], ...] = ("Vitis", "Vivado")
    ReuseFactor: int = num(1, ge=1, le=WIDTH_MAX * WIDTH_MAX)  # at most one multiplier per layer
    Strategy: Literal["Latency", "Resource"] = "Latency"

    def check(self) -> None:
        if not self.Part.strip():
            raise FieldError("Part", "expected an FPGA part name, got an empty string")
        if not self.Backends:
            raise FieldError("Backends", "expected at least one of Vitis, Vivado")


@dataclass(frozen=True)
class ConiferTarget(Checked):
    """conifer project settings, with conifer's key names.

    ``Precision`` is the one fixed-point type of inputs, thresholds and scores (conifer's VHDL
    backend requires them equal). ``XilinxPart``/``ClockPeriod`` default to the hls4ml section's.
    """

    Backends: tuple[Literal["xilinxhls", "vhdl"], ...] = ("xilinxhls", "vhdl")
    Precision: str = "ap_fixed<18,8>"
    XilinxPart: str | None = None
    ClockPeriod: float | None = num(None, gt=0.0, le=1000.0)  # ns
    Unroll: bool = True

    def check(self) -> None:
        if self.XilinxPart is not None and not self.XilinxPart.strip():
            raise FieldError("XilinxPart", "expected an FPGA part name or null, got an empty string")
        if not self.Backends:
            raise FieldError("Backends", "expected at least one of xilinxhls, vhdl")
        try:
            FixedType.parse(self.Precision, "Precision")
        except TrigdeployError as exc:
            raise FieldError("Precision", str(exc)) from None


@dataclass(frozen=True)
class ExportTarget(Checked):
    """What ``trigdeploy export`` produces for a run and for which device."""

    hls4ml: HLS4MLTarget = field(default_factory=HLS4MLTarget)
    conifer: ConiferTarget = field(default_factory=ConiferTarget)
    onnx_opset: int = num(18, ge=13, le=21)
    testbench_events: int = num(1000, ge=1)
    ptq_width: int = num(16, ge=4, le=32)
    ptq_headroom_bits: int = num(1, ge=0, le=8)
    ptq_profile_rows: int = num(20_000, ge=1)
    ptq_max_auc_loss: float = num(0.005, ge=0.0, lt=1.0)
    bdt_max_auc_loss: float = num(0.005, ge=0.0, lt=1.0)  # fixed-point conifer BDT vs XGBoost, test split
    # the float MLP's PTQ design as alkaid RTL too: a reference (the demo's is ~250k LUT), minutes to trace,
    # build and simulate; the deployable RTL designs (QAT, resource-aware) are always exported
    ptq_rtl: bool = False
    source: str = field(default="", compare=False)


def load_target(path: str | Path) -> ExportTarget:
    """Read and validate an export target file."""
    path = Path(path)
    if not path.is_file():
        raise TrigdeployError(f"export target file not found: {path}")
    raw = yamlsafe.load_file(path, "export target file") or {}
    if not isinstance(raw, dict):
        raise TrigdeployError(f"{path}: expected a YAML mapping at top level")
    return dataclasses.replace(_build(ExportTarget, raw, "", str(path)), source=str(path))
