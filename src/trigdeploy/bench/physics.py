"""Physics figures of every model in every deployed form, on the run's test split.

Forms: the trained model (PyTorch / XGBoost, from ``predictions/``), ONNX Runtime, QONNX
execution, and the C simulation of each firmware project (batched harness). Each form's
scores go through the same metrics: AUC, 1/εB at εS = 0.3 and 0.5 (with the statistical
limit of the test set), and accuracy/precision/recall/F1 at the thresholds the model chose on
the validation split (F1, Youden's J, fixed εS / εB operating points).

K classes: the forms' scores are the softmax of their K logits (computed here, outside the
firmware); per class, one against the rest: AUC, the rejection of every other class at εS = 0.3
and 0.5, what the validation threshold of each εS keeps on test; overall the macro AUC,
accuracy and the confusion matrix. The ROC plot has one panel per class.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from trigdeploy.logits import as_logits, probabilities
from trigdeploy.train.metrics import at_threshold, confusion_matrix, rejection_at, roc_auc

logger = logging.getLogger(__name__)

EFFICIENCIES = (0.3, 0.5)


def figures(y: np.ndarray, prob: np.ndarray, thresholds: dict) -> dict:
    """Binary: ``thresholds`` name → threshold. K classes (``prob`` (n, K)): ``thresholds`` is the model's
    ``metrics.json`` entry (classes and per-class validation thresholds)."""
    if prob.ndim == 2:
        return figures_multiclass(y, prob, thresholds["classes"], thresholds["per_class"])
    n_bkg = int((y == 0).sum())
    return {"auc": roc_auc(y, prob),
            "rejection": {f"eff_S={e:g}": rejection_at(y, prob, e) for e in EFFICIENCIES},
            "rejection_limit": float(n_bkg),
            "at_thresholds": {k: at_threshold(y, prob, t) for k, t in thresholds.items()}}


def figures_multiclass(y: np.ndarray, prob: np.ndarray, classes: list[str], per_class_val: dict) -> dict:
    """Test figures of class probabilities ``(n, K)``; the thresholds are the ones chosen on validation
    (``per_class_val[class]["thresholds"]``)."""
    y = np.asarray(y)
    per_class = {}
    for c, name in enumerate(classes):
        rej = {}
        for e in EFFICIENCIES:
            rej[f"eff_S={e:g}"] = {}
            for d, other in enumerate(classes):
                if d != c:
                    rows = (y == c) | (y == d)
                    rej[f"eff_S={e:g}"][other] = rejection_at(y[rows] == c, prob[rows, c], e)
        at = {}
        for key, v in per_class_val.get(name, {}).get("thresholds", {}).items():
            passed = prob[:, c] >= v["threshold"]
            at[key] = {"threshold": v["threshold"], "signal_efficiency": float(passed[y == c].mean()),
                       "acceptance": {o: float(passed[y == d].mean()) for d, o in enumerate(classes) if d != c}}
        per_class[name] = {"auc": roc_auc(y == c, prob[:, c]), "rejection": rej, "at_thresholds": at,
                           "n_test": int((y == c).sum())}
    predicted = prob.argmax(axis=1)
    return {"classes": list(classes), "auc": float(np.mean([p["auc"] for p in per_class.values()])),
            "accuracy": float((predicted == y).mean()),
            "confusion_matrix": confusion_matrix(y, predicted, len(classes)).tolist(), "per_class": per_class}


def thresholds_of(metrics_entry: dict) -> dict:
    """What ``figures`` takes for a model from its ``metrics.json`` entry."""
    if "per_class" in metrics_entry:
        return metrics_entry
    return {k: v["threshold"] for k, v in metrics_entry["thresholds"].items()}


def forms(layout, manifest, x_test: np.ndarray, threads: int | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Probabilities on the test split (signal ``(n,)``, or K classes ``(n, K)``): {model: {form: scores}}
    for every form that exists.

    The trained form from the run's predictions, ONNX Runtime on the exported ONNX files, the
    references saved by the export (QONNX), and each firmware project's C simulation as ``csim``
    saved it for this export (simulated here only when it did not)."""
    from trigdeploy.csim.run import SIMULATORS, missing_simulator, saved_outputs
    from trigdeploy.models import registry

    out: dict[str, dict[str, np.ndarray]] = {}
    for kind in registry.KINDS.values():
        pred = layout.predictions(kind.name)
        if pred.is_file():
            out.setdefault(kind.name, {})[kind.label] = np.load(pred)["test"].astype(np.float64)
    for model, entry in manifest.models.items():
        if "onnx" in entry:
            from trigdeploy.convert.to_onnx import onnx_logits

            out[model]["ONNX Runtime"] = probabilities(onnx_logits(manifest.export_dir / entry["onnx"]["file"], x_test))
    for p in manifest.projects:
        inputs, ref = manifest.reference(p)
        if p.reference_form and p.reference_form not in out[p.model]:  # one reference for all backends
            out[p.model][p.reference_form] = probabilities(ref)
        logits = saved_outputs(layout, manifest, p.name)
        why = missing_simulator(p.simulator) if logits is None else None
        if why:
            logger.warning(f"bench: {p.name} not simulated: {why}")
            continue
        if logits is None:  # csim has not run on this export: simulate here
            logits = SIMULATORS[p.simulator](layout.project(p.name), layout.csim_cache, inputs, p.exact, threads,
                                             "fast")[0]
        out[p.model][p.form] = probabilities(as_logits(logits, len(inputs)))
    return out


def roc_plot(y: np.ndarray, scores: dict[str, dict[str, np.ndarray]], path: Path, title: str,
             classes: list[str] | None = None) -> None:
    """Background rejection 1/εB (log) against signal efficiency εS for every model and form; K classes
    (``classes``): one panel per class, that class against all the others."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    panels = [(None, "signal", "background")] if not classes else [(c, n, "rest") for c, n in enumerate(classes)]
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 5.5 * rows), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, (column, sig, bkg) in zip(axes.flat, panels):
        truth = y if column is None else (np.asarray(y) == column)
        for i, (model, by_form) in enumerate(scores.items()):
            for j, (form, s) in enumerate(by_form.items()):
                s = s if column is None else s[:, column]
                fpr, tpr, _ = roc_curve(truth, s)
                keep = (fpr > 0) & (tpr > 0.05)
                ax.plot(tpr[keep], 1.0 / fpr[keep], styles[j % len(styles)], color=f"C{i}", lw=1.4,
                        label=f"{model} · {form} (AUC {roc_auc(truth, s):.4f})")
        ax.set_yscale("log")
        ax.set_xlabel(f"{sig} efficiency $\\varepsilon_S$")
        ax.set_ylabel(f"{bkg} rejection $1/\\varepsilon_B$")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3, which="both")
        ax.set_title(title if column is None else f"{sig} vs the rest")
        ax.legend(fontsize=7, loc="upper right")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if classes:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def confusion_plot(report: dict[str, dict[str, dict]], path: Path, title: str) -> None:
    """The test confusion matrix (row-normalised, counts written in) of every model's deployed forms:
    one panel per model, its last form (the firmware's C simulation where there is one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(report)
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4.4), squeeze=False)
    for ax, model in zip(axes.flat, models):
        form, f = list(report[model].items())[-1]
        cm = np.asarray(f["confusion_matrix"], np.float64)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        k = len(f["classes"])
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xticks(range(k), f["classes"])
        ax.set_yticks(range(k), f["classes"])
        ax.set_xlabel("predicted (largest logit)")
        ax.set_ylabel("true class")
        ax.set_title(f"{model} · {form}\naccuracy {f['accuracy']:.4f}", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
