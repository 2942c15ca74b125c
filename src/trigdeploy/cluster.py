"""A Dask ``distributed`` client for a ``DaskClusterConfig``: a ``LocalCluster`` of ``workers``
processes (one thread each), or the scheduler at ``scheduler``. Shared by the stages that run on
Dask (generation, the data stage's first pass, the BDT)."""

from __future__ import annotations

import asyncio
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
        # no dashboard, and the scheduler's own HTTP endpoints on a free port (distributed's default, 8787, is
        # taken by any other local cluster: two runs at once, or a notebook's, would warn or fail)
        cluster = LocalCluster(
            n_workers=cfg.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
        )
    else:
        probe_scheduler(cfg.scheduler, where)
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


def probe_scheduler(address: str, where: str) -> None:
    """Check that a Dask scheduler answers at ``address`` within Dask's connect timeout
    (``distributed.comm.timeouts.connect``), in one line if not. ``Client`` itself waits forever
    on a server that accepts the connection but is not a Dask scheduler."""
    import dask
    from dask.utils import parse_timedelta
    from distributed.comm import connect

    timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")

    async def identity() -> object:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        try:
            await asyncio.wait_for(comm.write({"op": "identity"}), timeout)
            return await asyncio.wait_for(comm.read(), timeout)
        finally:
            comm.abort()

    try:
        reply = asyncio.run(identity())
    except (OSError, TimeoutError, ValueError) as exc:
        why = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else " ".join(str(exc).split())
        raise TrigdeployError(f"{where}.scheduler {address}: cannot connect ({why})") from None
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        raise TrigdeployError(f"{where}.scheduler {address}: answers, but is not a Dask scheduler")
