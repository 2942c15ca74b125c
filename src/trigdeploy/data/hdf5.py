"""Streaming reader for pandas ``HDFStore`` tables (``format="table"``) through PyTables.

pandas stores a frame as one PyTables table ``/<key>/table`` whose fields are the index, one
2-D ``values_block_k`` per dtype (column names in the ``values_block_k_kind`` attribute) and
one field per ``data_columns`` entry. Reading a row range with PyTables and slicing the blocks
gives the columns without building a DataFrame, and never touches rows outside the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tables

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import require_input_file


@dataclass(frozen=True)
class _Location:
    field: str
    position: int | None  # column inside a values block; None for a data column


class HDF5Table:
    """One pandas table in an HDF5 file, read in row ranges.

    Use as a context manager or call ``close()``. All errors about the file are
    ``TrigdeployError`` naming the file and key.
    """

    def __init__(self, path: str | Path, key: str = "table"):
        self.path = require_input_file(Path(path), "an HDF5 file")
        self.key = key.strip("/")
        try:
            self._file = tables.open_file(str(self.path), mode="r")
        except Exception as exc:  # PyTables raises HDF5ExtError/OSError/ValueError for bad files
            raise TrigdeployError(
                f"{self.path}: not a readable HDF5 file (truncated or corrupt?): {type(exc).__name__}"
            ) from None
        try:
            self._table, self._locations, self._dtypes = self._inspect()
        except BaseException:
            self._file.close()
            raise
        self.n_rows = int(self._table.nrows)
        self.row_bytes = int(self._table.rowsize)
        self.columns: list[str] = list(self._locations)

    def _inspect(self):
        where = f"{self.path}: key '{self.key}'"
        try:
            group = self._file.get_node(f"/{self.key}")
        except tables.NoSuchNodeError:
            keys = [n._v_pathname for n in self._file.root._f_iter_nodes() if isinstance(n, tables.Group)]
            raise TrigdeployError(f"{where} not found; the file has: {', '.join(keys) or 'no groups'}") from None
        pandas_type = getattr(group._v_attrs, "pandas_type", None)
        if pandas_type in ("frame", "series"):
            raise TrigdeployError(
                f"{where} is in pandas 'fixed' format, which cannot be read in chunks; "
                "re-save it with to_hdf(..., format='table')"
            )
        if pandas_type != "frame_table" or "table" not in group:
            raise TrigdeployError(f"{where} is not a pandas table (pandas_type={pandas_type!r})")
        table = group.table
        names = dict(getattr(group._v_attrs, "non_index_axes", [(1, [])]))[1]
        locations: dict[str, _Location] = {}
        dtypes: dict[str, np.dtype] = {}
        for field in table.colnames:
            if field == "index":
                continue
            kind = getattr(table.attrs, f"{field}_kind", None)
            dtype = table.coldtypes[field]
            if field.startswith("values_block_") and kind is not None:
                places = [(str(name), _Location(field, i)) for i, name in enumerate(kind)]
            else:
                places = [(field, _Location(field, None))]
            for name, loc in places:
                if name in locations:
                    raise TrigdeployError(f"{where}: column '{name}' appears more than once; expected unique "
                                          "column names (rename or drop the duplicate)")
                locations[name] = loc
                dtypes[name] = dtype.base
        order = [str(n) for n in names if str(n) in locations] or list(locations)
        return table, {n: locations[n] for n in order}, {n: dtypes[n] for n in order}

    def dtype(self, column: str) -> np.dtype:
        return self._dtypes[column]

    def check_columns(self, columns: list[str]) -> None:
        locations = self._locations
        missing = [c for c in columns if c not in locations]
        if missing:
            raise TrigdeployError(
                f"{self.path}: key '{self.key}': column(s) not found: {', '.join(missing[:5])}"
                + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
            )

    def _rows(self, start: int, stop: int) -> np.ndarray:
        try:
            return self._table.read(start, stop)
        except Exception as exc:
            raise TrigdeployError(
                f"{self.path}: rows {start}-{stop} unreadable (truncated or corrupt?): {type(exc).__name__}"
            ) from None

    @staticmethod
    def _take(values: np.ndarray, loc: _Location) -> np.ndarray:
        """One column out of a field array: a values-block column or a data column."""
        return values[:, loc.position] if loc.position is not None else values.reshape(len(values), -1)[:, 0]

    def read(self, start: int, stop: int, columns: list[str]) -> dict[str, np.ndarray]:
        """Columns for rows ``[start, stop)`` as 1-D arrays (block columns are strided views)."""
        self.check_columns(columns)
        rows = self._rows(start, stop)
        fields: dict[str, np.ndarray] = {}
        out = {}
        for c in columns:
            loc = self._locations[c]
            if loc.field not in fields:
                fields[loc.field] = rows[loc.field]
            out[c] = self._take(fields[loc.field], loc)
        return out

    def read_matrix(self, start: int, stop: int, columns: list[str], dtype=np.float32) -> np.ndarray:
        """Rows ``[start, stop)`` of ``columns`` as one ``(n, len(columns))`` array.

        Columns of one values block are taken with a single fancy index (one copy), which is
        what keeps an 800-column read at the speed of the raw PyTables read.
        """
        self.check_columns(columns)
        return self._matrix(self._rows(start, stop), columns, dtype)

    def read_chunk(self, start: int, stop: int, columns: list[str],
                   matrix_columns: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``read`` and ``read_matrix`` of the same rows from one read of the file (the matrix is a
        view of the values block when the columns lie side by side in it, as the constituents do)."""
        self.check_columns([*columns, *matrix_columns])
        rows = self._rows(start, stop)
        out = {}
        for c in columns:
            out[c] = self._take(rows[self._locations[c].field], self._locations[c])
        locs = [self._locations[c] for c in matrix_columns]
        first = locs[0].position if locs else None
        if (first is not None and all(loc.field == locs[0].field and loc.position == first + i for i, loc in enumerate(locs))
                and rows[locs[0].field].dtype == np.float32):
            return out, rows[locs[0].field][:, first : first + len(locs)]  # a view of the block: no copy
        return out, self._matrix(rows, matrix_columns, np.float32)

    def _matrix(self, rows: np.ndarray, columns: list[str], dtype) -> np.ndarray:
        out = np.empty((len(rows), len(columns)), dtype=dtype)
        by_field: dict[str, tuple[list[int], list[int]]] = {}
        for i, c in enumerate(columns):
            loc = self._locations[c]
            if loc.position is None:
                out[:, i] = self._take(rows[loc.field], loc)
            else:
                dst, src = by_field.setdefault(loc.field, ([], []))
                dst.append(i)
                src.append(loc.position)
        for field, (dst, src) in by_field.items():
            block = rows[field]
            if dst == list(range(dst[0], dst[0] + len(dst))) and src == list(range(src[0], src[0] + len(src))):
                out[:, dst[0] : dst[0] + len(dst)] = block[:, src[0] : src[0] + len(src)]
            else:
                out[:, dst] = block[:, src]
        return out

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> HDF5Table:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
