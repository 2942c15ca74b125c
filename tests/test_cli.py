"""CLI: shared verb shape, generator subcommands, one-line errors with non-zero exit."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from trigdeploy.data import layouts


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("trigdeploy: error: ")
    return lines[0]


def test_data_toptag_writes_the_reference_layout(run_cli, tmp_path):
    out = tmp_path / "t.h5"
    status, stdout, _ = run_cli("data", "toptag", "--out", str(out), "--jets", "300", "--seed", "3", "--quiet")
    assert status == 0
    assert '"rows": 300' in stdout
    df = pd.read_hdf(out, "table", start=0, stop=10)
    assert list(df.columns) == layouts.toptag_columns()


def test_data_from_config_generates_and_then_skips(run_cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    out = tmp_path / "sub" / "d.h5"
    cfg.write_text(
        yaml.safe_dump(
            {"name": "c", "data": {"format": "hdf5", "files": [str(out)], "generate": {"toptag": {"jets": 200}}}}
        )
    )
    status, _, _ = run_cli("data", "--config", str(cfg), "--quiet")
    assert status == 0 and out.exists()
    before = out.stat().st_mtime_ns
    status, stdout, _ = run_cli("data", "--config", str(cfg), "--quiet")
    assert status == 0 and "exists" in stdout and out.stat().st_mtime_ns == before
    status, _, _ = run_cli("data", "--config", str(cfg), "--set", "data.generate.toptag.jets=100", "--force", "--quiet")
    assert status == 0
    assert len(pd.read_hdf(out, "table")) == 100


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data"], "give a generator"),
        (["data", "nosuch", "--out", "x"], "invalid choice: 'nosuch'"),
        (["data", "toptag", "--out", "{tmp}/x.h5", "--jets", "abc"], "--jets: invalid int value: 'abc'"),
        (["data", "toptag", "--out", "{tmp}/x.h5", "--jets", "0"], "key 'jets': expected a value ≥ 1, got 0"),
        (
            ["data", "toptag", "--out", "{tmp}/x.h5", "--signal-fraction", "1.5"],
            "key 'signal_fraction': expected a value ≥ 0.0 and ≤ 1.0",
        ),
        (["data", "toptag", "--out", "{tmp}/x.h5", "--ttv", "7"], "--ttv: invalid choice: 7"),
        (["data", "toptag", "--out", "{tmp}"], "output path is a directory"),
        (["data", "toptag"], "the following arguments are required: --out"),
        (["data", "--config", "{tmp}/none.yaml"], "config file not found"),
        (["data", "--config", "{cfg}", "--set", "data.nope=1"], "unknown key 'data.nope'"),
        (["data", "--config", "{cfg}", "--set", "data.generate.toptag.jets=x"], "expected int, got str 'x'"),
        (["train", "--config", "{cfg}"], "no model to train"),
        (["train", "--config", "{cfg}", "--set", "bogus=1"], "unknown key 'bogus'"),
        (["export", "--run", "{tmp}"], "is incomplete (no metrics.json): run trigdeploy train first"),
        (["export", "--run", "{tmp}/nope"], "run directory not found"),
        (["export", "--run", "{tmp}", "--target", "{tmp}/t.yaml"], "export target file not found"),
        (["export", "--run", "{tmp}", "--set", "sets_rtl.no_such_key=1"], "unknown key 'sets_rtl.no_such_key'"),
        (["scan", "--run", "{tmp}", "--sweep", "4", "--set", "sets_rtl.fold=0"], "--set sets_rtl.fold=0: key"),
        (["csim", "--run", "{tmp}"], "export/{name}/manifest.json not found: run trigdeploy export"),
        (["csim", "--run", "{tmp}", "--threads", "-3"], "--threads: expected a whole number from 1 to 1024, got -3"),
        (["csim", "--run", "{tmp}", "--threads", "99999999"], "--threads: expected a whole number from 1 to 1024"),
        (
            ["train", "--config", "{cfg}", "--set", "train.mlp.batch_size=-5"],
            "key 'train.mlp.batch_size': expected a value ≥ 1 and ≤ 16777216, got -5",
        ),
        (["train", "--config", "{cfg}", "--set", "name=../../../somewhere"], "key 'name': expected a plain run name"),
        (["bench", "--run", "{tmp}"], "export/{name}/manifest.json not found: run trigdeploy export"),
        (["scan", "--run", "{tmp}", "--sweep", "1"], "--sweep: bit widths must be at least 2"),
        (
            ["scan", "--run", "{tmp}", "--pareto", "1e-6", "-0.5"],
            "--pareto: cost weights must be distinct numbers from 0 to 1",
        ),
        (["scan", "--run", "{tmp}", "--pareto", "nan"], "--pareto: cost weights must be distinct numbers from 0 to 1"),
        (["scan", "--run", "{tmp}", "--pareto", "inf"], "--pareto: cost weights must be distinct numbers from 0 to 1"),
        (["scan", "--run", "{tmp}"], "trigdeploy scan: no point: give --sweep, --pareto or --grid"),
        (["scan", "--run", "{tmp}", "--grid", "hgq.beta"], "--grid 'hgq.beta': expected kind.key=v1,v2"),
        (["scan", "--run", "{tmp}", "--grid", "hgq.beta=[1"], "--grid 'hgq.beta=[1': values must be numbers"),
        (["scan", "--run", "{tmp}", "--pareto", "1e-5"], "metrics.json not found: train the run first"),
        (["bench", "--run", "{tmp}", "--sweep", "4"], "unrecognized arguments: --sweep 4"),
        (
            ["train", "--config", "{cfg}", "--set", "train.hgq.bits_lr=0"],
            "key 'train.hgq.bits_lr': expected a value > 0.0 and ≤ 10.0, got 0.0",
        ),
        (["synth", "--run", "{tmp}"], "firmware/{name} not found: run trigdeploy export"),
        (["synth", "--run", "{tmp}", "--jobs", "0"], "--jobs: expected a whole number from 1 to 1024, got 0"),
        (["train"], "the following arguments are required: --config"),
        (["train", "--config", "{cfg}", "--run", "{tmp}/r"], "unrecognized arguments: --run"),
        (["scan", "--run", "{tmp}", "--pareto", "1e-5", "--max-lut", "1"], "unrecognized arguments: --max-lut 1"),
        ([], "the following arguments are required: verb"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
    ids=[
        "data-no-generator",
        "unknown-generator",
        "bad-int",
        "zero-jets",
        "bad-fraction",
        "bad-ttv",
        "out-is-dir",
        "missing-out",
        "missing-config",
        "unknown-key",
        "bad-override-type",
        "train-no-models",
        "train-validates-config",
        "export-incomplete-run",
        "export-no-run",
        "export-no-target",
        "export-bad-target-override",
        "scan-bad-target-override",
        "csim-not-exported",
        "csim-negative-threads",
        "csim-huge-threads",
        "train-negative-batch",
        "train-name-traversal",
        "bench-not-exported",
        "scan-bad-sweep",
        "scan-bad-pareto",
        "scan-nan-pareto",
        "scan-inf-pareto",
        "scan-no-point",
        "scan-bad-grid",
        "scan-grid-list",
        "scan-untrained-run",
        "bench-trains-nothing",
        "train-hgq-bits-lr",
        "synth-not-exported",
        "synth-zero-jobs",
        "train-no-config",
        "train-run-is-not-run-dir",
        "scan-no-abbreviated-option",
        "no-verb",
        "unknown-verb",
    ],
)
def test_errors_are_one_line_and_exit_2(run_cli, tmp_path, argv, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "name": "c",
                "data": {"format": "hdf5", "files": [str(tmp_path / "d.h5")], "generate": {"toptag": {"jets": 10}}},
            }
        )
    )
    argv = [a.format(tmp=tmp_path, cfg=cfg, name=tmp_path.name) for a in argv]
    status, stdout, stderr = run_cli(*argv)
    assert status == 2
    assert message.format(name=tmp_path.name) in _one_error_line(stderr)
    assert stdout == ""
    assert not (tmp_path / "x.h5").exists()
    assert not (tmp_path / "d.h5").exists()


def test_unwritable_output_is_one_line(run_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, _, stderr = run_cli("data", "toptag", "--out", str(blocker / "x.h5"), "--jets", "10", "--quiet")
    assert status == 2
    assert str(blocker) in _one_error_line(stderr)


def test_prepare_writes_the_data_stage(run_cli, tmp_path):
    data = tmp_path / "t.h5"
    assert run_cli("data", "toptag", "--out", str(data), "--jets", "600", "--quiet")[0] == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "name": "c",
                "data": {"format": "hdf5", "files": ["unused.h5"]},
                "features": {"kind": "toptag_jet"},
                "scaling": {"sample_rows": 300},
            }
        )
    )
    run = tmp_path / "run"
    status, stdout, _ = run_cli("prepare", "--config", str(cfg), "--data", str(data), "--run-dir", str(run), "--quiet")
    assert status == 0, stdout
    assert '"features": 14' in stdout
    for name in ("config.yaml", "features.json", "splits.npz", "preprocess.json"):
        assert (run / name).is_file(), name
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["files"] == [str(data)]


@pytest.mark.parametrize(
    ("data", "message"),
    [("{tmp}/none.h5", "data file not found"), ("{tmp}", "is a directory"), ("{cfg}", "not a readable HDF5 file")],
    ids=["missing-data", "data-is-dir", "data-not-hdf5"],
)
def test_prepare_bad_data_one_line(run_cli, tmp_path, data, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"name": "c", "data": {"format": "hdf5", "files": ["x.h5"]}}))
    status, stdout, stderr = run_cli(
        "prepare",
        "--config",
        str(cfg),
        "--data",
        data.format(tmp=tmp_path, cfg=cfg),
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
    )
    assert status == 2
    assert message.format(name=tmp_path.name) in _one_error_line(stderr)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "verb, patched, extra",
    [
        ("export", "trigdeploy.convert.export.export_run", []),
        ("scan", "trigdeploy.bench.scan.scan_run", ["--sweep", "4"]),
    ],
    ids=["export", "scan"],
)
def test_export_and_scan_take_the_target_s_keys_from_set(run_cli, monkeypatch, tmp_path, verb, patched, extra):
    """``--set`` on export and scan overrides the export target's keys (several at once) and names them in the
    target's source, which the manifest records; the run's own config is not touched."""
    from trigdeploy.errors import TrigdeployError

    seen = []

    def stop(*args, **kwargs):
        target = args[1] if verb == "export" else args[2].target
        seen.append(target)
        raise TrigdeployError("stopped here")

    monkeypatch.setattr(patched, stop)
    sets = ["--set", "sets_rtl.fold=16", "--set", "hls4ml.ReuseFactor=2"]
    status, _, stderr = run_cli(verb, "--run", str(tmp_path), *extra, *sets)
    assert (status, _one_error_line(stderr).endswith("stopped here")) == (2, True)
    assert (seen[0].sets_rtl.fold, seen[0].hls4ml.ReuseFactor) == (16, 2)
    assert seen[0].source.endswith("default.yaml --set sets_rtl.fold=16 --set hls4ml.ReuseFactor=2")
