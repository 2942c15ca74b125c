"""A Dask ``distributed`` client for a ``DaskClusterConfig``: a ``LocalCluster`` of ``workers``
processes (one thread each), or the scheduler at ``scheduler``. Shared by the stages that run on
Dask (generation, the data stage's first pass, the BDT)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from trigdeploy.errors import TrigdeployError


@contextlib.contextmanager
def dask_client(cfg, where: str) -> Iterator:
    """Yield a connected ``distributed.Client``; the local cluster it started is closed on exit.
    ``where`` names the config section in the one-line error for an unreachable scheduler."""
    from distributed import Client, LocalCluster

    cluster = None
    if cfg.scheduler is None:
        cluster = LocalCluster(n_workers=cfg.workers, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        try:
            client = Client(cfg.scheduler or cluster)
        except OSError as exc:  # an unreachable scheduler: one line, not a traceback
            raise TrigdeployError(f"{where}.scheduler {cfg.scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()
