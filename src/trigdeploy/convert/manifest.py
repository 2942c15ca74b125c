"""The export manifest, read back typed: what was exported, and every firmware project with the
reference it must reproduce (saved by the export, so nothing downstream recomputes it).

``manifest.json`` keeps every figure of the export in ``models`` (free-form per form); what the
later stages rely on is typed here: the run, the test split size and the projects.

An export is code (csim compiles and runs its C++), so what it names is checked before it is used:
project names are plain folder names, reference files plain paths inside the export folder, and
every file of every project and every reference carries its SHA-256 (``verify``): a project edited
after export (a weight header, an ``open_synth/`` netlist) is refused, not simulated or counted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import sha256_file
from trigdeploy.layout import inside, plain


@dataclass(frozen=True)
class Project:
    """One firmware project of an export and what it is checked against."""

    name: str                   # folder under firmware/<run>/
    model: str                  # the run's model kind
    form: str                   # the project as a deployed form, e.g. "hls4ml Vitis csim"
    reference: str              # what the reference is, in words
    reference_file: str         # npz (inputs, logits) under export/<run>/
    reference_form: str | None  # the reference as a form of its own in reports (e.g. "QONNX"), if it is one
    exact: bool                 # must the simulation reproduce the reference bit for bit?
    simulator: str = "hls"      # its project type (``trigdeploy.simulators``)
    files: dict = field(default_factory=dict)  # relative path → SHA-256 of every file of the project
    reference_sha256: str = ""  # of reference_file
    expected_file: str | None = None  # not exact: npz of the outputs export recorded for the project itself
    expected_sha256: str = ""
    max_auc_loss: float | None = None  # not exact: export's physics gate (AUC of the reference minus the project's)

    def __post_init__(self) -> None:
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
    test_events: int
    models: dict
    projects: tuple[Project, ...]
    not_exported: dict
    sha256: str                 # of the file: simulations saved for one export are not used for another

    @property
    def export_dir(self) -> Path:
        return self.path.parent

    @classmethod
    def load(cls, path: Path) -> Manifest:
        path = Path(path)
        if not path.is_file():
            raise TrigdeployError(f"{path} not found: run trigdeploy export first")
        data = path.read_bytes()
        try:
            raw = json.loads(data)
            projects = tuple(Project(**p) for p in raw["projects"])
            if len({p.name for p in projects}) != len(projects):
                raise ValueError("two projects share a name")
            return cls(path, raw["run"], raw["target"], int(raw["test_events"]), raw["models"], projects,
                       raw.get("not_exported", {}), hashlib.sha256(data).hexdigest())
        except TrigdeployError as exc:
            raise TrigdeployError(f"{path}: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise TrigdeployError(f"{path}: not a manifest of this trigdeploy version ({type(exc).__name__}: {exc}); "
                                  "export again") from None

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
                raise TrigdeployError(f"{folder / rel}: {what} since export ({self.path} records every file of "
                                      f"{project.name}); export again, or review the change and export it")


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
