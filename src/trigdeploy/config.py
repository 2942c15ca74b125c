"""Run configuration: one YAML file per run, parsed once into frozen dataclasses; export targets.

Every key is checked: an unknown key or a value of the wrong type is a ``TrigdeployError`` naming the dotted
key and the file. ``--set section.key=value`` overrides are applied to the raw mapping before validation, with
values parsed by ``yaml.safe_load`` (never ``eval``), so they are checked exactly like keys written in the file.
The sections are declared here; how a section is validated (types, ranges, cross-field rules) is ``schema``.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from trigdeploy import yamlsafe
from trigdeploy.bench_config import BenchConfig
from trigdeploy.data_config import LabelConfig, LeakGuardConfig, ScalingConfig, SplitConfig
from trigdeploy.errors import TrigdeployError
from trigdeploy.features_config import FeaturesConfig, check_l1_port
from trigdeploy.generators import AtlasMiniGenConfig, PythiaGenConfig, ToptagGenConfig
from trigdeploy.schema import (
    CORES_MAX,
    COUNT_MAX,
    SEED_MAX,
    WIDTH_MAX,
    Checked,
    FieldError,
    apply_overrides,
    build,
    num,
    to_dict,
)

# what a Dask scheduler address and a run name may be (checked by their sections' rules)
DASK_ADDRESS = re.compile(
    r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\]):"
    r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
)
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


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

    branches: tuple[str, ...]  # the jagged branches to read, each as columns <branch>_0 … <branch>_{n-1}
    n: int = num(dataclasses.MISSING, ge=1)  # the leading objects kept per event (padded with pad, cut beyond n)
    sort_by: str | None = None  # a jagged branch to order the objects by, descending (null: the file's order)
    counter: str | None = None  # the multiplicity column written beside them (default n_<name>)
    pad: float = 0.0  # the value of the missing objects' columns


@dataclass(frozen=True)
class DataConfig(Checked):
    """Input files and how they are streamed. ``format`` says which reader reads them."""

    format: Literal["hdf5", "root"]  # which reader: pandas/PyTables HDF5 tables or ROOT (uproot)
    files: tuple[str, ...]  # the input files (relative to the working directory); the CLI's --data replaces them
    hdf5_key: str = "table"  # the HDF5 table (or 2-D dataset) to read
    hdf5_names: str | None = None  # a plain 2-D dataset at hdf5_key: the 1-D dataset naming its columns
    root_tree: str = "mini"  # the ROOT TTree/RNTuple to read
    chunk_rows: int | None = num(None, ge=1)  # rows per streamed chunk (null: from chunk_bytes)
    chunk_bytes: int = num(32 * 2**20, ge=1)  # the size of a streamed chunk when chunk_rows is null
    prefetch: int = num(2, ge=0, le=64)  # chunks read ahead while one is processed
    # ROOT: the flat branches to read (empty: those the features, label and selection name)
    branches: tuple[str, ...] = ()
    # ROOT: jagged collections read as fixed-width columns, by name
    collections: dict[str, CollectionConfig] = field(default_factory=dict)
    selection: str | None = None  # a safe expression over the columns: only the rows where it holds are used
    # new columns as safe expressions of others (name → expression)
    derived: dict[str, str] = field(default_factory=dict)
    # non-finite feature values: an error naming the feature, drop the rows, or impute the mean
    nan_policy: Literal["error", "drop", "impute"] = "error"
    generate: GenerateConfig | None = None  # how `trigdeploy data --config` writes the files (one generator)
    # the first pass (file → feature cache): local worker processes (default: the cores) or a Dask cluster; same cache
    workers: int | None = num(None, ge=1, le=CORES_MAX)
    dask: DaskClusterConfig | None = None

    def check(self) -> None:
        """Local workers or a Dask cluster, not both; derived columns parse and form no cycle."""
        from trigdeploy.expr import derived_order

        if self.dask is not None and self.workers is not None:
            raise FieldError(
                "workers",
                "counts local processes; with data.dask set, size the cluster with "
                "data.dask.workers (or its scheduler) instead",
            )
        derived_order(self.derived)  # parses every expression; a cycle is a FieldError naming it
        if self.selection is not None:
            from trigdeploy.expr import Expr

            Expr(self.selection, "data.selection")


@dataclass(frozen=True)
class MLPConfig(Checked):
    """A float PyTorch MLP and how it is trained (AdamW, plateau LR, early stopping on val AUC)."""

    hidden: tuple[int, ...] = num((64, 32, 32), ge=1, le=WIDTH_MAX)  # the hidden layers' widths
    activation: Literal["relu", "gelu"] = "relu"  # the hidden layers' activation
    batchnorm: bool = False  # BatchNorm after each hidden layer (float models only)
    dropout: float = num(0.0, ge=0.0, lt=1.0)  # dropout after each hidden layer (float models only)
    epochs: int = num(30, ge=1, le=COUNT_MAX)  # at most this many epochs (early stopping may end sooner)
    batch_size: int = num(512, ge=1, le=2**24)  # training rows per optimizer step
    lr: float = num(1e-3, gt=0.0, le=10.0)  # AdamW's learning rate
    weight_decay: float = num(1e-4, ge=0.0, le=10.0)  # AdamW's weight decay
    # the signal's loss weight (null: background rows / signal rows; two classes)
    pos_weight: float | None = num(None, gt=0.0, le=1e6)
    lr_patience: int = num(2, ge=0)  # epochs without a better validation AUC before the learning rate is cut
    lr_factor: float = num(0.5, gt=0.0, lt=1.0)  # the learning rate's cut (ReduceLROnPlateau)
    early_stopping_patience: int = num(5, ge=1)  # epochs without a better validation AUC before training stops
    # batches between checkpoints (a killed run resumes from the last one: --resume)
    checkpoint_every: int = num(200, ge=1)
    # training rows per shuffled block of the feature cache (blocks and rows inside them shuffled)
    shuffle_block_rows: int = num(262_144, ge=1)
    gpu_resident_gb: float = num(4.0, ge=0.0)  # on CUDA, keep the training rows on the GPU up to this size


class CrossChecked:
    """A model section with a rule between it and the rest of ``train`` (a kind's own: which sections it needs,
    and how they must agree), run when the config is loaded. Third-party kinds' sections may subclass it."""

    def check_with(self, name: str, train: TrainConfig) -> None:
        """Raise ``FieldError`` (naming ``<name>.<key>``) where ``train`` does not give this section what it needs."""
        raise NotImplementedError


