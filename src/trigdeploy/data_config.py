"""The data stage's sections of a run config: where the label comes from, the leak guard, the splits and the
scaling (``config.RunConfig`` holds them; ``schema`` validates them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trigdeploy.schema import SEED_MAX, Checked, FieldError, num


@dataclass(frozen=True)
class LabelConfig(Checked):
    """Where the label comes from; all unset means auto-detection (never a split tag).

    Binary: a 0/1 ``column``, a one-hot pair ``[background, signal]`` or a ``cut``. Multi-class
    (K > 2): ``column`` with ``classes: {name: value, …}`` (the column's value of each class),
    ``onehot`` with one column per class (the columns' names are the classes' names), or ``cuts:
    {name: expression, …}`` (exactly one true on every row).
    """

    # the label column (0/1, or the class values of classes); null with the others null: detected
    column: str | None = None
    onehot: tuple[str, ...] = ()  # one 0/1 column per class ([background, signal] for two)
    cut: str | None = None  # a safe expression: signal where it holds
    classes: dict[str, int] = field(default_factory=dict)  # K classes: each class's value in column (name → value)
    # K classes: each class's safe expression, exactly one true per row
    cuts: dict[str, str] = field(default_factory=dict)
    # two classes (classes/cuts): which is the signal (default: value 1 / a class named signal)
    signal: str | None = None

    def check(self) -> None:
        """``signal`` names one of two classes; classes come with the column that holds them."""
        named = self.classes or self.cuts
        if self.signal is not None and (len(named) != 2 or self.signal not in named):
            raise FieldError(
                "signal",
                f"names the signal class of two label.classes or label.cuts, got "
                f"{self.signal!r} for {list(named) or 'none'}",
            )
        if self.classes:
            if not self.column:
                raise FieldError("classes", "names the values of label.column; set label.column too")
            if len(self.classes) < 2:
                raise FieldError("classes", f"needs at least 2 classes, got {len(self.classes)}")
            if len(self.classes) > 255:
                raise FieldError("classes", f"at most 255 classes, got {len(self.classes)}")
            values = list(self.classes.values())  # integers: the loader checks the type
            if len(set(values)) != len(values):
                raise FieldError("classes", f"two classes share a value: {self.classes}")
        if self.cuts:
            if len(self.cuts) < 2:
                raise FieldError("cuts", f"needs at least 2 classes, got {len(self.cuts)}")
            if len(self.cuts) > 255:
                raise FieldError("cuts", f"at most 255 classes, got {len(self.cuts)}")
            from trigdeploy.expr import Expr

            for name, text in self.cuts.items():
                Expr(text, f"label.cuts.{name}")  # parsed now: a bad expression is a load-time error
        if self.onehot and len(self.onehot) < 2:
            raise FieldError("onehot", f"needs at least 2 columns, got {len(self.onehot)}")
        if len(set(self.onehot)) != len(self.onehot):
            raise FieldError("onehot", f"a column is listed twice: {list(self.onehot)}")


@dataclass(frozen=True)
class LeakGuardConfig(Checked):
    """Keeps label-revealing columns out of the features (on by default)."""

    enabled: bool = True  # refuse label-revealing columns by name and by data (off: nothing is checked)
    auc_threshold: float = num(0.999, gt=0.5, le=1.0)  # a feature whose AUC alone reaches this (either way) is a leak
    # features allowed to separate the classes alone (measured, reported, not refused)
    allow_separating: tuple[str, ...] = ()
    # keep the columns the label is computed from (the label then is a function of the inputs; warned)
    keep_label_inputs: bool = False
    extra_patterns: tuple[str, ...] = ()  # more regular expressions of column names never used as features


@dataclass(frozen=True)
class SplitConfig(Checked):
    """Validation/test rows: random rows spread over the files, a split column, or separate files."""

    # random rows spread over the files, a split column, or separate files
    mode: Literal["random", "column", "files"] = "random"
    val_fraction: float = num(0.1, gt=0.0, lt=1.0)  # random: the validation share of the rows
    test_fraction: float = num(0.2, gt=0.0, lt=1.0)  # random: the test share of the rows
    seed: int | None = num(None, ge=0, le=SEED_MAX)  # random: the split's seed (null: the run's seed)
    column: str = "ttv"  # column: the split column
    train_values: tuple[int, ...] = (0,)  # column: its values of training rows
    val_values: tuple[int, ...] = (2,)  # column: its values of validation rows
    test_values: tuple[int, ...] = (1,)  # column: its values of test rows
    val_files: tuple[str, ...] = ()  # files: the validation files (data.files are the training files)
    test_files: tuple[str, ...] = ()  # files: the test files

    def check(self) -> None:
        """Random splits leave training rows; file splits name their validation and test files."""
        if self.mode == "random" and self.val_fraction + self.test_fraction >= 1:
            raise FieldError(
                "test_fraction",
                f"val_fraction + test_fraction must be < 1, got {self.val_fraction} + {self.test_fraction}",
            )
        if self.mode == "files" and not (self.val_files and self.test_files):
            raise FieldError("mode", "'files' needs split.val_files and split.test_files")


@dataclass(frozen=True)
class ScalingConfig(Checked):
    """Feature standardisation fit on a sample of training rows spread over the files."""

    # standardise every feature (mean 0, std 1, fit on training rows), or leave them as they are
    kind: Literal["standard", "none"] = "standard"
    sample_rows: int = num(100_000, ge=1)  # training rows the standardisation is fit on (spread over the split)
    clip: float | None = num(None, gt=0.0)  # scaled values clipped to ±clip (null: not clipped)
