"""A Deep Sets folded in time (``convert.sets_logic.fold``): the same bits as the whole design on every event,
whatever the particles' order, with features, features and the jet's values (ψ counted once per event) or L1 words at
the port; the check catches one LSB; Verilator runs the written FSM at its schedule (a new event every F clocks) and
gives the reference's logits."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.convert import sets_logic, to_rtl
from trigdeploy.errors import TrigdeployError

pytest.importorskip("alkaid")

from models.test_deepsets_jet import jet_sets  # noqa: E402
from models.test_deepsets_jet import tiny as tiny_jet  # noqa: E402
from models.test_l1front import _tiny_l1, _words  # noqa: E402
from models.test_qdeepsets import F, N, sets, tiny_fixed_point  # noqa: E402

CASES = [
    ("qdeepsets", "features", 5),
    ("hgq_deepsets", "features", 5),
    ("qdeepsets", "l1", 2),
    ("hgq_deepsets", "l1", 4),
    ("qdeepsets", "jet", 5),
    ("hgq_deepsets", "jet", 5),
]
IDS = ["qat-features-fold5", "hgq-features-fold5", "qat-l1-fold2", "hgq-l1-fold4", "qat-jet-fold5", "hgq-jet-fold5"]


def _model(kind: str, inputs: str, rows: int = 1500, n_outputs: int = 1):
    """A tiny fixed-point Deep Sets, its port's values on ``rows`` events and its exact logits."""
    if inputs == "l1":
        model = _tiny_l1(kind)
        x = model.input_grid(_words(rows, 4, seed=5))
    elif inputs == "jet":  # features.jet_features: J values after the particles', ψ adds them to the pooled sum
        model = tiny_jet(kind, n_outputs)
        x = model.input_grid(jet_sets(rows, seed=4))
    else:
        model = tiny_fixed_point(kind, n_outputs)
        x = model.input_grid(sets(rows, seed=4))
    return model.integers(), x, model.reference(x)


@pytest.mark.parametrize(("kind", "inputs", "fold"), CASES, ids=IDS)
def test_the_folded_design_gives_the_whole_design_s_bits(kind, inputs, fold):
    ints, x, ref = _model(kind, inputs)
    folded = sets_logic.fold(ints, fold, 5.0)
    assert (folded.fold, folded.per_slice * fold) == (fold, ints.particles)
    out = sets_logic.check(folded, x, ref)
    assert (out["ok"], out["n_events"], out["n_mismatch"], out["max_abs_diff"]) == (True, len(x), 0, 0.0)
    assert out["emulated"] == {"n_events": sets_logic.EMULATED_EVENTS, "n_mismatch": 0, "max_abs_diff": 0.0}
    whole = np.asarray(sets_logic.trace(ints).predict(np.ascontiguousarray(x))).reshape(ref.shape)
    np.testing.assert_array_equal(sets_logic.blocks_predict(folded, x).reshape(ref.shape), whole)


def test_four_classes_fold_too():
    ints, x, ref = _model("qdeepsets", "features", 600, n_outputs=4)
    out = sets_logic.check(sets_logic.fold(ints, 5, 5.0), x, ref)
    assert (out["ok"], out["n_logits"], out["emulated"]["n_mismatch"]) == (True, 4, 0)


@pytest.mark.parametrize("event", [3, 1200], ids=["emulated-event", "blocks-only-event"])
def test_the_folded_check_catches_one_lsb(event):
    ints, x, ref = _model("qdeepsets", "features")
    lsb = 2.0 ** ints.rho[-1][0].acc_exp  # the logit's own grid
    bad = ref.copy()
    bad[event] += lsb
    out = sets_logic.check(sets_logic.fold(ints, 5, 5.0), x, bad)
    assert (out["ok"], out["n_mismatch"], out["max_abs_diff"]) == (False, 1, lsb)
    assert out["emulated"]["n_mismatch"] == (1 if event < sets_logic.EMULATED_EVENTS else 0)


def test_permuted_particles_across_slices_give_the_same_bits():
    ints, x, ref = _model("hgq_deepsets", "features")
    folded = sets_logic.fold(ints, 5, 5.0)  # one particle per clock: a permutation moves them between clocks
    for seed in (1, 2):
        shuffled = x.reshape(len(x), N, F + 1)[:, np.random.default_rng(seed).permutation(N)].reshape(len(x), -1)
        np.testing.assert_array_equal(sets_logic.blocks_predict(folded, shuffled).reshape(ref.shape), ref)


@pytest.mark.parametrize("fold", [2, 0], ids=["not-a-divisor", "zero"])
def test_a_fold_that_does_not_divide_the_particles_is_one_line(fold):
    ints, _, _ = _model("qdeepsets", "features", 10)
    with pytest.raises(TrigdeployError, match=rf"^sets_rtl.fold: {fold} does not divide the model's 5 particles$"):
        sets_logic.fold(ints, fold, 5.0)
    with pytest.raises(TrigdeployError, match=r"^sets_rtl.fold: 1 is the whole set at once"):
        sets_logic.fold(ints, 1, 5.0)


@pytest.mark.integration  # one small Verilator build each (about 6 s)
@pytest.mark.parametrize(
    ("kind", "inputs", "fold"), [("qdeepsets", "l1", 2), ("hgq_deepsets", "jet", 5)], ids=["l1", "jet"]
)
def test_the_written_folded_design_is_exact_in_verilator(tmp_path, kind, inputs, fold):
    from trigdeploy.hdl import verilator

    ints, x, ref = _model(kind, inputs, 700)
    folded = sets_logic.fold(ints, fold, 5.0)
    info = to_rtl.write_rtl(folded.fsm, tmp_path / "prj", "xcvu13p-flga2577-2-e", 5.0)
    assert (info["ii"], info["pipeline_stages"]) == (fold, folded.out_at - 1)
    assert info["lut_estimate_alkaid"] > 0
    model, _ = verilator.load(tmp_path / "prj", tmp_path / "cache", jobs=1)
    for threads in (1, 2, 1):  # the last call again on the first model: its counter is where it started
        np.testing.assert_array_equal(model.predict(x, threads=threads).reshape(ref.shape), ref)
    # the comparison sees a schedule off by one event: the logits of the event before differ on most events
    shifted = model.predict(x).reshape(len(ref), -1) != np.roll(ref, 1, axis=0).reshape(len(ref), -1)
    assert shifted.any(axis=1).mean() > 0.5
