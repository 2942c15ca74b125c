"""``synth.json`` read back typed: what ``trigdeploy synth`` counted and ``bench`` puts beside its estimates.

``SynthReport.load`` checks the file once (a damaged or foreign file is one line naming it) and gives each
design, counted by Yosys (``DesignCount``) or not (``NotCounted``: skipped or failed, with why), and
the vendor's C synthesis reports of the HLS projects where the tools ran (``VendorEstimate``). The JSON stays
what ``bench.synth`` writes; only the reading is typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trigdeploy.io import read_json_as


@dataclass(frozen=True)
class DesignCount:
    """One RTL design counted by Yosys, with what the design is (``source``, ``variant``) and its own cost
    model's LUTs of these very sources (``estimate`` by ``estimator``; None where it has none)."""

    name: str
    model: str
    label: str  # "Yosys (open synthesis, not Vivado)"
    tool: str
    lut: int
    ff: int
    carry: int
    dsp: int
    seconds: float
    source: str
    variant: str | None = None
    estimate: float | None = None
    estimator: str | None = None


@dataclass(frozen=True)
class NotCounted:
    """A design Yosys did not count: skipped (a tool missing, too large unless named) or failed."""

    name: str
    model: str
    why: str
    failed: bool


@dataclass(frozen=True)
class VendorEstimate:
    """The vendor's C synthesis estimate of one HLS project (``vitis_hls``/``vivado_hls`` csynth report)."""

    project: str
    method: str
    part: str
    clock_target_ns: float
    latency_cycles_worst: int
    ii: int
    lut: int | None
    ff: int
    dsp: int


@dataclass(frozen=True)
class SynthReport:
    """``synth.json``: the export it counted (``manifest_sha256``), its designs in the order ``synth`` ran them
    (each counted or not) and the vendor's estimates."""

    path: Path
    manifest_sha256: str
    designs: dict[str, DesignCount | NotCounted]
    vendor: dict[str, VendorEstimate]

    @classmethod
    def load(cls, path: Path) -> SynthReport:
        """The report at ``path``; ``TrigdeployError`` (one line naming it) for anything ``synth`` did not write."""

        def parse(raw: dict) -> SynthReport:
            designs = {n: _count(n, d) if "lut" in d else _not_counted(n, d) for n, d in raw["designs"].items()}
            vendor = {name: _vendor(name, v) for name, v in raw.get("vendor", {}).items()}
            return cls(Path(path), raw["manifest_sha256"], designs, vendor)

        return read_json_as(path, parse, "synth.json", "run trigdeploy synth again")

    @property
    def counted(self) -> dict[str, DesignCount]:
        """The designs Yosys counted, by name."""
        return {n: d for n, d in self.designs.items() if isinstance(d, DesignCount)}


def _not_counted(name: str, d: dict) -> NotCounted:
    failed = "failed" in d
    return NotCounted(name, d["model"], d["failed"] if failed else d["skipped"], failed)


def _count(name: str, d: dict) -> DesignCount:
    estimator = next((k[len("estimate_") :] for k in d if k.startswith("estimate_")), None)
    return DesignCount(
        name,
        d["model"],
        d["label"],
        d["tool"],
        int(d["lut"]),
        int(d["ff"]),
        int(d["carry"]),
        int(d["dsp"]),
        float(d["seconds"]),
        d.get("source", ""),
        d.get("variant"),
        float(d[f"estimate_{estimator}"]) if estimator else None,
        estimator,
    )


def _vendor(name: str, v: dict) -> VendorEstimate:
    return VendorEstimate(
        name,
        v["method"],
        v["part"],
        float(v["clock_target_ns"]),
        int(v["latency_cycles_worst"]),
        int(v["ii"]),
        int(v["lut"]) if "lut" in v else None,
        int(v.get("ff", 0)),
        int(v.get("dsp", 0)),
    )
