"""The shared Dask client: addresses checked at load, a server that is not a scheduler refused in time."""

from __future__ import annotations

import socket
import threading

import pytest

from trigdeploy.config import parse_config
from trigdeploy.errors import TrigdeployError
from trigdeploy.schema import apply_overrides

BASE = {"name": "t", "data": {"format": "hdf5", "files": ["a.h5"]}}


@pytest.mark.parametrize(
    "address",
    ["http://127.0.0.1:8786", "tcp://host", "tcp://host:0", "tcp://host:99999", "tcp://", "host:port", "tcp://a b:1"],
    ids=["http", "no-port", "port-zero", "port-huge", "empty", "port-text", "space"],
)
def test_malformed_scheduler_addresses_are_refused_at_load(address):
    with pytest.raises(TrigdeployError, match="key 'data.dask.scheduler': expected a Dask scheduler address") as info:
        parse_config(apply_overrides(BASE, [f"data.dask={{scheduler: '{address}'}}"]), "run.yaml")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "address", ["tcp://10.0.0.5:8786", "scheduler.cluster:8786", "tls://[::1]:8786"], ids=["tcp", "bare", "tls-ipv6"]
)
def test_well_formed_addresses_load(address):
    cfg = parse_config(apply_overrides(BASE, [f"data.dask={{scheduler: '{address}'}}"]), "run.yaml")
    assert cfg.data.dask.scheduler == address


@pytest.fixture
def silent_server():
    """A TCP server on the loopback that accepts connections and never answers (not a Dask scheduler)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for c in accepted:
        c.close()


def test_a_server_that_is_not_a_scheduler_is_one_line_within_the_timeout(silent_server):
    """``distributed.Client`` would wait for it forever; the probe gives up after the connect timeout."""
    import time

    import dask
    import distributed  # noqa: F401  (its config defaults first: set() on an absent key removes it on exit)

    from trigdeploy.cluster import probe_scheduler

    t0 = time.monotonic()
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(TrigdeployError, match="data.dask.scheduler tcp://127.0.0.1:[0-9]+: cannot connect") as info,
    ):
        probe_scheduler(silent_server, "data.dask")
    assert time.monotonic() - t0 < 20 and "\n" not in str(info.value)


def test_a_real_scheduler_passes_the_probe():
    from distributed import LocalCluster

    from trigdeploy.cluster import probe_scheduler

    with LocalCluster(
        n_workers=1, processes=False, dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"}
    ) as cluster:
        probe_scheduler(cluster.scheduler_address, "data.dask")  # no error: the probe can tell them apart


def test_a_local_cluster_starts_while_another_holds_the_default_http_port():
    """Two runs on one machine (or a notebook's cluster beside a run): the second local cluster must not
    need distributed's default HTTP port 8787 (taken, it warns, and the suite's warnings are errors)."""
    from trigdeploy.cluster import dask_client
    from trigdeploy.config import DaskClusterConfig

    holder = socket.socket()
    try:
        holder.bind(("", 8787))  # already taken by something else: the same situation
        holder.listen()
    except OSError:
        pass
    try:
        with dask_client(DaskClusterConfig(workers=1), "data.dask") as client:
            assert client.submit(sum, [1, 2]).result() == 3
    finally:
        holder.close()
