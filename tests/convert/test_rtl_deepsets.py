"""QAT Deep Sets → alkaid RTL: the traced logic equals the integer reference bit for bit on every event, whatever
the order of the particles; the check catches a one-LSB error; end to end, Verilator agrees on the whole split."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SMALL_TRAIN, run_config
from trigdeploy.convert import to_rtl

pytest.importorskip("alkaid")

from models.test_qdeepsets import F, N, sets, tiny_qdeepsets  # noqa: E402
from trigdeploy.convert.forms.rtl_deepsets import trace  # noqa: E402


@pytest.fixture(scope="module")
def traced():
    model = tiny_qdeepsets()
    x = model.input_grid(sets(2000, seed=4))
    return model, x, model.reference(x), trace(model.integers())


def test_the_logic_equals_the_integer_reference_on_every_event(traced):
    _, x, ref, comb = traced
    assert to_rtl.check(comb, x, ref) == {
        "n_events": 2000,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
        "ok": True,
    }


def test_permuted_particles_give_the_same_bits(traced):
    _, x, ref, comb = traced
    for seed in (1, 2, 3):
        shuffled = x.reshape(len(x), N, F + 1)[:, np.random.default_rng(seed).permutation(N)].reshape(len(x), -1)
        np.testing.assert_array_equal(comb.predict(np.ascontiguousarray(shuffled)).reshape(ref.shape), ref)


def test_the_check_catches_one_lsb(traced):
    model, x, ref, comb = traced
    lsb = 2.0 ** model.integers().rho[-1][0].acc_exp  # the logit's own grid
    bad = ref.copy()
    bad[77] += lsb
    out = to_rtl.check(comb, x, bad)
    assert (out["ok"], out["n_mismatch"], out["max_abs_diff"]) == (False, 1, lsb)


@pytest.mark.slow  # three models trained, two Verilator builds, 14 s each; CI runs the slow checks (make test-all)
@pytest.mark.integration
@pytest.mark.parametrize(("inputs", "fold"), [("features", 1), ("l1", 2)], ids=["features", "l1-words-folded-2"])
def test_trained_fixed_point_deep_sets_are_exact_in_verilator(tmp_path, inputs, fold):
    from trigdeploy.convert.export import export_run
    from trigdeploy.csim.run import csim_run
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.generators import ToptagGenConfig
    from trigdeploy.targets import ExportTarget, SetsRTLTarget
    from trigdeploy.train.run import train_run

    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=1200, seed=6, chunk_size=1200), data, progress=False)
    shape = {"phi": [4, 4], "hidden": [4], "batch_size": 128}
    cfg = run_config(
        [data],
        name="qsets",
        features={"kind": "constituents", "n_constituents": 4, "inputs": inputs},
        scaling={"sample_rows": 800},
        train={
            **SMALL_TRAIN,
            "deepsets": {**shape, "epochs": 2},
            "qdeepsets": {**shape, "epochs": 1, "weight_bits": 4},
            "hgq_deepsets": {**shape, "epochs": 1, "beta": 1e-6, "calibration_rows": 500},
        },
    )
    run = tmp_path / "runs" / "qsets"
    train_run(cfg, run, progress=False)
    manifest = export_run(run, ExportTarget(source="test", sets_rtl=SetsRTLTarget(fold=fold)))
    report = csim_run(run)
    assert report["ok"]
    for kind in ("qdeepsets", "hgq_deepsets"):
        rtl = manifest["models"][kind]["rtl"]
        assert rtl["check"]["n_mismatch"] == 0 and rtl["check"]["n_events"] == 240
        assert report["projects"][f"{kind}_rtl"]["n_mismatch"] == 0
        assert report["projects"][f"{kind}_rtl"]["n_events"] == 240
        assert rtl["ii"] == fold
        readme = (run.parent.parent / "firmware" / "qsets" / f"{kind}_rtl" / "README.md").read_text()
        assert ("L1 words" in readme) == (inputs == "l1")
        assert (f"a new event every {fold} clocks (II = {fold})" in readme) == (fold > 1)
