"""The ``features`` section of a run config: which model inputs the data stage computes.

``kind: constituents`` gives a set model its particles: the leading ``n_constituents`` by pT (zero-padded),
each as its ``particle_features`` and a mask (1 for a particle, 0 for padding), flat in particle-major order:
``p0_<f1> … p0_<fF> p0_mask p1_<f1> …`` (``constituent_set_names``). From four-vectors (the top-tagging
layout) the features are computed (``PARTICLE_FEATURES``); a file that stores its particles' features (hls4ml's
jet layout) gives them by name (``HLS4ML_PARTICLE_FEATURES`` by default); from ROOT, ``collection`` names the
``data.collections`` entry that holds the particles (sorted and cut there), ``particle_features`` its branches,
and a particle is present below the collection's count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from trigdeploy.schema import Checked, FieldError, num

# what ``particle_features`` may name, from a particle's four-vector and the jet's (the sum of all of its
# particles): log(pT/pT_jet), Δη and Δφ (wrapped into [-π, π)) to the jet axis, ΔR to it, log(pT/GeV),
# log(E/GeV), log(E/E_jet), pT/pT_jet
PARTICLE_FEATURES = ("log_pt_rel", "deta", "dphi", "dr", "log_pt", "log_e", "log_e_rel", "pt_rel")
DEFAULT_PARTICLE_FEATURES = ("log_pt_rel", "deta", "dphi")
# a file that stores its particles' features (hls4ml's ``jetConstituentList``) is read by their names instead:
# by default pT/pT_jet, η and φ relative to the jet axis, and a particle is present where its pT is not 0
HLS4ML_PARTICLE_FEATURES = ("j1_ptrel", "j1_etarel", "j1_phirel")
HLS4ML_PARTICLE_PT = "j1_pt"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
N_CONSTITUENTS_MAX = 200


@dataclass(frozen=True)
class FeaturesConfig(Checked):
    """Model inputs: table columns, jet features computed from top-tagging constituents, or the particles."""

    kind: Literal[
        "columns", "toptag_raw", "toptag_jet", "toptag_constituents", "toptag_jet_constituents", "constituents"
    ] = "columns"
    columns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    n_constituents: int = num(10, ge=1, le=N_CONSTITUENTS_MAX)
    n_raw_constituents: int = num(200, ge=1)
    particle_features: tuple[str, ...] = ()  # kind constituents: see particles()
    collection: str | None = None  # kind constituents from ROOT: the data.collections entry of the particles

    def check(self) -> None:
        """Particle features only for ``kind: constituents``, each a name, named once."""
        for key in ("particle_features", "collection"):
            if getattr(self, key) and self.kind != "constituents":
                raise FieldError(key, f"only for kind constituents (kind is {self.kind})")
        if self.collection is not None and not self.particle_features:
            raise FieldError(
                "particle_features", "name the branches of the collection that are the particles' features"
            )
        for name in self.particle_features:  # which names a file offers is checked when it is read
            if not _NAME.fullmatch(name):
                raise FieldError("particle_features", f"{name!r} is not a feature name (letters, digits, '_')")
        if len(set(self.particle_features)) != len(self.particle_features):
            raise FieldError("particle_features", f"a feature is listed twice: {list(self.particle_features)}")

    def particles(self, stored: bool = False) -> tuple[str, ...]:
        """The per-particle features of ``kind: constituents``, in their order (the default of four-vectors, or
        of ``stored`` particle features, when unset)."""
        return self.particle_features or (HLS4ML_PARTICLE_FEATURES if stored else DEFAULT_PARTICLE_FEATURES)


def constituent_set_names(n: int, features: tuple[str, ...]) -> list[str]:
    """The flat column names of ``n`` particles with ``features`` each and a mask, particle-major."""
    return [f"p{i}_{f}" for i in range(n) for f in (*features, "mask")]