class InitFromMLP(CrossChecked):
    """A section whose model can start from the float MLP's weights (``init: float``)."""

    def check_with(self, name: str, train: TrainConfig) -> None:
        """``init: float`` needs ``train.mlp`` with the same hidden layers."""
        if self.init == "float" and (train.mlp is None or tuple(train.mlp.hidden) != tuple(self.hidden)):
            raise FieldError(
                f"{name}.init",
                "'float' needs train.mlp with the same hidden layers "
                f"(mlp {train.mlp.hidden if train.mlp else None}, {name} {self.hidden})",
            )


@dataclass(frozen=True)
class QMLPConfig(MLPConfig, InitFromMLP):
    """Brevitas QAT twin: power-of-two (fixed-point) quantizers, quantized biases, no BatchNorm."""

    weight_bits: int = num(6, ge=2, le=16)  # Brevitas' signed narrow-range weights need 2 bits
    act_bits: int = num(8, ge=2, le=16)  # bits of each hidden activation (unsigned ReLU grid)
    input_bits: int = num(8, ge=2, le=16)  # bits of the input quantizer (signed)
    bias_bits: Literal[8, 16, 32] = 32  # bits of the quantized biases
    init: Literal["scratch", "float"] = "float"  # start from the trained float MLP's weights (float) or from scratch

    def check(self) -> None:
        """Only what has a bit-exact fixed-point form: no batchnorm, no dropout, ReLU."""
        if self.batchnorm:
            raise FieldError("batchnorm", "not supported in the QAT twin (it would not export bit-exactly); set false")
        if self.dropout > 0:
            raise FieldError("dropout", "not supported in the QAT twin; set 0")
        if self.activation != "relu":
            raise FieldError("activation", "only relu quantizes to the hls4ml-exact form")


