"""Model inputs computed per chunk: table columns, or jet features from top-tagging constituents.

Top-tagging features (vectorised numpy over a chunk of jets, constituents as (E, px, py, pz)):

* ``toptag_jet``: jet pT, η, mass, constituent count; N-subjettiness τ1, τ2, τ3 (β = 1,
  R0 = 0.8) and the ratios τ21, τ32; energy-correlation ratios C2 and D2 (β = 1, leading
  ``ECF_CONSTITUENTS`` constituents); girth, pT_D and the leading constituent's pT fraction.
  The τ_N axes start from the hardest constituent and then, greedily, the constituent with the
  largest pT·min ΔR² to the axes chosen so far; three pT-weighted k-means steps refine them (the
  minimisation that exclusive-kT axes approximate).
* ``toptag_constituents``: the leading ``n`` constituents in jet coordinates,
  log(pT/pT_jet) (``LOG_PT_PAD`` when absent), Δη and Δφ (0 when absent).
* ``toptag_raw``: the ``4 n`` raw ``E_i, PX_i, PY_i, PZ_i`` columns (the seed analysis' input).
* ``constituents``: the particle set of a set model (``particle_set``): the leading ``n`` particles, each
  as the named ``particle_features`` and a mask, particle-major (``features_config``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from trigdeploy.config import FeaturesConfig
from trigdeploy.data import jetsub
from trigdeploy.data import kinematics as kin
from trigdeploy.data.layouts import TOPTAG_N_CONSTITUENTS, toptag_constituent_columns
from trigdeploy.errors import TrigdeployError
from trigdeploy.features_config import (
    HLS4ML_PARTICLE_PT,
    PARTICLE_FEATURES,
    L1Grid,
    constituent_set_names,
    jet_feature_names,
    l1_word_names,
    stored_column,
)

R0, ECF_CONSTITUENTS, KMEANS_STEPS, LOG_PT_PAD = (
    jetsub.R0,
    jetsub.ECF_CONSTITUENTS,
    jetsub.KMEANS_STEPS,
    jetsub.LOG_PT_PAD,
)
JET_FEATURES = (
    "jet_pt",
    "jet_eta",
    "jet_mass",
    "n_constituents",
    "tau1",
    "tau2",
    "tau3",
    "tau21",
    "tau32",
    "c2",
    "d2",
    "girth",
    "ptd",
    "lead_pt_frac",
)


def _pt_eta_phi(c: np.ndarray):
    """pT, η (0 where pT = 0), φ of four-vectors ``(..., 4)`` float64, as ``jetsub`` computes them."""
    pt = np.sqrt(c[..., 1] * c[..., 1] + c[..., 2] * c[..., 2])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(c[..., 3] / np.where(pt > 0, pt, 1.0)), 0.0)
    return pt, eta, np.arctan2(c[..., 2], c[..., 1])


def _d2_to_axes(eta, phi, a_eta, a_phi):
    """ΔR² of every constituent to every axis: ``(n_jets, k, n_axes)``."""
    de = eta[:, :, None] - a_eta[:, None, :]
    dp = kin.delta_phi(phi[:, :, None], a_phi[:, None, :])
    return de * de + dp * dp


def _axes(eta, phi, pt, n_axes):
    """Greedy seeds refined by pT-weighted k-means in (η, φ); returns (n_jets, n_axes, 2)."""
    n = len(pt)
    rows = np.arange(n)
    seeds = [np.argmax(pt, axis=1)]
    for _ in range(1, n_axes):
        d2 = _d2_to_axes(
            eta, phi, np.stack([eta[rows, s] for s in seeds], 1), np.stack([phi[rows, s] for s in seeds], 1)
        )
        seeds.append(np.argmax(pt * d2.min(-1), axis=1))
    ax = np.stack([np.stack([eta[rows, s], phi[rows, s]], -1) for s in seeds], 1)
    for _ in range(KMEANS_STEPS):
        nearest = np.argmin(_d2_to_axes(eta, phi, ax[:, :, 0], ax[:, :, 1]), axis=-1)
        for k in range(n_axes):
            w = pt * (nearest == k)
            sw = w.sum(1)
            has = sw > 0
            dphi = kin.delta_phi(phi, ax[:, k, 1][:, None])
            new_eta = (w * eta).sum(1) / np.where(has, sw, 1)
            new_phi = ax[:, k, 1] + (w * dphi).sum(1) / np.where(has, sw, 1)
            ax[:, k, 0] = np.where(has, new_eta, ax[:, k, 0])
            ax[:, k, 1] = np.where(has, new_phi, ax[:, k, 1])
    return ax


def toptag_jet_features_numpy(const: np.ndarray) -> np.ndarray:
    """The definition of the jet features, vectorised over jets in numpy (float64): the reference
    ``toptag_jet_features`` (compiled, one jet at a time) equals to float32 rounding."""
    const = const.astype(np.float64, copy=False)
    live = const[..., 0] > 0
    # constituents are pT-ordered and zero-padded: drop the columns after the last live one of the chunk
    used = max(1, int(np.flatnonzero(live.any(0)).max(initial=0)) + 1)
    const, live = const[:, :used], live[:, :used]
    pt, eta, phi = _pt_eta_phi(const)
    pt, eta, phi = pt * live, np.where(live, eta, 0.0), np.where(live, phi, 0.0)
    jet = const.sum(1)
    jpt, jeta, jphi = _pt_eta_phi(jet)
    jm = np.sqrt(
        np.maximum(jet[:, 0] * jet[:, 0] - (jet[:, 1] * jet[:, 1] + jet[:, 2] * jet[:, 2] + jet[:, 3] * jet[:, 3]), 0.0)
    )
    sum_pt = np.where(pt.sum(1) > 0, pt.sum(1), 1.0)
    taus = []
    for n_axes in (1, 2, 3):
        ax = _axes(eta, phi, pt, n_axes)
        d2 = _d2_to_axes(eta, phi, ax[:, :, 0], ax[:, :, 1]).min(-1)
        taus.append((pt * np.sqrt(d2)).sum(1) / (sum_pt * R0))
    tau1, tau2, tau3 = taus
    with np.errstate(divide="ignore", invalid="ignore"):
        tau21 = np.where(tau1 > 0, tau2 / tau1, 0.0)
        tau32 = np.where(tau2 > 0, tau3 / tau2, 0.0)
    # energy correlation functions on the leading columns (constituents are pT-ordered)
    k = min(ECF_CONSTITUENTS, const.shape[1])
    z = pt[:, :k] / sum_pt[:, None]
    r = np.sqrt(_d2_to_axes(eta[:, :k], phi[:, :k], eta[:, :k], phi[:, :k]))
    e2 = 0.5 * np.einsum("ni,nij,nj->n", z, r, z)
    sz = np.sqrt(z)
    b = sz[:, :, None] * r * sz[:, None, :]
    e3 = ((b @ b) * b.transpose(0, 2, 1)).sum((1, 2)) / 6.0  # trace(b³)/6, R_ii = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        c2 = np.where(e2 > 0, e3 / (e2 * e2), 0.0)
        d2 = np.where(e2 > 0, e3 / (e2 * e2 * e2), 0.0)
    dr_jet = np.sqrt(_d2_to_axes(eta, phi, jeta[:, None], jphi[:, None])[..., 0])
    girth = (pt * dr_jet).sum(1) / sum_pt
    ptd = np.sqrt((pt * pt).sum(1)) / sum_pt
    lead = pt.max(1) / sum_pt
    return np.stack([jpt, jeta, jm, live.sum(1), tau1, tau2, tau3, tau21, tau32, c2, d2, girth, ptd, lead], axis=1)


def toptag_jet_features(const: np.ndarray) -> np.ndarray:
    """``(n, len(JET_FEATURES))`` float64 from constituents ``(n, k, 4)`` (compiled, see ``jetsub``)."""
    return jetsub.compute_jet_features(const)


def toptag_constituent_features_numpy(const: np.ndarray, n: int) -> np.ndarray:
    """The definition of the constituent features in numpy (float64); see ``toptag_constituent_features``."""
    const = const.astype(np.float64, copy=False)
    jpt, jeta, jphi = _pt_eta_phi(const.sum(1))
    lead = const[:, :n]
    live = lead[..., 0] > 0
    pt, eta, phi = _pt_eta_phi(lead)
    with np.errstate(divide="ignore"):
        logpt = np.where(live, np.log(np.where(live, pt, 1.0) / jpt[:, None]), LOG_PT_PAD)
    deta = np.where(live, eta - jeta[:, None], 0.0)
    dphi = np.where(live, kin.delta_phi(phi, jphi[:, None]), 0.0)
    out = np.stack([logpt, deta, dphi], axis=-1).reshape(len(const), -1)
    if n > lead.shape[1]:  # fewer stored constituents than requested
        pad = np.tile([LOG_PT_PAD, 0.0, 0.0], n - lead.shape[1])
        out = np.concatenate([out, np.broadcast_to(pad, (len(const), pad.size))], axis=1)
    return out


def toptag_constituent_features(const: np.ndarray, n: int) -> np.ndarray:
    """``(jets, 3 n)``: log(pT/pT_jet), Δη, Δφ of the leading ``n`` constituents, interleaved
    (compiled; equal to ``toptag_constituent_features_numpy`` to float32 rounding)."""
    return jetsub.compute_constituent_features(const, n)


def constituent_feature_names(n: int) -> list[str]:
    """The names of the ``n`` leading constituents' features (log pT ratio, Δη, Δφ each)."""
    return [f"{q}_{i}" for i in range(n) for q in ("logpt_rel", "deta", "dphi")]


