"""Labels of the data stage: a 0/1 column, a one-hot pair, a safe cut expression, or auto-detection
that never takes a split tag; K classes from a class column (``label.classes``) or K one-hot
columns. ``LabelSpec`` computes the label of a chunk and names the columns it reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trigdeploy.config import RunConfig
from trigdeploy.data import leakguard
from trigdeploy.errors import TrigdeployError
from trigdeploy.expr import Expr

BINARY = ("background", "signal")


@dataclass(frozen=True)
class LabelSpec:
    """How the label of a chunk is computed, and which columns it reads.

    Labels are class indices ``0 … K-1`` (uint8) in the order of ``classes``; binary labels are
    0 = background, 1 = signal.
    """

    kind: str
    inputs: tuple[str, ...]
    expr: Expr | None = None
    classes: tuple[str, ...] = BINARY
    exprs: tuple[Expr, ...] = ()  # kind "cuts": one expression per class
    values: tuple[int, ...] = ()  # kind "classes": the label column's value of each class

    @property
    def n_classes(self) -> int:
        """How many classes the label has (2 for signal vs background)."""
        return len(self.classes)

    def __call__(self, chunk: dict[str, np.ndarray], where: str) -> np.ndarray:
        if self.kind == "cut":
            return self.expr(chunk).astype(np.uint8)
        if self.kind == "cuts":
            hits = np.stack([np.asarray(e(chunk), bool) for e in self.exprs], axis=1)
            n_true = hits.sum(1)
            if not np.all(n_true == 1):
                r = int(np.flatnonzero(n_true != 1)[0])
                which = [c for c, h in zip(self.classes, hits[r]) if h]
                raise TrigdeployError(
                    f"{where}: label.cuts: row {r} of the chunk is in "
                    f"{'classes ' + ', '.join(which) if which else 'no class'}; "
                    "expected exactly one class per row"
                )
            return np.argmax(hits, axis=1).astype(np.uint8)
        if self.kind == "onehot":
            m = np.stack([np.asarray(chunk[c]) for c in self.inputs], axis=1)
            if not (np.all((m == 0) | (m == 1)) and np.all(m.sum(1) == 1)):
                raise TrigdeployError(
                    f"{where}: one-hot label columns {list(self.inputs)} are not 0/1 with exactly one 1 on every row"
                )
            return np.argmax(m, axis=1).astype(np.uint8)
        values = np.asarray(chunk[self.inputs[0]])
        if self.kind == "classes":
            out = np.full(len(values), 255, np.uint8)
            for i, v in enumerate(self.values):
                out[values == v] = i
            bad = out == 255
            if bad.any():
                raise TrigdeployError(
                    f"{where}: label column '{self.inputs[0]}' has value {values[bad][0].item()!r}, which is none of "
                    f"label.classes ({', '.join(f'{n}: {v}' for n, v in zip(self.classes, self.values))})"
                )
            return out
        bad = ~np.isin(values, (0, 1))
        if bad.any():
            raise TrigdeployError(f"{where}: label column '{self.inputs[0]}' must be 0/1, found {values[bad][0]!r}")
        return values.astype(np.uint8)


def resolve_label(cfg: RunConfig, columns: list[str], where: str) -> LabelSpec:
    """The run's label (one column, one-hot columns, a cut or cuts) checked against the file's columns."""
    lab = cfg.label
    chosen = [k for k, v in (("column", lab.column), ("onehot", lab.onehot), ("cut", lab.cut), ("cuts", lab.cuts)) if v]
    if len(chosen) > 1:
        raise TrigdeployError(f"{cfg.source}: label: set one of column, onehot, cut, cuts (got {', '.join(chosen)})")
    if lab.cuts:
        order = _binary_order(lab.signal, lab.cuts, None, cfg.source, "cuts")
        exprs = tuple(Expr(lab.cuts[name], f"label.cuts.{name}") for name in order)
        names = tuple(dict.fromkeys(n for e in exprs for n in e.names))
        missing = [n for n in names if n not in columns]
        if missing:
            raise TrigdeployError(f"{where}: label.cuts use column(s) not in the data: {', '.join(missing)}")
        return LabelSpec("cuts", names, classes=order, exprs=exprs)
    if lab.cut:
        expr = Expr(lab.cut, "label.cut")
        missing = [n for n in expr.names if n not in columns]
        if missing:
            raise TrigdeployError(f"{where}: label.cut uses column(s) not in the data: {', '.join(missing)}")
        return LabelSpec("cut", expr.names, expr)
    if lab.onehot:
        missing = [c for c in lab.onehot if c not in columns]
        if missing:
            raise TrigdeployError(f"{where}: label column(s) not found: {', '.join(missing)}")
        # a pair is [background, signal]; more columns are one class each, named by the column
        return LabelSpec("onehot", tuple(lab.onehot), classes=BINARY if len(lab.onehot) == 2 else tuple(lab.onehot))
    if lab.column:
        if lab.column not in columns:
            raise TrigdeployError(f"{where}: label column '{lab.column}' not found")
        if leakguard.name_reason(lab.column) == "split tag":
            raise TrigdeployError(f"{where}: label column '{lab.column}' is a split tag, not a label")
        if lab.classes:
            order = _binary_order(lab.signal, lab.classes, lab.classes, cfg.source, "classes")
            return LabelSpec("classes", (lab.column,), classes=order, values=tuple(lab.classes[n] for n in order))
        return LabelSpec("column", (lab.column,))
    for name in leakguard.AUTO_LABELS:
        if name in columns:
            return LabelSpec("column", (name,))
    raise TrigdeployError(
        f"{where}: no label column found (looked for {', '.join(leakguard.AUTO_LABELS)}); "
        "set label.column, label.onehot or label.cut"
    )


def _binary_order(signal: str | None, named: dict, values: dict | None, source: str, key: str) -> tuple[str, ...]:
    """The classes in index order. K > 2: as written. Two classes: ``(background, signal)``, the signal
    being ``label.signal``, else the class whose value is 1 (``classes``), else the one named ``signal``;
    a pair none of these decides is an error (training the background as the signal would be silent)."""
    if len(named) != 2:
        return tuple(named)
    if signal is None and values is not None and sorted(values.values()) == [0, 1]:
        signal = next(n for n, v in values.items() if v == 1)
    if signal is None and "signal" in named:
        signal = "signal"
    if signal is None:
        raise TrigdeployError(
            f"{source}: label.{key} has two classes ({', '.join(named)}): set label.signal to the "
            "one that is the signal"
        )
    return tuple(n for n in named if n != signal) + (signal,)
