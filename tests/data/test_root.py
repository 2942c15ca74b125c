"""ROOT reader: jagged collections padded/truncated to fixed width, counters, bad trees."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from trigdeploy.config import CollectionConfig
from trigdeploy.data.root import ROOTTree
from trigdeploy.errors import TrigdeployError

LEP_PT = [[10.0, 30.0, 20.0], [], [5.0], [1.0, 2.0]]
LEP_ETA = [[0.1, 0.3, 0.2], [], [0.5], [-1.0, -2.0]]


@pytest.fixture
def small_tree(tmp_path):
    path = tmp_path / "s.root"
    with uproot.recreate(path) as f:
        lep = ak.zip({"pt": ak.Array(LEP_PT), "eta": ak.Array(LEP_ETA)})
        f.mktree("mini", {"met": np.float32, "lep": lep.type}, counter_name=lambda n: "lep_n")
        f["mini"].extend({"met": np.array([1, 2, 3, 4], np.float32), "lep": lep})
        f["hist"] = np.histogram([1, 2, 3])
    return path


def test_padding_and_truncation_hand_computed(small_tree):
    coll = {"lep": CollectionConfig(branches=("lep_pt", "lep_eta"), n=2, sort_by="lep_pt", counter="lep_n", pad=-1.0)}
    with ROOTTree(small_tree, "mini", ("met",), coll) as t:
        assert t.n_rows == 4
        assert t.columns == ["met", "lep_n", "lep_pt_0", "lep_pt_1", "lep_eta_0", "lep_eta_1"]
        out = t.read(0, 4)
    # sorted by pt (descending), leading two kept, missing entries padded with -1
    np.testing.assert_array_equal(out["lep_pt_0"], [30.0, -1.0, 5.0, 2.0])
    np.testing.assert_array_equal(out["lep_pt_1"], [20.0, -1.0, -1.0, 1.0])
    np.testing.assert_array_equal(out["lep_eta_0"], [0.3, -1.0, 0.5, -2.0])
    np.testing.assert_array_equal(out["lep_eta_1"], [0.2, -1.0, -1.0, -1.0])
    np.testing.assert_array_equal(out["lep_n"], [3, 0, 1, 2])
    np.testing.assert_array_equal(out["met"], [1, 2, 3, 4])


def test_unsorted_without_counter_and_entry_range(small_tree):
    coll = {"lep": CollectionConfig(branches=("lep_pt",), n=4)}
    with ROOTTree(small_tree, "mini", ("met",), coll) as t:
        out = t.read(0, 2)
    assert t.columns[:2] == ["met", "n_lep"]
    np.testing.assert_array_equal(out["lep_pt_0"], [10.0, 0.0])
    np.testing.assert_array_equal(out["lep_pt_3"], [0.0, 0.0])
    np.testing.assert_array_equal(out["n_lep"], [3, 0])


def test_flat_branches_default_to_all_flat(small_tree):
    with ROOTTree(small_tree, "mini") as t:
        assert t.columns == ["met", "lep_n"]


@pytest.mark.parametrize(
    ("tree", "flat", "coll", "message"),
    [
        ("nope", (), {}, "tree 'nope' not found; the file has: mini"),
        ("hist", (), {}, "'hist' is a .*, not a TTree"),
        ("mini", ("lep_pt",), {}, "branch 'lep_pt' is jagged .* read it through data.collections"),
        ("mini", ("missing",), {}, "has no branch 'missing'"),
        ("mini", (), {"x": CollectionConfig(branches=("met",), n=1)}, "branch 'met' of collection 'x' is flat"),
        ("mini", (), {"x": CollectionConfig(branches=("lep_eta",), n=1, sort_by="lep_zz")}, "no branch 'lep_zz'"),
    ],
    ids=["no-tree", "not-a-tree", "jagged-as-flat", "missing-branch", "flat-as-jagged", "missing-sort-key"],
)
def test_bad_trees_and_branches(small_tree, tree, flat, coll, message):
    with pytest.raises(TrigdeployError, match=message) as info:
        ROOTTree(small_tree, tree, flat, coll).close()
    assert "\n" not in str(info.value)


def test_counter_mismatch_is_reported(tmp_path):
    path = tmp_path / "bad.root"
    with uproot.recreate(path) as f:
        f.mktree("mini", {"lep_n": np.int32, "lep_pt": ak.Array([[1.0]]).type})
        f["mini"].extend({"lep_n": np.array([2, 1], np.int32), "lep_pt": ak.Array([[1.0, 2.0], [3.0, 4.0]])})
    coll = {"lep": CollectionConfig(branches=("lep_pt",), n=2, counter="lep_n")}
    with ROOTTree(path, "mini", ("lep_n",), coll) as t, pytest.raises(TrigdeployError, match="counter 'lep_n' = 1"):
        t.read(0, 2)


@pytest.mark.parametrize("cut", [0.3, 0.05], ids=["baskets-cut", "header-only"])
def test_truncated_root_file(tmp_path, cut):
    path = tmp_path / "full.root"
    rng = np.random.default_rng(1)
    with uproot.recreate(path) as f:
        f.mktree("mini", {"met": np.float64})
        for _ in range(4):
            f["mini"].extend({"met": rng.normal(size=20000)})
    data = path.read_bytes()
    bad = tmp_path / "cut.root"
    bad.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(TrigdeployError, match="cut.root") as info:
        with ROOTTree(bad, "mini") as t:
            t.read(0, t.n_rows)
    assert "\n" not in str(info.value)


def _mini_columns():
    return {
        "met": np.array([1, 2, 3, 4], np.float32),
        "lep_n": np.array([3, 0, 1, 2], np.int32),
        "lep_pt": ak.Array(LEP_PT),
        "lep_eta": ak.Array(LEP_ETA),
    }


def test_rntuple_reads_like_the_same_ttree(tmp_path):
    """The same content as a TTree and as an RNTuple, one ``collections`` config: identical columns."""
    tree, ntuple = tmp_path / "tree.root", tmp_path / "ntuple.root"
    cols = _mini_columns()
    with uproot.recreate(tree) as f:
        lep = ak.zip({"pt": cols["lep_pt"], "eta": cols["lep_eta"]})
        f.mktree("mini", {"met": np.float32, "lep": lep.type}, counter_name=lambda n: "lep_n")
        f["mini"].extend({"met": cols["met"], "lep": lep})
    with uproot.recreate(ntuple) as f:
        f.mkrntuple("mini", ak.Array(cols))
    assert uproot.open(ntuple).classnames()["mini;1"].endswith("RNTuple")
    coll = {"lep": CollectionConfig(branches=("lep_pt", "lep_eta"), n=2, sort_by="lep_pt", counter="lep_n", pad=-1.0)}
    with ROOTTree(tree, "mini", (), coll) as t, ROOTTree(ntuple, "mini", (), coll) as n:
        assert n.columns == t.columns == ["met", "lep_n", "lep_pt_0", "lep_pt_1", "lep_eta_0", "lep_eta_1"]
        assert n.dtype("met") == t.dtype("met") == np.float32
        a, b = t.read(0, 4), n.read(0, 4)
        for c in t.columns:
            np.testing.assert_array_equal(b[c], a[c], err_msg=c)
        np.testing.assert_array_equal(b["lep_pt_0"], [30.0, -1.0, 5.0, 2.0])


def test_rntuple_errors_name_the_field(tmp_path):
    path = tmp_path / "ntuple.root"
    with uproot.recreate(path) as f:
        f.mkrntuple("mini", ak.Array(_mini_columns()))
    with pytest.raises(TrigdeployError, match="branch 'lep_pt' is jagged"):
        ROOTTree(path, "mini", ("lep_pt",), {})
    with pytest.raises(TrigdeployError, match="tree 'nope' not found; the file has: mini"):
        ROOTTree(path, "nope", (), {})
