"""Several files of one layout as one row-numbered dataset, read in chunks with prefetching.

Global row ``r`` is row ``r - offset[i]`` of file ``i``. Chunks never cross a file boundary,
and a background thread reads the next chunks while the caller computes on the current one
(HDF5 and ROOT decompression release the GIL for most of their time).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from trigdeploy.config import DataConfig
from trigdeploy.errors import TrigdeployError

T = TypeVar("T")


@dataclass(frozen=True)
class Chunk:
    """Rows ``[start, stop)`` (global numbering) and their columns."""

    start: int
    stop: int
    columns: dict[str, np.ndarray]
    matrix: np.ndarray | None = None  # ``matrix_columns`` of the read as one (n, k) array

    @property
    def rows(self) -> np.ndarray:
        """The global row numbers of the chunk."""
        return np.arange(self.start, self.stop)


class Dataset:
    """The files of ``data`` (plus extra files, e.g. split files) as one dataset."""

    def __init__(self, data: DataConfig, files: Iterable[str] | None = None):
        self.config = data
        self.files = list(files if files is not None else data.files)
        if not self.files:
            raise TrigdeployError("data.files: no input files given")
        self.readers: list = []
        try:
            for f in self.files:
                self.readers.append(self._open(f))
            self._check_same_layout()
        except BaseException:
            self.close()
            raise
        sizes = [r.n_rows for r in self.readers]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_rows = int(self.offsets[-1])
        self.columns: list[str] = list(self.readers[0].columns)
        # a plain HDF5 dataset's particles beside it (``HDF5Table``): read only as a particle set's inputs
        self.particle_columns: list[str] = list(getattr(self.readers[0], "particle_columns", []))
        if self.n_rows == 0:
            self.close()
            raise TrigdeployError(f"{', '.join(self.files)}: no rows (empty table/tree)")

    def _open(self, path: str):
        # imported here: HDF5 users should not pay for importing uproot/awkward, and vice versa
        d = self.config
        if d.format == "hdf5":
            from trigdeploy.data.hdf5 import HDF5Table

            return HDF5Table(path, d.hdf5_key, d.hdf5_names)
        from trigdeploy.data.root import ROOTTree

        return ROOTTree(path, d.root_tree, d.branches, d.collections)

    def _check_same_layout(self) -> None:
        first = self.readers[0]
        for f, r in zip(self.files[1:], self.readers[1:]):
            if getattr(r, "particle_columns", []) != getattr(first, "particle_columns", []):
                raise TrigdeployError(f"{f}: its particle dataset differs from {self.files[0]}'s (particles, features)")
            if r.columns != first.columns:
                missing = sorted(set(first.columns) - set(r.columns))[:5]
                raise TrigdeployError(
                    f"{f}: columns differ from {self.files[0]}"
                    + (f" (missing: {', '.join(missing)})" if missing else "")
                )

    def dtype(self, column: str) -> np.dtype:
        """The stored dtype of ``column`` (the first file's: every file was checked to agree)."""
        return self.readers[0].dtype(column)

    def file_index(self, rows: np.ndarray) -> np.ndarray:
        """Index of the file that holds each global row."""
        return np.searchsorted(self.offsets, rows, side="right") - 1

    @property
    def chunk_rows(self) -> int:
        """``data.chunk_rows`` if set, else as many rows as fit in ``data.chunk_bytes``."""
        d = self.config
        if d.chunk_rows is not None:
            return d.chunk_rows
        if d.format == "hdf5":
            row_bytes = self.readers[0].row_bytes
        else:
            row_bytes = 8 * len(self.columns)
        return max(1, d.chunk_bytes // row_bytes)

    def ranges(self, chunk_rows: int | None = None, start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
        """Chunk boundaries covering global rows ``[start, stop)``, split at file boundaries."""
        size = chunk_rows or self.chunk_rows
        if size <= 0:
            raise TrigdeployError(f"data.chunk_rows must be positive, got {size}")
        stop = self.n_rows if stop is None else min(stop, self.n_rows)
        out = []
        for i in range(len(self.readers)):
            lo, hi = max(start, self.offsets[i]), min(stop, self.offsets[i + 1])
            for s in range(int(lo), int(hi), size):
                out.append((s, min(s + size, int(hi))))
        return out

    def read(self, start: int, stop: int, columns: list[str], matrix_columns: list[str] | None = None) -> Chunk:
        """Global rows ``[start, stop)`` within one file; ``matrix_columns`` also as one array."""
        i = int(self.file_index(np.array([start]))[0])
        if stop > self.offsets[i + 1]:
            raise ValueError(f"rows {start}-{stop} cross the end of {self.files[i]}")
        base = int(self.offsets[i])
        if matrix_columns:
            cols, matrix = self.readers[i].read_chunk(start - base, stop - base, columns, matrix_columns)
            return Chunk(start, stop, cols, matrix)
        return Chunk(start, stop, self.readers[i].read(start - base, stop - base, columns))

    def chunks(
        self,
        columns: list[str],
        chunk_rows: int | None = None,
        start: int = 0,
        stop: int | None = None,
        matrix_columns: list[str] | None = None,
        ranges: list[tuple[int, int]] | None = None,
    ) -> Iterator[Chunk]:
        """Stream ``columns`` over rows ``[start, stop)`` (or the given ``ranges``) with
        ``data.prefetch`` chunks read ahead."""
        ranges = self.ranges(chunk_rows, start, stop) if ranges is None else ranges
        return prefetch(
            (lambda a=a, b=b: self.read(a, b, columns, matrix_columns) for a, b in ranges), self.config.prefetch
        )

    def close(self) -> None:
        """Close every file's reader."""
        for r in self.readers:
            r.close()
        self.readers = []

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_DONE = object()


def prefetch(jobs: Iterable[Callable[[], T]], depth: int = 2) -> Iterator[T]:
    """Run ``jobs`` in order on a background thread, keeping up to ``depth`` results ready.

    Exceptions in a job are re-raised in the caller at that job's position. ``depth <= 0``
    runs the jobs in the caller's thread.
    """
    if depth <= 0:
        for job in jobs:
            yield job()
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def worker() -> None:
        try:
            for job in jobs:
                if stop.is_set():
                    return
                q.put((True, job()))
        except BaseException as exc:  # handed to the consumer
            q.put((False, exc))
        finally:
            q.put((True, _DONE))

    thread = threading.Thread(target=worker, name="trigdeploy-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if item is _DONE:
                return
            if not ok:
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a worker waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
