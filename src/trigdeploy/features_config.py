"""The ``features`` section of a run config: which model inputs the data stage computes.

``kind: constituents`` gives a set model its particles: the leading ``n_constituents`` by pT (zero-padded),
each as its ``particle_features`` and a mask (1 for a particle, 0 for padding), flat in particle-major order:
``p0_<f1> … p0_<fF> p0_mask p1_<f1> …`` (``constituent_set_names``). From four-vectors (the top-tagging
layout) the features are computed (``PARTICLE_FEATURES``); a file that stores its particles' features (hls4ml's
jet layout) gives them by name (``HLS4ML_PARTICLE_FEATURES`` by default); from ROOT, ``collection`` names the
``data.collections`` entry that holds the particles (sorted and cut there), ``particle_features`` its branches,
and a particle is present below the collection's count. ``jet_features`` names jet columns of the file (hls4ml's
``jets`` table, a ROOT tree's branches; ``log(<name>)`` for a logarithm), given after the set (``jet_<name>``):
what a set of N cannot know, e.g. the jet's particle count beyond N; the set models add them to their pooled sum.

``inputs: l1`` gives the port what a Level-1 trigger gives a tagger instead: each particle's integer pT, η and φ
words on the L1 grid of ``l1`` (CMS Phase-2 PF candidates' by default: pT in 0.25 GeV steps on 14 unsigned bits, η
and φ in π/720 steps on 12 and 11 signed bits) and the jet finder's η and φ words on the same grids, flat:
``p0_pt p0_eta p0_phi p1_pt … jet_eta jet_phi`` (``l1_word_names``), unscaled; a padded particle is all zeros.
Everything a set model computes from them (the mask, Δη, Δφ with the φ wrap, the log pT) is part of the model
and of its firmware (``models.l1front``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
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
class L1Grid(Checked):
    """The integer words of an L1 particle: pT in ``pt_lsb`` GeV steps on ``pt_bits`` unsigned bits, η and φ in
    ``eta_lsb``/``phi_lsb`` radian steps on ``eta_bits``/``phi_bits`` signed bits (φ wraps at ±π)."""

    pt_lsb: float = num(0.25, gt=0.0, le=16.0)  # GeV per step of the pT word
    pt_bits: int = num(14, ge=6, le=20)  # unsigned bits of the pT word
    eta_lsb: float = num(math.pi / 720, gt=0.0, le=0.1)  # radians per step of the η word
    eta_bits: int = num(12, ge=6, le=20)  # signed bits of the η word
    phi_lsb: float = num(math.pi / 720, gt=0.0, le=0.1)  # radians per step of the φ word (2π an even number of steps)
    phi_bits: int = num(11, ge=6, le=20)  # signed bits of the φ word
    # the set models' front multiplies Δη and Δφ by 2^this beyond "ΔR = 1 at most 2" (3: a jet's particles, within
    # ΔR ≈ 0.1-0.4 of its axis, reach the model at about unit scale, as scaled features do; a shift in the design)
    angle_scale_bits: int = num(3, ge=0, le=8)

    @property
    def phi_period(self) -> int:
        """φ steps in 2π (an even whole number: ``check``)."""
        return round(2 * math.pi / self.phi_lsb)

    def check(self) -> None:
        """2π is an even whole number of φ steps (the wrap is an integer subtraction) that ``phi_bits`` hold."""
        steps = 2 * math.pi / self.phi_lsb
        if abs(steps - round(steps)) > 1e-6 * steps or round(steps) % 2:
            raise FieldError("phi_lsb", f"2π must be an even whole number of steps (π/720: 1440), got {steps:.4f}")
        if round(steps) // 2 > 2 ** (self.phi_bits - 1):
            raise FieldError("phi_bits", f"{self.phi_bits} signed bits do not hold ±π in steps of phi_lsb")


@dataclass(frozen=True)
class FeaturesConfig(Checked):
    """Model inputs: table columns, jet features computed from top-tagging constituents, or the particles."""

    # the inputs: table columns, top-tagging constituents as they are (raw), the 14 jet features computed from them, the
    # leading constituents, both, or particle sets for set models
    kind: Literal[
        "columns", "toptag_raw", "toptag_jet", "toptag_constituents", "toptag_jet_constituents", "constituents"
    ] = "columns"
    columns: tuple[str, ...] = ()  # kind columns: the columns to use (empty: every column the leak guard allows)
    exclude: tuple[str, ...] = ()  # columns never used as features
    # the leading constituents (by pT) of the constituent kinds and of a particle set
    n_constituents: int = num(10, ge=1, le=N_CONSTITUENTS_MAX)
    # kind toptag_raw: the constituents whose four-vectors are read as they are
    n_raw_constituents: int = num(200, ge=1)
    particle_features: tuple[str, ...] = ()  # kind constituents: see particles()
    # kind constituents: the file's jet columns given beside the set (``log(<name>)`` for a logarithm), after it
    jet_features: tuple[str, ...] = ()
    collection: str | None = None  # kind constituents from ROOT: the data.collections entry of the particles
    inputs: Literal["features", "l1"] = "features"  # kind constituents: l1 = the particles' integer L1 words
    l1: L1Grid = field(default_factory=L1Grid)  # inputs l1: the L1 grid of the particles' and the jet's words

    def check(self) -> None:
        """Particle features only for ``kind: constituents``, each a name, named once; L1 words only from
        four-vectors (the model computes its features from them)."""
        if self.inputs == "l1" and (self.kind != "constituents" or self.collection or self.particle_features):
            raise FieldError(
                "inputs",
                "l1 takes kind constituents from four-vectors (the top-tagging layout), without collection or "
                "particle_features: the model computes log pT, Δη, Δφ and the mask from the words",
            )
        if self.jet_features and self.inputs == "l1":
            raise FieldError("jet_features", "not with inputs: l1 (the port holds the particles' and the jet's words)")
        for key in ("particle_features", "collection", "jet_features"):
            if getattr(self, key) and self.kind != "constituents":
                raise FieldError(key, f"only for kind constituents (kind is {self.kind})")
        if self.collection is not None and not self.particle_features:
            raise FieldError(
                "particle_features", "name the branches of the collection that are the particles' features"
            )
        for key in ("particle_features", "jet_features"):
            names = getattr(self, key)
            for name in names:  # which names a file offers is checked when it is read
                if not _NAME.fullmatch(stored_column(name)[0]):
                    raise FieldError(key, f"{name!r} is not a feature name (letters, digits, '_') or log(<name>)")
            if len(set(names)) != len(names):
                raise FieldError(key, f"a feature is listed twice: {list(names)}")

    def particles(self, stored: bool = False) -> tuple[str, ...]:
        """The per-particle features of ``kind: constituents``, in their order (the default of four-vectors, or
        of ``stored`` particle features, when unset)."""
        return self.particle_features or (HLS4ML_PARTICLE_FEATURES if stored else DEFAULT_PARTICLE_FEATURES)


def jet_feature_names(features: tuple[str, ...]) -> list[str]:
    """The column names of the jet's ``features`` after the set (``log(c)`` is named ``jet_log_c``)."""
    return [f"jet_log_{c}" if log else f"jet_{c}" for c, log in map(stored_column, features)]


