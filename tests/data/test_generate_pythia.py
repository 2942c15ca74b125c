"""Pythia8 + FastJet generator: same layout, real jets in the window, top truth matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trigdeploy.config import PythiaGenConfig
from trigdeploy.data import kinematics as kin
from trigdeploy.data import layouts
from trigdeploy.data.generate import write_pythia

pytest.importorskip("pythia8mc", reason="the [gen] extra is not installed")
pytest.importorskip("fastjet", reason="the [gen] extra is not installed")


def test_pythia_jets_in_reference_layout(tmp_path):
    out = tmp_path / "p.h5"
    summary = write_pythia(PythiaGenConfig(jets=12, seed=3, chunk_size=6, workers=2), out, progress=False)
    assert summary["rows"] == 12
    df = pd.read_hdf(out, "table")
    assert list(df.columns) == layouts.toptag_columns()
    assert (df.dtypes.iloc[:804] == np.float32).all()
    y = df["is_signal_new"].to_numpy()
    assert y.sum() == 6
    c = df[layouts.toptag_constituent_columns()].to_numpy(np.float64).reshape(12, 200, 4)
    jet = c.sum(1)
    # the constituents sum to an anti-kT jet inside the window (< 200 constituents here)
    assert np.all((kin.pt(jet) > 550) & (kin.pt(jet) < 650) & (np.abs(kin.eta(jet)) < 2))
    truth = df[list(layouts.TOPTAG_TRUTH)].to_numpy(np.float64)
    assert np.all(truth[y == 0] == 0)
    np.testing.assert_allclose(kin.mass(truth[y == 1]), 172.5, atol=15)  # on-shell tops
    assert np.all(np.abs(kin.mass(jet[y == 1]) - 172.5) < 100)


def test_pythia_reproducible_whatever_the_workers(tmp_path):
    for name, workers in (("a", 1), ("b", 2)):
        write_pythia(PythiaGenConfig(jets=4, seed=9, chunk_size=2, workers=workers), tmp_path / f"{name}.h5",
                     progress=False)
    pd.testing.assert_frame_equal(pd.read_hdf(tmp_path / "a.h5", "table"), pd.read_hdf(tmp_path / "b.h5", "table"))
