"""Plain 2-D HDF5 datasets named by a string dataset (the layout of hls4ml's jet files: ``jets``
(N × 59) named by ``jetFeatureNames``, beside ``jetConstituentList``): reader and data stage."""

from __future__ import annotations

import numpy as np
import pytest
import tables

from conftest import run_config
from trigdeploy.data.hdf5 import HDF5Table
from trigdeploy.data.prepare import prepare
from trigdeploy.errors import TrigdeployError

# the hls4ml jet dataset's 59 names (53 jet features, then the labels)
HLS4ML_JET_NAMES = (
    ["j_ptfrac", "j_pt", "j_eta", "j_mass"]
    + [f"j_tau{i}_b{b}" for b in (1, 2) for i in (1, 2, 3)]
    + ["j_tau32_b1", "j_tau32_b2", "j_zlogz"]
    + [
        "j_c1_b0",
        "j_c1_b1",
        "j_c1_b2",
        "j_c2_b1",
        "j_c2_b2",
        "j_d2_b1",
        "j_d2_b2",
        "j_d2_a1_b1",
        "j_d2_a1_b2",
        "j_m2_b1",
        "j_m2_b2",
        "j_n2_b1",
        "j_n2_b2",
    ]
    + [f"j_tau{i}_b{b}_mmdt" for b in (1, 2) for i in (1, 2, 3)]
    + ["j_tau32_b1_mmdt", "j_tau32_b2_mmdt"]
    + [
        f"{n}_mmdt"
        for n in [
            "j_c1_b0",
            "j_c1_b1",
            "j_c1_b2",
            "j_c2_b1",
            "j_c2_b2",
            "j_d2_b1",
            "j_d2_b2",
            "j_d2_a1_b1",
            "j_d2_a1_b2",
            "j_m2_b1",
            "j_m2_b2",
            "j_n2_b1",
            "j_n2_b2",
        ]
    ]
    + ["j_mass_trim", "j_mass_mmdt", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1", "j_multiplicity"]
    + ["j_g", "j_q", "j_w", "j_z", "j_t", "j_undef"]
)
CLASSES = ["j_g", "j_q", "j_w", "j_z", "j_t"]


def jet_file(path, n=2500, seed=0, names=True, extra_names=False):
    """A file in the hls4ml jet layout with made-up values: class k shifts j_mass_mmdt and j_zlogz."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 5, n)
    jets = rng.normal(size=(n, 59)).astype(np.float32)
    jets[:, 48] += 1.2 * k  # j_mass_mmdt
    jets[:, 12] -= 0.6 * (k % 2)  # j_zlogz
    jets[:, 53:] = 0.0
    jets[np.arange(n), 53 + k] = 1.0
    with tables.open_file(str(path), "w") as f:
        f.create_array("/", "jets", jets)
        if names:
            f.create_array("/", "jetFeatureNames", np.array([s.encode() for s in HLS4ML_JET_NAMES]))
        if extra_names:
            f.create_array("/", "otherNames", np.array([f"x{i}".encode() for i in range(59)]))
        f.create_array("/", "particleFeatureNames", np.array([f"j1_{i}".encode() for i in range(16)]))
        f.create_array("/", "jetConstituentList", rng.normal(size=(n, 8, 16)).astype(np.float32))
    return jets, k


def test_plain_dataset_columns_and_rows(tmp_path):
    jets, _ = jet_file(tmp_path / "j.h5")
    with HDF5Table(tmp_path / "j.h5", "jets") as t:
        assert t.columns == HLS4ML_JET_NAMES and t.n_rows == 2500 and t.row_bytes == 59 * 4
        cols = t.read(100, 400, ["j_mass_mmdt", "j_t"])
        np.testing.assert_array_equal(cols["j_mass_mmdt"], jets[100:400, 48])
        np.testing.assert_array_equal(t.read_matrix(5, 9, ["j_zlogz", "j_multiplicity"]), jets[5:9][:, [12, 52]])


@pytest.mark.parametrize("strings", ["fixed", "vlen"], ids=["h5py-fixed-bytes", "h5py-vlen-str"])
@pytest.mark.parametrize("names_key", [None, "jetFeatureNames"], ids=["detected", "named"])
def test_files_written_by_h5py_are_read_unchanged(tmp_path, strings, names_key):
    """The public files come from h5py; their name datasets may be fixed-length bytes or variable-length
    strings (which PyTables cannot load: trigdeploy reads those names with h5py)."""
    import warnings

    import h5py

    jets = np.random.default_rng(2).normal(size=(40, 59)).astype(np.float32)
    with h5py.File(tmp_path / "j.h5", "w") as f:
        f["jets"] = jets
        if strings == "fixed":
            f["jetFeatureNames"] = np.array([n.encode() for n in HLS4ML_JET_NAMES])
        else:
            f.create_dataset("jetFeatureNames", data=HLS4ML_JET_NAMES, dtype=h5py.string_dtype())
        f["jetConstituentList"] = np.zeros((40, 4, 16), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTables' vlen-string warning must not reach the user
        with HDF5Table(tmp_path / "j.h5", "jets", names_key) as t:
            assert t.columns == HLS4ML_JET_NAMES
            np.testing.assert_array_equal(t.read(3, 30, ["j_mass_mmdt"])["j_mass_mmdt"], jets[3:30, 48])


@pytest.mark.parametrize(
    ("kwargs", "key", "names", "message"),
    [
        ({"names": False}, "jets", None, "no 1-D string dataset beside it names its columns; set data.hdf5_names"),
        (
            {"extra_names": True},
            "jets",
            None,
            "several datasets could name its columns \\(jetFeatureNames, otherNames\\)",
        ),
        ({}, "jets", "particleFeatureNames", "holds 16 names for the 59 columns of 'jets'"),
        ({}, "jetConstituentList", None, "is a 3-D float32 dataset; expected a 2-D numeric one"),
        ({}, "jets", "nope", "data.hdf5_names 'nope' not found"),
    ],
    ids=["no-names", "two-candidates", "wrong-length", "three-d", "names-missing"],
)
def test_plain_dataset_errors_name_what_is_wrong(tmp_path, kwargs, key, names, message):
    jet_file(tmp_path / "j.h5", **kwargs)
    with pytest.raises(TrigdeployError, match=message) as info:
        HDF5Table(tmp_path / "j.h5", key, names)
    assert "\n" not in str(info.value)


def test_five_class_run_on_the_jet_layout(tmp_path):
    jets, k = jet_file(tmp_path / "j.h5")
    features = ["j_zlogz", "j_c1_b0_mmdt", "j_mass_mmdt", "j_multiplicity"]
    cfg = run_config(
        [tmp_path / "j.h5"],
        name="jets5",
        data={"hdf5_key": "jets", "chunk_rows": 600},
        label={"onehot": CLASSES},
        features={"columns": features},
    )
    result = prepare(cfg, tmp_path / "run", progress=False)
    assert result.features == features and result.classes == tuple(CLASSES)
    _, y = result.arrays("test")
    np.testing.assert_array_equal(y, k[result.rows("test")])
    assert sum(result.report["class_counts"]["train"].values()) == len(result.rows("train"))
    assert result.report["leak_guard"]["single_feature_auc"]["j_mass_mmdt"]["j_t"] > 0.9  # the planted shift


def test_the_generator_writes_the_names_of_the_public_files():
    from trigdeploy.data import layouts

    assert list(layouts.HLS4ML_JET_NAMES) == HLS4ML_JET_NAMES and list(layouts.HLS4ML_JET_CLASSES) == CLASSES
    assert [HLS4ML_JET_NAMES.index(n) for n in layouts.HLS4ML_JET_HLF] == [12, *range(34, 47), 48, 52]


@pytest.mark.parametrize(
    ("names_key", "bad", "message"),
    [
        ("grp", "group", "data.hdf5_names '/grp' is a group; expected a 1-D dataset of column names"),
        ("jetFeatureNames", "latin1-fixed", "data.hdf5_names '/jetFeatureNames': name 3 is not UTF-8 text"),
        ("jetFeatureNames", "latin1-vlen", "data.hdf5_names '/jetFeatureNames': name 3 is not UTF-8 text"),
        (None, "latin1-vlen", "data.hdf5_names '/jetFeatureNames': name 3 is not UTF-8 text"),
    ],
    ids=["names-a-group", "non-utf8-fixed", "non-utf8-vlen", "non-utf8-detected"],
)
def test_names_that_are_not_text_are_one_line(tmp_path, names_key, bad, message):
    import h5py

    names = [n.encode() for n in HLS4ML_JET_NAMES]
    names[3] = b"j_\xe9ta"  # Latin-1, not UTF-8
    with h5py.File(tmp_path / "j.h5", "w") as f:
        f["jets"] = np.zeros((10, 59), np.float32)
        if bad == "group":
            f.create_group("grp")
            f["jetFeatureNames"] = np.array([n.encode() for n in HLS4ML_JET_NAMES])
        elif bad == "latin1-fixed":
            f["jetFeatureNames"] = np.array(names)
        else:
            f.create_dataset("jetFeatureNames", data=names, dtype=h5py.string_dtype("ascii"))
    with pytest.raises(TrigdeployError, match=message) as info:
        HDF5Table(tmp_path / "j.h5", "jets", names_key)
    assert "\n" not in str(info.value)
