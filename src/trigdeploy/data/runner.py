"""Where the chunks of the data stage run: this process (reading ahead on a thread), local worker
processes, or a Dask cluster (``data.workers``, ``data.dask``).

With ``data.workers: N`` this process and N − 1 spawned ones compute chunks. The spawned workers
start when the runner is entered and load the compiled feature kernels at once (about a second),
so their start-up overlaps the sampling pass and this process's first chunks.
Worker processes are spawned (not forked): a script that calls ``prepare`` with more than one
worker needs the usual ``if __name__ == "__main__":`` guard; the CLI has it.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from trigdeploy.config import DataConfig
from trigdeploy.data.chunks import ChunkComputer, process_chunk, warm, write_chunk
from trigdeploy.errors import TrigdeployError


class Interrupted(TrigdeployError):
    """The pass stopped for a reason other than its input (a worker process or a Dask worker lost): the
    chunks written so far are sound and the next ``prepare`` resumes from them."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class ChunkRunner:
    """Runs ``write_chunk`` over chunk ranges; a context manager that owns its workers."""

    def __init__(self, data: DataConfig, chunks: int):
        self.dask = data.dask
        self.workers = max(1, min(data.workers or available_cores(), chunks))  # no idle workers
        self._pool: ProcessPoolExecutor | None = None
        self._client = None
        self._stack = contextlib.ExitStack()  # what __exit__ closes: the pool or the Dask client

    def describe(self) -> str:
        """Where the chunks run, in words (the processes, or the Dask cluster)."""
        if self.dask is not None:
            return f"Dask {self.dask.scheduler or f'LocalCluster of {self.dask.workers}'}"
        return f"{self.workers} process{'es' if self.workers > 1 else ''}"

    def __enter__(self) -> ChunkRunner:
        if self.dask is not None:
            from trigdeploy.cluster import dask_client

            self._client = self._stack.enter_context(dask_client(self.dask, "data.dask"))
            self._client.run(warm)
        elif self.workers > 1:  # this process is one of the workers
            self._pool = ProcessPoolExecutor(self.workers - 1, mp_context=multiprocessing.get_context("spawn"))
            self._stack.callback(self._pool.shutdown, wait=True, cancel_futures=True)
            for _ in range(self.workers - 1):
                self._pool.submit(warm)
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def run(
        self, ds, computer: ChunkComputer, building: Path, codes: np.ndarray, todo: list[tuple[int, int]]
    ) -> Iterator[dict]:
        """Compute and write the chunks ``todo``; yields each chunk's record as it completes."""
        if self._client is not None:
            yield from self._run_dask(computer, building, codes, todo)
        elif self._pool is not None and len(todo) > 1:
            yield from self._run_pool(ds, computer, building, codes, todo)
        else:
            for chunk in ds.chunks(computer.reads, matrix_columns=computer.matrix or None, ranges=todo):
                yield process_chunk(computer, chunk, building, codes[chunk.start : chunk.stop])

    def _run_pool(self, ds, computer, building, codes, todo) -> Iterator[dict]:
        """This process computes chunks too (its kernels are loaded) while the pool's processes start."""
        jobs = collections.deque(todo)
        pending: set = set()
        try:
            while jobs or pending:
                while jobs and len(pending) < 2 * (self.workers - 1):  # bounded memory
                    a, b = jobs.popleft()
                    pending.add(self._pool.submit(write_chunk, computer, str(building), a, b, codes[a:b]))
                if jobs:
                    a, b = jobs.popleft()
                    yield process_chunk(computer, computer.read(ds, a, b), building, codes[a:b])
                else:
                    wait(pending, return_when=FIRST_COMPLETED)
                for f in [f for f in pending if f.done()]:
                    pending.remove(f)
                    yield f.result()
        except BrokenProcessPool:
            raise Interrupted(
                f"{building}: a data-stage worker process died (out of memory? killed?); the chunks "
                "written so far are kept and the next prepare resumes; set data.workers: 1 to run "
                "the first pass in one process"
            ) from None
        finally:
            for f in pending:
                f.cancel()

    def _run_dask(self, computer, building, codes, todo) -> Iterator[dict]:
        from distributed import as_completed
        from distributed.comm.core import CommClosedError
        from distributed.scheduler import KilledWorker

        jobs = iter(todo)
        window = 2 * max(1, sum(self._client.nthreads().values()))

        def submit(a, b):
            return self._client.submit(write_chunk, computer, str(building), a, b, codes[a:b], pure=False)

        futures = as_completed([submit(a, b) for a, b in itertools.islice(jobs, window)])
        for f in futures:
            try:
                record = f.result()
            except (KilledWorker, CommClosedError) as exc:  # the cluster, not the input
                raise Interrupted(
                    f"{building}: a Dask worker was lost ({type(exc).__name__}); the chunks written so "
                    "far are kept and the next prepare resumes"
                ) from None
            yield record
            for a, b in itertools.islice(jobs, 1):  # bounded memory
                futures.add(submit(a, b))
