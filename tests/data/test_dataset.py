"""Multi-file dataset: global rows, chunks that never cross files, prefetching iterator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trigdeploy.config import DataConfig
from trigdeploy.data.dataset import Dataset, prefetch
from trigdeploy.errors import TrigdeployError


def _table(path, start, n):
    pd.DataFrame({"x": np.arange(start, start + n, dtype=np.float64), "label": np.arange(n) % 2}).to_hdf(
        path, key="table", format="table"
    )
    return str(path)


def test_global_rows_and_chunks(tmp_path):
    files = [_table(tmp_path / "a.h5", 0, 25), _table(tmp_path / "b.h5", 25, 10)]
    with Dataset(DataConfig(format="hdf5", files=tuple(files), chunk_rows=8)) as ds:
        assert ds.n_rows == 35
        assert ds.ranges() == [(0, 8), (8, 16), (16, 24), (24, 25), (25, 33), (33, 35)]
        assert ds.ranges(None, 20, 30) == [(20, 25), (25, 30)]
        got = np.concatenate([c.columns["x"] for c in ds.chunks(["x"])])
        np.testing.assert_array_equal(got, np.arange(35))
        np.testing.assert_array_equal(ds.file_index(np.array([0, 24, 25, 34])), [0, 0, 1, 1])


def test_chunk_bytes_sets_rows(tmp_path):
    f = _table(tmp_path / "a.h5", 0, 100)
    with Dataset(DataConfig(format="hdf5", files=(f,), chunk_bytes=24 * 10)) as ds:
        assert ds.chunk_rows == 10  # a row is index + x + label = 24 bytes
    with Dataset(DataConfig(format="hdf5", files=(f,), chunk_bytes=240, chunk_rows=7)) as ds:
        assert ds.chunk_rows == 7  # explicit rows win


def test_files_must_share_layout(tmp_path):
    a = _table(tmp_path / "a.h5", 0, 5)
    pd.DataFrame({"y": [1.0]}).to_hdf(tmp_path / "b.h5", key="table", format="table")
    with pytest.raises(TrigdeployError, match="b.h5: columns differ"):
        Dataset(DataConfig(format="hdf5", files=(a, str(tmp_path / "b.h5"))))


@pytest.mark.parametrize("depth", [0, 1, 3], ids=["inline", "depth1", "depth3"])
def test_prefetch_order_and_errors(depth):
    assert list(prefetch((lambda i=i: i * i for i in range(10)), depth)) == [i * i for i in range(10)]

    def jobs():
        yield lambda: 1
        yield lambda: 1 / 0

    it = prefetch(jobs(), depth)
    assert next(it) == 1
    with pytest.raises(ZeroDivisionError):
        next(it)


def test_prefetch_early_exit_stops_worker():
    seen = []

    def jobs():
        for i in range(1000):
            yield lambda i=i: seen.append(i) or i

    it = prefetch(jobs(), 2)
    assert next(it) == 0
    it.close()
    assert len(seen) < 10


def test_table_without_rows(tmp_path):
    import tables

    _table(tmp_path / "e.h5", 0, 3)  # pandas refuses to write an empty table: empty it afterwards
    with tables.open_file(tmp_path / "e.h5", "a") as f:
        f.root.table.table.remove_rows(0, 3)
    with pytest.raises(TrigdeployError, match="e.h5: no rows"):
        Dataset(DataConfig(format="hdf5", files=(str(tmp_path / "e.h5"),)))
