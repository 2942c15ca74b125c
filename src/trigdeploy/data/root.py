"""Streaming reader for ROOT TTrees and RNTuples (uproot + awkward).

A TTree's branches and an RNTuple's top-level fields are read the same way, with the same
``data.branches``/``data.collections`` configuration: the experiments are moving from TTree to
RNTuple (production-ready since ROOT 6.36), and a file of either kind works unchanged.

Flat branches become columns as they are. A jagged collection (e.g. the ``lep_*`` arrays of the
ATLAS ``mini`` tree) becomes fixed-width columns ``<branch>_0 … <branch>_{n-1}`` of the leading
``n`` objects, sorted by a chosen branch (descending), padded with a fixed value, plus the
multiplicity: the file's own counter branch (``lep_n``, checked against the array lengths) or
``n_<collection>`` when the file has none.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from trigdeploy.config import CollectionConfig
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import require_input_file


def _is_rntuple(obj) -> bool:
    return isinstance(obj, uproot.behaviors.RNTuple.RNTuple)


def _field_form(field):
    """The awkward form of one top-level RNTuple field."""
    record, _ = field.to_akform()
    return record.contents[0]


def _is_jagged(branch) -> bool:
    """A TTree branch read as a jagged array, or an RNTuple field holding a variable-length list."""
    if hasattr(branch, "interpretation"):
        return isinstance(branch.interpretation, uproot.interpretation.jagged.AsJagged)
    return isinstance(_field_form(branch), (ak.forms.ListOffsetForm, ak.forms.ListForm))


def _flat_dtype(branch) -> np.dtype:
    if hasattr(branch, "interpretation"):
        return np.dtype(branch.interpretation.to_dtype)
    form = _field_form(branch)
    if not isinstance(form, ak.forms.NumpyForm) or form.inner_shape:
        raise TrigdeployError(f"RNTuple field '{branch.name}' ({branch.typename}) is not a flat number column")
    return np.dtype(ak.types.numpytype.primitive_to_dtype(form.primitive))


class ROOTTree:
    """One TTree or RNTuple, read in entry ranges into flat numpy columns."""

    def __init__(
        self,
        path: str | Path,
        tree: str,
        flat: tuple[str, ...] = (),
        collections: dict[str, CollectionConfig] | None = None,
    ):
        self.path = require_input_file(Path(path), "a ROOT file")
        try:
            self._file = uproot.open(self.path)
        except Exception as exc:  # uproot raises ValueError/OSError/struct errors on bad files
            raise TrigdeployError(
                f"{self.path}: not a readable ROOT file (truncated or corrupt?): {type(exc).__name__}"
            ) from None
        self._tree_name = tree
        try:
            self._tree = self._open_tree(tree)
            self.n_rows = int(self._tree.num_entries)
            self.collections = dict(collections or {})
            keys = self._tree.keys() if _is_rntuple(self._tree) else self._tree.keys(recursive=False)
            self.flat = tuple(flat) or tuple(
                b for b in keys if not _is_jagged(self._tree[b]) and b not in self._collection_branches()
            )
            self._validate()
        except BaseException:
            self._file.close()
            raise
        self.columns = self._column_names()

    def _open_tree(self, name: str):
        try:
            obj = self._file[name]
        except Exception:
            trees = [k for k, c in self._file.classnames().items() if c.startswith("TTree") or c.endswith("RNTuple")]
            raise TrigdeployError(
                f"{self.path}: tree '{name}' not found; the file has: {', '.join(trees) or 'no TTree or RNTuple'}"
            ) from None
        if not isinstance(obj, uproot.behaviors.TTree.TTree) and not _is_rntuple(obj):
            raise TrigdeployError(f"{self.path}: '{name}' is a {type(obj).__name__}, not a TTree or RNTuple")
        return obj

    def _collection_branches(self) -> set[str]:
        out = set()
        for c in self.collections.values():
            out.update(c.branches)
            if c.counter:
                out.add(c.counter)
        return out

    def _branch(self, name: str, where: str):
        if name not in self._tree:
            raise TrigdeployError(f"{self.path}: tree '{self._tree_name}' has no branch '{name}' ({where})")
        return self._tree[name]

    def _validate(self) -> None:
        for b in self.flat:
            if _is_jagged(self._branch(b, "data.branches")):
                raise TrigdeployError(
                    f"{self.path}: branch '{b}' is jagged ({self._tree[b].typename}) but was listed as a flat "
                    "branch; read it through data.collections"
                )
        for name, c in self.collections.items():
            for b in (*c.branches, *([c.sort_by] if c.sort_by else [])):
                if not _is_jagged(self._branch(b, f"data.collections.{name}")):
                    raise TrigdeployError(
                        f"{self.path}: branch '{b}' of collection '{name}' is flat "
                        f"({self._tree[b].typename}), expected a jagged array"
                    )
            if c.counter and _is_jagged(self._branch(c.counter, f"data.collections.{name}.counter")):
                raise TrigdeployError(f"{self.path}: counter branch '{c.counter}' is jagged, expected flat")

    def _column_names(self) -> list[str]:
        cols = list(self.flat)
        for name, c in self.collections.items():
            mult = c.counter or f"n_{name}"
            if mult not in cols:
                cols.append(mult)
            cols += [f"{b}_{i}" for b in c.branches for i in range(c.n)]
        return cols

    def dtype(self, column: str) -> np.dtype:
        """The dtype ``column`` is read as (jagged branches: float64 values, int64 counts)."""
        if column in self.flat:
            return _flat_dtype(self._tree[column])
        return np.dtype(np.float64) if not column.startswith("n_") else np.dtype(np.int64)

    def read_chunk(
        self, start: int, stop: int, columns: list[str], matrix_columns: list[str]
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``read`` of ``columns``, and ``matrix_columns`` stacked into one ``(n, k)`` array."""
        cols = self.read(start, stop, list(dict.fromkeys([*columns, *matrix_columns])))
        return {c: cols[c] for c in columns}, np.stack([cols[c] for c in matrix_columns], axis=1)

    def read(self, start: int, stop: int, columns: list[str] | None = None) -> dict[str, np.ndarray]:
        """Rows ``[start, stop)``: flat branches and the fixed-width collection columns."""
        branches = list(dict.fromkeys([*self.flat, *self._collection_branches()]))
        try:
            arrays = self._tree.arrays(branches, entry_start=start, entry_stop=stop, library="ak")
        except Exception as exc:
            raise TrigdeployError(
                f"{self.path}: entries {start}-{stop} unreadable (truncated or corrupt?): {type(exc).__name__}"
            ) from None
        out: dict[str, np.ndarray] = {b: ak.to_numpy(arrays[b]) for b in self.flat}
        for name, c in self.collections.items():
            first = arrays[c.branches[0]]
            counts = ak.to_numpy(ak.num(first))
            if c.counter:
                stored = ak.to_numpy(arrays[c.counter])
                bad = np.flatnonzero(stored != counts)
                if bad.size:
                    raise TrigdeployError(
                        f"{self.path}: counter '{c.counter}' = {stored[bad[0]]} but '{c.branches[0]}' has "
                        f"{counts[bad[0]]} entries at entry {start + bad[0]}"
                    )
            out[c.counter or f"n_{name}"] = counts
            order = ak.argsort(arrays[c.sort_by], ascending=False, stable=True) if c.sort_by else None
            for b in c.branches:
                values = arrays[b] if order is None else arrays[b][order]
                padded = ak.fill_none(ak.pad_none(values, c.n, clip=True), c.pad)
                matrix = ak.to_numpy(padded).astype(np.float64, copy=False)
                for i in range(c.n):
                    out[f"{b}_{i}"] = matrix[:, i]
        if columns is not None:
            return {k: out[k] for k in columns}
        return out

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> ROOTTree:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
