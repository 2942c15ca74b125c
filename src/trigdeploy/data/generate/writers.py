"""Chunked writers for the public layouts; each writes to a temporary file and renames at the end.

Memory stays at one chunk whatever the file size: rows are appended as they are generated.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from trigdeploy.data import layouts
from trigdeploy.io import atomic_path

JetProducer = Callable[[np.random.Generator, int, bool], tuple[np.ndarray, np.ndarray]]


class ToptagWriter:
    """Appends jets to a pandas ``HDFStore`` table in the Top Quark Tagging reference layout."""

    def __init__(self, store: pd.HDFStore, n_constituents: int, ttv: int, expected_rows: int):
        self._store = store
        self._columns = layouts.toptag_columns(n_constituents)
        self._n_constituents = n_constituents
        self._ttv = ttv
        self._expected = expected_rows
        self.rows = 0

    def append(self, constituents: np.ndarray, truth: np.ndarray, label: np.ndarray) -> None:
        """Append ``constituents (n, n_constituents, 4)``, ``truth (n, 4)``, ``label (n,)``."""
        n = len(label)
        if constituents.shape != (n, self._n_constituents, 4):
            raise ValueError(f"constituents shape {constituents.shape} != ({n}, {self._n_constituents}, 4)")
        physics = np.concatenate([constituents.reshape(n, -1), truth.reshape(n, 4)], axis=1).astype(
            np.float32, copy=False
        )
        data = {c: physics[:, i] for i, c in enumerate(self._columns[:-2])}
        data[layouts.TOPTAG_SPLIT] = np.full(n, self._ttv, dtype=np.int64)
        data[layouts.TOPTAG_LABEL] = label.astype(np.int64)
        frame = pd.DataFrame(data, index=pd.RangeIndex(self.rows, self.rows + n), copy=False)
        self._store.append(layouts.TOPTAG_KEY, frame, format="table", index=False, expectedrows=self._expected)
        self.rows += n


@contextlib.contextmanager
def toptag_writer(path: Path, n_constituents: int, ttv: int, expected_rows: int) -> Iterator[ToptagWriter]:
    """Open a ``ToptagWriter`` on a temporary file that becomes ``path`` only on success."""
    import tables

    with atomic_path(Path(path)) as tmp, warnings.catch_warnings():
        # PyTables warns that >~600 columns is a lot for a table; the reference layout has 806.
        warnings.filterwarnings("ignore", message=".*maximum number of columns.*")
        warnings.filterwarnings("ignore", category=pd.errors.PerformanceWarning)
        try:
            with pd.HDFStore(tmp, mode="w") as store:
                writer = ToptagWriter(store, n_constituents, ttv, expected_rows)
                yield writer
        except tables.HDF5ExtError as exc:  # HDF5's own back trace: keep the OS reason, name the file
            code = re.search(r"errno = (\d+)", str(exc))
            code = int(code.group(1)) if code else errno.EIO
            raise OSError(code, os.strerror(code), str(path)) from None
        check_rows(tmp, Path(path), writer.rows)


def check_rows(tmp: Path, final: Path, rows: int) -> None:
    """Re-open a just-written table and check that it holds ``rows`` readable rows.

    HDF5 reports some write failures (a full disk while flushing on close) only on its own stderr,
    and PyTables then closes without an exception: without this check a corrupt file would be
    renamed into place and the command would exit 0.
    """
    import tables

    try:
        with tables.open_file(str(tmp), mode="r") as f:
            table = f.get_node(f"/{layouts.TOPTAG_KEY}/table")
            ok = table.nrows == rows and (rows == 0 or len(table.read(rows - 1, rows)) == 1)
    except Exception:  # noqa: BLE001 - any failure to read it back means the file is broken
        ok = False
    if not ok:
        raise OSError(
            errno.EIO, f"written file is incomplete or unreadable (disk full?), expected {rows} rows", str(final)
        )


def split_counts(total: int, chunk_size: int, signal_fraction: float) -> list[tuple[int, int]]:
    """(signal, background) jets per chunk; the signal total is ``round(total * fraction)``."""
    n_sig_total = round(total * signal_fraction)
    out, done, sig_done = [], 0, 0
    while done < total:
        n = min(chunk_size, total - done)
        sig = round((done + n) * n_sig_total / total) - sig_done
        out.append((sig, n - sig))
        done += n
        sig_done += sig
    return out


def write_jet_chunks(
    writer: ToptagWriter,
    chunks: list[tuple[int, int]],
    seed: int,
    produce: JetProducer,
    on_chunk: Callable[[int], None] = lambda n: None,
) -> None:
    """Fill ``writer`` chunk by chunk: ``produce(rng, n, signal)`` gives ``(constituents, truth)``.

    Chunk ``i`` uses ``default_rng([seed, i])`` and its rows are shuffled, so signal and
    background are interleaved as in the reference files.
    """
    for index, (n_sig, n_bkg) in enumerate(chunks):
        rng = np.random.default_rng([seed, index])
        parts = [produce(rng, n, signal) for n, signal in ((n_sig, True), (n_bkg, False)) if n > 0]
        const = np.concatenate([p[0] for p in parts])
        truth = np.concatenate([p[1] for p in parts])
        label = np.r_[np.ones(n_sig, np.int64), np.zeros(n_bkg, np.int64)]
        order = rng.permutation(len(label))
        writer.append(const[order], truth[order], label[order])
        on_chunk(len(label))
