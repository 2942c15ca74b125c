"""The first pass on several workers, on Dask, and resumed after a kill: always the same cache."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import run_config
from trigdeploy.data import chunks as chunks_module
from trigdeploy.data.generate import write_toptag
from trigdeploy.data.prepare import prepare
from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import ToptagGenConfig

OUTPUTS = ("features.json", "preprocess.json", "splits.npz")
CACHE_FILES = ("features.npy", "labels.npy", "codes.npy", "meta.json")


@pytest.fixture(scope="module")
def toptag_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tt") / "t.h5"
    write_toptag(ToptagGenConfig(jets=4000, seed=3, chunk_size=4000), path, progress=False)
    return path


def cfg_for(path, *overrides, **data):
    """14 chunks of 300 rows; the selection drops rows, so the split codes are written by the chunks too."""
    return run_config(
        [path],
        *overrides,
        data={"chunk_rows": 300, "nan_policy": "drop", "selection": "E_0 > 150", **data},
        features={"kind": "toptag_jet_constituents", "n_constituents": 4},
        scaling={"sample_rows": 1000},
    )


def snapshot(run_dir) -> dict[str, bytes]:
    """Every byte of the data stage's outputs, by name (the cache folder's name is its key); the
    run folder's own path (features.json names the cache) reads as ``<run>``."""
    caches = [p for p in (run_dir / "cache").iterdir()]
    assert len(caches) == 1 and not caches[0].name.startswith(".")
    out = {name: (run_dir / name).read_bytes().replace(str(run_dir).encode(), b"<run>") for name in OUTPUTS}
    out.update({f"cache/{caches[0].name}/{n}": (caches[0] / n).read_bytes() for n in CACHE_FILES})
    return out


def assert_same(a: dict[str, bytes], b: dict[str, bytes]) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if a[k] != b[k]]
    assert not differ, f"differ: {differ}"


@pytest.fixture(scope="module")
def one_worker(toptag_file, tmp_path_factory):
    run = tmp_path_factory.mktemp("w1")
    result = prepare(cfg_for(toptag_file), run, progress=False)
    assert result.build["workers"] == "1 process" and result.build["chunks"] == 14
    assert 0 < result.report["rows"]["unused"] < 4000  # the selection dropped rows: codes are exercised
    return snapshot(run)


def test_snapshot_comparison_catches_one_changed_byte(one_worker):
    changed = dict(one_worker)
    key = next(k for k in changed if k.endswith("features.npy"))
    b = bytearray(changed[key])
    b[-1] ^= 1
    changed[key] = bytes(b)
    with pytest.raises(AssertionError, match="features.npy"):
        assert_same(one_worker, changed)


def test_two_workers_write_the_same_cache(toptag_file, one_worker, tmp_path):
    result = prepare(cfg_for(toptag_file, "data.workers=2"), tmp_path, progress=False)
    assert result.build["workers"] == "2 processes"
    assert_same(snapshot(tmp_path), one_worker)


@pytest.mark.integration
def test_dask_local_cluster_writes_the_same_cache(toptag_file, one_worker, tmp_path):
    result = prepare(cfg_for(toptag_file, dask={"workers": 2}), tmp_path, progress=False)
    assert result.build["workers"].startswith("Dask LocalCluster")
    assert_same(snapshot(tmp_path), one_worker)


def test_interrupted_prepare_resumes_without_recomputing(toptag_file, one_worker, tmp_path, monkeypatch):
    calls = []
    real = chunks_module.process_chunk

    def interrupted_after_five(*args, **kwargs):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(args[1].start)
        return real(*args, **kwargs)

    monkeypatch.setattr("trigdeploy.data.runner.process_chunk", interrupted_after_five)
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg_for(toptag_file), tmp_path, progress=False)
    building = [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".building")]
    assert len(building) == 1 and len(list((building[0] / "chunks").glob("*.json"))) == 5
    assert not (tmp_path / "features.json").exists()  # nothing complete-looking
    monkeypatch.setattr("trigdeploy.data.runner.process_chunk", real)
    recomputed = []
    monkeypatch.setattr(
        "trigdeploy.data.runner.process_chunk", lambda *a, **k: recomputed.append(a[1].start) or real(*a, **k)
    )
    result = prepare(cfg_for(toptag_file), tmp_path, progress=False)
    assert result.build["chunks_resumed"] == 5 and not set(recomputed) & set(calls)
    assert result.build["rows_computed"] == 4000 - 5 * 300
    assert_same(snapshot(tmp_path), one_worker)


def test_a_corrupted_chunk_is_computed_again(toptag_file, one_worker, tmp_path, monkeypatch):
    real = chunks_module.process_chunk
    count = []

    def stop_after_four(*args, **kwargs):
        if len(count) == 4:
            raise KeyboardInterrupt
        count.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("trigdeploy.data.runner.process_chunk", stop_after_four)
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg_for(toptag_file), tmp_path, progress=False)
    monkeypatch.setattr("trigdeploy.data.runner.process_chunk", real)
    building = next(p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".building"))
    features = np.load(building / "features.npy", mmap_mode="r+")
    features[310, 2] += 1.0  # inside the second chunk, after its record was written
    features.flush()
    del features
    result = prepare(cfg_for(toptag_file), tmp_path, progress=False)
    assert result.build["chunks_resumed"] == 3
    assert_same(snapshot(tmp_path), one_worker)


