"""Streaming reader for pandas ``HDFStore`` tables (``format="table"``) through PyTables, and for
plain 2-D datasets whose columns a 1-D string dataset names (hls4ml's jet files: ``jets`` and
``jetFeatureNames``).

Beside a plain dataset, a 3-D one of the same rows (rows × particles × features) whose last axis a 1-D string
dataset names (hls4ml's ``jetConstituentList`` and ``particleFeatureNames``) is read as the particle columns
``<name>[<i>]`` (particle ``i``), particle-major; they are not among ``columns`` (a table-column model never
sees them) and are read only when asked for.

pandas stores a frame as one PyTables table ``/<key>/table`` whose fields are the index, one
2-D ``values_block_k`` per dtype (column names in the ``values_block_k_kind`` attribute) and
one field per ``data_columns`` entry. Reading a row range with PyTables and slicing the blocks
gives the columns without building a DataFrame, and never touches rows outside the range.
"""

from __future__ import annotations

import warnings
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


PARTICLES = "particles"  # the field of the particle columns


class _PlainRows:
    """Rows of a plain 2-D dataset that answer ``rows[""]`` (its single field), ``rows["particles"]`` (the
    particle dataset's rows, flat, read on first use) and ``len``."""

    def __init__(self, values: np.ndarray, particles=None):
        self.values, self._particles, self._flat = values, particles, None

    def __getitem__(self, field: str) -> np.ndarray:
        if field != PARTICLES:
            return self.values
        if self._flat is None:
            block = self._particles()
            self._flat = block.reshape(len(block), -1)
        return self._flat

    def __len__(self) -> int:
        return len(self.values)


