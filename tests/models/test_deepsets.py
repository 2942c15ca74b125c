"""The ``deepsets`` kind: one file, order-independent, padding ignored, trained and exported through the stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SMALL_TRAIN, run_config
from trigdeploy.errors import TrigdeployError
from trigdeploy.models import registry
from trigdeploy.models.deepsets import DeepSetsConfig, build_deepsets

N, F = 6, 3


def _sets(rows: int, seed: int = 0) -> np.ndarray:
    """Random particle sets (N particles, F features and a mask each), some slots padded."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N, F + 1)).astype(np.float32)
    x[..., -1] = (rng.random((rows, N)) < 0.7).astype(np.float32)
    return x


def _model(pooling: str = "sum", n_outputs: int = 1):
    torch.manual_seed(0)
    return build_deepsets(N * (F + 1), DeepSetsConfig(phi=(8, 8), hidden=(8,), pooling=pooling), n_outputs).eval()


def _run(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x.reshape(len(x), -1))).numpy()


@pytest.mark.parametrize(
    ("pooling", "n_outputs"), [("sum", 1), ("mean", 1), ("sum", 5)], ids=["sum", "mean", "5-classes"]
)
def test_the_output_does_not_depend_on_the_order_of_the_particles(pooling, n_outputs):
    model, x = _model(pooling, n_outputs), _sets(64)
    shuffled = x[:, np.random.default_rng(3).permutation(N)]
    # float32 sums in another order: equal to a few ulps of the pooled values (|pooled| < 10 here)
    np.testing.assert_allclose(_run(model, shuffled), _run(model, x), rtol=0, atol=2e-6)
    # and the comparison can fail: reordering the features inside each particle changes the output
    assert not np.allclose(_run(model, x[..., [1, 0, 2, 3]]), _run(model, x), atol=1e-3)


def test_padded_particles_contribute_nothing():
    model, x = _model(), _sets(64)
    noisy = x.copy()
    padded = noisy[..., -1] == 0
    noisy[..., :-1][padded] = 1e3  # whatever a padded slot holds
    np.testing.assert_array_equal(_run(model, noisy), _run(model, x))  # ×0 then +0: exactly


def test_mean_pooling_divides_the_sum_by_the_particles_present():
    x = _sets(32)
    total, mean = _model("sum"), _model("mean")
    with torch.no_grad():
        p = torch.from_numpy(x)
        phi = (total.phi(p[..., :-1]) * p[..., -1:]).sum(1)
        want = mean.rho(phi / p[..., -1:].sum(1).clamp(min=1.0)).numpy()
    np.testing.assert_allclose(_run(mean, x), want, rtol=0, atol=1e-6)


def test_inputs_that_are_not_a_particle_set_are_refused_in_one_line():
    with pytest.raises(
        TrigdeployError,
        match=r"train\.deepsets\.particle_features: 3 values and a mask per particle do not divide the 14 inputs",
    ):
        build_deepsets(14, DeepSetsConfig())


def test_the_kind_is_registered_from_its_own_file_and_its_section_is_checked(tmp_path):
    kind = registry.kind("deepsets")
    assert kind.config is DeepSetsConfig and kind.forms == ("onnx",)
    with pytest.raises(TrigdeployError, match=r"train\.deepsets\.phi"):
        run_config([tmp_path / "x.h5"], train={"deepsets": {"phi": []}})


@pytest.mark.integration
def test_a_deep_sets_trains_on_the_particles_and_exports_to_onnx(tmp_path):
    from trigdeploy.convert.export import export_run
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.generators import ToptagGenConfig
    from trigdeploy.targets import ExportTarget
    from trigdeploy.train.run import train_run

    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=2000, seed=5, chunk_size=2000), data, progress=False)
    cfg = run_config(
        [data],
        name="sets",
        features={"kind": "constituents", "n_constituents": 12},
        scaling={"sample_rows": 1200},
        train={
            **SMALL_TRAIN,
            "deepsets": {"epochs": 6, "batch_size": 64, "lr": 0.005, "phi": [16, 16], "hidden": [16]},
        },
    )
    run = tmp_path / "runs" / "sets"
    metrics = train_run(cfg, run, progress=False)
    assert metrics["deepsets"]["auc"] > 0.8  # the particles separate top from QCD
    manifest = export_run(run, ExportTarget(source="test"))
    assert manifest["models"]["deepsets"]["onnx"]["ort_parity"]["ok"]
