"""The ``qdeepsets`` kind: its integer reference against Brevitas' forward pass, order independence, its section."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import run_config
from trigdeploy.errors import TrigdeployError
from trigdeploy.models import registry
from trigdeploy.models.qdeepsets import QDeepSetsConfig, build_qdeepsets

N, F = 5, 3


def sets(rows: int, seed: int = 0) -> np.ndarray:
    """Random scaled particle sets, flat (N particles × F features and a mask), about 30 % of slots padded."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N, F + 1)).astype(np.float32)
    x[..., -1] = rng.random((rows, N)) < 0.7
    return x.reshape(rows, -1)


def tiny_qdeepsets(n_outputs: int = 1):
    """A small QAT Deep Sets with its quantizers' scales set by one forward pass in training mode."""
    torch.manual_seed(0)
    model = build_qdeepsets(N * (F + 1), QDeepSetsConfig(phi=(8, 8), hidden=(8,), init="scratch"), n_outputs)
    with torch.no_grad():
        model.train()(torch.from_numpy(sets(256, seed=9)))
    return model.eval()


def tiny_fixed_point(kind: str, n_outputs: int = 1):
    """A small fixed-point Deep Sets of ``kind``, its types set from random sets (a training-mode pass for
    Brevitas' quantizers, calibration for the resource-aware model's)."""
    if kind == "qdeepsets":
        return tiny_qdeepsets(n_outputs)
    from trigdeploy.models.hgq_deepsets import HGQDeepSetsConfig, build_hgq_deepsets

    torch.manual_seed(0)
    cfg = HGQDeepSetsConfig(phi=(8, 8), hidden=(8,), init="scratch")
    model = build_hgq_deepsets(N * (F + 1), cfg, n_outputs)
    model.calibrate(torch.from_numpy(sets(400, seed=9)))
    return model.eval()


@pytest.mark.parametrize("n_outputs", [1, 4], ids=["binary", "4-classes"])
@pytest.mark.parametrize("kind", ["qdeepsets", "hgq_deepsets"])
def test_the_integer_reference_is_what_the_forward_pass_computes(kind, n_outputs):
    model = tiny_fixed_point(kind, n_outputs)
    x = model.input_grid(sets(500))
    with torch.no_grad():
        forward = model(torch.from_numpy(x.astype(np.float32))).numpy()
    ref = model.reference(x)
    assert ref.shape == (500, n_outputs)
    # the forward pass (Brevitas, or the resource-aware layers) runs in float32 on the same grids: the only
    # difference is its rounding of the sums, far below any grid step here (2^-12 at the finest)
    np.testing.assert_allclose(forward, ref, rtol=0, atol=1e-5)


def test_the_port_grid_rounds_the_features_and_keeps_the_masks():
    model = tiny_qdeepsets()
    port = model.integers().port
    grid = model.input_grid(sets(100)).reshape(100, N, F + 1)
    codes = grid[..., :-1] * 2.0**port.frac
    top = 2 ** (port.integer + port.frac)
    assert port.signed and (codes == np.round(codes)).all() and codes.min() >= -top and codes.max() <= top - 1
    np.testing.assert_array_equal(grid[..., -1], sets(100).reshape(100, N, F + 1)[..., -1])


def test_the_reference_ignores_order_and_padding_bit_for_bit():
    model = tiny_qdeepsets()
    x = model.input_grid(sets(300)).reshape(300, N, F + 1)
    ref = model.reference(x.reshape(300, -1))
    shuffled = x[:, np.random.default_rng(2).permutation(N)]
    np.testing.assert_array_equal(model.reference(shuffled.reshape(300, -1)), ref)
    noisy = x.copy()
    noisy[..., :-1][noisy[..., -1] == 0] = 1.0
    np.testing.assert_array_equal(model.reference(noisy.reshape(300, -1)), ref)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"qdeepsets": {"pooling": "mean", "init": "scratch"}}, r"qdeepsets\.pooling': only sum"),
        ({"qdeepsets": {"init": "float"}}, r"qdeepsets\.init': 'float' needs train\.deepsets"),
        ({"deepsets": {"phi": [8]}, "qdeepsets": {"init": "float"}}, r"same phi, hidden and particle_features"),
    ],
    ids=["mean-pooling", "no-float-model", "other-shape"],
)
def test_a_section_without_an_exact_form_or_source_is_refused_at_load(tmp_path, section, message):
    with pytest.raises(TrigdeployError, match=message):
        run_config([tmp_path / "x.h5"], train=section)


def test_the_kind_trains_after_the_float_model_it_starts_from():
    names = list(registry.KINDS)
    assert names.index("deepsets") < names.index("qdeepsets")
    assert registry.kind("qdeepsets").init_from(QDeepSetsConfig()) == "deepsets"
    assert registry.kind("qdeepsets").forms == ("rtl_deepsets",)