def _particle_columns(pt, eta, phi, e, jet, features: tuple[str, ...]) -> list[np.ndarray]:
    """The per-particle ``features`` (names from ``features_config.PARTICLE_FEATURES``), for live particles; the
    logarithms and ratios only where asked for."""
    jpt, jeta, jphi = _pt_eta_phi(jet)
    deta, dphi = eta - jeta[:, None], kin.delta_phi(phi, jphi[:, None])
    formulas = {
        "log_pt_rel": lambda: np.log(pt / jpt[:, None]),
        "deta": lambda: deta,
        "dphi": lambda: dphi,
        "dr": lambda: np.sqrt(deta * deta + dphi * dphi),
        "log_pt": lambda: np.log(pt),
        "log_e": lambda: np.log(e),
        "log_e_rel": lambda: np.log(e / jet[:, 0][:, None]),
        "pt_rel": lambda: pt / jpt[:, None],
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        return [formulas[f]() for f in features]


def _leading(const: np.ndarray, n: int):
    """The leading ``n`` of float64 constituents ``(jets, k, 4)`` (zero-padded to ``n``): which are particles (E > 0
    and pT > 0), the four-vectors with a unit particle in every padded slot (no log(0)), and their pT, η, φ."""
    lead = const[:, :n]
    if lead.shape[1] < n:  # fewer stored constituents than requested
        lead = np.concatenate([lead, np.zeros((len(const), n - lead.shape[1], 4))], axis=1)
    live = (lead[..., 0] > 0) & (lead[..., 1] * lead[..., 1] + lead[..., 2] * lead[..., 2] > 0)
    safe = np.where(live[..., None], lead, [1.0, 1.0, 0.0, 0.0])
    return live, safe, _pt_eta_phi(safe)


def particle_set(const: np.ndarray, n: int, features: tuple[str, ...]) -> np.ndarray:
    """``(jets, n (F + 1))`` float64: the leading ``n`` particles of pT-ordered, zero-padded constituents
    ``(jets, k, 4)`` (E, px, py, pz; the jet is the sum of all ``k``), each as ``features`` then a mask (1 for a
    particle, 0 for padding: every feature 0 there), particle-major (``constituent_set_names``)."""
    const = const.astype(np.float64, copy=False)
    live, safe, (pt, eta, phi) = _leading(const, n)
    jet = const.sum(1)
    jet = np.where((jet[:, 0] > 0)[:, None], jet, [1.0, 1.0, 0.0, 0.0])  # an empty jet: every particle padded
    cols = _particle_columns(pt, eta, phi, safe[..., 0], jet, features)
    out = np.stack([*(np.where(live, c, 0.0) for c in cols), live.astype(np.float64)], axis=-1)
    return out.reshape(len(const), -1)


def _word(v: np.ndarray, lsb: float, bits: int, signed: bool) -> np.ndarray:
    """``v`` in steps of ``lsb``, rounded half to even and saturated on ``bits`` (signed or not)."""
    top = 2.0 ** (bits - 1) if signed else 2.0**bits
    return np.clip(np.rint(v / lsb), -top if signed else 0.0, top - 1)


def l1_words(const: np.ndarray, n: int, grid: L1Grid) -> np.ndarray:
    """``(jets, 3 n + 2)`` float64 integers: the leading ``n`` particles' L1 words (pT, η, φ; all 0 where padded)
    of pT-ordered, zero-padded constituents ``(jets, k, 4)``, then the jet's η and φ words (the jet: the sum of
    all ``k``; 0 for an empty jet), on ``grid`` (``features_config.l1_word_names``). φ words lie in
    [-period/2, period/2): a φ of π is -π."""
    const = const.astype(np.float64, copy=False)
    live, _, (pt, eta, phi) = _leading(const, n)
    jet = const.sum(1)
    has = (jet[:, 0] > 0) & (jet[:, 1] * jet[:, 1] + jet[:, 2] * jet[:, 2] > 0)
    _, jeta, jphi = _pt_eta_phi(np.where(has[:, None], jet, [1.0, 1.0, 0.0, 0.0]))
    half = grid.phi_period // 2

    def phi_word(v):
        return np.mod(np.rint(v / grid.phi_lsb) + half, 2 * half) - half

    words = (
        np.stack(
            [
                _word(pt, grid.pt_lsb, grid.pt_bits, False),
                _word(eta, grid.eta_lsb, grid.eta_bits, True),
                phi_word(phi),
            ],
            axis=-1,
        )
        * live[..., None]
    )
    jet_words = np.stack([_word(jeta, grid.eta_lsb, grid.eta_bits, True), phi_word(jphi)], axis=-1) * has[:, None]
    return np.concatenate([words.reshape(len(const), -1), jet_words], axis=1) + 0.0  # no -0.0


def _log_where(v: np.ndarray, live, what: str) -> np.ndarray:
    """The natural logarithm of ``v`` where ``live`` (0 elsewhere), in ``v``'s precision; a live value ≤ 0 is one
    line: ``what`` is that value, expected > 0."""
    bad = live & ~(v > 0)
    if bad.any():
        raise TrigdeployError(f"{what} is {v[bad][0]:g}, expected > 0 (its logarithm)")
    return np.log(np.where(live, v, 1.0))


class FeatureBuilder:
    """Maps raw columns of a chunk to the model's feature matrix.

    ``inputs`` are the raw columns it reads; ``names`` the features it produces, in order.
    """

    def __init__(self, cfg: FeaturesConfig, columns: list[str], particle_columns: list[str] = (), collection=None):
        self.kind = cfg.kind
        self.cfg = cfg
        self.stored: tuple[int, int] | None = None  # a stored particle set: (particles read, columns each)
        self.picks: list[tuple[int, bool, str]] = []  # each feature of a stored set: (column, logarithm?, name)
        self.counted = False  # the stored set's mask: below the collection's count (ROOT), else pT ≠ 0
        self.set_width = 0  # values per particle of a particle set
        self.jet_logs: list[bool] = []  # each of the jet's features after the set: a logarithm?
        self.words = cfg.kind == "constituents" and cfg.inputs == "l1"  # L1 words: integers, never scaled
        if cfg.kind == "columns":
            self.inputs = list(columns)
            self.names = list(columns)
            return
        if cfg.kind == "constituents" and collection is not None:
            self._collection_set(*collection)
            self._jet_columns(columns)
            return
        n_stored = sum(1 for c in columns if c.startswith("E_") and c[2:].isdigit())
        if cfg.kind == "constituents" and not n_stored and particle_columns:
            self._stored_set(list(particle_columns))
            self._jet_columns(columns)
            return
        if cfg.jet_features:
            raise TrigdeployError(
                "features.jet_features: the top-tagging layout stores no jet columns to read (a file's jet columns: "
                "hls4ml's jet layout, a ROOT tree)"
            )
        n_stored = n_stored or TOPTAG_N_CONSTITUENTS
        if cfg.kind == "toptag_raw":
            self.inputs = toptag_constituent_columns(min(cfg.n_raw_constituents, n_stored))
            self.names = list(self.inputs)
            return
        self.inputs = toptag_constituent_columns(n_stored)
        if self.words:
            self.names = l1_word_names(cfg.n_constituents)
            return
        if cfg.kind == "constituents":
            unknown = [f for f in cfg.particles() if f not in PARTICLE_FEATURES]
            if unknown:
                raise TrigdeployError(
                    f"features.particle_features: {unknown[0]!r} cannot be computed from four-vectors; expected "
                    f"some of {', '.join(PARTICLE_FEATURES)}"
                )
            self.names = constituent_set_names(cfg.n_constituents, cfg.particles())
            self.set_width = len(cfg.particles()) + 1
            return
        names: list[str] = []
        if "jet" in cfg.kind:
            names += JET_FEATURES
        if "constituents" in cfg.kind:
            names += constituent_feature_names(cfg.n_constituents)
        self.names = names

    def _stored_set(self, particle_columns: list[str]) -> None:
        """A particle set read from a file's particle columns ``<name>[<i>]`` (hls4ml's ``jetConstituentList``):
        the named features of the leading particles and their pT (the mask: a padded particle's is 0)."""
        names = list(dict.fromkeys(c[: c.rindex("[")] for c in particle_columns))
        features = self.cfg.particles(stored=True)
        columns = self._columns_of(features)
        n_read = self._read_set(features, (*columns, HLS4ML_PARTICLE_PT), names, "a feature of the file's particles")
        n_read = min(n_read, len(particle_columns) // len(names))
        self.inputs = [f"{f}[{i}]" for i in range(n_read) for f in (*columns, HLS4ML_PARTICLE_PT)]
        self.stored = (n_read, len(columns))

    def _jet_columns(self, columns: list[str]) -> None:
        """The jet's ``features.jet_features`` read after the set: each a file column, or its logarithm."""
        parsed = [stored_column(f) for f in self.cfg.jet_features]
        unknown = [c for c, _ in parsed if c not in columns]
        if unknown:
            raise TrigdeployError(f"features.jet_features: {unknown[0]!r} is not a jet column of the file")
        self.jet_logs = [log for _, log in parsed]
        self.inputs = [*self.inputs, *(c for c, _ in parsed)]
        self.names = [*self.names, *jet_feature_names(self.cfg.jet_features)]

    def _jet_values(self, m: np.ndarray) -> np.ndarray:
        """The jet's features from its columns ``m`` (jets, J): each column or its logarithm (a value ≤ 0 under a
        logarithm is an error)."""
        out = np.array(m, np.float64)
        for j, (log, name) in enumerate(zip(self.jet_logs, self.cfg.jet_features)):
            if log:
                out[:, j] = _log_where(
                    out[:, j], True, f"features.jet_features: {name}: a jet's {stored_column(name)[0]}"
                )
        return out.astype(np.float32)

    def _columns_of(self, features: tuple[str, ...]) -> tuple[str, ...]:
        """The stored columns that ``features`` read (each once), and which column and whether its logarithm
        each feature is (``self.picks``)."""
        parsed = [stored_column(f) for f in features]
        columns = tuple(dict.fromkeys(c for c, _ in parsed))
        self.picks = [(columns.index(c), log, f) for (c, log), f in zip(parsed, features)]
        return columns

    def _collection_set(self, name: str, branches: tuple[str, ...], n_stored: int, count: str) -> None:
        """A particle set read from a ROOT collection (``data.collections.<name>``: its ``<branch>_<i>`` columns,
        the leading ``n_stored`` particles) and its count (the mask: a particle below it is present)."""
        features = self.cfg.particle_features
        columns = self._columns_of(features)
        n_read = min(self._read_set(features, columns, branches, f"a branch of data.collections.{name}"), n_stored)
        self.inputs = [*(f"{f}_{i}" for i in range(n_read) for f in columns), count]
        self.stored, self.counted = (n_read, len(columns)), True

    def _read_set(self, features: tuple[str, ...], needed: tuple[str, ...], have, where: str) -> int:
        """Check that the stored particles hold ``needed`` (else one line: the first missing is not ``where``, and
        what ``have`` holds); set the set's names and width; return the particles to read at most."""
        unknown = [f for f in needed if f not in have]
        if unknown:
            raise TrigdeployError(
                f"features.particle_features: {unknown[0]!r} is not {where} (they have {', '.join(have)})"
            )
        self.names = constituent_set_names(self.cfg.n_constituents, features)
        self.set_width = len(features) + 1
        return self.cfg.n_constituents

    def _from_stored(self, matrix: np.ndarray) -> np.ndarray:
        """The particle set of a stored read: its features (``_picked``: zeroed where padded), the mask (from pT or
        the count), padding to N."""
        m = np.asarray(matrix, np.float32)
        jets = len(self.jet_logs)
        if jets:  # the jet's columns come last
            return np.concatenate([self._set_from_stored(m[:, :-jets]), self._jet_values(m[:, -jets:])], axis=1)
        return self._set_from_stored(m)

    def _set_from_stored(self, m: np.ndarray) -> np.ndarray:
        """``_from_stored`` of the set's columns."""
        n_read, width = self.stored
        if self.counted:  # the columns, then the count
            values = m[:, :-1].reshape(len(m), n_read, width)
            live = np.arange(n_read)[None, :] < m[:, -1:]
        else:  # each particle's columns, then its pT
            block = m.reshape(len(m), n_read, width + 1)
            values, live = block[..., :-1], block[..., -1] != 0
        out = np.zeros((len(m), self.cfg.n_constituents, len(self.picks) + 1), np.float32)
        out[:, :n_read, :-1] = self._picked(values, live)
        out[:, :n_read, -1] = live
        return out.reshape(len(m), -1)

    def _picked(self, values: np.ndarray, live: np.ndarray) -> np.ndarray:
        """The set's features from the stored columns ``(jets, particles, columns)``: each column or its
        logarithm, 0 where a particle is padded; a present particle's column ≤ 0 under a logarithm is an error."""
        out = []
        for i, log, name in self.picks:
            v = np.where(live, values[..., i], 0.0)
            if log:
                what = f"features.particle_features: {name}: a present particle's {stored_column(name)[0]}"
                v = _log_where(v, live, what)
            out.append(v)
        return np.stack(out, -1).astype(np.float32)

    @property
    def matrix_inputs(self) -> list[str]:
        """The inputs read as one ``(n, k)`` array (the constituent blocks), or none."""
        return self.inputs if self.kind not in ("columns", "toptag_raw") else []

    def __call__(self, chunk: Mapping[str, np.ndarray], matrix: np.ndarray | None = None) -> np.ndarray:
        """Feature matrix ``(n, len(names))`` float32; ``matrix`` holds ``matrix_inputs`` when the
        reader gave them as one array (else they are stacked from ``chunk``)."""
        if self.kind in ("columns", "toptag_raw"):
            n = len(next(iter(chunk.values())))
            out = np.empty((n, len(self.inputs)), np.float32)
            for i, c in enumerate(self.inputs):
                out[:, i] = chunk[c]
            return out
        if matrix is None:
            matrix = np.stack([chunk[c] for c in self.inputs], axis=1)
        if self.stored is not None:
            return self._from_stored(matrix)
        const = matrix.reshape(len(matrix), len(self.inputs) // 4, 4)
        if self.words:
            return l1_words(const, self.cfg.n_constituents, self.cfg.l1).astype(np.float32)
        if self.kind == "constituents":
            return particle_set(const, self.cfg.n_constituents, self.cfg.particles()).astype(np.float32)
        parts = []
        if "jet" in self.kind:
            parts.append(toptag_jet_features(const))
        if "constituents" in self.kind:
            parts.append(toptag_constituent_features(const, self.cfg.n_constituents))
        return np.concatenate(parts, axis=1).astype(np.float32)
