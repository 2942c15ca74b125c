"""One logit or K per event: shapes, the event-wise comparison every check uses, probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.logits import as_logits, compare, n_logits, probabilities


@pytest.mark.parametrize(
    ("values", "n", "shape"),
    [
        (np.zeros((4, 1)), None, (4,)),
        (np.zeros(4), 4, (4,)),
        (np.zeros(12), 4, (4, 3)),
        (np.zeros((4, 3)), None, (4, 3)),
    ],
    ids=["column", "flat", "flat-k", "matrix"],
)
def test_shapes(values, n, shape):
    assert as_logits(values, n).shape == shape and n_logits(as_logits(values, n)) == (
        shape[1] if len(shape) == 2 else 1
    )


def test_an_event_differs_when_any_of_its_logits_does():
    ref = np.arange(12, dtype=np.float64).reshape(4, 3)
    assert compare(ref.copy(), ref) == {
        "n_events": 4,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
        "ok": True,
        "n_logits": 3,
    }
    out = ref.copy()
    out[1, 2] += 2.0**-12  # one LSB of one class
    out[3, 0] -= 0.5
    out[3, 1] += 0.25  # two logits of one event: still one event
    same = compare(out, ref)
    assert (same["n_events"], same["n_mismatch"], same["max_abs_diff"], same["ok"]) == (4, 2, 0.5, False)
    assert same["mean_abs_diff"] == pytest.approx((2.0**-12 + 0.75) / 12)
    assert compare(out, ref, tolerance=0.1)["n_mismatch"] == 1  # within a tolerance: only event 3
    with pytest.raises(ValueError, match="differ in shape"):
        compare(out[:, :2], ref)


def test_probabilities_are_sigmoid_or_softmax():
    np.testing.assert_allclose(probabilities([0.0, np.log(3.0)]), [0.5, 0.75], rtol=1e-15)
    p = probabilities([[0.0, np.log(3.0)], [1000.0, 0.0]])  # a large logit does not overflow
    np.testing.assert_allclose(p, [[0.25, 0.75], [1.0, 0.0]], rtol=1e-15, atol=1e-300)
