"""Jet features against hand-computed values on tiny jets, and the compiled kernels against the
numpy definition on generated jets."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.config import FeaturesConfig
from trigdeploy.data import kinematics as kin
from trigdeploy.data.features import (
    JET_FEATURES,
    LOG_PT_PAD,
    FeatureBuilder,
    toptag_constituent_features,
    toptag_constituent_features_numpy,
    toptag_jet_features,
    toptag_jet_features_numpy,
)
from trigdeploy.data.layouts import toptag_columns, toptag_constituent_columns


def jet(*particles, slots=6):
    """(1, slots, 4) massless constituents from (pt, eta, phi), pT-ordered, zero-padded."""
    p = sorted(particles, key=lambda x: -x[0])
    out = np.zeros((1, slots, 4))
    for i, (pt, eta, phi) in enumerate(p):
        out[0, i] = kin.from_pt_eta_phi_m(pt, eta, phi, 0.0)
    return out


def feats(j):
    return dict(zip(JET_FEATURES, toptag_jet_features(j)[0]))


def test_single_constituent():
    f = feats(jet((100.0, 0.5, 1.0)))
    assert f["n_constituents"] == 1
    assert f["jet_pt"] == pytest.approx(100.0)
    assert f["jet_eta"] == pytest.approx(0.5)
    assert f["jet_mass"] == pytest.approx(0.0, abs=1e-4)
    for k in ("tau1", "tau2", "tau3", "tau21", "tau32", "c2", "d2", "girth"):
        assert f[k] == pytest.approx(0.0, abs=1e-6), k
    assert f["ptd"] == pytest.approx(1.0)
    assert f["lead_pt_frac"] == pytest.approx(1.0)


def test_two_prongs_hand_computed():
    # equal pT at eta = +-0.1: the one-axis k-means centre is eta = 0, phi = 0
    f = feats(jet((50.0, 0.1, 0.0), (50.0, -0.1, 0.0)))
    # tau1 = sum(pT dR) / (sum(pT) R0) = (50*0.1 + 50*0.1) / (100 * 0.8)
    assert f["tau1"] == pytest.approx(0.125, rel=1e-5)
    assert f["tau2"] == pytest.approx(0.0, abs=1e-7)  # one axis per prong
    assert f["tau21"] == pytest.approx(0.0, abs=1e-6)
    # e3 needs three particles, so C2 = e3 / e2^2 and D2 = e3 / e2^3 vanish while e2 = 0.5 * 0.5 * 0.2 > 0
    assert f["c2"] == pytest.approx(0.0, abs=1e-7)
    assert f["d2"] == pytest.approx(0.0, abs=1e-7)
    # girth = sum(pT dR_jet) / pT = 0.1 (jet axis at eta = 0); pT_D = sqrt(2 * 50^2) / 100
    assert f["girth"] == pytest.approx(0.1, rel=1e-4)
    assert f["ptd"] == pytest.approx(np.sqrt(0.5), rel=1e-6)
    # mass of two massless particles: m^2 = 2 pT1 pT2 (cosh(d_eta) - cos(d_phi))
    assert f["jet_mass"] == pytest.approx(np.sqrt(2 * 50 * 50 * (np.cosh(0.2) - 1.0)), rel=1e-6)


def test_three_prongs_tau3_zero_and_ecf():
    prongs = [(40.0, 0.0, 0.0), (30.0, 0.3, 0.0), (30.0, 0.0, 0.3)]
    f = feats(jet(*prongs))
    assert f["tau3"] == pytest.approx(0.0, abs=1e-7)
    assert f["tau2"] > 0 and f["tau32"] == pytest.approx(0.0, abs=1e-6)
    z = np.array([0.4, 0.3, 0.3])
    r = np.array([[0, 0.3, 0.3], [0.3, 0, np.hypot(0.3, 0.3)], [0.3, np.hypot(0.3, 0.3), 0]])
    e2 = sum(z[i] * z[j] * r[i, j] for i in range(3) for j in range(i + 1, 3))
    e3 = z.prod() * r[0, 1] * r[0, 2] * r[1, 2]
    assert f["c2"] == pytest.approx(e3 / e2**2, rel=1e-5)
    assert f["d2"] == pytest.approx(e3 / e2**3, rel=1e-5)


def test_constituent_features_hand_computed():
    j = jet((60.0, 0.2, 0.1), (40.0, -0.1, -0.2), slots=4)
    f = toptag_constituent_features(j, 3).reshape(3, 3)
    jpt, jeta, jphi = kin.pt(j.sum(1))[0], kin.eta(j.sum(1))[0], kin.phi(j.sum(1))[0]
    np.testing.assert_allclose(f[0], [np.log(60 / jpt), 0.2 - jeta, 0.1 - jphi], rtol=1e-6)
    np.testing.assert_allclose(f[1], [np.log(40 / jpt), -0.1 - jeta, -0.2 - jphi], rtol=1e-6)
    np.testing.assert_array_equal(f[2], [LOG_PT_PAD, 0.0, 0.0])  # absent constituent
    wide = toptag_constituent_features(j, 6).reshape(6, 3)  # more requested than stored
    np.testing.assert_array_equal(wide[4:], [[LOG_PT_PAD, 0, 0]] * 2)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(3.0, -3.0, 6.0 - 2 * np.pi), (-3.0, 3.0, 2 * np.pi - 6.0), (0.5, 0.2, 0.3), (7.0, 0.0, 7.0 - 2 * np.pi)],
    ids=["wrap-down", "wrap-up", "plain", "beyond-2pi"],
)
def test_delta_phi(a, b, expected):
    assert kin.delta_phi(np.array([a]), np.array([b]))[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kind", "n_features"),
    [("toptag_jet", 14), ("toptag_constituents", 30), ("toptag_jet_constituents", 44), ("toptag_raw", 800)],
    ids=["jet", "constituents", "both", "raw"],
)
def test_builder_shapes(kind, n_features):
    b = FeatureBuilder(FeaturesConfig(kind=kind, n_constituents=10), toptag_columns())
    assert len(b.names) == n_features
    assert b.inputs == toptag_constituent_columns()
    chunk = {c: np.zeros(5, np.float32) for c in b.inputs}
    chunk["E_0"][:] = chunk["PX_0"][:] = 100.0
    x = b(chunk)
    assert x.shape == (5, n_features) and x.dtype == np.float32


# --- the compiled kernels against the numpy definition -------------------------------------------


def float32_ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in float32 units in the last place between two arrays after rounding to float32
    (the stored precision); NaNs of both count as equal."""
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    ia, ib = (x.view(np.int32).astype(np.int64) for x in (a32, b32))
    ia, ib = (np.where(i < 0, np.int64(-(2**31)) - i, i) for i in (ia, ib))  # order negatives too
    both_nan = np.isnan(a32) & np.isnan(b32)
    return np.where(both_nan, 0, np.abs(ia - ib))


