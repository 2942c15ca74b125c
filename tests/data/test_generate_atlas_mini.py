"""ATLAS Open Data ``mini`` tree generator: branches, counters, units, reproducibility."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from trigdeploy.data import layouts
from trigdeploy.data.generate import atlas_mini, write_atlas_mini
from trigdeploy.generators import AtlasMiniGenConfig


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    path = tmp_path_factory.mktemp("mini") / "mini.root"
    write_atlas_mini(AtlasMiniGenConfig(events=5000, seed=2, chunk_size=2000), path, progress=False)
    with uproot.open(path) as f:
        yield f["mini"].arrays(library="ak"), f["mini"]


def test_branches_and_jaggedness(tree):
    arrays, t = tree
    assert t.num_entries == 5000
    expected = {
        *layouts.MINI_EVENT_BRANCHES,
        *layouts.MINI_LEPTON_BRANCHES,
        *layouts.MINI_JET_BRANCHES,
        "lep_n",
        "alljet_n",
    }
    assert set(t.keys()) == expected
    for name in layouts.MINI_EVENT_BRANCHES:
        assert arrays[name].ndim == 1, name
    for name, dtype in {**layouts.MINI_LEPTON_BRANCHES, **layouts.MINI_JET_BRANCHES}.items():
        assert arrays[name].ndim == 2, name
        assert ak.to_numpy(ak.flatten(arrays[name])).dtype == dtype, name


def test_counters_match_array_lengths(tree):
    a, _ = tree
    for name in layouts.MINI_LEPTON_BRANCHES:
        assert ak.all(ak.num(a[name]) == a["lep_n"]), name
    for name in layouts.MINI_JET_BRANCHES:
        assert ak.all(ak.num(a[name]) == a["alljet_n"]), name
    assert ak.all(a["jet_n"] <= a["alljet_n"])
    assert ak.all(a["lep_n"] >= 1)  # the mini skim: at least one lepton


def test_units_ordering_and_acceptance(tree):
    a, _ = tree
    lep_pt = a["lep_pt"]
    assert ak.all(lep_pt > 7000) and ak.all(abs(a["lep_eta"]) < 2.5)  # MeV
    assert ak.all(a["jet_pt"] > 20000 * 0.5)
    assert ak.all(lep_pt[:, :-1] >= lep_pt[:, 1:])
    assert ak.all(a["jet_pt"][:, :-1] >= a["jet_pt"][:, 1:])
    assert set(np.unique(ak.to_numpy(ak.flatten(a["lep_type"])))) == {11, 13}
    e = ak.to_numpy(ak.flatten(a["lep_E"]))
    p = ak.to_numpy(ak.flatten(lep_pt * np.cosh(a["lep_eta"])))
    np.testing.assert_allclose(e, p, rtol=1e-5)  # massless leptons; float32 storage


def test_processes_and_seed_task_label(tree):
    a, _ = tree
    channels = ak.to_numpy(a["channelNumber"])
    assert set(np.unique(channels)) == {c for _, cs in atlas_mini.PROCESSES.values() for c in cs}
    z = np.isin(channels, [147770, 147771])
    assert np.all(ak.to_numpy(a["lep_n"])[~z] >= 1)
    # Z events with two leptons reconstruct the Z peak
    two = z & (ak.to_numpy(a["lep_n"]) == 2)
    pt, eta, phi = (ak.to_numpy(a[k][two]) / s for k, s in (("lep_pt", 1000), ("lep_eta", 1), ("lep_phi", 1)))
    m2 = 2 * pt[:, 0] * pt[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1]))
    assert abs(np.median(np.sqrt(m2)) - 91.2) < 3
    lead = ak.firsts(a["lep_E"]), ak.firsts(a["lep_eta"]), ak.firsts(a["lep_pt"])
    label = ak.to_numpy((lead[0] > 100000) & (abs(lead[1]) > 1.0) & (lead[2] > 40000))
    assert 0.05 < label.mean() < 0.3  # the seed analysis had 6922 / 58671 = 11.8 %


def test_reproducible(tmp_path):
    for name in ("a", "b"):
        write_atlas_mini(
            AtlasMiniGenConfig(events=300, seed=4, chunk_size=128), tmp_path / f"{name}.root", progress=False
        )
    a, b = (uproot.open(tmp_path / f"{n}.root")["mini"].arrays(library="ak") for n in ("a", "b"))
    assert ak.to_list(a) == ak.to_list(b)
