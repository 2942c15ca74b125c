"""DDP training with 2 CPU processes (gloo) under torchrun, against a single-process run."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import SMALL_TRAIN, run_config
from trigdeploy.config import dump_config
from trigdeploy.data.cache import load_prepared
from trigdeploy.data.generate import write_toptag
from trigdeploy.generators import ToptagGenConfig
from trigdeploy.train.distributed import Context, shard

pytestmark = pytest.mark.integration  # end to end through several stages


@pytest.mark.parametrize("world", [2, 3, 5], ids=["2-ranks", "3-ranks", "5-ranks"])
@pytest.mark.parametrize("n", [7, 1000, 3517], ids=["7-rows", "1000-rows", "3517-rows"])
def test_shards_are_disjoint_and_cover_the_rows(world, n):
    rows = np.sort(np.random.default_rng(n).choice(10 * n, n, replace=False))
    parts = [shard(rows, Context(r, world, r)) for r in range(world)]
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), rows)  # cover, and no row twice
    assert max(map(len, parts)) - min(map(len, parts)) <= -(-n // (world * 8))  # balanced to one chunk


def config(tmp_path, data, batch_size):
    cfg = run_config(
        [data],
        name="ddp",
        seed=4,
        data={"chunk_rows": 1000},
        features={"kind": "toptag_jet"},
        scaling={"sample_rows": 2000},
        train={
            **SMALL_TRAIN,
            "mlp": {"hidden": [16, 8], "epochs": 4, "batch_size": batch_size, "early_stopping_patience": 10},
            # small QAT batches: > 300 steps, so Brevitas' runtime-statistics scale initialisation
            # (collect_stats_steps = 300) completes inside the run
            "qmlp": {
                "hidden": [16, 8],
                "epochs": 4,
                "batch_size": batch_size // 8,
                "init": "float",
                "early_stopping_patience": 10,
            },
            "hgq": {"hidden": [16, 8], "epochs": 4, "batch_size": batch_size, "init": "float"},
            "bdt": {"n_estimators": 10, "max_depth": 2},
        },
    )
    path = tmp_path / f"ddp_{batch_size}.yaml"
    path.write_text(dump_config(cfg))  # torchrun's processes read it as a user's file
    return path


@pytest.mark.slow  # two torch.distributed processes, 32 s; CI runs make test-slow
def test_ddp_two_processes_match_one(tmp_path):
    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=4000, seed=12, chunk_size=2000), data, progress=False)
    ddp_run, single_run = tmp_path / "ddp", tmp_path / "single"
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "trigdeploy",
        "train",
        "--config",
        str(config(tmp_path, data, 128)),
        "--run-dir",
        str(ddp_run),
        "--quiet",
    ]
    done = subprocess.run(launch, capture_output=True, text=True, timeout=600)
    # the ranks' own messages come first, torchrun's report of which rank failed last: both, when it fails
    assert done.returncode == 0, f"{done.stderr[:3000]}\n…\n{done.stderr[-1500:]}"
    single = [
        sys.executable,
        "-m",
        "trigdeploy",
        "train",
        "--config",
        str(config(tmp_path, data, 256)),
        "--run-dir",
        str(single_run),
        "--quiet",
    ]
    subprocess.run(single, capture_output=True, text=True, timeout=600, check=True)

    m_ddp = json.loads((ddp_run / "metrics.json").read_text())
    m_one = json.loads((single_run / "metrics.json").read_text())
    info = m_ddp["mlp"]["training"]["distributed"]
    assert info["world_size"] == 2 and info["backend"] == "gloo" and info["global_batch"] == 256
    assert info["identical_weights_on_all_ranks"]  # the ranks compared weight hashes after training
    train_rows = load_prepared(ddp_run).rows("train")
    assert info["train_rows_per_rank"] == [len(shard(train_rows, Context(r, 2, r))) for r in (0, 1)]
    assert sum(info["train_rows_per_rank"]) == len(train_rows)
    assert m_one["mlp"]["training"]["distributed"] is None
    # Same data and global batch (2 × 128 vs 256), different batch composition and order: a small
    # MLP after 4 epochs on 2,800 rows lands within a few 1e-3 of AUC; the BDT (rank 0 only) is identical.
    assert abs(m_ddp["mlp"]["auc"] - m_one["mlp"]["auc"]) < 0.01
    q = m_ddp["qmlp"]["training"]["distributed"]
    assert q["identical_weights_on_all_ranks"] and q["steps_per_epoch"] * 4 > 301
    assert abs(m_ddp["qmlp"]["auc"] - m_one["qmlp"]["auc"]) < 0.02  # QAT: 4 epochs of 16-row batches, looser
    h = m_ddp["hgq"]["training"]["distributed"]  # the cost term and the bit-count updates under DDP
    assert h["identical_weights_on_all_ranks"] and abs(m_ddp["hgq"]["auc"] - m_one["hgq"]["auc"]) < 0.02
    assert m_ddp["bdt"]["auc"] == m_one["bdt"]["auc"]
    assert not (ddp_run / "checkpoints" / "mlp.ckpt").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORLD_SIZE": "2", "RANK": "0"}, "WORLD_SIZE=2 is set but MASTER_ADDR and MASTER_PORT not"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two': expected an integer from 1 to 65536"),
        (
            {"WORLD_SIZE": "2", "RANK": "5", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"},
            "RANK='5': expected an integer from 0 to 1",
        ),
        ({"RANK": "1"}, "RANK='1': expected an integer from 0 to 0"),
        ({"WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "99999"}, "MASTER_PORT='99999'"),
    ],
    ids=["no-rendezvous", "not-a-number", "rank-beyond-world", "rank-without-world", "bad-port"],
)
def test_a_stray_torchrun_environment_is_one_line_before_anything_is_written(tmp_path, monkeypatch, env, message):
    from trigdeploy.errors import TrigdeployError
    from trigdeploy.train.run import train_run

    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cfg = run_config([tmp_path / "absent.h5"], train={"mlp": {"epochs": 1}})
    with pytest.raises(TrigdeployError, match=message) as info:
        train_run(cfg, tmp_path / "run", progress=False)
    assert "\n" not in str(info.value) and not (tmp_path / "run").exists()


class _Exited(Exception):
    pass


@pytest.mark.parametrize("joined", [True, False], ids=["joined", "never-joined"])
@pytest.mark.parametrize("status", [0, 2], ids=["ok", "error"])
def test_a_process_that_joined_a_job_ends_without_the_interpreter_shutdown(monkeypatch, joined, status):
    # gloo's worker threads outlive destroy_process_group once a DDP model was built and may free a
    # collective's tensors during the interpreter's shutdown (std::terminate, seen in 2 of 24 loaded
    # launches): a rank ends with os._exit(status), its output flushed; a process that never joined returns
    from trigdeploy.train import distributed

    ended: list[int] = []

    def fake_exit(code):
        ended.append(code)
        raise _Exited

    monkeypatch.setattr(distributed, "_joined", [True] if joined else [])
    monkeypatch.setattr(distributed.os, "_exit", fake_exit)
    raw = io.BytesIO()
    # a block-buffered stdout (pytest's own capture writes through, so it could not show a missing flush)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    sys.stdout.write("the last line\n")
    assert raw.getvalue() == b""  # still in the buffer: os._exit would lose it
    if joined:
        with pytest.raises(_Exited):
            distributed.end_process(status)
        assert ended == [status] and raw.getvalue() == b"the last line\n"
    else:
        assert distributed.end_process(status) is None and ended == []


def test_the_cli_ends_every_command_through_end_process(monkeypatch, tmp_path):
    from trigdeploy.cli import main
    from trigdeploy.train import distributed

    seen: list[int] = []
    monkeypatch.setattr(distributed, "end_process", seen.append)
    assert main(["train", "--config", str(tmp_path / "absent.yaml"), "--quiet"]) == 2
    assert seen == [2]  # the status main returns, handed over first
