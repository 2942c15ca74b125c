"""pandas-table HDF5 reader: row ranges equal pandas, column mapping, bad files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trigdeploy.data.hdf5 import HDF5Table
from trigdeploy.errors import TrigdeployError


@pytest.fixture
def mixed(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=500).astype(np.float32),
            "b": rng.integers(0, 9, 500),
            "c": rng.normal(size=500),
            "s": ["x"] * 500,
            "d": rng.normal(size=500).astype(np.float32),
        }
    )
    path = tmp_path / "m.h5"
    df.to_hdf(path, key="table", format="table", data_columns=["c"])
    return path, df


def test_ranges_equal_pandas(mixed):
    path, df = mixed
    with HDF5Table(path) as t:
        assert t.n_rows == 500
        assert t.columns == ["a", "b", "c", "s", "d"]
        got = t.read(123, 377, ["d", "c", "b", "a"])
        for col in ("a", "b", "c", "d"):
            np.testing.assert_array_equal(got[col], df[col].to_numpy()[123:377])
        m = t.read_matrix(10, 20, ["a", "d", "c", "b"], dtype=np.float64)
        np.testing.assert_array_equal(m, df[["a", "d", "c", "b"]].to_numpy(np.float64)[10:20])
        assert t.dtype("s").kind == "S"


def test_contiguous_block_matrix_equals_pandas(tmp_path):
    df = pd.DataFrame(np.arange(60, dtype=np.float32).reshape(10, 6), columns=list("uvwxyz"))
    df.to_hdf(tmp_path / "b.h5", key="table", format="table")
    with HDF5Table(tmp_path / "b.h5") as t:
        np.testing.assert_array_equal(t.read_matrix(2, 7, ["w", "x", "y"]), df[["w", "x", "y"]].to_numpy()[2:7])
        np.testing.assert_array_equal(t.read_matrix(0, 10, ["z", "u"]), df[["z", "u"]].to_numpy())


def _write(tmp_path, name, data: bytes):
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


def _fixed(tmp_path, mixed):
    mixed[1].to_hdf(tmp_path / "f.h5", key="table")
    return tmp_path / "f.h5"


def _corrupt(tmp_path, mixed):
    path, _ = mixed
    data = path.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[: len(data) // 3])
    return bad


@pytest.mark.parametrize(
    ("make", "key", "message"),
    [
        (lambda tmp, m: tmp / "none.h5", "table", "data file not found"),
        (lambda tmp, m: tmp, "table", "is a directory"),
        (lambda tmp, m: _write(tmp, "e.h5", b""), "table", "file is empty"),
        (lambda tmp, m: _write(tmp, "t.h5", b"not hdf5\n"), "table", "not a readable HDF5 file"),
        (_corrupt, "table", "not a readable HDF5 file"),
        (lambda tmp, m: m[0], "other", "key 'other' not found; the file has: /table"),
        (_fixed, "table", "'fixed' format"),
    ],
    ids=["missing", "directory", "empty", "not-hdf5", "truncated", "wrong-key", "fixed-format"],
)
def test_bad_files_one_line(tmp_path, mixed, make, key, message):
    path = make(tmp_path, mixed)
    with pytest.raises(TrigdeployError, match=message) as info:
        HDF5Table(path, key).close()
    assert "\n" not in str(info.value)


def test_missing_column(mixed):
    with HDF5Table(mixed[0]) as t, pytest.raises(TrigdeployError, match="column.*not found: nope"):
        t.read(0, 10, ["a", "nope"])


def test_duplicate_column_names_are_an_error_naming_the_column(tmp_path):
    df = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=["a", "b", "a"])
    path = tmp_path / "dup.h5"
    df.to_hdf(path, key="table", format="table")
    with pytest.raises(TrigdeployError, match=f"{path}: key 'table': column 'a' appears more than once"):
        HDF5Table(path).close()
