"""Shared fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what every small test run shares: CPU, one thread (reproducible AUCs), hdf5 in the reference layout
SMALL_TRAIN = {"device": "cpu", "threads": 1}


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def run_config(files, *overrides: str, **sections):
    """A ``RunConfig`` for test files: an hdf5 run named ``t`` on ``files``, with ``sections`` merged in
    (nested mappings merge key by key) and ``--set``-style ``overrides`` applied last. The one config
    factory of the test suite. The first pass runs in the test's process (``data.workers: 1``) unless
    the test asks for workers or Dask: spawning workers for every small test file costs seconds."""
    from trigdeploy.config import parse_config
    from trigdeploy.schema import apply_overrides

    raw = {"name": "t", "data": {"format": "hdf5", "files": [str(f) for f in files]}}
    if "dask" not in sections.get("data", {}) and not any(o.startswith("data.dask") for o in overrides):
        raw["data"]["workers"] = 1
    return parse_config(apply_overrides(_merge(raw, sections), list(overrides)))


# The session fixtures below are built once per pytest-xdist worker that uses them (tens of seconds each). The
# files that use one run on the same worker (one work unit of `--dist loadfile`), so each is built once per suite;
# collection refuses a file that uses one and is not listed here (the grouping cannot go stale silently).
SHARED_FIXTURES = {"trained_run": "shared-run", "exported": "shared-run", "three_class_run": "three-class-run"}
FILE_GROUPS = {
    "tests/bench/test_bench_run.py": "shared-run",
    "tests/bench/test_scan.py": "shared-run",
    "tests/convert/test_export.py": "shared-run",
    "tests/csim/test_csim.py": "shared-run",
    "tests/test_api.py": "shared-run",
    "tests/convert/test_multiclass_export.py": "three-class-run",
    "tests/train/test_multiclass_train.py": "three-class-run",
}


def work_unit(nodeid: str) -> str:
    """The pytest-xdist work unit of a test: its file's ``FILE_GROUPS`` group, else its file."""
    file = nodeid.split("::", 1)[0]
    return FILE_GROUPS.get(file, file)


