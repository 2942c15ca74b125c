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
        ({"kind": "constituents", "particle_features": ["deta", "m ass"]}, "'m ass' is not a feature name"),
        ({"kind": "constituents", "particle_features": ["deta", "deta"]}, "listed twice"),
        ({"kind": "constituents", "particle_features": ["log(j1 pt)"]}, r"'log\(j1 pt\)' is not a feature name"),
        ({"kind": "constituents", "particle_features": ["exp(j1_pt)"]}, r"or log\(<name>\)"),
        ({"kind": "toptag_jet", "particle_features": ["deta"]}, "only for kind constituents"),
        ({"kind": "constituents", "collection": "part"}, "name the branches of the collection"),
        ({"kind": "constituents", "n_constituents": 201}, "n_constituents"),
    ],
    ids=[
        "not-a-name",
        "twice",
        "log-of-not-a-name",
        "not-log",
        "wrong-kind",
        "collection-without-features",
        "too-many-particles",
    ],
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


# ---------------------------------------------------------------------------------------------- stored particles


def _hls4ml_file(path, n=400, stored=4, seed=0):
    """A file in hls4ml's jet layout whose ``jetConstituentList`` holds ``stored`` particles per jet, the last
    ones zero-padded on some jets; class k shifts every particle's j1_etarel."""
    import tables

    from trigdeploy.data import layouts

    rng = np.random.default_rng(seed)
    k = rng.integers(0, 5, n)
    jets = rng.normal(size=(n, len(layouts.HLS4ML_JET_NAMES))).astype(np.float32)
    jets[:, -6:] = 0.0
    jets[np.arange(n), len(layouts.HLS4ML_JET_NAMES) - 6 + k] = 1.0
    parts = rng.normal(size=(n, stored, len(layouts.HLS4ML_PARTICLE_NAMES))).astype(np.float32)
    names = list(layouts.HLS4ML_PARTICLE_NAMES)
    parts[..., names.index("j1_pt")] = rng.uniform(1, 50, (n, stored))
    parts[..., names.index("j1_etarel")] += 0.8 * k[:, None]
    n_live = rng.integers(1, stored + 1, n)
    parts[np.arange(stored)[None, :] >= n_live[:, None]] = 0.0
    with tables.open_file(str(path), "w") as f:
        f.create_array("/", "jets", jets)
        f.create_array("/", "jetFeatureNames", np.array([s.encode() for s in layouts.HLS4ML_JET_NAMES]))
        f.create_array("/", "particleFeatureNames", np.array([s.encode() for s in names]))
        f.create_array("/", "jetConstituentList", parts)
    return parts, names, k


def test_a_stored_particle_dataset_is_read_by_name_and_not_among_the_columns(tmp_path):
    from trigdeploy.data.hdf5 import HDF5Table

    parts, names, _ = _hls4ml_file(tmp_path / "j.h5")
    with HDF5Table(tmp_path / "j.h5", "jets") as t:
        assert t.particle_columns[:2] == ["j1_px[0]", "j1_py[0]"] and len(t.particle_columns) == 4 * 16
        assert not set(t.particle_columns) & set(t.columns)
        got = t.read_matrix(10, 30, ["j1_etarel[2]", "j1_pt[0]", "j1_pt[3]"])
        want = parts[10:30][:, [2, 0, 3], [names.index("j1_etarel"), names.index("j1_pt"), names.index("j1_pt")]]
        np.testing.assert_array_equal(got, want)


def test_the_set_of_stored_particles_pads_masks_and_zeroes(tmp_path):
    from trigdeploy.data.hdf5 import HDF5Table

    parts, names, _ = _hls4ml_file(tmp_path / "j.h5")
    with HDF5Table(tmp_path / "j.h5", "jets") as t:
        builder = FeatureBuilder(FeaturesConfig(kind="constituents", n_constituents=6), t.columns, t.particle_columns)
        assert builder.names == constituent_set_names(6, ("j1_ptrel", "j1_etarel", "j1_phirel"))
        out = builder({}, t.read_matrix(0, 400, builder.inputs)).reshape(400, 6, 4)
    live = parts[..., names.index("j1_pt")] != 0
    want = parts[..., [names.index(f) for f in ("j1_ptrel", "j1_etarel", "j1_phirel")]] * live[..., None]
    np.testing.assert_array_equal(out[:, :4, :3], want)
    np.testing.assert_array_equal(out[:, :4, 3], live)
    assert (out[:, 4:] == 0).all()  # two slots beyond the four stored particles: padding


