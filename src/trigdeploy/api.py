"""trigdeploy's Python API: the stages as functions with typed results, for notebooks and scripts.

.. code-block:: python

    from trigdeploy import api

    run = api.train("configs/toptag.yaml")   # the data stage and every model of the config → Run
    manifest = api.export(run)               # every form, each checked on the whole test split → Manifest
    sim = api.csim(run)                      # every firmware project simulated on the test split → CsimReport
    counts = api.synth(run)                  # Yosys counts of the RTL designs → SynthReport
    report = api.bench(run)                  # physics, latency, FPGA figures, plots → BenchReport
    x, y = run.split("test")
    p = run.predict("qmlp", x)               # a trained model's probabilities on scaled inputs
    z = run.simulated("qmlp_rtl")            # the firmware's logits on the test split, as csim simulated it
    run = api.load_run("runs/toptag")        # a run made earlier (by the CLI or the API), read back

The command line (``trigdeploy prepare|train|export|csim|synth|bench``) is a thin layer over these
functions: the same checks, the same files, the same one-line errors (``TrigdeployError``). Each function
writes what its CLI command writes and returns it typed (the stage's JSON read back), so a notebook and
the CLI can take turns on one run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy.config import RunConfig, dump_config, load_config
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_text_atomic
from trigdeploy.layout import RunLayout

logger = logging.getLogger(__name__)

DEFAULT_TARGET = Path("export/targets/default.yaml")  # relative to the working directory, as the CLI's


@dataclass(frozen=True)
class Run:
    """A run directory with where its exports, firmware and results go: what every stage after ``train``
    starts from. Its config and the stages' results are read from its files when asked (``config``,
    ``metrics``, ``manifest()``, ``csim_report()``, ``synth_report()``)."""

    layout: RunLayout

    @property
    def config(self) -> RunConfig:
        """The run's ``config.yaml`` (as training resolved it), typed."""
        return load_config(self.layout.config)

    @property
    def run_dir(self) -> Path:
        """The run's directory."""
        return self.layout.run_dir

    @property
    def metrics(self):
        """``metrics.json`` typed (``train.results.RunMetrics``): every trained model's figures."""
        from trigdeploy.train.results import RunMetrics

        return RunMetrics.load(self.layout.metrics)

    @property
    def models(self) -> list[str]:
        """The trained models' names, as ``metrics.json`` lists them."""
        return list(self.metrics.models)

    def split(self, name: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """One split (``train``, ``val`` or ``test``): scaled features (float32) and labels."""
        from trigdeploy.data.cache import load_split

        return load_split(self.run_dir, name)

    def predict(self, model: str, x: np.ndarray) -> np.ndarray:
        """The trained ``model``'s probabilities of scaled inputs ``x``: signal ``(n,)``, or ``(n, K)`` for K
        classes (the trained form; the firmware forms' outputs are in csim's and bench's reports)."""
        from trigdeploy.models import registry
        from trigdeploy.models.families import family_of

        if model not in self.metrics:
            raise TrigdeployError(f"run {self.run_dir}: no trained model {model!r} ({', '.join(self.models)})")
        kind = registry.kind(model)
        family = family_of(kind)
        return family.scores(family.load(self.run_dir / kind.artifact), np.asarray(x, np.float32))

    def simulated(self, project: str) -> np.ndarray:
        """The logits csim saved for firmware ``project`` of this export on the whole test split: ``(n,)``, or
        ``(n, K)``; one line where csim has not simulated it (or simulated another export)."""
        from trigdeploy.csim.run import simulated_logits

        logits = simulated_logits(self.layout, self.manifest(), project)
        if logits is None:
            raise TrigdeployError(f"{project}: no simulated outputs of this export (run csim on it first)")
        return logits

    def manifest(self):
        """The export's ``manifest.json`` typed (``convert.manifest.Manifest``); one line if not exported."""
        from trigdeploy.convert.manifest import Manifest

        return Manifest.load(self.layout.manifest)

    def csim_report(self):
        """``csim.json`` typed (``csim.report.CsimReport``); one line if csim has not run."""
        from trigdeploy.csim.report import CsimReport

        return CsimReport.load(self.layout.csim_json)

    def synth_report(self):
        """``synth.json`` typed (``bench.synthreport.SynthReport``); one line if synth has not run."""
        from trigdeploy.bench.synthreport import SynthReport

        return SynthReport.load(self.layout.synth_json)


@dataclass(frozen=True)
class ResourcePoint:
    """One point of bench's resource plot: a design or scan point, its physics and its LUTs with their source."""

    model: str
    group: str  # "run", "sweep", "front" or "grid"
    auc: float
    lut: int
    lut_source: str  # "yosys", "alkaid" or "estimate"
    on_front: bool


@dataclass(frozen=True)
class BenchReport:
    """What ``bench`` wrote: its JSON, Markdown and plots, every form's AUC by model, the resource plot's
    points, and the whole report as JSON data (``data``: every table's figures)."""

    json: Path
    markdown: Path
    plots: dict[str, Path]
    auc: dict[str, dict[str, float]]  # model → form → test AUC (K classes: macro)
    points: tuple[ResourcePoint, ...]
    data: dict


def _config(config: str | Path | RunConfig, overrides: Sequence[str], data: Sequence[str] | None) -> RunConfig:
    """A run config: one given as such (``overrides``/``data`` then unused), or read from its YAML file."""
    if isinstance(config, RunConfig):
        if overrides or data:
            raise TrigdeployError("overrides and data apply to a config file; change the RunConfig instead")
        return config
    return load_config(config, list(overrides or ()) or None, list(data) if data else None)


def prepare(
    config: str | Path | RunConfig,
    *,
    overrides: Sequence[str] = (),
    data: Sequence[str] | None = None,
    run_dir: str | Path | None = None,
    progress: bool = False,
):
    """The data stage of ``config`` (a YAML file with ``--set``-style ``overrides`` such as ``"seed=4"`` and
    other ``data`` files of the same layout, or a ``RunConfig``) into ``run_dir`` (default: the config's):
    labels, leak guard, splits, scaling, feature cache; the run's ``config.yaml``. Returns the prepared data
    (``data.cache.Prepared``: features, scaler, class counts, the cache)."""
    from trigdeploy.data.prepare import prepare as prepare_data

    cfg = _config(config, overrides, data)
    target = cfg.run_dir(str(run_dir) if run_dir is not None else None)
    result = prepare_data(cfg, target, progress=progress)
    write_text_atomic(RunLayout.of(target).config, dump_config(cfg))
    return result


def train(
    config: str | Path | RunConfig,
    *,
    overrides: Sequence[str] = (),
    data: Sequence[str] | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> Run | None:
    """The data stage and every model of ``config`` (as for ``prepare``) into ``run_dir`` (default: the
    config's); ``resume`` continues an interrupted run. Returns the Run (None on a ``torchrun`` rank other
    than 0: rank 0 writes the run)."""
    from trigdeploy.train.run import train_run

    cfg = _config(config, overrides, data)
    target = cfg.run_dir(str(run_dir) if run_dir is not None else None)
    if not train_run(cfg, target, resume=resume, progress=progress):
        return None
    return load_run(target)


def load_run(
    run_dir: str | Path,
    *,
    export_root: str | Path | None = None,
    firmware_root: str | Path | None = None,
    results_root: str | Path | None = None,
) -> Run:
    """A run directory made earlier, with where its exports, firmware and results go (default: ``export/``,
    ``firmware/`` and ``benchmarks/results/``, as the CLI's); one line if the directory does not exist."""
    path = Path(run_dir)
    if not path.is_dir():
        raise TrigdeployError(f"run directory not found: {path}")
    roots = [Path(r) if r is not None else None for r in (export_root, firmware_root, results_root)]
    return Run(RunLayout.of(path, *roots))


def export(
    run: Run, target: str | Path | None = None, target_overrides: Sequence[str] = (), *, prebuild_csim: bool = False
):
    """Every model of the run in every form (``target``: an export target YAML, default
    ``export/targets/default.yaml``, with ``--set``-style ``target_overrides`` of its keys such as
    ``"sets_rtl.fold=16"``), each checked on the whole test split before it is written. ``prebuild_csim``: compile
    csim's builds of the projects meanwhile, for a ``csim`` after it. Returns the manifest
    (``convert.manifest.Manifest``)."""
    from trigdeploy.convert.export import export_run
    from trigdeploy.targets import load_target

    chosen = load_target(target or DEFAULT_TARGET, target_overrides)
    export_run(run.run_dir, chosen, run.layout.export_root, run.layout.firmware_root, prebuild_csim)
    return run.manifest()


def csim(run: Run, *, threads: int | None = None, arithmetic: str = "auto"):
    """Every firmware project of the run's export simulated on the whole test split against its reference
    (``arithmetic``: ``auto``, ``fast`` or ``vendor`` headers for the C projects). Returns ``csim.json`` typed
    (``csim.report.CsimReport``); a mismatch where the project must be exact is an error."""
    from trigdeploy.csim.run import csim_run

    csim_run(run.run_dir, run.layout.export_root, run.layout.firmware_root, threads=threads, arithmetic=arithmetic)
    return run.csim_report()


def check_synth_options(
    jobs: int | None, max_lut_estimate: float | None, names: tuple[str, str] = ("jobs", "max_lut_estimate")
) -> None:
    """One line naming the option (``names``: as the caller spells them, e.g. the CLI's flags) where ``jobs`` is
    not a whole number from 1 to 1024 or ``max_lut_estimate`` not positive."""
    if jobs is not None and not 1 <= jobs <= 1024:
        raise TrigdeployError(f"{names[0]}: expected a whole number from 1 to 1024, got {jobs}")
    if max_lut_estimate is not None and not max_lut_estimate > 0:
        raise TrigdeployError(f"{names[1]}: expected a positive number, got {max_lut_estimate}")


def synth(run: Run, *, designs: Sequence[str] = (), jobs: int | None = None, max_lut_estimate: float | None = None):
    """Yosys counts of the run's RTL designs (only ``designs`` where given; ``jobs`` at a time; larger designs
    than ``max_lut_estimate`` by alkaid's model are skipped unless named), and the vendor's C synthesis where
    its tools are on PATH. Returns ``synth.json`` typed (``bench.synthreport.SynthReport``)."""
    from trigdeploy.bench.synth import MAX_LUT_ESTIMATE, open_synth_run, synth_run

    check_synth_options(jobs, max_lut_estimate)
    fw = run.layout.firmware_dir
    if not fw.is_dir():
        raise TrigdeployError(f"{fw} not found: run trigdeploy export --run {run.run_dir} first")
    vendor = synth_run(fw, run.layout.synth_logs)
    budget = MAX_LUT_ESTIMATE if max_lut_estimate is None else max_lut_estimate
    open_synth_run(run.layout, jobs, list(designs) or None, budget, vendor)
    return run.synth_report()


def scan(
    run: Run,
    *,
    sweep: Sequence[int] = (),
    pareto: Sequence[float] = (),
    grid: Sequence[str] = (),
    target: str | Path | None = None,
    target_overrides: Sequence[str] = (),
    forms: Sequence[str] | None = None,
    max_lut_estimate: float | None = None,
    workers: int | None = None,
    dask=None,
) -> list[dict]:
    """The run's design scan, each point a run of its own in ``<run>/scan/`` (trained, exported, simulated on the
    whole test split, Yosys-counted up to ``max_lut_estimate`` by alkaid's model, default synth's; a point whose fingerprint is
    unchanged is read back): the QAT MLP at ``sweep`` weight widths, the resource-aware MLP at ``pareto`` cost
    weights, and ``grid`` axes as for ``trigdeploy scan --grid`` (``"hgq.hidden=[32,16],[16,16]"``); ``target``
    and its ``target_overrides`` as for ``export``. ``workers``
    points at a time here (default: the cores), or on ``dask`` (a ``config.DaskClusterConfig``). Returns each
    point's record (``point.json``); ``api.bench`` reads them."""
    from trigdeploy.bench.scan import ScanOptions, scan_run, scan_target
    from trigdeploy.bench.scanpoints import scan_points
    from trigdeploy.bench.synth import MAX_LUT_ESTIMATE
    from trigdeploy.targets import load_target

    check_synth_options(workers, max_lut_estimate, ("workers", "max_lut_estimate"))
    points = scan_points(list(sweep), list(pareto), list(grid))
    chosen = scan_target(load_target(target or DEFAULT_TARGET, target_overrides), list(forms) if forms else None)
    budget = MAX_LUT_ESTIMATE if max_lut_estimate is None else max_lut_estimate
    opts = ScanOptions(chosen, budget, run.layout.export_root, run.layout.firmware_root)
    return scan_run(run.run_dir, points, opts, workers, dask)


def bench(run: Run, *, progress: bool = False) -> BenchReport:
    """Physics of every model in every form, CPU latency, FPGA figures, budget verdicts and the scan's points
    (read, never trained); writes ``<results>/<run>.json``, ``.md`` and the plots. Returns them typed."""
    from trigdeploy.bench.run import bench_run

    lay = run.layout
    report = bench_run(lay.run_dir, lay.results_root, lay.export_root, lay.firmware_root, progress=progress)
    points = tuple(
        ResourcePoint(p["model"], p["group"], p["auc"], p["lut"], p["lut_source"], p["on_front"])
        for p in report["pareto"]
    )
    return BenchReport(
        lay.result(".json"),
        lay.result(".md"),
        {k: lay.results_root / v for k, v in report["plots"].items()},
        {m: {form: f["auc"] for form, f in by_form.items()} for m, by_form in report["physics"].items()},
        points,
        report,
    )
