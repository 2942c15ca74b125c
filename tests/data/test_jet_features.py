"""The jet's values beside a particle set (``features.jet_features``): read from the file's jet columns after the
set (a column or its logarithm), scaled each on its own, guarded like named columns; every misuse is one line."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_config
from data.test_particle_set import _hls4ml_file
from trigdeploy.config import FeaturesConfig
from trigdeploy.data.features import FeatureBuilder
from trigdeploy.data.layouts import HLS4ML_JET_NAMES, toptag_constituent_columns
from trigdeploy.errors import TrigdeployError
from trigdeploy.schema import build

LABEL = {"onehot": ["j_g", "j_q", "j_w", "j_z", "j_t"]}


def _file(path):
    """hls4ml's jet layout (``_hls4ml_file``) with ``j_multiplicity`` the jets' particle counts (5-80) and ``j_pt``
    positive; returns (particles, jet table)."""
    import tables

    parts, _, _ = _hls4ml_file(path)
    with tables.open_file(str(path), "a") as f:
        jets = f.root.jets[:]
        rng = np.random.default_rng(3)
        jets[:, HLS4ML_JET_NAMES.index("j_multiplicity")] = rng.integers(5, 81, len(jets))
        jets[:, HLS4ML_JET_NAMES.index("j_pt")] = np.abs(jets[:, HLS4ML_JET_NAMES.index("j_pt")]) + 0.5
        f.root.jets[:] = jets
    return parts, jets


def _builder(path, jet_features, n=4):
    from trigdeploy.data.hdf5 import HDF5Table

    cfg = FeaturesConfig(kind="constituents", n_constituents=n, jet_features=jet_features)
    with HDF5Table(path, "jets") as t:
        builder = FeatureBuilder(cfg, t.columns, t.particle_columns)
        return builder, t.read_matrix(0, 400, builder.inputs)


def test_the_jet_s_columns_follow_the_set_as_read_or_as_their_logarithm(tmp_path):
    parts, jets = _file(tmp_path / "j.h5")
    builder, matrix = _builder(tmp_path / "j.h5", ("j_multiplicity", "log(j_pt)"))
    assert builder.names[-3:] == ["p3_mask", "jet_j_multiplicity", "jet_log_j_pt"]
    out = builder({}, matrix)
    assert out.shape == (400, 4 * 4 + 2)
    np.testing.assert_array_equal(out[:, -2], jets[:, HLS4ML_JET_NAMES.index("j_multiplicity")])
    by_hand = np.log(jets[:, HLS4ML_JET_NAMES.index("j_pt")].astype(np.float64))
    np.testing.assert_allclose(out[:, -1], by_hand, rtol=2e-7, atol=0)  # float32 of the float32 column's log
    alone, matrix = _builder(tmp_path / "j.h5", ())
    np.testing.assert_array_equal(out[:, :-2], alone({}, matrix))  # the set itself unchanged


@pytest.mark.parametrize(
    ("jet_features", "message"),
    [
        (("j_nparticles",), r"features\.jet_features: 'j_nparticles' is not a jet column of the file"),
        (("log(j_eta)",), r"features\.jet_features: log\(j_eta\): a jet's j_eta is -?[0-9.e-]+, expected > 0"),
    ],
    ids=["not-a-column", "log-of-a-negative"],
)
def test_a_jet_column_that_cannot_be_read_is_one_line(tmp_path, jet_features, message):
    _file(tmp_path / "j.h5")
    with pytest.raises(TrigdeployError, match=message):
        builder, matrix = _builder(tmp_path / "j.h5", jet_features)
        builder({}, matrix)


def test_the_top_tagging_layout_has_no_jet_columns_to_read():
    cfg = FeaturesConfig(kind="constituents", jet_features=("j_multiplicity",))
    with pytest.raises(TrigdeployError, match=r"features\.jet_features: the top-tagging layout stores no jet columns"):
        FeatureBuilder(cfg, toptag_constituent_columns(3))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"kind": "columns", "jet_features": ["j_pt"]}, "only for kind constituents"),
        ({"kind": "constituents", "inputs": "l1", "jet_features": ["j_pt"]}, "not with inputs: l1"),
        ({"kind": "constituents", "jet_features": ["j_pt", "j_pt"]}, "listed twice"),
        ({"kind": "constituents", "jet_features": ["j pt"]}, "'j pt' is not a feature name"),
    ],
    ids=["wrong-kind", "l1-words", "twice", "not-a-name"],
)
def test_a_bad_jet_features_key_is_refused_at_load(section, message):
    with pytest.raises(TrigdeployError, match=message):
        build(FeaturesConfig, section, "features", "run.yaml")


def test_a_set_model_s_jet_count_is_the_trainer_s_not_the_section_s(tmp_path):
    features = {"kind": "constituents", "n_constituents": 4, "jet_features": ["j_multiplicity"]}
    with pytest.raises(TrigdeployError, match=r"key 'train\.deepsets\.jet_features': is set by train"):
        run_config(
            [tmp_path / "j.h5"], features=features, train={"deepsets": {"particle_features": 3, "jet_features": 1}}
        )


def test_a_run_scales_the_jet_s_values_each_on_its_own_and_guards_them(tmp_path):
    from trigdeploy.data.prepare import prepare

    _file(tmp_path / "j.h5")
    features = {"kind": "constituents", "n_constituents": 4, "jet_features": ["log(j_multiplicity)"]}
    cfg = run_config([tmp_path / "j.h5"], data={"hdf5_key": "jets"}, label=LABEL, features=features)
    result = prepare(cfg, tmp_path / "run", progress=False)
    assert result.features[-1] == "jet_log_j_multiplicity"
    x, _ = result.arrays("train")
    assert abs(x[:, -1].mean()) < 0.05 and abs(x[:, -1].std() - 1.0) < 0.05  # its own mean and std
    assert set(np.unique(x[:, :-1].reshape(len(x), 4, 4)[..., -1])) == {0.0, 1.0}  # the masks kept
    leak = run_config(
        [tmp_path / "j.h5"], data={"hdf5_key": "jets"}, label=LABEL, features={**features, "jet_features": ["j_t"]}
    )
    with pytest.raises(
        TrigdeployError, match=r"features\.jet_features: column 'j_t' cannot be used: defines the label"
    ):
        prepare(leak, tmp_path / "leak", progress=False)
