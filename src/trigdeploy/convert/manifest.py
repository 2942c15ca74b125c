"""The export manifest, read back typed: what was exported, and every firmware project with the
reference it must reproduce (saved by the export, so nothing downstream recomputes it).

``manifest.json`` keeps every figure of the export in ``models`` (free-form per form); what the
later stages rely on is typed here: the run, the test split size and the projects.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy.errors import TrigdeployError


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
    simulator: str = "hls"      # which simulator of ``csim.run.SIMULATORS`` runs it


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
            return cls(path, raw["run"], raw["target"], int(raw["test_events"]), raw["models"], projects,
                       raw.get("not_exported", {}), hashlib.sha256(data).hexdigest())
        except (ValueError, KeyError, TypeError) as exc:
            raise TrigdeployError(f"{path}: not a manifest of this trigdeploy version ({type(exc).__name__}: {exc}); "
                                  "export again") from None

    def reference(self, project: Project) -> tuple[np.ndarray, np.ndarray]:
        """The inputs ``project`` is fed (as its port sees them) and the reference logits (no pickle)."""
        path = self.export_dir / project.reference_file
        try:
            with np.load(path, allow_pickle=False) as f:
                return f["inputs"], f["logits"]
        except (OSError, KeyError, ValueError) as exc:
            raise TrigdeployError(f"{path}: reference of {project.name} unreadable ({exc}); export again") from None
