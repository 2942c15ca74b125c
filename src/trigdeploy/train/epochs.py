"""Which epoch's weights a training keeps.

A float or QAT model keeps the epoch of the best validation AUC (``best_auc``). A resource-aware model trades
AUC for cost: the epoch of the best AUC often comes before its cost term has pruned anything, so it keeps
every epoch on the (validation AUC, EBOPs) front of non-dominated epochs, as HGQ does, and picks by the
rule its config names (``train.hgq.select``):

* ``cheapest_within`` (default): the cheapest epoch whose validation AUC is within a window of the best
  validation AUC seen (ties: the higher AUC, then the earlier epoch). The window is ``select_max_auc_loss``,
  or ``select_noise_sigmas`` standard errors of the best AUC where the validation split is too small for
  that (``auc_noise``: an AUC known to ±0.005 cannot tell epochs 0.002 apart, and a first epoch that is
  lucky on it would otherwise be kept however much cheaper the later ones are);
* ``best_auc``: the best validation AUC, as the other models do.

The chosen epoch is always on the front (a cheaper epoch at least as good would be in the window and
cheaper), so the front's weights are all that need keeping. Patience counts epochs without a change of the
chosen epoch. ``metrics.json`` records the front and the choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RULES = ("cheapest_within", "best_auc")


@dataclass(frozen=True)
class EpochPoint:
    """One finished epoch: its number (from 1), validation AUC and cost (EBOPs)."""

    epoch: int
    val_auc: float
    cost: float


def non_dominated(points: list[EpochPoint]) -> list[EpochPoint]:
    """The epochs no other epoch beats: none has at least their AUC at no more cost, one of them strictly (of
    epochs equal in both, the earliest). In epoch order."""

    def beaten(p: EpochPoint) -> bool:
        return any(
            q.val_auc >= p.val_auc and q.cost <= p.cost and (q.val_auc, q.cost) != (p.val_auc, p.cost) for q in points
        ) or any(q.epoch < p.epoch and (q.val_auc, q.cost) == (p.val_auc, p.cost) for q in points)

    return [p for p in points if not beaten(p)]


def auc_noise(auc: float, counts: Sequence[int]) -> float:
    """The standard error of an AUC measured on a split of these class ``counts`` (Hanley & McNeil 1982):
    binary ``[background, signal]``; K classes: of the mean one-vs-rest AUC, each class against the rest at
    that AUC, combined as for a mean of independent figures."""
    n = sum(counts)
    pairs = [(counts[1], counts[0])] if len(counts) == 2 else [(c, n - c) for c in counts]
    a = min(max(auc, 1e-9), 1 - 1e-9)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = [(a * (1 - a) + (p - 1) * (q1 - a * a) + (m - 1) * (q2 - a * a)) / max(p * m, 1) for p, m in pairs]
    return math.sqrt(max(sum(var), 0.0)) / len(var)


def window(points: list[EpochPoint], max_auc_loss: float, counts: Sequence[int] = (), sigmas: float = 0.0) -> float:
    """How far below the best validation AUC an epoch may be and still be kept: ``max_auc_loss``, or ``sigmas``
    standard errors of the best AUC on a validation split of ``counts`` where that is wider."""
    best = max(p.val_auc for p in points)
    return max(max_auc_loss, sigmas * auc_noise(best, counts)) if counts and sigmas else max_auc_loss


def choose(
    points: list[EpochPoint], rule: str, max_auc_loss: float, counts: Sequence[int] = (), sigmas: float = 0.0
) -> EpochPoint:
    """The epoch ``rule`` keeps of ``points`` (see the module docstring)."""
    if rule not in RULES:
        raise ValueError(f"unknown epoch rule {rule!r} (one of {RULES})")
    best = max(p.val_auc for p in points)
    if rule == "best_auc":
        return min((p for p in points if p.val_auc == best), key=lambda p: p.epoch)
    loss = window(points, max_auc_loss, counts, sigmas)
    return min((p for p in points if p.val_auc >= best - loss), key=lambda p: (p.cost, -p.val_auc, p.epoch))


def selection_record(
    points: list[EpochPoint], rule: str, max_auc_loss: float, counts: Sequence[int] = (), sigmas: float = 0.0
) -> dict:
    """What ``metrics.json`` records of a front-selected training: the rule, its window, the front and the chosen
    epoch."""
    chosen = choose(points, rule, max_auc_loss, counts, sigmas)
    return {
        "rule": rule,
        "max_auc_loss": max_auc_loss,
        "window": window(points, max_auc_loss, counts, sigmas) if rule == "cheapest_within" else None,
        "front": [{"epoch": p.epoch, "val_auc": p.val_auc, "ebops": p.cost} for p in non_dominated(points)],
        "chosen_epoch": chosen.epoch,
        "best_val_auc_epoch": choose(points, "best_auc", 0.0).epoch,
    }


def epoch_rule(cfg, y_val) -> tuple | None:
    """The ``selection_record`` arguments after the points for a model of config ``cfg`` (``train.hgq``: its
    rule, window, noise sigmas and the validation split's class counts ``y_val``); None for a config with no
    epoch rule (its training keeps the best validation AUC)."""
    if not hasattr(cfg, "select"):
        return None
    counts = tuple(int(c) for c in np.bincount(np.asarray(y_val).astype(np.int64).ravel()))
    return cfg.select, cfg.select_max_auc_loss, counts, cfg.select_noise_sigmas
