"""Physics figures of every model in every deployed form, on the run's test split.

Forms: the trained model (PyTorch / XGBoost, from ``predictions/``), ONNX Runtime, QONNX
execution, and the C simulation of each firmware project (batched harness). Each form's
scores go through the same metrics: AUC, 1/εB at εS = 0.3 and 0.5 (with the statistical
limit of the test set), and accuracy/precision/recall/F1 at the thresholds the model chose on
the validation split (F1, Youden's J, fixed εS / εB operating points).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from trigdeploy.train.metrics import at_threshold, rejection_at, roc_auc, sigmoid

logger = logging.getLogger(__name__)

EFFICIENCIES = (0.3, 0.5)


def figures(y: np.ndarray, prob: np.ndarray, thresholds: dict[str, float]) -> dict:
    n_bkg = int((y == 0).sum())
    return {"auc": roc_auc(y, prob),
            "rejection": {f"eff_S={e:g}": rejection_at(y, prob, e) for e in EFFICIENCIES},
            "rejection_limit": float(n_bkg),
            "at_thresholds": {k: at_threshold(y, prob, t) for k, t in thresholds.items()}}


def forms(layout, manifest, x_test: np.ndarray, threads: int | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Signal probabilities on the test split: {model: {form: scores}} for every form that exists.

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

            out[model]["ONNX Runtime"] = sigmoid(onnx_logits(manifest.export_dir / entry["onnx"]["file"], x_test))
    for p in manifest.projects:
        inputs, ref = manifest.reference(p)
        if p.reference_form and p.reference_form not in out[p.model]:  # one reference for all backends
            out[p.model][p.reference_form] = sigmoid(ref)
        logits = saved_outputs(layout, manifest, p.name)
        why = missing_simulator(p.simulator) if logits is None else None
        if why:
            logger.warning(f"bench: {p.name} not simulated: {why}")
            continue
        if logits is None:  # csim has not run on this export: simulate here
            logits = SIMULATORS[p.simulator](layout.project(p.name), layout.csim_cache, inputs, p.exact, threads,
                                             "fast")[0]
        out[p.model][p.form] = sigmoid(np.asarray(logits, np.float64).reshape(-1))
    return out


def roc_plot(y: np.ndarray, scores: dict[str, dict[str, np.ndarray]], path: Path, title: str) -> None:
    """Background rejection 1/εB (log) against signal efficiency εS for every model and form."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(7, 5.5))
    styles = ["-", "--", ":", "-."]
    for i, (model, by_form) in enumerate(scores.items()):
        for j, (form, s) in enumerate(by_form.items()):
            fpr, tpr, _ = roc_curve(y, s)
            keep = (fpr > 0) & (tpr > 0.05)
            ax.plot(tpr[keep], 1.0 / fpr[keep], styles[j % len(styles)], color=f"C{i}", lw=1.4,
                    label=f"{model} · {form} (AUC {roc_auc(y, s):.4f})")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency $\\varepsilon_S$")
    ax.set_ylabel("background rejection $1/\\varepsilon_B$")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