def test_a_stored_feature_s_logarithm_is_taken_for_present_particles_only(tmp_path):
    from trigdeploy.data.hdf5 import HDF5Table

    parts, names, _ = _hls4ml_file(tmp_path / "j.h5")
    features = ("log(j1_pt)", "j1_etarel", "j1_pt")  # a column and its logarithm: the column is read once
    cfg = FeaturesConfig(kind="constituents", n_constituents=5, particle_features=features)
    with HDF5Table(tmp_path / "j.h5", "jets") as t:
        builder = FeatureBuilder(cfg, t.columns, t.particle_columns)
        assert builder.names[:4] == ["p0_log_j1_pt", "p0_j1_etarel", "p0_j1_pt", "p0_mask"]
        assert [c for c in builder.inputs if c.endswith("[0]")] == ["j1_pt[0]", "j1_etarel[0]", "j1_pt[0]"]
        out = builder({}, t.read_matrix(0, 400, builder.inputs)).reshape(400, 5, 4)
    pt = parts[..., names.index("j1_pt")].astype(np.float64)
    live = pt != 0
    by_hand = np.where(live, np.log(np.where(live, pt, 1.0)), 0.0)  # padding: every feature 0, no log(0)
    np.testing.assert_allclose(out[:, :4, 0], by_hand, rtol=2e-7, atol=0)  # float32 of the float32 column's log
    np.testing.assert_array_equal(out[:, :4, 2], pt.astype(np.float32))
    np.testing.assert_array_equal(out[:, :4, 3], live)
    assert (out[:, 4:] == 0).all() and np.isfinite(out).all()
    assert not np.allclose(out[:, :4, 0], out[:, :4, 2])  # the logarithm is not the column


def test_a_logarithm_of_a_present_particle_s_non_positive_value_is_one_line(tmp_path):
    from trigdeploy.data.hdf5 import HDF5Table

    _hls4ml_file(tmp_path / "j.h5")  # j1_etarel is negative on some present particles
    cfg = FeaturesConfig(kind="constituents", n_constituents=4, particle_features=("log(j1_etarel)",))
    with HDF5Table(tmp_path / "j.h5", "jets") as t:
        builder = FeatureBuilder(cfg, t.columns, t.particle_columns)
        with pytest.raises(
            TrigdeployError, match=r"log\(j1_etarel\): a present particle's j1_etarel is -?[0-9.e-]+, expected > 0"
        ):
            builder({}, t.read_matrix(0, 400, builder.inputs))


def test_a_feature_the_particles_do_not_have_is_one_line(tmp_path):
    from trigdeploy.data.hdf5 import HDF5Table

    _hls4ml_file(tmp_path / "j.h5")
    cfg = FeaturesConfig(kind="constituents", particle_features=("j1_ptrel", "j1_mass"))
    with HDF5Table(tmp_path / "j.h5", "jets") as t:
        with pytest.raises(
            TrigdeployError,
            match=r"features\.particle_features: 'j1_mass' is not a feature of the file's particles \(they have j1_px, j1_py",
        ):
            FeatureBuilder(cfg, t.columns, t.particle_columns)
    with pytest.raises(TrigdeployError, match=r"'j1_ptrel' cannot be computed from four-vectors"):
        FeatureBuilder(cfg, toptag_constituent_columns(3))


def test_a_run_on_stored_particles_scales_per_feature_and_keeps_the_masks(tmp_path):
    from conftest import run_config
    from trigdeploy.data.prepare import prepare

    _, _, k = _hls4ml_file(tmp_path / "j.h5")
    cfg = run_config(
        [tmp_path / "j.h5"],
        data={"hdf5_key": "jets"},
        label={"onehot": ["j_g", "j_q", "j_w", "j_z", "j_t"]},
        features={"kind": "constituents", "n_constituents": 4},
    )
    result = prepare(cfg, tmp_path / "run", progress=False)
    x, y = result.arrays("train")
    np.testing.assert_array_equal(y, k[result.rows("train")])
    p = x.reshape(len(x), 4, 4)
    assert set(np.unique(p[..., -1])) == {0.0, 1.0}
    live = p[..., -1] == 1
    np.testing.assert_allclose(p[..., :-1][live].mean(0), 0.0, atol=0.05)  # per feature, over the particles present
    assert result.report["leak_guard"]["single_feature_auc"]["p0_j1_etarel"]["j_t"] > 0.8  # the planted shift


def test_files_whose_particles_differ_are_refused(tmp_path):
    from trigdeploy.config import DataConfig
    from trigdeploy.data.dataset import Dataset

    _hls4ml_file(tmp_path / "a.h5", stored=4)
    _hls4ml_file(tmp_path / "b.h5", stored=3)
    data = build(DataConfig, {"format": "hdf5", "hdf5_key": "jets", "files": [str(tmp_path / "a.h5")]}, "data", "x")
    with pytest.raises(TrigdeployError, match=r"b\.h5: its particle dataset differs from .*a\.h5's"):
        Dataset(data, [str(tmp_path / "a.h5"), str(tmp_path / "b.h5")])