def pytest_collection_modifyitems(config, items):
    """Refuse a test file that uses a shared session fixture without being in its ``FILE_GROUPS`` group."""
    for item in items:
        for fixture, group in SHARED_FIXTURES.items():
            if fixture in item.fixturenames and work_unit(item.nodeid) != group:
                file = item.nodeid.split("::", 1)[0]
                raise pytest.UsageError(
                    f"{file} uses the session fixture {fixture}: add it to FILE_GROUPS as {group!r}"
                )


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: none without it (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the files of one ``FILE_GROUPS`` group as one work unit (one worker, so their
    shared session fixture is built once); every other file is its own unit as before."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFixtureScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return SharedFixtureScheduling(config, log)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def run_cli(capsys):
    """Run ``trigdeploy.cli.main`` and return (status, stdout, stderr)."""
    from trigdeploy.cli import main

    def _run(*argv: str) -> tuple[int, str, str]:
        status = main([*argv])
        out = capsys.readouterr()
        return status, out.out, out.err

    return _run


@pytest.fixture(scope="session", autouse=True)
def quick_latency():
    """CPU latency measured in blocks of 20 calls and throughput passes of 400 events (bench's defaults:
    1,000 and 20,000): tests check what the figures are and how they relate, not their precision; a
    bench's timing loops took 45-50 s of every test that benchmarks a run at the defaults, and 16 s of
    the three-class bench at 100 and 2,000 (its random forest answers one event in 1.9 ms)."""
    from trigdeploy.bench import latency

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(latency, "WARMUP", 20)
        mp.setattr(latency, "BLOCK", 20)
        mp.setattr(latency, "MIN_EVENTS", 400)
        yield


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A small trained run (MLP, QAT MLP, resource-aware MLP, BDT) on generated top-tagging jets: 500 test events."""
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.generators import ToptagGenConfig
    from trigdeploy.train.run import train_run

    base = tmp_path_factory.mktemp("export")
    data = base / "t.h5"
    write_toptag(ToptagGenConfig(jets=2500, seed=41, chunk_size=2500), data, progress=False)
    cfg = run_config(
        [data],
        name="exp",
        seed=3,
        features={"kind": "toptag_jet"},
        scaling={"sample_rows": 2000},
        train={
            **SMALL_TRAIN,
            "mlp": {"hidden": [16, 8], "epochs": 2, "batch_size": 256},
            "qmlp": {"hidden": [16, 8], "epochs": 2, "batch_size": 256, "init": "float"},
            "hgq": {"hidden": [16, 8], "epochs": 2, "batch_size": 256, "init": "float"},
            "bdt": {"n_estimators": 6, "max_depth": 3},
        },
    )
    run = base / "run"
    train_run(cfg, run, progress=False)
    return run


@pytest.fixture(scope="session")
def three_class_run(tmp_path_factory):
    """A trained three-class run (g, q, t: imbalanced Gaussian blobs, 6,000 rows) with every model kind:
    (run folder, metrics, true class of every row)."""
    import numpy as np
    import pandas as pd

    from trigdeploy.train.run import train_run

    tmp = tmp_path_factory.mktemp("mc")
    rng = np.random.default_rng(4)
    n = 6000
    k = rng.choice(3, n, p=[0.5, 0.3, 0.2])  # imbalanced: the class weights matter
    centres = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])
    xy = centres[k] + rng.normal(size=(n, 2))
    df = pd.DataFrame({"f1": xy[:, 0], "f2": xy[:, 1], "f3": rng.normal(size=n), "kind": np.array([10, 20, 30])[k]})
    path = tmp / "mc.h5"
    df.to_hdf(path, key="table", format="table")
    cfg = run_config(
        [path],
        "label.column=kind",
        "label.classes={g: 10, q: 20, t: 30}",
        name="mc",
        data={"chunk_rows": 1000},
        features={"exclude": ["kind"]},
        train={
            "mlp": {"hidden": [16, 8], "epochs": 20, "batch_size": 256, "lr": 0.01},
            "qmlp": {"hidden": [16, 8], "epochs": 4, "batch_size": 256, "lr": 0.003, "init": "float"},
            "hgq": {"hidden": [16, 8], "epochs": 4, "batch_size": 256, "lr": 0.003, "init": "float"},
            # 10 rounds: 30 trees; conifer's HLS tables compile (vendor headers) in time that grows
            # faster than the trees (90 trees took minutes of every suite run)
            "bdt": {"n_estimators": 10, "max_depth": 3},
            "rf": {"n_estimators": 20, "max_depth": 6},
        },
    )
    run = tmp / "run"
    metrics = train_run(cfg, run, progress=False)
    return run, metrics, k


@pytest.fixture(scope="session")
def exported(trained_run, tmp_path_factory):
    """``trained_run`` exported (Vitis only, 50 testbench events; csim's builds compiled meanwhile, as ``make
    export-hls`` does): (output root, manifest)."""
    from trigdeploy.convert.export import export_run as export
    from trigdeploy.targets import Budget, ExportTarget, HLS4MLTarget

    root = tmp_path_factory.mktemp("out")
    target = ExportTarget(
        hls4ml=HLS4MLTarget(Backends=("Vitis",)),
        testbench_events=50,
        ptq_rtl=True,
        budget=Budget(lut_fraction=0.05, latency_ns=100.0, ii=1),
        source="test",
    )
    manifest = export(trained_run, target, root / "export", root / "firmware", prebuild_csim=True)
    return root, manifest


@pytest.fixture(scope="session")
def tiny_qat(tmp_path_factory):
    """A 6 → 8 → 4 → 1 Brevitas QAT MLP built inline (activation scales calibrated), 3,000 inputs on its
    input grid and its QONNX model and outputs: for converter unit tests that need no trained run."""
    import numpy as np
    import torch

    from trigdeploy.config import QMLPConfig
    from trigdeploy.convert import to_qonnx
    from trigdeploy.models.qmlp import build_qmlp

    torch.manual_seed(0)
    model = build_qmlp(6, QMLPConfig(hidden=(8, 4), weight_bits=4, act_bits=6, input_bits=6, init="scratch"))
    model.train()
    with torch.no_grad():
        for _ in range(5):  # Brevitas sets activation scales from runtime statistics
            model(torch.randn(64, 6) * 2)
    model.eval()
    x = to_qonnx.input_quantizer(model).quantize(np.random.default_rng(1).normal(size=(3000, 6)) * 2)
    m = to_qonnx.export_qonnx(model, 6, tmp_path_factory.mktemp("tiny_qat") / "q.onnx", [])
    return model, x, m, to_qonnx.execute(m, x)


def sigterm_once_running(argv: list[str], child_names: tuple[str, ...], within: float) -> list:
    """Start ``trigdeploy <argv>``, send it SIGTERM as soon as one of its child processes is named like
    ``child_names`` (a compiler, Yosys), and check that it exits with 143 within ``within`` seconds and
    leaves none of them running. Returns those children."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-m", "trigdeploy.cli", *argv, "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    running: list = []
    while time.monotonic() < deadline and proc.poll() is None and not running:
        running = [c for c in psutil.Process(proc.pid).children(recursive=True) if c.name().startswith(child_names)]
        time.sleep(0.05)
    assert running, f"trigdeploy {argv[0]} finished or never started {child_names}"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and time.monotonic() - t0 < within, err
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in running)
    return running


def reseal(manifest_path: Path, key: str, rel: str, path: Path) -> None:
    """Record ``path``'s new hash in the manifest (a consistent export with a wrong file, not a tampered one)."""
    from trigdeploy.io import sha256_file

    raw = json.loads(manifest_path.read_text())
    for p in raw["projects"]:
        if p.get(key) == rel:
            p[key.replace("_file", "_sha256")] = sha256_file(path)
    manifest_path.write_text(json.dumps(raw))


def own_copy(run: Path, tmp_path: Path) -> Path:
    """A copy of the shared run (same name), so that the csim outputs a test writes stay its own."""
    copy = tmp_path / "runs" / run.name
    shutil.copytree(run, copy)
    return copy