@pytest.fixture(scope="module")
def generated_jets(tmp_path_factory):
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.data.hdf5 import HDF5Table
    from trigdeploy.generators import ToptagGenConfig

    path = tmp_path_factory.mktemp("jets") / "j.h5"
    write_toptag(ToptagGenConfig(jets=3000, seed=5, chunk_size=3000), path, progress=False)
    with HDF5Table(path) as t:
        return t.read_matrix(0, t.n_rows, toptag_constituent_columns()).reshape(-1, 200, 4)


# Both sides compute in float64 with the same formulas per element; only the order of the sums over
# constituents differs (relative differences ~1e-15), so after rounding to the stored float32 a value
# can at most land on the other side of one rounding boundary: one ulp. A flipped τ-axis assignment
# (what float32 k-means did) would show as thousands of ulps.
def test_compiled_jet_features_equal_numpy_definition(generated_jets):
    ulps = float32_ulps(toptag_jet_features(generated_jets), toptag_jet_features_numpy(generated_jets))
    assert ulps.max() <= 1, {n: int(u) for n, u in zip(JET_FEATURES, ulps.max(0))}


def test_compiled_constituent_features_equal_numpy_definition(generated_jets):
    ulps = float32_ulps(
        toptag_constituent_features(generated_jets, 12), toptag_constituent_features_numpy(generated_jets, 12)
    )
    assert ulps.max() <= 1


def test_ulp_comparison_catches_a_two_ulp_change(generated_jets):
    ref = toptag_jet_features_numpy(generated_jets[:50]).astype(np.float32)
    bumped = ref.copy()
    bumped[7, 5] = np.nextafter(np.nextafter(ref[7, 5], np.float32(np.inf)), np.float32(np.inf))
    assert float32_ulps(bumped, ref).max() == 2
    assert float32_ulps(ref, ref).max() == 0


def test_features_do_not_depend_on_the_chunk(generated_jets):
    whole = toptag_jet_features(generated_jets)
    parts = np.concatenate([toptag_jet_features(generated_jets[a : a + 333]) for a in range(0, 3000, 333)])
    reversed_order = toptag_jet_features(generated_jets[::-1].copy())[::-1]
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(reversed_order, whole)


@pytest.mark.parametrize(
    "particles",
    [
        (),
        ((100.0, 0.5, 1.0),),
        ((50.0, 0.1, 3.1), (50.0, -0.1, -3.1)),
        ((30.0, 0.0, 0.0),) * 3,
        tuple((60.0 - i, 0.01 * i, 0.02 * i) for i in range(45)),
    ],
    ids=["empty", "one", "across-phi-wrap", "identical-three", "45-constituents"],
)
def test_compiled_equals_numpy_on_edge_jets(particles):
    j = jet(*particles, slots=50)
    assert float32_ulps(toptag_jet_features(j), toptag_jet_features_numpy(j)).max() <= 1
    assert float32_ulps(toptag_constituent_features(j, 4), toptag_constituent_features_numpy(j, 4)).max() <= 1


def test_gap_in_constituents_is_read_like_the_definition():
    j = jet((50.0, 0.1, 0.0), (40.0, -0.2, 0.3), (30.0, 0.3, -0.2), slots=6)
    j[0, [1, 3]] = j[0, [3, 1]]  # an empty column between live ones (E = 0 marks it empty)
    np.testing.assert_array_equal(toptag_jet_features(j)[0, 3], 3)
    assert float32_ulps(toptag_jet_features(j), toptag_jet_features_numpy(j)).max() <= 1
