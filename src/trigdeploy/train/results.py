"""``metrics.json`` read back typed: what ``trigdeploy train`` measured and the later stages build on.

``RunMetrics.load`` reads the file once (anything ``train`` did not write is one line naming it) and gives
each model's ``ModelMetrics``: its test AUC (the macro one-vs-rest AUC for K classes), the background
rejection at the reported signal efficiencies (two classes; ``inf`` where no test background event passes,
``null`` in the file), and the operating thresholds chosen on the validation split, which csim and bench
judge every firmware form at. The JSON stays what ``train`` writes; only the reading is typed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import read_json_as


@dataclass(frozen=True)
class ModelMetrics:
    """One model's entry of ``metrics.json``.

    ``thresholds``: operating point name → threshold (two classes). ``classes`` and ``per_class``: the K class
    names in index order and each class's validation figures with its thresholds (K classes; None for two).
    ``rejection``: ``eff_S=x`` → 1/εB on the test split (two classes; None for K)."""

    name: str
    auc: float
    thresholds: dict[str, float]
    rejection: dict[str, float] | None = None
    classes: tuple[str, ...] | None = None
    per_class: dict | None = None
    class_thresholds: dict[str, dict[str, float]] | None = None  # K classes: class → name → threshold

    @property
    def multiclass(self) -> bool:
        """Whether the model scores K > 2 classes."""
        return self.classes is not None

    def operating_points(self) -> dict[str, tuple[int | None, float]]:
        """Every operating threshold: name → (class column, threshold); a K-class model has one set per class
        (``<class> eff_S=x``, column = the class's index), a binary one column None."""
        if self.classes is None:
            return {k: (None, t) for k, t in self.thresholds.items()}
        return {
            f"{name} {k}": (c, t) for c, name in enumerate(self.classes) for k, t in self.class_thresholds[name].items()
        }


@dataclass(frozen=True)
class RunMetrics:
    """``metrics.json`` of a complete run: every trained model's ``ModelMetrics`` by name."""

    path: Path
    models: dict[str, ModelMetrics]

    @classmethod
    def load(cls, path: Path) -> RunMetrics:
        """The run's metrics at ``path``; ``TrigdeployError`` (one line naming it) for anything else."""
        if not Path(path).is_file():
            raise TrigdeployError(f"{path} not found: run trigdeploy train first")
        models = read_json_as(
            path, lambda raw: {name: model_metrics(name, e) for name, e in raw.items()}, "metrics.json", "train again"
        )
        return cls(Path(path), models)

    def __getitem__(self, model: str) -> ModelMetrics:
        return self.models[model]

    def __contains__(self, model: str) -> bool:
        return model in self.models


def model_metrics(name: str, e: dict) -> ModelMetrics:
    """One entry of ``metrics.json`` (as ``train`` writes it) typed."""
    if "per_class" in e:
        classes = tuple(e["classes"])
        by_class = {c: {k: float(v["threshold"]) for k, v in e["per_class"][c]["thresholds"].items()} for c in classes}
        return ModelMetrics(name, float(e["auc"]), {}, None, classes, e["per_class"], by_class)
    thresholds = {k: float(v["threshold"]) for k, v in e.get("thresholds", {}).items()}
    rejection = (
        {k: math.inf if v is None else float(v) for k, v in e["rejection"].items()} if "rejection" in e else None
    )
    return ModelMetrics(name, float(e["auc"]), thresholds, rejection)
