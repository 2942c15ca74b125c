"""Top Quark Tagging layout generator: exact layout, reproducibility, physics, flat memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tables

from trigdeploy.data import kinematics as kin
from trigdeploy.data import layouts
from trigdeploy.data.generate import toptag, write_toptag
from trigdeploy.data.generate.writers import split_counts
from trigdeploy.generators import ToptagGenConfig


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann–Whitney AUC (ties get average ranks)."""
    ranks = pd.Series(score).rank().to_numpy()
    n1 = label.sum()
    n0 = len(label) - n1
    return float((ranks[label == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("toptag") / "t.h5"
    write_toptag(ToptagGenConfig(jets=6000, seed=11, chunk_size=2500, ttv=2), path, progress=False)
    return path, pd.read_hdf(path, "table")


def test_layout_matches_reference(sample):
    path, _ = sample
    head = pd.read_hdf(path, "table", start=0, stop=10)
    assert len(head) == 10
    columns = layouts.toptag_columns()
    assert len(columns) == 806
    assert list(head.columns) == columns
    assert columns[:8] == ["E_0", "PX_0", "PY_0", "PZ_0", "E_1", "PX_1", "PY_1", "PZ_1"]
    assert columns[796:] == [
        "E_199",
        "PX_199",
        "PY_199",
        "PZ_199",
        "truthE",
        "truthPX",
        "truthPY",
        "truthPZ",
        "ttv",
        "is_signal_new",
    ]
    assert (head.dtypes.iloc[:804] == np.float32).all()
    assert head["ttv"].dtype == np.int64 and head["is_signal_new"].dtype == np.int64
    with tables.open_file(path) as f:  # pandas "table" format: /table/table, readable in row ranges
        assert f.root.table.table.nrows == 6000
        assert f.root.table._v_attrs.pandas_type == "frame_table"


def test_labels_split_tag_and_truth(sample):
    _, df = sample
    y = df["is_signal_new"].to_numpy()
    assert y.sum() == 3000
    assert set(df["ttv"].unique()) == {2}
    truth = df[list(layouts.TOPTAG_TRUTH)].to_numpy()
    assert (truth[y == 0] == 0).all()
    top_mass = kin.mass(truth[y == 1].astype(np.float64))
    # truth tops are Breit-Wigner around 172.5 GeV (clipped to 150..195); float32 storage costs < 0.1 GeV
    assert np.all((top_mass > 149.9) & (top_mass < 195.1))
    assert abs(np.median(top_mass) - 172.5) < 1.0
    # signal and background are interleaved, not in blocks
    assert 0.3 < y[:500].mean() < 0.7


def test_constituents_pt_ordered_zero_padded_massless(sample):
    _, df = sample
    c = df[layouts.toptag_constituent_columns()].to_numpy(np.float64).reshape(len(df), 200, 4)
    pt = kin.pt(c)
    assert np.all(np.diff(pt, axis=1) <= 1e-3)
    n = (c[..., 0] > 0).sum(1)
    padded = np.arange(200)[None, :] >= n[:, None]
    assert np.all(c[padded] == 0)
    m2 = c[..., 0] ** 2 - (c[..., 1:] ** 2).sum(-1)
    # massless constituents, up to float32 rounding of E and |p| (relative 1e-7 on E^2)
    assert np.all(np.abs(m2[~padded]) <= 1e-5 * c[..., 0][~padded] ** 2 + 1e-6)


def test_jet_kinematics_and_physics(sample):
    _, df = sample
    c = df[layouts.toptag_constituent_columns()].to_numpy(np.float64).reshape(len(df), 200, 4)
    jet = c.sum(1)
    y = df["is_signal_new"].to_numpy()
    jpt, jeta, m = kin.pt(jet), kin.eta(jet), kin.mass(jet)
    n = (c[..., 0] > 0).sum(1)
    assert np.all((jpt > 550) & (jpt < 650)) and np.all(np.abs(jeta) < 2)
    assert 165 < np.median(m[y == 1]) < 190  # top peak (radiation and UE shift it a little)
    assert 50 < np.median(m[y == 0]) < 100  # falling QCD spectrum
    assert 35 < n[y == 0].mean() < n[y == 1].mean() < 75  # tens of constituents, more for tops
    # mass alone separates, but far from perfectly: model quality must show
    assert 0.80 < auc(m, y) < 0.95


def test_same_seed_same_file_other_seed_other_file(tmp_path):
    params = ToptagGenConfig(jets=400, seed=5, chunk_size=150)
    write_toptag(params, tmp_path / "a.h5", progress=False)
    write_toptag(params, tmp_path / "b.h5", progress=False)
    write_toptag(ToptagGenConfig(jets=400, seed=6, chunk_size=150), tmp_path / "c.h5", progress=False)
    a, b, c = (pd.read_hdf(tmp_path / f, "table") for f in ("a.h5", "b.h5", "c.h5"))
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["E_0"].to_numpy(), c["E_0"].to_numpy())


@pytest.mark.parametrize(
    ("total", "chunk", "fraction"),
    [(10, 3, 0.5), (1000, 1000, 0.3), (7, 10, 1.0), (5, 2, 0.0), (1001, 100, 0.5)],
    ids=["small", "one-chunk", "all-signal", "all-background", "odd"],
)
def test_split_counts(total, chunk, fraction):
    counts = split_counts(total, chunk, fraction)
    assert sum(s + b for s, b in counts) == total
    assert sum(s for s, _ in counts) == round(total * fraction)
    assert all(0 < s + b <= chunk for s, b in counts)


def test_failure_leaves_no_file(tmp_path, monkeypatch):
    calls = []

    def boom(rng, n, signal, n_constituents=200):
        calls.append(n)
        if len(calls) > 2:
            raise RuntimeError("simulated crash")
        return np.zeros((n, n_constituents, 4), np.float32), np.zeros((n, 4), np.float32)

    monkeypatch.setattr(toptag, "generate_chunk", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_toptag(ToptagGenConfig(jets=300, chunk_size=100), tmp_path / "t.h5", progress=False)
    assert list(tmp_path.iterdir()) == []


_RSS_CHILD = """
import json, resource, sys
from pathlib import Path
from trigdeploy.generators import ToptagGenConfig
from trigdeploy.data.generate import write_toptag
write_toptag(ToptagGenConfig(jets=int(sys.argv[2]), chunk_size=1000), Path(sys.argv[1]), progress=False)
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
"""


@pytest.mark.parametrize(
    "small",
    [pytest.param(3000, marks=pytest.mark.slow), pytest.param(20000, marks=pytest.mark.slow)],  # 9 s and minutes
    ids=["3k-vs-12k", "20k-vs-80k"],
)
def test_generation_memory_is_flat(tmp_path, small):
    peaks = {}
    for n in (small, 4 * small):
        proc = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(tmp_path / f"{n}.h5"), str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        peaks[n] = json.loads(proc.stdout)
    extra_bytes = 3 * small * 806 * 4
    # one chunk (1000 jets) is held at a time: 4x the rows may not cost more than a quarter of
    # the extra data (measured here: ~5 MB more for 48 MB more data)
    assert peaks[4 * small] - peaks[small] < 0.25 * extra_bytes, peaks
