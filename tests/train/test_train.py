"""End-to-end training on a few thousand rows: every model, resume equality, reproducibility, SMOTE."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SMALL_TRAIN, run_config
from trigdeploy.data.generate import write_toptag
from trigdeploy.data.prepare import prepare
from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import ToptagGenConfig
from trigdeploy.logits import probabilities
from trigdeploy.models.families import load_torch_model
from trigdeploy.train import trees
from trigdeploy.train.run import train_run


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "t.h5"
    write_toptag(ToptagGenConfig(jets=4000, seed=31, chunk_size=2000), path, progress=False)
    return path


def cfg_for(path, *overrides, models=None):
    models = models or {
        "mlp": {"hidden": [16, 8], "epochs": 3, "batch_size": 256, "checkpoint_every": 4},
        "qmlp": {"hidden": [16, 8], "epochs": 2, "batch_size": 256, "checkpoint_every": 4, "init": "float"},
        "hgq": {"hidden": [16, 8], "epochs": 2, "batch_size": 256, "checkpoint_every": 4, "init": "float"},
        "bdt": {"n_estimators": 40, "max_depth": 3},
    }
    return run_config(
        [path],
        *overrides,
        name="tiny",
        seed=5,
        data={"chunk_rows": 1000},
        features={"kind": "toptag_jet"},
        scaling={"sample_rows": 2000},
        train={**SMALL_TRAIN, **models},
    )


@pytest.fixture(scope="module")
def trained(data_file, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    metrics = train_run(cfg_for(data_file, "train.rf={n_estimators: 20, max_depth: 6}"), run, progress=False)
    return run, metrics


def test_run_directory_complete(trained):
    run, metrics = trained
    for name in (
        "config.yaml",
        "features.json",
        "splits.npz",
        "preprocess.json",
        "mlp.pt",
        "qmlp.pt",
        "hgq.pt",
        "bdt.json",
        "rf.skops",
        "metrics.json",
        "run.json",
        "training_curves.png",
    ):
        assert (run / name).is_file(), name
    assert not list((run / "checkpoints").glob("*.ckpt"))  # removed once a model is final
    on_disk = json.loads((run / "metrics.json").read_text())
    assert set(on_disk) == {"mlp", "qmlp", "hgq", "bdt", "rf"}
    assert 0 < on_disk["hgq"]["training"]["summary"]["weights_kept"] <= on_disk["hgq"]["training"]["summary"]["weights"]
    sel = on_disk["hgq"]["training"]["epoch_selection"]  # the resource-aware model's epoch front and its choice
    assert (sel["rule"], sel["max_auc_loss"]) == ("cheapest_within", 0.002)
    assert sel["chosen_epoch"] == on_disk["hgq"]["training"]["best_epoch"] in [f["epoch"] for f in sel["front"]]
    assert all("epoch_selection" not in on_disk[m]["training"] for m in ("mlp", "qmlp", "bdt", "rf"))
    for name, m in on_disk.items():
        assert set(m["rejection"]) == {"eff_S=0.3", "eff_S=0.5"}
        assert {"f1", "youden", "eff_S=0.3", "eff_S=0.5", "acc_B=0.01"} <= set(m["thresholds"])
        assert m["training"]["rows_seen"] > 0 and m["training"]["seconds"] > 0
        # substructure features separate top from QCD far better than chance on 4000 jets
        assert m["auc"] > 0.85, (name, m["auc"])
    bdt = json.loads((run / "bdt.json").read_text())
    assert "learner" in bdt  # XGBoost's own JSON model format


def test_saved_models_reload_to_same_scores(trained):
    import torch

    from trigdeploy.models.families import torch_predict

    run, _ = trained
    scores = np.load(run / "predictions" / "qmlp.npz")
    from trigdeploy.data.scaling import Standardizer

    model, saved = load_torch_model(run / "qmlp.pt")
    x = np.load(next((run / "cache").iterdir()) / "features.npy")[scores["test_rows"]]
    xs = Standardizer.load(run / "preprocess.json").transform(x)
    np.testing.assert_array_equal(torch_predict(model, xs, torch.device("cpu")), scores["test"])
    assert saved["features"] == json.loads((run / "features.json").read_text())["features"]


def test_same_seed_same_auc(data_file, trained, tmp_path):
    run, metrics = trained
    again = train_run(cfg_for(data_file, "train.rf={n_estimators: 20, max_depth: 6}"), tmp_path, progress=False)
    for name in ("mlp", "qmlp", "hgq", "bdt", "rf"):
        assert again[name]["auc"] == pytest.approx(metrics[name]["auc"], abs=1e-6), name  # CPU, same threads


def test_resume_after_kill_equals_uninterrupted(data_file, tmp_path):
    models = {"mlp": {"hidden": [16, 8], "epochs": 3, "batch_size": 256, "checkpoint_every": 4}}
    full = train_run(cfg_for(data_file, models=models), tmp_path / "full", progress=False)

    class Killed(Exception):
        pass

    def kill(epoch, batch):
        if epoch == 1 and batch == 4:  # one batch after the checkpoint at batch 4 of epoch 2: lost work
            raise Killed

    run = tmp_path / "killed"
    with pytest.raises(Killed):
        train_run(cfg_for(data_file, models=models), run, progress=False, on_batch=kill)
    assert (run / "checkpoints" / "mlp.ckpt").exists()
    assert not (run / "metrics.json").exists()  # an interrupted run does not look complete
    resumed = train_run(cfg_for(data_file, models=models), run, resume=True, progress=False)
    assert resumed["mlp"]["training"]["resumed_from"] == {"epoch": 1, "batch": 4}
    assert resumed["mlp"]["auc"] == pytest.approx(full["mlp"]["auc"], abs=1e-9)
    a = np.load(tmp_path / "full" / "predictions" / "mlp.npz")["test"]
    b = np.load(run / "predictions" / "mlp.npz")["test"]
    np.testing.assert_array_equal(a, b)


def test_resource_aware_model_reloads_to_its_exact_scores(trained):
    run, _ = trained
    scores = np.load(run / "predictions" / "hgq.npz")
    from trigdeploy.data.scaling import Standardizer

    model, _ = load_torch_model(run / "hgq.pt")
    x = np.load(next((run / "cache").iterdir()) / "features.npy")[scores["test_rows"]]
    logits = model.reference(Standardizer.load(run / "preprocess.json").transform(x))
    np.testing.assert_array_equal(probabilities(logits), scores["test"])  # the exact arithmetic's scores


def test_bdt_on_an_input_grid_puts_every_threshold_on_it(data_file, tmp_path):
    """``train.bdt.input_frac: 3``: every split of the saved booster lies on the 2^-3 grid (so the firmware
    compares the input bits above it only), the run records the grid, and the test figures are the same on
    float and floored inputs (every decision depends on the grid value alone)."""
    import xgboost as xgb

    from trigdeploy.convert.ensemble import ensemble_from_booster, xgb_margin
    from trigdeploy.data.cache import load_split

    run = tmp_path / "run"
    metrics = train_run(
        cfg_for(data_file, models={"bdt": {"n_estimators": 20, "max_depth": 3, "input_frac": 3}}), run, progress=False
    )
    assert metrics["bdt"]["training"]["input_grid"] == 0.125
    booster = xgb.Booster(model_file=str(run / "bdt.json"))
    ens = ensemble_from_booster(booster)
    splits = [
        t for group in ens["trees"] for tree in group for t, f in zip(tree["threshold"], tree["feature"]) if f >= 0
    ]
    assert splits and all(float(t * 8).is_integer() for t in splits)
    x_test, _ = load_split(run, "test")
    np.testing.assert_array_equal(xgb_margin(booster, x_test), xgb_margin(booster, trees.on_grid(x_test, 3)))


def test_smote_touches_training_rows_only(data_file, tmp_path):
    cfg = cfg_for(data_file)
    prepared = prepare(cfg, tmp_path, progress=False)
    # make training imbalanced by keeping 1 signal in 4, then oversample
    x_train, y_train = prepared.arrays("train")
    x_val, y_val = prepared.arrays("val")
    x_test, y_test = prepared.arrays("test")
    codes_before = prepared.codes.copy()
    train_sig = prepared.rows("train")[y_train == 1]
    prepared.codes[train_sig[: 3 * len(train_sig) // 4]] = 255
    x, y, info = trees.training_arrays(prepared, 10**9, True, seed=1)
    n_train = int((prepared.codes == 0).sum())
    assert info["smote_added"] == len(y) - n_train > 0
    assert y.mean() == pytest.approx(0.5)
    # the original training rows come first, unchanged; held-out rows are not among the inputs
    kept_x, _ = prepared.arrays("train")
    np.testing.assert_array_equal(x[:n_train], kept_x)
    held_out = {r.tobytes() for r in np.concatenate([x_val, x_test])}
    assert not any(r.tobytes() in held_out for r in x[n_train:])
    np.testing.assert_array_equal(prepared.arrays("val")[0], x_val)
    prepared.codes[:] = codes_before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.qmlp.hidden=[32, 8]"], "train.qmlp.init': 'float' needs train.mlp with the same hidden layers"),
        (
            ["train.qmlp.batchnorm=true", "train.qmlp.init=scratch"],
            "train.qmlp.batchnorm': not supported in the QAT twin",
        ),
        (["train.qmlp.activation=gelu", "train.qmlp.init=scratch"], "only relu"),
        (["train.hgq.hidden=[32, 8]"], "train.hgq.init': 'float' needs train.mlp with the same hidden layers"),
        (["train.hgq.beta=-1"], "train.hgq.beta"),
        (["train.device=cuda"], "cuda requested but no CUDA device"),
    ],
    ids=["qmlp-shape", "qmlp-bn", "qmlp-gelu", "hgq-shape", "hgq-beta", "no-cuda"],
)
def test_bad_training_config(data_file, tmp_path, overrides, message):
    import torch

    if "train.device=cuda" in overrides and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(TrigdeployError, match=message):
        train_run(cfg_for(data_file, *overrides), tmp_path, progress=False)
    assert not (tmp_path / "metrics.json").exists()


def test_no_model_configured(data_file, tmp_path):
    raw = cfg_for(data_file, models={"bdt": {"n_estimators": 5}})
    import dataclasses

    cfg = dataclasses.replace(raw, train=dataclasses.replace(raw.train, bdt=None))
    with pytest.raises(TrigdeployError, match="no model to train"):
        train_run(cfg, tmp_path, progress=False)


def test_atlas_seed_task_bdt_reproduces_the_cut(tmp_path, repo):
    """The ATLAS seed label is a cut on the inputs: a correct BDT reaches F1 ≈ 1 and the run says why."""
    from trigdeploy.config import load_config
    from trigdeploy.data.generate import write_atlas_mini
    from trigdeploy.generators import AtlasMiniGenConfig

    mini = tmp_path / "mini.root"
    write_atlas_mini(AtlasMiniGenConfig(events=8000, seed=9), mini, progress=False)
    cfg = load_config(
        repo / "configs" / "atlas_mini.yaml", ["train.rf=null", "train.bdt.n_estimators=150"], [str(mini)]
    )
    metrics = train_run(cfg, tmp_path / "run", progress=False)
    # the published seed pipeline reported RF F1 0.40 on this task: a sign of its broken preprocessing
    assert metrics["bdt"]["thresholds"]["f1"]["f1"] > 0.97
    assert metrics["bdt"]["label_is_function_of_inputs"] is True
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "the label is a cut on input features (lep_E_0, lep_eta_0, lep_pt_0)" in run["warning"]


def _kill_at(epoch_at: int, batch_at: int):
    class Killed(Exception):
        pass

    def kill(epoch, batch):
        if (epoch, batch) == (epoch_at, batch_at):
            raise Killed

    return Killed, kill


def _killed_and_resumed_equals_uninterrupted(
    data_file, tmp_path, models: dict, name: str, epoch: int, batch: int, checkpointed: int
) -> None:
    """Kill the run at (epoch, batch), resume it, and find ``name``'s test scores equal to an uninterrupted run's."""
    train_run(cfg_for(data_file, models=models), tmp_path / "full", progress=False)
    Killed, kill = _kill_at(epoch, batch)
    run = tmp_path / "killed"
    with pytest.raises(Killed):
        train_run(cfg_for(data_file, models=models), run, progress=False, on_batch=kill)
    resumed = train_run(cfg_for(data_file, models=models), run, resume=True, progress=False)
    assert resumed[name]["training"]["resumed_from"] == {"epoch": epoch, "batch": checkpointed}
    a = np.load(tmp_path / "full" / "predictions" / f"{name}.npz")["test"]
    b = np.load(run / "predictions" / f"{name}.npz")["test"]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("init", "epoch", "batch_size", "batch", "every"),
    [("scratch", 0, 256, 5, 4), ("scratch", 1, 256, 5, 4), ("float", 1, 256, 5, 4), ("scratch", 0, 16, 120, 50)],
    ids=[
        "scratch-first-epoch",
        "scratch-second-epoch",
        "from-float-second-epoch",
        "resumed-before-step-300-and-crossing-it",
    ],
)
def test_qat_resume_inside_scale_initialisation_is_bit_exact(
    data_file, tmp_path, init, epoch, batch_size, batch, every
):
    """Brevitas collects activation-scale statistics for its first 300 steps; a checkpoint taken
    then must hold the statistics themselves (its state_dict stores them as the final scale), also
    after an epoch's validation (eval mode), when the twin starts from the float MLP, and when the
    resumed run crosses step 300 (where the statistic becomes the learned scale)."""
    models = {
        "qmlp": {
            "hidden": [16, 8],
            "epochs": 3 if batch_size == 256 else 2,
            "batch_size": batch_size,
            "checkpoint_every": every,
            "init": init,
        }
    }
    if init == "float":
        models["mlp"] = {"hidden": [16, 8], "epochs": 1, "batch_size": 256}
    # ~22 steps an epoch at 256 rows (all inside the 300 collection steps); ~350 at 16 rows
    _killed_and_resumed_equals_uninterrupted(
        data_file, tmp_path, models, "qmlp", epoch, batch, every * (batch // every)
    )


def test_resource_aware_resume_after_kill_equals_uninterrupted(data_file, tmp_path):
    """Bit counts, integer bits and both optimizer groups come back from the checkpoint."""
    models = {
        "mlp": {"hidden": [16, 8], "epochs": 1, "batch_size": 256},
        "hgq": {"hidden": [16, 8], "epochs": 2, "batch_size": 256, "checkpoint_every": 4, "init": "float"},
    }
    # the float MLP has one epoch: only the resource-aware fit reaches epoch 1
    _killed_and_resumed_equals_uninterrupted(data_file, tmp_path, models, "hgq", 1, 5, 4)


@pytest.mark.parametrize(
    ("override", "changed"),
    [
        ("train.bdt.max_depth=2", "train.bdt"),
        ("features.kind=toptag_constituents", "data"),
        ("train.mlp.hidden=[8, 8]", "train.mlp"),
    ],
    ids=["bdt-config", "features", "mlp-shape"],
)
def test_resume_with_a_changed_config_is_refused_before_writing(data_file, tmp_path, override, changed):
    models = {"mlp": {"hidden": [16, 8], "epochs": 1, "batch_size": 256}, "bdt": {"n_estimators": 5, "max_depth": 3}}
    run = tmp_path / "run"
    train_run(cfg_for(data_file, models=models), run, progress=False)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(TrigdeployError, match=rf"cannot resume: {changed} changed since the run started"):
        train_run(cfg_for(data_file, override, models=models), run, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing overwritten
    same = train_run(cfg_for(data_file, models=models), run, resume=True, progress=False)  # unchanged: resumes
    assert same["bdt"]["auc"] == json.loads(before["metrics.json"])["bdt"]["auc"]


def test_model_files_never_unpickle_code(tmp_path):
    """A run directory from someone else cannot execute code: model files load with weights_only."""
    import torch

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    bad = tmp_path / "mlp.pt"
    torch.save({"kind": "mlp", "config": {}, "n_inputs": 1, "state_dict": {}, "x": Payload()}, bad)
    with pytest.raises(TrigdeployError, match=f"{bad}: not a loadable trigdeploy model file"):
        load_torch_model(bad)
    assert not (tmp_path / "pwned").exists()