def l1_word_names(n: int) -> list[str]:
    """The flat column names of ``n`` particles' L1 words (pT, η, φ each), then the jet's η and φ words."""
    return [f"p{i}_{w}" for i in range(n) for w in ("pt", "eta", "phi")] + ["jet_eta", "jet_phi"]


_LOG = re.compile(r"log\((.*)\)")


def stored_column(feature: str) -> tuple[str, bool]:
    """A stored particle feature's column and whether the feature is its natural logarithm (``log(<column>)``,
    for a present particle; a padded one's features are 0)."""
    m = _LOG.fullmatch(feature)
    return (m.group(1), True) if m else (feature, False)


def constituent_set_names(n: int, features: tuple[str, ...]) -> list[str]:
    """The flat column names of ``n`` particles with ``features`` each and a mask, particle-major (``log(c)`` is
    named ``log_c``)."""
    plain = [f"log_{c}" if log else c for c, log in map(stored_column, features)]
    return [f"p{i}_{f}" for i in range(n) for f in (*plain, "mask")]


def check_l1_port(name: str, section, words: bool) -> None:
    """L1 words (``features.inputs: l1``) feed set models only, and a set model's ``l1_port`` and ``jet_features``
    come from ``features.l1`` and ``features.jet_features`` (the trainer sets them), never from its own section."""
    if section is None:
        return
    has_port = any(f.name == "l1_port" for f in dataclasses.fields(section))
    if words and not has_port:
        raise FieldError(
            f"train.{name}",
            "features.inputs: l1 gives integer L1 words, which only set models read (deepsets, qdeepsets, "
            "hgq_deepsets); train this kind on another run",
        )
    if has_port and section.l1_port is not None:
        raise FieldError(f"train.{name}.l1_port", "is set by train from features.l1; write the grid there")
    if getattr(section, "jet_features", 0):
        raise FieldError(f"train.{name}.jet_features", "is set by train from features.jet_features; name them there")
