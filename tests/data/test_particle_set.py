"""The particle set of ``features.kind: constituents``: a hand-computed jet, padding, the φ wrap, the scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trigdeploy.config import FeaturesConfig, ScalingConfig
from trigdeploy.data.features import FeatureBuilder, particle_set
from trigdeploy.data.layouts import toptag_constituent_columns
from trigdeploy.data.scaling import Standardizer
from trigdeploy.errors import TrigdeployError
from trigdeploy.features_config import constituent_set_names
from trigdeploy.schema import build


def _p4(pt, eta, phi):
    """A massless four-vector (E, px, py, pz)."""
    return [pt * math.cosh(eta), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)]


# two particles on either side of φ = ±π (the wrap), one padded slot; the jet is their sum
A, B = (100.0, 0.1, 3.1), (50.0, -0.2, -3.1)
JET = [a + b for a, b in zip(_p4(*A), _p4(*B))]
JET_PT, JET_E = math.hypot(JET[1], JET[2]), JET[0]
JET_ETA, JET_PHI = math.asinh(JET[3] / JET_PT), math.atan2(JET[2], JET[1])


def _by_hand(pt, eta, phi):
    """Every particle feature of one particle, written out from the definitions."""
    deta = eta - JET_ETA
    dphi = (phi - JET_PHI + math.pi) % (2 * math.pi) - math.pi
    e = pt * math.cosh(eta)
    return {
        "log_pt_rel": math.log(pt / JET_PT),
        "deta": deta,
        "dphi": dphi,
        "dr": math.hypot(deta, dphi),
        "log_pt": math.log(pt),
        "log_e": math.log(e),
        "log_e_rel": math.log(e / JET_E),
        "pt_rel": pt / JET_PT,
    }


FEATURES = ("log_pt_rel", "deta", "dphi", "dr", "log_pt", "log_e", "log_e_rel", "pt_rel")


def test_a_hand_computed_jet_with_padding_and_the_phi_wrap():
    const = np.array([[_p4(*A), _p4(*B), [0.0] * 4]])
    got = particle_set(const, 4, FEATURES).reshape(4, len(FEATURES) + 1)  # 4 slots: 2 particles, 2 padded
    for row, particle in zip(got[:2], (A, B)):
        want = _by_hand(*particle)
        np.testing.assert_allclose(row[:-1], [want[f] for f in FEATURES], rtol=0, atol=1e-12)
        assert row[-1] == 1.0
    assert abs(got[0, 2]) < 0.2 and abs(got[1, 2]) < 0.2  # both near the jet axis across the wrap, not ≈ 2π away
    assert (got[2:] == 0).all()  # padding: every feature and the mask 0


def test_the_names_are_particle_major_with_the_mask_last():
    assert constituent_set_names(2, ("deta", "dphi")) == [
        "p0_deta",
        "p0_dphi",
        "p0_mask",
        "p1_deta",
        "p1_dphi",
        "p1_mask",
    ]
    builder = FeatureBuilder(FeaturesConfig(kind="constituents", n_constituents=2), toptag_constituent_columns(3))
    assert builder.names == constituent_set_names(2, ("log_pt_rel", "deta", "dphi")) and builder.set_width == 4
    const = np.array([[_p4(*A), _p4(*B), [0.0] * 4]], np.float32)
    out = builder({}, const.reshape(1, -1))
    np.testing.assert_allclose(out, particle_set(const, 2, ("log_pt_rel", "deta", "dphi")).astype(np.float32))


def test_an_empty_jet_is_all_padding():
    assert (particle_set(np.zeros((1, 5, 4)), 3, FEATURES) == 0).all()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"kind": "constituents", "particle_features": ["deta", "mass"]}, "unknown 'mass'"),
        ({"kind": "constituents", "particle_features": ["deta", "deta"]}, "listed twice"),
        ({"kind": "toptag_jet", "particle_features": ["deta"]}, "only for kind constituents"),
        ({"kind": "constituents", "n_constituents": 201}, "n_constituents"),
    ],
    ids=["unknown-feature", "twice", "wrong-kind", "too-many-particles"],
)
def test_a_bad_features_section_is_refused_at_load(section, message):
    with pytest.raises(TrigdeployError, match=message):
        build(FeaturesConfig, section, "features", "run.yaml")


def test_a_particle_set_is_scaled_per_feature_across_particles_and_the_mask_is_kept():
    rng = np.random.default_rng(1)
    rows, n, width = 500, 4, 3
    x = rng.normal(2.0, 3.0, (rows, n, width))
    x[..., -1] = 1.0
    x[rng.random((rows, n)) < 0.3, :] = 0.0  # padded particles: features and mask 0
    flat = x.reshape(rows, -1)
    scaler = Standardizer.fit(flat, [f"c{i}" for i in range(n * width)], ScalingConfig(), set_width=width)
    live = x[..., -1] == 1
    mean, std = x[live][:, :-1].mean(0), x[live][:, :-1].std(0)
    np.testing.assert_allclose(scaler.mean, np.tile([*mean, 0.0], n), rtol=1e-12)
    np.testing.assert_allclose(scaler.std, np.tile([*std, 1.0], n), rtol=1e-12)
    out = scaler.transform(flat).reshape(rows, n, width)
    assert set(np.unique(out[..., -1])) == {0.0, 1.0}
    # the per-column fit (what a set must not get) differs: slots hold different shares of padding
    per_column = Standardizer.fit(flat, [f"c{i}" for i in range(n * width)], ScalingConfig())
    assert not np.allclose(per_column.mean, scaler.mean)