@dataclass(frozen=True)
class HGQConfig(MLPConfig, InitFromMLP):
    """Per-weight learned precision with an EBOPs cost term (``beta``); fine-tuned from the float MLP."""

    beta: float = num(5e-6, ge=0.0, le=1.0)  # loss weight of EBOPs (bits(w)·bits(x) summed)
    epochs: int = num(60, ge=1, le=COUNT_MAX)  # bit widths move about one bits_lr step per batch
    lr_patience: int = num(10, ge=0)  # the cost term keeps the validation AUC noisy: be patient
    # epochs without a better validation AUC before training stops (the cost term makes it noisy)
    early_stopping_patience: int = num(20, ge=1)
    weight_frac_bits: int = num(6, ge=-4, le=16)  # initial fractional bits of every weight
    act_frac_bits: int = num(4, ge=0, le=16)  # initial fractional bits of the input and activations
    max_frac_bits: int = num(12, ge=1, le=16)  # upper bound of every trained fractional bit count
    bits_lr: float = num(0.05, gt=0.0, le=10.0)  # learning rate of the bit counts (AdamW, no decay)
    calibration_rows: int = num(20_000, ge=1)  # training rows that set the integer bits
    calibration_quantile: float = num(0.999, gt=0.0, le=1.0)  # of |value| that fits; larger values saturate
    init: Literal["scratch", "float"] = "float"  # start from the trained float MLP's weights (float) or from scratch
    # the epoch kept (train.epochs): the cheapest within max(select_max_auc_loss, select_noise_sigmas × the best
    # validation AUC's standard error) of the best validation AUC, or the best
    select: Literal["cheapest_within", "best_auc"] = "cheapest_within"
    # the epoch rule's smallest window below the best validation AUC
    select_max_auc_loss: float = num(0.002, ge=0.0, le=0.5)
    # the window in standard errors of the best validation AUC (Hanley–McNeil), if wider
    select_noise_sigmas: float = num(1.0, ge=0.0, le=10.0)

    def check(self) -> None:
        """Only what has an exact fixed-point form: no batchnorm, no dropout, ReLU."""
        if self.batchnorm:
            raise FieldError(
                "batchnorm", "not supported in the resource-aware MLP (no exact fixed-point form); set false"
            )
        if self.dropout > 0:
            raise FieldError("dropout", "not supported in the resource-aware MLP; set 0")
        if self.activation != "relu":
            raise FieldError("activation", "only relu has an exact fixed-point form here")


@dataclass(frozen=True)
class DaskClusterConfig(Checked):
    """A Dask ``distributed`` cluster: a ``LocalCluster`` of ``workers`` processes, or the
    scheduler at ``scheduler`` (e.g. ``tcp://host:8786``) for a real cluster."""

    scheduler: str | None = None  # the address of a running Dask scheduler (null: start a LocalCluster)
    workers: int = num(2, ge=1, le=CORES_MAX)  # the LocalCluster's workers (with no scheduler)

    def check(self) -> None:
        """A scheduler address is host:port with a known protocol."""
        if self.scheduler is not None and not DASK_ADDRESS.fullmatch(self.scheduler):
            raise FieldError(
                "scheduler",
                f"expected a Dask scheduler address such as tcp://host:8786 "
                f"(tcp, tls, ucx, ws or wss; a port 1-65535), got {yamlsafe.short(self.scheduler)}",
            )


@dataclass(frozen=True)
class DaskConfig(DaskClusterConfig):
    """Train the BDT with ``xgboost.dask`` on that cluster, ``partition_rows`` training rows per partition."""

    partition_rows: int = num(100_000, ge=1)  # training rows per Dask partition


@dataclass(frozen=True)
class BDTConfig(Checked):
    """XGBoost (``hist``) with early stopping on the validation split."""

    n_estimators: int = num(300, ge=1, le=COUNT_MAX)  # boosting rounds at most (trees per class)
    max_depth: int = num(4, ge=1, le=20)  # each tree's depth
    learning_rate: float = num(0.1, gt=0.0, le=1.0)  # XGBoost's eta
    early_stopping_rounds: int = num(20, ge=1)  # rounds without a better validation AUC before boosting stops
    # the signal's weight (null: background rows / signal rows; two classes)
    scale_pos_weight: float | None = num(None, gt=0.0, le=1e6)
    smote: bool = False  # oversample the minority classes of the training rows with SMOTE (in memory)
    max_train_rows: int = num(2_000_000, ge=1)  # a larger training split is sampled down to this many rows (recorded)
    threads: int | None = num(None, ge=1, le=CORES_MAX)  # XGBoost's threads (null: the cores)
    dask: DaskConfig | None = None  # train with xgboost.dask on a Dask cluster
    # cheap by design: the scaled training rows are floored onto a grid of 2^-input_frac before XGBoost
    # builds its histograms, so every threshold lies on that grid and the firmware compares only the input
    # bits above it (the LUT-native BDT drops the others); null: XGBoost's own cuts of the float rows
    input_frac: int | None = num(None, ge=0, le=16)

    def check(self) -> None:
        """SMOTE (in memory) and Dask training are not combined."""
        if self.smote and self.dask is not None:
            raise FieldError("smote", "SMOTE resamples in memory and cannot run with train.bdt.dask; drop one")


