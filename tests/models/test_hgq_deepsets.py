"""The ``hgq_deepsets`` kind: φ's cost once per particle, the exact RTL, its section (its reference against its
forward pass: ``test_qdeepsets``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import run_config
from models.test_qdeepsets import F, N, sets, tiny_fixed_point
from trigdeploy.errors import TrigdeployError
from trigdeploy.models import registry
from trigdeploy.models.hgq_deepsets import HGQDeepSetsConfig


def tiny():
    """A small resource-aware Deep Sets, calibrated on random sets."""
    return tiny_fixed_point("hgq_deepsets")


def test_phi_costs_once_per_particle():
    model = tiny()
    with torch.no_grad():
        phi = sum(float((d.weight_bits() * q.bits()).sum()) for q, d in zip(model.phi_q, model.phi))
        rho = sum(float((d.weight_bits() * q.bits()).sum()) for q, d in zip(model.rho_q, model.rho))
        assert float(model.ebops()) == N * phi + rho and phi > 0 and rho > 0


def test_the_rtl_equals_the_reference_and_ignores_the_order_of_the_particles():
    pytest.importorskip("alkaid")
    from trigdeploy.convert import to_rtl
    from trigdeploy.convert.forms.rtl_deepsets import trace

    model = tiny()
    x = model.input_grid(sets(1000, seed=5))
    ref = model.reference(x)
    comb = trace(model.integers())
    assert to_rtl.check(comb, x, ref)["n_mismatch"] == 0
    shuffled = x.reshape(1000, N, F + 1)[:, ::-1].reshape(1000, -1)
    np.testing.assert_array_equal(comb.predict(np.ascontiguousarray(shuffled)).reshape(ref.shape), ref)


def test_the_defaults_are_the_resource_aware_mlps_on_a_deep_sets_shape():
    cfg = HGQDeepSetsConfig()
    assert (cfg.epochs, cfg.lr_patience, cfg.early_stopping_patience, cfg.beta) == (60, 10, 20, 5e-6)
    assert (cfg.phi, cfg.hidden, cfg.pooling, cfg.init) == ((32, 32), (32,), "sum", "float")
    assert list(registry.KINDS).index("deepsets") < list(registry.KINDS).index("hgq_deepsets")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"hgq_deepsets": {"pooling": "mean", "init": "scratch"}}, r"hgq_deepsets\.pooling': only sum"),
        ({"hgq_deepsets": {"dropout": 0.1, "init": "scratch"}}, r"hgq_deepsets\.dropout'"),
        ({"hgq_deepsets": {"init": "float"}}, r"hgq_deepsets\.init': 'float' needs train\.deepsets"),
    ],
    ids=["mean-pooling", "dropout", "no-float-model"],
)
def test_a_section_without_an_exact_form_or_source_is_refused_at_load(tmp_path, section, message):
    with pytest.raises(TrigdeployError, match=message):
        run_config([tmp_path / "x.h5"], train=section)