def test_killed_cli_prepare_resumes(toptag_file, one_worker, tmp_path):
    """A real SIGKILL half-way through ``trigdeploy prepare``, then the same command again."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        json.dumps(
            {
                "name": "t",
                "data": {
                    "format": "hdf5",
                    "files": [str(toptag_file)],
                    "chunk_rows": 300,
                    "workers": 1,
                    "nan_policy": "drop",
                    "selection": "E_0 > 150",
                },
                "features": {"kind": "toptag_jet_constituents", "n_constituents": 4},
                "scaling": {"sample_rows": 1000},
            }
        )
    )
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "trigdeploy.cli",
        "prepare",
        "--config",
        str(cfg),
        "--run-dir",
        str(run),
        "--quiet",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    written: list = []
    while time.monotonic() < deadline and proc.poll() is None:
        written = list((run / "cache").glob(".*.building/chunks/*.json")) if (run / "cache").exists() else []
        if len(written) >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "prepare finished before it could be killed half-way"
    kept = len(list((run / "cache").glob(".*.building/chunks/*.json")))
    assert 3 <= kept < 14
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    first_pass = json.loads(out)["first_pass"]
    assert first_pass["chunks_resumed"] == kept and first_pass["rows_computed"] < 4000
    assert_same(snapshot(run), one_worker)


def test_unreachable_scheduler_is_one_line(toptag_file, tmp_path):
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(TrigdeployError, match="data.dask.scheduler tcp://127.0.0.1:1: cannot connect") as info,
    ):
        prepare(cfg_for(toptag_file, dask={"scheduler": "tcp://127.0.0.1:1"}), tmp_path / "run", progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run" / "features.json").exists()


def interrupt_after(monkeypatch, n: int, exc: BaseException) -> None:
    """``process_chunk`` in this process raises ``exc`` once ``n`` chunks were written."""
    real = chunks_module.process_chunk
    calls = []

    def stop(*args, **kwargs):
        if len(calls) == n:
            raise exc
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("trigdeploy.data.runner.process_chunk", stop)


def building_of(run_dir):
    (building,) = [p for p in (run_dir / "cache").iterdir() if p.name.endswith(".building")]
    return building


def test_a_refused_second_prepare_leaves_the_owners_build(toptag_file, one_worker, tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 4, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg_for(toptag_file), tmp_path, progress=False)
    monkeypatch.undo()
    building = building_of(tmp_path)
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # a live process of this host owns the build: the second prepare is refused and deletes nothing
        from trigdeploy.io import host_tag

        (building / "owner").write_text(f"{owner.pid}@{host_tag()}")
        with pytest.raises(TrigdeployError, match="another prepare"):
            prepare(cfg_for(toptag_file), tmp_path, progress=False)
        assert len(list((building / "chunks").glob("*.json"))) == 4
    finally:
        owner.kill()
        owner.wait()
    result = prepare(cfg_for(toptag_file), tmp_path, progress=False)  # the owner is gone: resumed
    assert result.build["chunks_resumed"] == 4
    assert_same(snapshot(tmp_path), one_worker)


def test_a_lost_worker_keeps_the_chunks_written(toptag_file, one_worker, tmp_path, monkeypatch):
    """A dead worker process (BrokenProcessPool) is an interruption, not bad input: the next run resumes."""
    from concurrent.futures.process import BrokenProcessPool

    interrupt_after(monkeypatch, 2, BrokenProcessPool("killed"))
    with pytest.raises(TrigdeployError, match="worker process died.*resumes") as info:
        prepare(cfg_for(toptag_file, "data.workers=2"), tmp_path, progress=False)
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    kept = len(list((building_of(tmp_path) / "chunks").glob("*.json")))
    assert kept >= 2
    result = prepare(cfg_for(toptag_file), tmp_path, progress=False)
    assert result.build["chunks_resumed"] == kept
    assert_same(snapshot(tmp_path), one_worker)


@pytest.mark.parametrize(
    "record",
    ['"x"', '{"start": 300}', "[1, 2]", '{"start": 0, "stop": 300, "sha256": 5}'],
    ids=["string", "no-stop", "list", "bad-digest-type"],
)
def test_a_malformed_chunk_record_is_computed_again(toptag_file, one_worker, tmp_path, monkeypatch, record):
    interrupt_after(monkeypatch, 4, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg_for(toptag_file), tmp_path, progress=False)
    monkeypatch.undo()
    building = building_of(tmp_path)
    first = sorted((building / "chunks").glob("*.json"))[0]
    first.write_text(record)
    (building / "owner").write_text("abc@host")  # not <pid>@<host>: names no live process
    result = prepare(cfg_for(toptag_file), tmp_path, progress=False)
    assert result.build["chunks_resumed"] == 3  # the other three records are kept
    assert_same(snapshot(tmp_path), one_worker)