@dataclass(frozen=True)
class RFConfig(Checked):
    """scikit-learn RandomForest baseline (as in the ATLAS seed analysis)."""

    n_estimators: int = num(100, ge=1, le=COUNT_MAX)  # trees
    max_depth: int | None = num(12, ge=1)  # each tree's depth (null: unlimited)
    smote: bool = False  # oversample the minority classes of the training rows with SMOTE
    max_train_rows: int = num(500_000, ge=1)  # a larger training split is sampled down to this many rows (recorded)


# train.<name> sections of model kinds registered elsewhere (models.registry fills it): name → dataclass
MODEL_SECTIONS: dict[str, type] = {}


@dataclass(frozen=True)
class TrainConfig(Checked):
    """Which models a run trains (an absent section is not trained) and the operating points."""

    mlp: MLPConfig | None = None
    qmlp: QMLPConfig | None = None
    hgq: HGQConfig | None = None
    seed_mlp: MLPConfig | None = None
    bdt: BDTConfig | None = None
    rf: RFConfig | None = None
    # where the torch models train: a GPU when there is one (auto), the CPU, or CUDA
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # torch's CPU threads (null: torch's default); a fixed count makes training reproducible
    threads: int | None = num(None, ge=1, le=CORES_MAX)
    # the operating points chosen on validation at these signal efficiencies
    signal_efficiencies: tuple[float, ...] = num((0.3, 0.5), gt=0.0, lt=1.0)
    # the operating points chosen on validation at these background acceptances
    background_acceptances: tuple[float, ...] = num((0.01,), gt=0.0, lt=1.0)
    # sections of model kinds registered beyond the built-in ones (``models.registry``), by kind name
    extra: dict[str, Any] = field(default_factory=dict)
    EXTRA: ClassVar[dict[str, type] | None] = MODEL_SECTIONS  # what ``extra`` may hold

    def model(self, name: str) -> Any:
        """The config section of model kind ``name``, or None when the run does not train it."""
        return getattr(self, name) if name in MODEL_FIELDS else self.extra.get(name)

    def check(self) -> None:
        """Each trained kind's own rule between its section and the others (``CrossChecked.check_with``)."""
        for name in (*MODEL_FIELDS, *sorted(self.extra)):
            section = self.model(name)
            if isinstance(section, CrossChecked):
                section.check_with(name, self)


# TrainConfig's built-in model sections: its fields whose type is a config dataclass
MODEL_FIELDS = tuple(
    name
    for name, tp in typing.get_type_hints(TrainConfig).items()
    if any(dataclasses.is_dataclass(a) for a in typing.get_args(tp))
)


@dataclass(frozen=True)
class RunConfig(Checked):
    """A whole run: data in, models, export targets. Sections are added as stages land."""

    name: str  # the run's name: its folder under runs_dir and its exports' and results' names
    data: DataConfig
    # seeds the splits (unless split.seed), the sampling and every model's training
    seed: int = num(42, ge=0, le=SEED_MAX)
    runs_dir: str = "runs"  # the folder that holds the run's directory (exports and firmware go beside it)
    label: LabelConfig = field(default_factory=LabelConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    leak_guard: LeakGuardConfig = field(default_factory=LeakGuardConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    scaling: ScalingConfig = field(default_factory=ScalingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    source: str = field(default="", compare=False)

    def check(self) -> None:
        """The run name is a plain folder name; L1 words feed set models only."""
        if not RUN_NAME.fullmatch(self.name) or self.name in (".", ".."):
            raise FieldError(
                "name",
                f"expected a plain run name (letters, digits, '.', '_', '-'; no path "
                f"separators, not empty), got {self.name!r}",
            )
        for name in (*MODEL_FIELDS, *sorted(self.train.extra)):
            check_l1_port(name, self.train.model(name), self.features.inputs == "l1")

    def run_dir(self, override: str | None = None) -> Path:
        """The run directory: ``override`` if given, else ``<runs_dir>/<name>``."""
        return Path(override) if override else Path(self.runs_dir) / self.name


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def parse_config(raw: Any, where: str = "<config>") -> RunConfig:
    """Validate a raw mapping into a ``RunConfig`` (installed plugins loaded first: their kinds' sections)."""
    from trigdeploy import plugins

    plugins.load()
    if not isinstance(raw, dict):
        raise TrigdeployError(f"{where}: expected a YAML mapping at top level, got {type(raw).__name__}")
    cfg = build(RunConfig, raw, "", where)
    return dataclasses.replace(cfg, source=where)


def load_config(path: str | Path, overrides: list[str] | None = None, data_files: list[str] | None = None) -> RunConfig:
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
