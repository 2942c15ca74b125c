"""The export manifest, read back typed: what was exported, and every firmware project with the
reference it must reproduce (saved by the export, so nothing downstream recomputes it).

``manifest.json`` keeps every figure of the export in ``models`` (free-form per form); what the
later stages rely on is typed here: the run, the test split size, the device the export targets and
the projects, each with the device it was generated for. The file carries its ``schema``
(``SCHEMA``): a manifest of another schema is refused with one line (export again).

An export is code (csim compiles and runs its C++), so what it names is checked before it is used:
project names are plain folder names, reference files plain paths inside the export folder, and
every file of every project and every reference carries its SHA-256 (``verify``): a project edited
after export (a weight header, an ``open_synth/`` netlist) is refused, not simulated or counted.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import sha256_file
from trigdeploy.layout import inside, plain
from trigdeploy.targets import Budget

# 2: the device of the export and of each project (part, clock, reuse); 1 (no field): before it
SCHEMA = 3  # 2: the device of every project; 3: precision records by layer position (fixed.Precisions)


@dataclass(frozen=True)
class Device:
    """The FPGA a project was generated for: part, clock period (ns), reuse factor (1: a new event every clock)."""

    part: str
    clock_ns: float
    reuse: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.part, str) or not self.part.strip():
            raise ValueError(f"device part must be a part name, got {self.part!r}")
        if (
            isinstance(self.clock_ns, bool)
            or not isinstance(self.clock_ns, (int, float))
            or not (math.isfinite(self.clock_ns) and self.clock_ns > 0)
        ):
            raise ValueError(f"device clock_ns must be a positive number of ns, got {self.clock_ns!r}")
        if isinstance(self.reuse, bool) or not isinstance(self.reuse, int) or self.reuse < 1:
            raise ValueError(f"device reuse must be an integer ≥ 1, got {self.reuse!r}")

    def as_dict(self) -> dict:
        """What ``manifest.json`` holds of it."""
        return asdict(self)


@dataclass(frozen=True)
class Project:
    """One firmware project of an export and what it is checked against."""

    name: str  # folder under firmware/<run>/
    model: str  # the run's model kind
    form: str  # the project as a deployed form, e.g. "hls4ml Vitis csim"
    reference: str  # what the reference is, in words
    reference_file: str  # npz (inputs, logits) under export/<run>/
    reference_form: str | None  # the reference as a form of its own in reports (e.g. "QONNX"), if it is one
    exact: bool  # must the simulation reproduce the reference bit for bit?
    device: Device  # what it was generated for
    simulator: str = "hls"  # its project type (``trigdeploy.simulators``)
    files: dict = field(default_factory=dict)  # relative path → SHA-256 of every file of the project
    reference_sha256: str = ""  # of reference_file
    expected_file: str | None = None  # not exact: npz of the outputs export recorded for the project itself
    expected_sha256: str = ""
    max_auc_loss: float | None = None  # not exact: export's physics gate (AUC of the reference minus the project's)

    def as_dict(self) -> dict:
        """What ``manifest.json`` holds of it (the same keys ``Manifest.load`` reads back)."""
        return asdict(self)

    def __post_init__(self) -> None:
        if isinstance(self.device, dict):  # read back from JSON
            object.__setattr__(self, "device", Device(**self.device))
        if not isinstance(self.device, Device):
            raise TypeError(f"project device must be a Device, got {type(self.device).__name__}")
        plain(self.name, "manifest project")
        plain(self.model, "manifest model")
        for ref in (self.reference_file, self.expected_file):
            if ref is not None:
                for part in PurePosixPath(ref).parts:
                    plain(part, "manifest reference path component")


@dataclass(frozen=True)
class Manifest:
    path: Path
    run: str
    target: str
    device: Device  # the export's target device (its hls4ml section: Part, ClockPeriod, ReuseFactor)
    test_events: int
    models: dict
    projects: tuple[Project, ...]
    not_exported: dict
    sha256: str  # of the file: simulations saved for one export are not used for another
    budget: Budget = field(default_factory=Budget)  # what one design may use of the device (export target)

    @property
    def export_dir(self) -> Path:
        """The export folder the manifest lies in (its references are inside it)."""
        return self.path.parent

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a ``manifest.json`` typed; one line (export again) for a missing, older or damaged one."""
        path = Path(path)
        if not path.is_file():
            raise TrigdeployError(f"{path} not found: run trigdeploy export first")
        data = path.read_bytes()
        try:
            raw = json.loads(data)
            schema = raw.get("schema", 1)
            if schema != SCHEMA:
                raise TrigdeployError(
                    f"manifest schema {schema!r}, this trigdeploy reads schema {SCHEMA} (typed precision "
                    "records); export again"
                )
            projects = tuple(Project(**p) for p in raw["projects"])
            if len({p.name for p in projects}) != len(projects):
                raise ValueError("two projects share a name")
            return cls(
                path,
                raw["run"],
                raw["target"],
                Device(**raw["device"]),
                int(raw["test_events"]),
                raw["models"],
                projects,
                raw.get("not_exported", {}),
                hashlib.sha256(data).hexdigest(),
                Budget(**raw.get("budget", {})),
            )
        except TrigdeployError as exc:
            raise TrigdeployError(f"{path}: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise TrigdeployError(
                f"{path}: not a manifest of this trigdeploy version ({type(exc).__name__}: {exc}); export again"
            ) from None

    def _npz(self, project: Project, rel: str, sha256: str, keys: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        path = inside(self.export_dir / rel, self.export_dir, f"a reference of {project.name}")
        if sha256_file(path) != sha256:
            raise TrigdeployError(f"{path}: changed since export (SHA-256 differs from {self.path}); export again")
        try:
            with np.load(path, allow_pickle=False) as f:
                return tuple(f[k] for k in keys)
        except (OSError, KeyError, ValueError) as exc:
            raise TrigdeployError(f"{path}: reference of {project.name} unreadable ({exc}); export again") from None

    def reference(self, project: Project) -> tuple[np.ndarray, np.ndarray]:
        """The inputs ``project`` is fed (as its port sees them) and the reference logits (no pickle),
        checked against their hash."""
        return self._npz(project, project.reference_file, project.reference_sha256, ("inputs", "logits"))

    def expected(self, project: Project) -> np.ndarray | None:
        """The outputs export recorded for a project that is not exact (PTQ), or None."""
        if project.expected_file is None:
            return None
        return self._npz(project, project.expected_file, project.expected_sha256, ("logits",))[0]

    def verify(self, project: Project, folder: Path) -> None:
        """Refuse (one line) a project folder whose files are not exactly those export wrote."""
        found = file_hashes(folder)
        for rel in sorted(set(found) | set(project.files)):
            if found.get(rel) != project.files.get(rel):
                what = "added" if rel not in project.files else "missing" if rel not in found else "changed"
                raise TrigdeployError(
                    f"{folder / rel}: {what} since export ({self.path} records every file of "
                    f"{project.name}); export again, or review the change and export it"
                )


def file_hashes(folder: Path) -> dict[str, str]:
    """Relative POSIX path → SHA-256 of every file under ``folder`` (a symbolic link counts by its target
    text, and is refused by ``verify`` unless export wrote it)."""
    folder = Path(folder)
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[rel] = "symlink:" + str(path.readlink())
        elif path.is_file():
            out[rel] = sha256_file(path)
    return out