class HDF5Table:
    """One pandas table in an HDF5 file, read in row ranges.

    Use as a context manager or call ``close()``. All errors about the file are
    ``TrigdeployError`` naming the file and key.
    """

    def __init__(self, path: str | Path, key: str = "table", names: str | None = None):
        self.path = require_input_file(Path(path), "an HDF5 file")
        self.key = key.strip("/")
        self.names_key = names
        self._plain = False  # a plain 2-D dataset with its column names beside it (not a pandas table)
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
        self.row_bytes = (
            int(self._table.shape[1]) * self._table.dtype.itemsize if self._plain else int(self._table.rowsize)
        )
        self.columns: list[str] = list(self._locations)
        self.particle_columns: list[str] = []
        self._particles = None
        if self._plain:
            self._inspect_particles()

    def _inspect(self):
        where = f"{self.path}: key '{self.key}'"
        try:
            group = self._file.get_node(f"/{self.key}")
        except tables.NoSuchNodeError:
            keys = [n._v_pathname for n in self._file.root._f_iter_nodes()]
            raise TrigdeployError(f"{where} not found; the file has: {', '.join(keys) or 'nothing'}") from None
        if isinstance(group, tables.Array):
            return self._inspect_plain(group, where)
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
                    raise TrigdeployError(
                        f"{where}: column '{name}' appears more than once; expected unique "
                        "column names (rename or drop the duplicate)"
                    )
                locations[name] = loc
                dtypes[name] = dtype.base
        order = [str(n) for n in names if str(n) in locations] or list(locations)
        return table, {n: locations[n] for n in order}, {n: dtypes[n] for n in order}

    def _inspect_plain(self, array, where: str):
        """A 2-D dataset whose columns are named by a 1-D string dataset (``names``, or the only one
        of the right length beside it): the layout of hls4ml's jet files (``jets``, ``jetFeatureNames``)."""
        if array.ndim != 2 or array.dtype.kind not in "biuf":
            raise TrigdeployError(
                f"{where} is a {array.ndim}-D {array.dtype} dataset; expected a 2-D numeric "
                "one (rows × columns) or a pandas table"
            )
        n_cols = array.shape[1]
        parent = array._v_parent
        if self.names_key is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # vlen strings: read with h5py below
                    names_node = self._file.get_node(f"/{self.names_key.strip('/')}")
            except tables.NoSuchNodeError:
                raise TrigdeployError(f"{self.path}: data.hdf5_names '{self.names_key}' not found") from None
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PyTables: "variable length strings are not supported yet"
                nodes = list(parent._f_iter_nodes())
            found = [
                n
                for n in nodes
                if isinstance(n, tables.Array) and n.ndim == 1 and n.dtype.kind in "SUO" and n.shape[0] == n_cols
            ]
            found += [
                n
                for n in nodes
                if isinstance(n, tables.UnImplemented) and len(self._vlen_strings(n._v_pathname)) == n_cols
            ]
            if len(found) != 1:
                raise TrigdeployError(
                    f"{where} is a plain {n_cols}-column dataset and "
                    + (
                        f"several datasets could name its columns ({', '.join(n.name for n in found)})"
                        if found
                        else "no 1-D string dataset beside it names its columns"
                    )
                    + "; set data.hdf5_names"
                )
            names_node = found[0]
        names = self._names(names_node)
        if len(names) != n_cols:
            raise TrigdeployError(
                f"{self.path}: '{names_node._v_pathname}' holds {len(names)} names for the "
                f"{n_cols} columns of '{self.key}'"
            )
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})[0]
            raise TrigdeployError(f"{where}: column '{dup}' appears more than once; expected unique column names")
        self._plain = True
        self._names_path = names_node._v_pathname
        locations = {n: _Location("", i) for i, n in enumerate(names)}
        return array, locations, {n: array.dtype for n in names}

    def _inspect_particles(self) -> None:
        """The 3-D dataset of the same rows beside the plain one whose last axis one 1-D string dataset names
        (hls4ml's ``jetConstituentList``, ``particleFeatureNames``), as the particle columns; none if absent."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # vlen strings: read with h5py by _names
            nodes = list(self._table._v_parent._f_iter_nodes())
        blocks = [n for n in nodes if isinstance(n, tables.Array) and n.ndim == 3 and n.shape[0] == self.n_rows]
        if len(blocks) != 1 or blocks[0].dtype.kind not in "biuf":
            return
        width = blocks[0].shape[2]
        namers = [
            n
            for n in nodes
            if (isinstance(n, tables.Array) and n.ndim == 1 and n.dtype.kind in "SUO" and n.shape[0] == width)
            or (isinstance(n, tables.UnImplemented) and len(self._vlen_strings(n._v_pathname)) == width)
        ]
        namers = [n for n in namers if n._v_pathname != getattr(self, "_names_path", None)]
        if len(namers) != 1:
            return
        names = self._names(namers[0])
        if len(set(names)) != len(names) or len(names) != width:
            return
        self._particles = blocks[0]
        for i in range(blocks[0].shape[1]):
            for j, name in enumerate(names):
                column = f"{name}[{i}]"
                self._locations[column] = _Location(PARTICLES, i * width + j)
                self._dtypes[column] = blocks[0].dtype
                self.particle_columns.append(column)

    def _names(self, node) -> list[str]:
        """The column names held by ``node``: a 1-D string dataset (fixed or variable length), UTF-8."""
        where = f"{self.path}: data.hdf5_names '{node._v_pathname}'"
        if isinstance(node, tables.UnImplemented):
            raw = self._vlen_strings(node._v_pathname)
        elif isinstance(node, tables.Array) and node.ndim == 1 and node.dtype.kind in "SUO":
            raw = node.read()
        else:
            kind = "a group" if isinstance(node, tables.Group) else f"a {getattr(node, 'ndim', '?')}-D dataset"
            raise TrigdeployError(f"{where} is {kind}; expected a 1-D dataset of column names (strings)")
        names = []
        for i, x in enumerate(raw):
            try:
                names.append(x.decode("utf-8") if isinstance(x, bytes) else str(x))
            except UnicodeDecodeError:
                raise TrigdeployError(f"{where}: name {i} is not UTF-8 text ({x[:40]!r})") from None
        return names

    def _vlen_strings(self, node: str) -> list:
        """A 1-D dataset of variable-length strings (h5py's ``string_dtype``), which PyTables cannot
        load, read with h5py (hls4ml's dependency); [] when it is anything else."""
        import h5py

        with h5py.File(self.path, "r") as f:
            d = f[node]
            if not isinstance(d, h5py.Dataset) or d.ndim != 1 or h5py.check_string_dtype(d.dtype) is None:
                return []
            return list(d[()])  # bytes: decoded (and checked) by _names

    def dtype(self, column: str) -> np.dtype:
        """The stored dtype of ``column``."""
        return self._dtypes[column]

    def check_columns(self, columns: list[str]) -> None:
        """Every name in ``columns`` is a column of the table (one line naming the missing ones otherwise)."""
        locations = self._locations
        missing = [c for c in columns if c not in locations]
        if missing:
            raise TrigdeployError(
                f"{self.path}: key '{self.key}': column(s) not found: {', '.join(missing[:5])}"
                + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
            )

    def _rows(self, start: int, stop: int) -> np.ndarray:
        try:
            if self._plain:  # one structured view, so that the field lookups of a table work unchanged
                particles = None if self._particles is None else (lambda: self._read_particles(start, stop))
                return _PlainRows(self._table.read(start, stop), particles)
            return self._table.read(start, stop)
        except Exception as exc:
            raise TrigdeployError(
                f"{self.path}: rows {start}-{stop} unreadable (truncated or corrupt?): {type(exc).__name__}"
            ) from None

    def _read_particles(self, start: int, stop: int) -> np.ndarray:
        try:
            return self._particles.read(start, stop)
        except Exception as exc:
            raise TrigdeployError(
                f"{self.path}: '{self._particles._v_pathname}' rows {start}-{stop} unreadable (truncated or corrupt?): "
                f"{type(exc).__name__}"
            ) from None

    @staticmethod
    def _take(values: np.ndarray, loc: _Location) -> np.ndarray:
        """One column out of a field array: a values-block column or a data column."""
        return values[:, loc.position] if loc.position is not None else values.reshape(len(values), -1)[:, 0]

    def read(self, start: int, stop: int, columns: list[str]) -> dict[str, np.ndarray]:
        """Columns for rows ``[start, stop)`` as 1-D arrays (block columns are strided views)."""
        self.check_columns(columns)
        return self._columns(self._rows(start, stop), columns)

    def _columns(self, rows, columns: list[str]) -> dict[str, np.ndarray]:
        """``columns`` of rows already read, each field fetched once."""
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

    def read_chunk(
        self, start: int, stop: int, columns: list[str], matrix_columns: list[str]
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``read`` and ``read_matrix`` of the same rows from one read of the file (the matrix is a
        view of the values block when the columns lie side by side in it, as the constituents do)."""
        self.check_columns([*columns, *matrix_columns])
        rows = self._rows(start, stop)
        out = self._columns(rows, columns)
        locs = [self._locations[c] for c in matrix_columns]
        first = locs[0].position if locs else None
        if (
            first is not None
            and all(loc.field == locs[0].field and loc.position == first + i for i, loc in enumerate(locs))
            and rows[locs[0].field].dtype == np.float32
        ):
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
        """Close the file."""
        self._file.close()

    def __enter__(self) -> HDF5Table:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
