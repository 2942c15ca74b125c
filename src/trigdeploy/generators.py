"""The data generators' parameters: the ``data.generate.<name>`` sections of a run config and the
options of ``trigdeploy data <name>`` (validated like every section: ``trigdeploy.schema``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trigdeploy.schema import CORES_MAX, SEED_MAX, Checked, FieldError, num


@dataclass(frozen=True)
class JetFileConfig(Checked):
    """What every generator of the Top Quark Tagging layout writes: jets, classes, split tag."""

    jets: int = num(20_000, ge=1)  # jets written
    seed: int = num(1, ge=0, le=SEED_MAX)  # the generator's seed
    signal_fraction: float = num(0.5, ge=0.0, le=1.0)  # the share of signal (top) jets
    # the split tag written in every row (0 train, 1 test, 2 validation, as in the public files)
    ttv: Literal[0, 1, 2] = 0
    chunk_size: int = num(10_000, ge=1)  # jets per written chunk
    n_constituents: int = num(200, ge=1)  # constituents stored per jet (zero-padded)


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

    jets: int = num(1_000, ge=1)  # jets written
    chunk_size: int = num(500, ge=1)  # jets per written chunk (a chunk is one generation job)
    workers: int = num(2, ge=1, le=CORES_MAX)  # generation processes
    # top vs QCD in the Top Quark Tagging layout, or five classes in hls4ml's jet layout
    layout: Literal["toptag", "hls4ml_jets"] = "toptag"
    pthat_min: float | None = num(None, gt=0.0)  # Pythia's pT-hat minimum in GeV (null: the layout's)
    pt_min: float | None = num(None, gt=0.0)  # the leading jet's pT window's lower end in GeV (null: the layout's)
    pt_max: float | None = num(None, gt=0.0)  # the leading jet's pT window's upper end in GeV (null: the layout's)

    def window(self) -> tuple[float, float, float]:
        """(pT-hat minimum, jet pT minimum, jet pT maximum) in GeV, the layout's defaults filled in."""
        d = PYTHIA_WINDOWS[self.layout]
        return tuple(d[i] if v is None else float(v) for i, v in enumerate((self.pthat_min, self.pt_min, self.pt_max)))

    def check(self) -> None:
        """The jet window is not empty (pt_max above pt_min)."""
        _, lo, hi = self.window()
        if lo >= hi:
            raise FieldError("pt_max", f"must exceed pt_min ({lo:g} GeV), got {hi:g}")


@dataclass(frozen=True)
class AtlasMiniGenConfig(Checked):
    """ATLAS Open Data 8 TeV ``mini`` tree generator (Z→ℓℓ, W→ℓν, tt̄ mixture, MeV)."""

    events: int = num(20_000, ge=1)  # events written
    seed: int = num(1, ge=0, le=SEED_MAX)  # the generator's seed
    chunk_size: int = num(20_000, ge=1)  # events per written chunk
