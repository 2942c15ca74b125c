"""Where everything of a run lives: one object owns the paths, so no stage spells them itself.

A run directory (``runs/<name>/``) holds the data stage and the trained models. What is exported
from it goes to ``<export root>/<name>/``, the firmware projects to ``<firmware root>/<name>/`` and
the benchmark report to ``<results root>/<name>.*``. The roots default to folders beside the
``runs/`` folder that holds the run (for ``runs/toptag``: ``export/``, ``firmware/``,
``benchmarks/results/`` next to ``runs/``), whatever the current directory; a run directory that
is not inside a ``runs/`` folder gets them beside itself. ``--export-root``, ``--firmware-root``
(and ``bench --out``) override them.

A design scan's points are runs too, inside their parent run: ``runs/<name>/scan/<point>/``. Their
exports, projects and reports go to ``<root>/<name>.scan/<point>`` under the parent's roots (the roots
given for a point are its parent's), and they share the parent's build and synthesis caches.

A run directory may come from someone else: every name that becomes a path (a project, a model)
must be plain, and the folders a stage writes into or deletes from (``checkpoints/``, ``csim/``,
``predictions/``, ``synth_logs/``, a project) must resolve inside their tree; a symbolic link
that leaves it is refused in one line (``TrigdeployError``), before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from trigdeploy.errors import TrigdeployError

CSIM_CACHE = ".csim-cache"  # g++ harness, Verilator and GHDL builds, under the firmware root, keyed by source hash
SYNTH_CACHE = ".synth-cache"  # Yosys results, under the firmware root, keyed by source hash and tool version
RUNS_FOLDER = "runs"
SCAN_FOLDER = "scan"  # a run's design-scan points: runs/<name>/scan/<point>/
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def is_plain(name: object) -> bool:
    """Is ``name`` one plain path component: letters, digits, '.', '_', '-', no separator, not ``.``/``..``?"""
    return isinstance(name, str) and PLAIN_NAME.fullmatch(name) is not None and ".." not in name


def plain(name: str, what: str) -> str:
    """``name`` if it is one plain path component (``is_plain``); else a one-line error."""
    if not is_plain(name):
        shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}…"
        raise TrigdeployError(f"{what} {shown!r} is not a plain name (letters, digits, '.', '_', '-'; no path)")
    return name


def inside(path: Path, root: Path, what: str) -> Path:
    """``path``, after checking that it resolves (symbolic links followed) inside ``root``."""
    resolved, top = Path(path).resolve(), Path(root).resolve()
    if resolved != top and top not in resolved.parents:
        raise TrigdeployError(f"{path} leads outside {root} (to {resolved}); refusing to use it as {what}")
    return Path(path)


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run and of everything exported, simulated and benchmarked from it."""

    run_dir: Path
    export_root: Path
    firmware_root: Path
    results_root: Path
    cache_root: Path | None = None  # where the build and synthesis caches are (default: the firmware root)

    @classmethod
    def of(
        cls,
        run_dir: str | Path,
        export_root: str | Path | None = None,
        firmware_root: str | Path | None = None,
        results_root: str | Path | None = None,
    ) -> RunLayout:
        """The layout of ``run_dir``, with the documented default roots where none is given."""
        run_dir = Path(run_dir)
        if run_dir.name in ("", ".", ".."):  # '.', '..': the folder's own name names the run and its exports
            run_dir = run_dir.resolve()
        if run_dir.parent.name == SCAN_FOLDER:  # a scan point: beside its parent's, in <root>/<parent>.scan/
            top = cls.of(run_dir.parent.parent, export_root, firmware_root, results_root)
            folder = f"{top.name}.{SCAN_FOLDER}"
            return cls(
                run_dir,
                top.export_root / folder,
                top.firmware_root / folder,
                top.results_root / folder,
                top.firmware_root,
            )
        base = run_dir.parent.parent if run_dir.parent.name == RUNS_FOLDER else run_dir.parent
        return cls(
            run_dir,
            Path(export_root) if export_root is not None else base / "export",
            Path(firmware_root) if firmware_root is not None else base / "firmware",
            Path(results_root) if results_root is not None else base / "benchmarks" / "results",
        )

    @property
    def name(self) -> str:
        """The run's name (its folder's)."""
        return self.run_dir.name

    # the run directory
    @property
    def config(self) -> Path:
        """The resolved config saved with the run."""
        return self.run_dir / "config.yaml"

    @property
    def metrics(self) -> Path:
        """``metrics.json``, written last: a complete run."""
        return self.run_dir / "metrics.json"

    @property
    def fingerprint(self) -> Path:
        """What the run was trained from (``--resume`` checks it)."""
        return self.run_dir / "fingerprint.json"

    @property
    def train_state(self) -> Path:
        """The models trained so far (``--resume``)."""
        return self.run_dir / "train_state.json"

    @property
    def checkpoints(self) -> Path:
        """The folder of the training checkpoints."""
        return inside(self.run_dir / "checkpoints", self.run_dir, "the run's checkpoints folder")

    @property
    def preprocess(self) -> Path:
        """The scaler and feature definition (``preprocess.json``)."""
        return self.run_dir / "preprocess.json"

    @property
    def features(self) -> Path:
        """The data stage's report (``features.json``)."""
        return self.run_dir / "features.json"

    @property
    def run_json(self) -> Path:
        """What training recorded of the run (``run.json``: models, timing, versions, reproducibility)."""
        return self.run_dir / "run.json"

    @property
    def training_curves(self) -> Path:
        """The torch models' loss and validation AUC per epoch (plot)."""
        return self.run_dir / "training_curves.png"

    @property
    def confusion_plot(self) -> Path:
        """K classes: every model's test confusion matrix (plot)."""
        return self.run_dir / "confusion.png"

    @property
    def feature_caches(self) -> Path:
        """The folder of the run's feature caches (one per key: ``feature_cache``)."""
        return inside(self.run_dir / "cache", self.run_dir, "the feature cache folder")

    def feature_cache(self, key: str) -> Path:
        """The feature cache of ``key`` (``data.cache.cache_key``)."""
        return inside(self.feature_caches / plain(key, "cache key"), self.run_dir, "a feature cache")

    @property
    def scan_runs(self) -> Path:
        """The folder of the run's design-scan points (each a run: ``trigdeploy scan``)."""
        return inside(self.run_dir / SCAN_FOLDER, self.run_dir, "the scan points' folder")

    def scan_run(self, point: str) -> Path:
        """The run directory of scan point ``point``."""
        return inside(self.scan_runs / plain(point, "scan point"), self.run_dir, "a scan point")

    @property
    def splits(self) -> Path:
        """The validation and test rows (``splits.npz``)."""
        return self.run_dir / "splits.npz"

    def checkpoint(self, model: str) -> Path:
        """The checkpoint of ``model``."""
        return inside(self.checkpoints / f"{plain(model, 'model')}.ckpt", self.run_dir, "a checkpoint")

    def model_file(self, filename: str) -> Path:
        """A trained model's file in the run."""
        return self.run_dir / filename

    def predictions(self, model: str) -> Path:
        """The validation and test scores of ``model``."""
        return inside(self.run_dir / "predictions" / f"{plain(model, 'model')}.npz", self.run_dir, "predictions")

    @property
    def csim_json(self) -> Path:
        """csim's report."""
        return self.run_dir / "csim.json"

    @property
    def csim_md(self) -> Path:
        """csim's report as Markdown."""
        return self.run_dir / "csim.md"

    def csim_output(self, project: str) -> Path:
        """The logits ``csim`` computed for one project (what ``bench`` reports)."""
        return inside(self.run_dir / "csim" / f"{plain(project, 'project')}.npz", self.run_dir, "a csim output")

    @property
    def synth_json(self) -> Path:
        """synth's report (Yosys counts)."""
        return self.run_dir / "synth.json"

    @property
    def synth_logs(self) -> Path:
        """The synthesis tools' logs."""
        return inside(self.run_dir / "synth_logs", self.run_dir, "the synthesis logs folder")

    # exported artifacts and firmware
    @property
    def export_dir(self) -> Path:
        """``<export root>/<name>``: the exported artifacts and manifest."""
        return self.export_root / self.name

    @property
    def manifest(self) -> Path:
        """The export's manifest."""
        return self.export_dir / "manifest.json"

    @property
    def firmware_dir(self) -> Path:
        """``<firmware root>/<name>``: the firmware projects."""
        return self.firmware_root / self.name

    def project(self, name: str) -> Path:
        """The folder of firmware project ``name``."""
        return inside(self.firmware_dir / plain(name, "project"), self.firmware_dir, "a firmware project")

    @property
    def csim_cache(self) -> Path:
        """The build cache export and csim share."""
        return (self.cache_root or self.firmware_root) / CSIM_CACHE

    @property
    def synth_cache(self) -> Path:
        """Yosys' result cache."""
        return (self.cache_root or self.firmware_root) / SYNTH_CACHE

    # benchmark results
    def result(self, suffix: str) -> Path:
        """``<results root>/<name><suffix>``, e.g. ``.json``, ``.md``, ``_roc.png``."""
        return self.results_root / f"{self.name}{suffix}"
