"""Generation jobs (one per file) spread over a 2-worker Dask ``LocalCluster``: same files as one process."""

from __future__ import annotations

import pandas as pd

from conftest import run_config
from trigdeploy.data.generate import generate_config_data


def cfg(tmp_path, sub, dask):
    files = [str(tmp_path / sub / f"part{i}.h5") for i in range(3)]
    cfg = run_config(
        files, name="gen", data={"generate": {"toptag": {"jets": 300, "seed": 5, "chunk_size": 150}, **dask}}
    )
    return cfg, files


def test_dask_generation_equals_sequential(tmp_path):
    seq_cfg, seq_files = cfg(tmp_path, "seq", {})
    dask_cfg, dask_files = cfg(tmp_path, "dask", {"dask": {"workers": 2}})
    generate_config_data(seq_cfg, progress=False)
    results = generate_config_data(dask_cfg, progress=False)
    assert [r["rows"] for r in results] == [300, 300, 300]
    for a, b in zip(seq_files, dask_files):
        pd.testing.assert_frame_equal(pd.read_hdf(a, "table"), pd.read_hdf(b, "table"))  # seed + i per file
    assert not pd.read_hdf(dask_files[0], "table").equals(pd.read_hdf(dask_files[1], "table"))
    again = generate_config_data(dask_cfg, progress=False)  # existing files are kept
    assert all("skipped" in r for r in again)
