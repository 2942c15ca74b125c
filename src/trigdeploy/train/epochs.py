"""Which epoch's weights a training keeps.

A float or QAT model keeps the epoch of the best validation AUC (``best_auc``). A resource-aware model trades
AUC for cost: the epoch of the best AUC often comes before its cost term has pruned anything, so it keeps
every epoch on the (validation AUC, EBOPs) front of non-dominated epochs, as HGQ does, and picks by the
rule its config names (``train.hgq.select``):

* ``cheapest_within`` (default): the cheapest epoch whose validation AUC is within ``select_max_auc_loss``
  of the best validation AUC seen (ties: the higher AUC, then the earlier epoch);
* ``best_auc``: the best validation AUC, as the other models do.

The chosen epoch is always on the front (a cheaper epoch at least as good would be in the window and
cheaper), so the front's weights are all that need keeping. Patience counts epochs without a change of the
chosen epoch. ``metrics.json`` records the front and the choice.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def choose(points: list[EpochPoint], rule: str, max_auc_loss: float) -> EpochPoint:
    """The epoch ``rule`` keeps of ``points`` (see the module docstring)."""
    if rule not in RULES:
        raise ValueError(f"unknown epoch rule {rule!r} (one of {RULES})")
    best = max(p.val_auc for p in points)
    if rule == "best_auc":
        return min((p for p in points if p.val_auc == best), key=lambda p: p.epoch)
    window = [p for p in points if p.val_auc >= best - max_auc_loss]
    return min(window, key=lambda p: (p.cost, -p.val_auc, p.epoch))


def selection_record(points: list[EpochPoint], rule: str, max_auc_loss: float) -> dict:
    """What ``metrics.json`` records of a front-selected training: the rule, the front and the chosen epoch."""
    chosen = choose(points, rule, max_auc_loss)
    return {
        "rule": rule,
        "max_auc_loss": max_auc_loss,
        "front": [{"epoch": p.epoch, "val_auc": p.val_auc, "ebops": p.cost} for p in non_dominated(points)],
        "chosen_epoch": chosen.epoch,
        "best_val_auc_epoch": choose(points, "best_auc", 0.0).epoch,
    }