# ---------------------------------------------------------------------------------------------- ROOT particles


def _root_file(path, n=300, seed=0):
    """A TTree with a flat label and a jagged particle collection (pt, deta, dphi), unsorted, 0-7 per event;
    the label shifts every particle's deta."""
    import awkward as ak
    import uproot

    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    counts = rng.integers(0, 8, n)
    pt = [list(rng.uniform(1, 100, c)) for c in counts]
    deta = [list(rng.normal(0.6 * y, 0.3, c)) for c, y in zip(counts, label)]
    dphi = [list(rng.normal(0, 0.3, c)) for c in counts]
    part = ak.zip({"pt": ak.Array(pt), "deta": ak.Array(deta), "dphi": ak.Array(dphi)})
    with uproot.recreate(path) as f:
        f.mktree("t", {"label": np.int32, "part": part.type}, counter_name=lambda _: "part_n")
        f["t"].extend({"label": label.astype(np.int32), "part": part})
    return label, counts, pt, deta


ROOT_DATA = {
    "format": "root",
    "root_tree": "t",
    "branches": ["label"],
    "collections": {
        "part": {"branches": ["part_pt", "part_deta", "part_dphi"], "n": 5, "sort_by": "part_pt", "counter": "part_n"}
    },
}


def test_a_root_collection_is_a_particle_set_masked_by_its_count(tmp_path):
    from trigdeploy.config import CollectionConfig
    from trigdeploy.data.root import ROOTTree

    _, _, pt, deta = _root_file(tmp_path / "p.root")
    cfg = FeaturesConfig(
        kind="constituents", n_constituents=6, collection="part", particle_features=("part_deta", "part_pt")
    )
    coll = {
        "part": CollectionConfig(
            branches=("part_pt", "part_deta", "part_dphi"), n=5, sort_by="part_pt", counter="part_n"
        )
    }
    with ROOTTree(tmp_path / "p.root", "t", ("label",), coll) as t:
        builder = FeatureBuilder(cfg, t.columns, collection=("part", coll["part"].branches, 5, "part_n"))
        assert builder.inputs[-1] == "part_n" and builder.set_width == 3
        cols = t.read(0, 300, builder.inputs)
        out = builder({}, np.stack([cols[c] for c in builder.inputs], axis=1)).reshape(300, 6, 3)
    for row, (p, d) in enumerate(zip(pt, deta)):
        order = np.argsort(p, kind="stable")[::-1][:5]  # the collection's sort and cut
        want = np.zeros((6, 3), np.float32)
        want[: len(order)] = np.stack([np.asarray(d)[order], np.asarray(p)[order], np.ones(len(order))], 1)
        np.testing.assert_allclose(out[row], want, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (
            {"collection": "jets", "particle_features": ["part_pt"]},
            r"features\.collection 'jets' is not a data\.collections entry \(have: part\)",
        ),
        (
            {"collection": "part", "particle_features": ["part_mass"]},
            r"'part_mass' is not a branch of data\.collections\.part",
        ),
    ],
    ids=["no-such-collection", "no-such-branch"],
)
def test_a_root_particle_set_that_cannot_be_read_is_one_line(tmp_path, features, message):
    from conftest import run_config
    from trigdeploy.data.prepare import prepare

    _root_file(tmp_path / "p.root")
    cfg = run_config(
        [tmp_path / "p.root"], data=ROOT_DATA, label={"column": "label"}, features={"kind": "constituents", **features}
    )
    with pytest.raises(TrigdeployError, match=message):
        prepare(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "features.json").exists()


def test_a_run_on_a_root_collection(tmp_path):
    from conftest import run_config
    from trigdeploy.data.prepare import prepare

    label, _, _, _ = _root_file(tmp_path / "p.root")
    cfg = run_config(
        [tmp_path / "p.root"],
        data=ROOT_DATA,
        label={"column": "label"},
        features={
            "kind": "constituents",
            "n_constituents": 4,
            "collection": "part",
            "particle_features": ["part_deta", "part_dphi"],
        },
    )
    result = prepare(cfg, tmp_path / "run", progress=False)
    assert result.features == constituent_set_names(4, ("part_deta", "part_dphi"))
    x, y = result.arrays("train")
    np.testing.assert_array_equal(y, label[result.rows("train")])
    assert set(np.unique(x.reshape(len(x), 4, 3)[..., -1])) == {0.0, 1.0}
    assert result.report["leak_guard"]["single_feature_auc"]["p0_part_deta"] > 0.8  # the planted shift
