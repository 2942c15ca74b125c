"""Labels of the data stage: a 0/1 column, a one-hot pair, a safe cut expression, or auto-detection
that never takes a split tag; ``LabelSpec`` computes the label of a chunk and names the columns it reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trigdeploy.config import RunConfig
from trigdeploy.data import leakguard
from trigdeploy.errors import TrigdeployError
from trigdeploy.expr import Expr


@dataclass(frozen=True)
class LabelSpec:
    """How the label of a chunk is computed, and which columns it reads."""

    kind: str
    inputs: tuple[str, ...]
    expr: Expr | None = None

    def __call__(self, chunk: dict[str, np.ndarray], where: str) -> np.ndarray:
        if self.kind == "cut":
            return self.expr(chunk).astype(np.uint8)
        if self.kind == "onehot":
            a, b = (np.asarray(chunk[c]) for c in self.inputs)
            if not np.all((a + b) == 1):
                raise TrigdeployError(f"{where}: one-hot label columns {list(self.inputs)} do not sum to 1 on every row")
            return (b == 1).astype(np.uint8)
        values = np.asarray(chunk[self.inputs[0]])
        bad = ~np.isin(values, (0, 1))
        if bad.any():
            raise TrigdeployError(
                f"{where}: label column '{self.inputs[0]}' must be 0/1, found {values[bad][0]!r}"
            )
        return values.astype(np.uint8)


def resolve_label(cfg: RunConfig, columns: list[str], where: str) -> LabelSpec:
    lab = cfg.label
    chosen = [k for k, v in (("column", lab.column), ("onehot", lab.onehot), ("cut", lab.cut)) if v]
    if len(chosen) > 1:
        raise TrigdeployError(f"{cfg.source}: label: set one of column, onehot, cut (got {', '.join(chosen)})")
    if lab.cut:
        expr = Expr(lab.cut, "label.cut")
        missing = [n for n in expr.names if n not in columns]
        if missing:
            raise TrigdeployError(f"{where}: label.cut uses column(s) not in the data: {', '.join(missing)}")
        return LabelSpec("cut", expr.names, expr)
    if lab.onehot:
        if len(lab.onehot) != 2:
            raise TrigdeployError(f"{cfg.source}: label.onehot: expected [background_column, signal_column]")
        missing = [c for c in lab.onehot if c not in columns]
        if missing:
            raise TrigdeployError(f"{where}: label column(s) not found: {', '.join(missing)}")
        return LabelSpec("onehot", tuple(lab.onehot))
    if lab.column:
        if lab.column not in columns:
            raise TrigdeployError(f"{where}: label column '{lab.column}' not found")
        if leakguard.name_reason(lab.column) == "split tag":
            raise TrigdeployError(f"{where}: label column '{lab.column}' is a split tag, not a label")
        return LabelSpec("column", (lab.column,))
    for name in leakguard.AUTO_LABELS:
        if name in columns:
            return LabelSpec("column", (name,))
    raise TrigdeployError(
        f"{where}: no label column found (looked for {', '.join(leakguard.AUTO_LABELS)}); "
        "set label.column, label.onehot or label.cut"
    )
