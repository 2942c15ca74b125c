"""A model's outputs as every stage handles them: one logit per event ``(n,)`` for two classes,
K logits per event ``(n, K)`` for K classes (firmware computes logits; softmax stays outside it).

``compare`` is the one comparison of firmware outputs with a reference: an event mismatches when
any of its logits differs.
"""

from __future__ import annotations

import numpy as np


def as_logits(values, n_events: int | None = None) -> np.ndarray:
    """``values`` as float64 logits: ``(n,)`` when there is one per event, else ``(n, K)``.
    ``n_events`` (when given) is the number of events; flat K·n values are reshaped row by row."""
    a = np.asarray(values, np.float64)
    if n_events is not None:
        a = a.reshape(n_events, -1)
    elif a.ndim == 1:
        return a
    a = a.reshape(len(a), -1)
    return a[:, 0] if a.shape[1] == 1 else a


def n_logits(values) -> int:
    """Logits per event: 1 for ``(n,)``, K for ``(n, K)``."""
    a = np.asarray(values)
    return 1 if a.ndim == 1 else int(a.shape[1])


def compare(outputs, reference, tolerance: float = 0.0) -> dict:
    """``outputs`` against ``reference`` event by event (every logit of an event): the events whose
    largest |difference| exceeds ``tolerance`` (0: bit-exact), the largest and mean |difference|."""
    ref = as_logits(reference)
    y = as_logits(outputs, len(ref))
    if y.shape != ref.shape:
        raise ValueError(f"outputs {y.shape} and reference {ref.shape} differ in shape")
    diff = np.abs(y - ref)
    per_event = diff if diff.ndim == 1 else diff.max(axis=1) if diff.size else np.zeros(len(diff))
    out = {
        "n_events": int(len(ref)),
        "n_mismatch": int((per_event > tolerance).sum()),
        "max_abs_diff": float(per_event.max()) if len(per_event) else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "ok": bool((per_event <= tolerance).all()),
    }
    if ref.ndim == 2:
        out["n_logits"] = int(ref.shape[1])
    return out


def probabilities(logits) -> np.ndarray:
    """Scores from logits (float64): the sigmoid ``(n,)`` of one logit, the softmax ``(n, K)`` of K."""
    z = as_logits(logits)
    if z.ndim == 1:
        return 1.0 / (1.0 + np.exp(-z))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
