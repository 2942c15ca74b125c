"""The jet's values beside the set (``features.jet_features``): ψ adds them to the pooled sum in every set kind; the
fixed-point kinds' integer reference is their forward pass and ignores the particles' order; the traced logic gives
the reference's bits and the check catches one LSB of ψ, whole or folded in time."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from trigdeploy.errors import TrigdeployError
from trigdeploy.models.deepsets import DeepSetsConfig, build_deepsets, particles_of
from trigdeploy.models.hgq_deepsets import HGQDeepSetsConfig, build_hgq_deepsets
from trigdeploy.models.mlp import copy_linear_weights
from trigdeploy.models.qdeepsets import QDeepSetsConfig, build_qdeepsets

N, F, J = 5, 3, 2
KINDS = ["qdeepsets", "hgq_deepsets"]


def jet_sets(rows: int, seed: int = 0) -> np.ndarray:
    """Random scaled particle sets (N × (F features, a mask), about 30 % padded), then J jet values, flat."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(rows, N, F + 1)).astype(np.float32)
    p[..., -1] = rng.random((rows, N)) < 0.7
    return np.concatenate([p.reshape(rows, -1), rng.normal(size=(rows, J)).astype(np.float32)], axis=1)


def tiny(kind: str, n_outputs: int = 1):
    """A small set model of ``kind`` with J jet values; fixed-point types set from random sets."""
    torch.manual_seed(0)
    shape = {"phi": (8, 8), "hidden": (8,), "jet_features": J}
    if kind == "deepsets":
        return build_deepsets(N * (F + 1) + J, DeepSetsConfig(**shape), n_outputs).eval()
    x = torch.from_numpy(jet_sets(400, seed=9))
    if kind == "qdeepsets":
        model = build_qdeepsets(N * (F + 1) + J, QDeepSetsConfig(**shape, init="scratch"), n_outputs)
        with torch.no_grad():
            model.train()(x)
        return model.eval()
    model = build_hgq_deepsets(N * (F + 1) + J, HGQDeepSetsConfig(**shape, init="scratch"), n_outputs)
    model.calibrate(x)
    return model.eval()


@pytest.mark.parametrize("n_outputs", [1, 4], ids=["binary", "4-classes"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_integer_reference_with_the_jet_is_the_forward_pass(kind, n_outputs):
    model = tiny(kind, n_outputs)
    x = model.input_grid(jet_sets(500))
    assert x.shape == (500, N * (F + 1) + J)
    with torch.no_grad():
        forward = model(torch.from_numpy(x.astype(np.float32))).numpy()
    ref = model.reference(x)
    assert ref.shape == (500, n_outputs)
    # float32 against float64 on the same grids: only the sums' rounding differs, far below a grid step
    np.testing.assert_allclose(forward, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["deepsets", *KINDS])
def test_the_jet_s_values_move_the_output_and_the_particles_order_does_not(kind):
    model = tiny(kind)
    x = jet_sets(300) if kind == "deepsets" else model.input_grid(jet_sets(300))
    out = _logits(model, x)
    perm = np.random.default_rng(2).permutation(N)
    shuffled = np.concatenate([x[:, : N * (F + 1)].reshape(300, N, F + 1)[:, perm].reshape(300, -1), x[:, -J:]], 1)
    if kind == "deepsets":  # float sums in another order: equal up to their rounding
        np.testing.assert_allclose(_logits(model, shuffled), out, rtol=0, atol=1e-5)
    else:
        np.testing.assert_array_equal(_logits(model, shuffled), out)
    other = x.copy()
    other[:, -J:] = np.roll(other[:, -J:], 1, axis=0)  # each event gets another jet's values
    assert np.mean(np.abs(_logits(model, other) - out) > 0) > 0.5


def _logits(model, x: np.ndarray) -> np.ndarray:
    if hasattr(model, "reference"):
        return model.reference(x)
    with torch.no_grad():
        return model(torch.from_numpy(x.astype(np.float32))).numpy()


@pytest.mark.parametrize("kind", KINDS)
def test_the_twins_start_from_the_float_model_psi_included(kind):
    twin = tiny(kind)
    copy_linear_weights(tiny("deepsets"), twin)
    torch.testing.assert_close(twin.psi.weight, tiny("deepsets").psi.weight)


def test_inputs_that_do_not_hold_the_set_and_the_jet_are_one_line():
    cfg = DeepSetsConfig(particle_features=F, jet_features=J)
    assert particles_of(N * (F + 1) + J, cfg) == N
    with pytest.raises(TrigdeployError, match=r"before the jet's 2"):
        particles_of(N * (F + 1) + J + 1, cfg)
    with pytest.raises(TrigdeployError, match=r"before the jet's"):
        particles_of(J, cfg)


@pytest.mark.parametrize("kind", KINDS)
def test_the_traced_logic_whole_and_folded_gives_the_reference_s_bits_and_catches_psi_s_lsb(kind):
    pytest.importorskip("alkaid")
    from trigdeploy.convert import sets_logic, to_rtl

    model = tiny(kind)
    ints, x = model.integers(), model.input_grid(jet_sets(1000, seed=4))
    ref = model.reference(x)
    comb = sets_logic.trace(ints)
    out = to_rtl.check(comb, x, ref)
    assert (out["ok"], out["n_events"], out["n_mismatch"], out["max_abs_diff"]) == (True, 1000, 0, 0.0)
    bumped = np.array(ints.psi.w_int)
    bumped[np.unravel_index(np.argmax(np.abs(bumped)), bumped.shape)] += 1  # ψ one LSB off in one weight
    bad = dataclasses.replace(ints, psi=dataclasses.replace(ints.psi, w_int=bumped))
    whole = to_rtl.check(comb, x, bad.reference(x))
    assert not whole["ok"]
    folded = sets_logic.fold(ints, 5, 5.0)  # one particle a clock: ψ must count once per event, not once per slice
    assert sets_logic.check(folded, x, ref)["n_mismatch"] == 0
    caught = sets_logic.check(folded, x, bad.reference(x))
    assert (caught["ok"], caught["n_mismatch"]) == (False, whole["n_mismatch"])  # the same events as the whole design
