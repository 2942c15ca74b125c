"""The ``features`` section of a run config: which model inputs the data stage computes.

``kind: constituents`` gives a set model its particles: the leading ``n_constituents`` by pT (zero-padded),
each as the ``particle_features`` named below and a mask (1 for a particle, 0 for padding), flat in
particle-major order: ``p0_<f1> … p0_<fF> p0_mask p1_<f1> …`` (``constituent_set_names``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trigdeploy.schema import Checked, FieldError, num

# what ``particle_features`` may name, from a particle's four-vector and the jet's (the sum of all of its
# particles): log(pT/pT_jet), Δη and Δφ (wrapped into [-π, π)) to the jet axis, ΔR to it, log(pT/GeV),
# log(E/GeV), log(E/E_jet), pT/pT_jet
PARTICLE_FEATURES = ("log_pt_rel", "deta", "dphi", "dr", "log_pt", "log_e", "log_e_rel", "pt_rel")
DEFAULT_PARTICLE_FEATURES = ("log_pt_rel", "deta", "dphi")
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
    particle_features: tuple[str, ...] = ()  # kind constituents: default DEFAULT_PARTICLE_FEATURES

    def check(self) -> None:
        """Particle features only for ``kind: constituents``, each known and named once."""
        if self.particle_features and self.kind != "constituents":
            raise FieldError("particle_features", f"only for kind constituents (kind is {self.kind})")
        for name in self.particle_features:
            if name not in PARTICLE_FEATURES:
                raise FieldError(
                    "particle_features", f"unknown {name!r}; expected some of {', '.join(PARTICLE_FEATURES)}"
                )
        if len(set(self.particle_features)) != len(self.particle_features):
            raise FieldError("particle_features", f"a feature is listed twice: {list(self.particle_features)}")

    @property
    def particles(self) -> tuple[str, ...]:
        """The per-particle features of ``kind: constituents``, in their order (the default when unset)."""
        return self.particle_features or DEFAULT_PARTICLE_FEATURES


def constituent_set_names(n: int, features: tuple[str, ...]) -> list[str]:
    """The flat column names of ``n`` particles with ``features`` each and a mask, particle-major."""
    return [f"p{i}_{f}" for i in range(n) for f in (*features, "mask")]
