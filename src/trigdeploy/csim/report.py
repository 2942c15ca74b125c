"""``csim.json`` read back typed: what ``trigdeploy csim`` found of each firmware project of an export.

``CsimReport.load`` reads the file once (anything ``csim`` did not write is one line naming it); ``bench``
puts each model's simulation result beside its point of the resource plot, for the export it was run on
(``manifest_sha256``). The JSON stays what ``csim.run`` writes; only the reading is typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trigdeploy.io import read_json_as


@dataclass(frozen=True)
class ProjectCsim:
    """One simulated project: whose model, which simulator, against which reference, how strictly, and what
    it found on the whole test split (``ok``: within what its project must meet, testbench included)."""

    name: str
    model: str
    simulator: str
    reference: str
    exact: bool
    n_events: int
    n_mismatch: int
    max_abs_diff: float
    ok: bool


@dataclass(frozen=True)
class CsimReport:
    """``csim.json``: the export simulated (``manifest_sha256``), each project's result, the projects skipped
    (a simulator missing) with why, and whether every project met its requirement."""

    path: Path
    manifest_sha256: str
    projects: dict[str, ProjectCsim]
    skipped: dict[str, str]
    ok: bool

    @classmethod
    def load(cls, path: Path) -> CsimReport:
        """The report at ``path``; ``TrigdeployError`` (one line naming it) for anything ``csim`` did not write."""

        def parse(raw: dict) -> CsimReport:
            projects = {name: _project(name, p) for name, p in raw["projects"].items()}
            return cls(Path(path), raw["manifest_sha256"], projects, dict(raw.get("skipped", {})), bool(raw["ok"]))

        return read_json_as(path, parse, "csim.json", "run trigdeploy csim again")

    def of_model(self, model: str, exact: bool = True) -> list[ProjectCsim]:
        """The simulated projects of ``model`` (only those that must be bit-exact, by default), in csim's order."""
        return [p for p in self.projects.values() if p.model == model and (p.exact or not exact)]


def _project(name: str, p: dict) -> ProjectCsim:
    return ProjectCsim(
        name,
        p["model"],
        p["simulator"],
        p["reference"],
        bool(p["bit_exact_required"]),
        int(p["n_events"]),
        int(p["n_mismatch"]),
        float(p["max_abs_diff"]),
        bool(p["ok"]),
    )
