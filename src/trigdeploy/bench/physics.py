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

from trigdeploy.bench import budget
from trigdeploy.bench_config import RateConfig
from trigdeploy.logits import as_logits, probabilities
from trigdeploy.train import plots
from trigdeploy.train.intervals import auc_interval, clopper_pearson_band, paired_auc_test, rejection_interval
from trigdeploy.train.metrics import at_threshold, multiclass_test, rejection_at, roc_auc
from trigdeploy.train.results import ModelMetrics

logger = logging.getLogger(__name__)

EFFICIENCIES = (0.3, 0.5)


def efficiencies(quoted: float) -> tuple[float, ...]:
    """The signal efficiencies bench gives 1/εB at: the tables' (``EFFICIENCIES``) and the quoted one."""
    return tuple(sorted({*EFFICIENCIES, quoted}))


def figures(y: np.ndarray, prob: np.ndarray, m: ModelMetrics, effs: tuple[float, ...] = EFFICIENCIES) -> dict:
    """Test figures of probabilities ``prob`` at the model's operating thresholds chosen on validation
    (``m``, from ``metrics.json``) and 1/εB at the signal efficiencies ``effs``: binary ``(n,)``, or K classes
    ``(n, K)`` (per class, at ``EFFICIENCIES``)."""
    if prob.ndim == 2:
        return figures_multiclass(y, prob, list(m.classes), m.per_class)
    n_bkg = int((y == 0).sum())
    return {
        "auc": roc_auc(y, prob),
        "auc_ci": list(auc_interval(y, prob)[1:]),
        "rejection": {f"eff_S={e:g}": rejection_at(y, prob, e) for e in effs},
        "rejection_ci": {f"eff_S={e:g}": rejection_interval(y, prob, e) for e in effs},
        "rejection_limit": float(n_bkg),
        "at_thresholds": {k: at_threshold(y, prob, t) for k, t in m.thresholds.items()},
    }


def model_figures(
    y: np.ndarray,
    by_form: dict[str, np.ndarray],
    m: ModelMetrics,
    rate: RateConfig | None = None,
    effs: tuple[float, ...] = EFFICIENCIES,
) -> dict[str, dict]:
    """``figures`` (1/εB at ``effs``) of every form of one model, with its trigger ``rates`` (``budget.rates``)
    where ``rate`` is given; each form after the first also says whether its AUC differs from the first form's
    beyond the statistics (``versus``: DeLong's paired test on the same events, per class for K classes)."""
    out = {form: figures(y, prob, m, effs) for form, prob in by_form.items()}
    if rate is not None:
        for form, prob in by_form.items():
            out[form]["rates"] = budget.rates(y, prob, rate, EFFICIENCIES, m.classes)
    (first, base), *rest = by_form.items()
    for form, prob in rest:
        out[form]["versus"] = {"form": first, **_paired_tests(y, base, prob, m.classes)}
    return out


def _paired_tests(y: np.ndarray, a: np.ndarray, b: np.ndarray, classes) -> dict:
    """DeLong's paired test of ``b`` against ``a`` on the same events: ``{"binary": {"": test}}``, or for K
    classes ``{"per_class": {class: test}}`` (each class against the rest)."""
    if a.ndim == 2:
        y = np.asarray(y)
        return {"per_class": {c: paired_auc_test(y == k, a[:, k], b[:, k]) for k, c in enumerate(classes)}}
    return {"binary": {"": paired_auc_test(y, a, b)}}


def figures_multiclass(y: np.ndarray, prob: np.ndarray, classes: list[str], per_class_val: dict) -> dict:
    """Test figures of class probabilities ``(n, K)`` (``train.metrics.multiclass_test``) at the thresholds
    chosen on validation (``per_class_val[class]["thresholds"]``, from ``metrics.json``)."""
    thresholds = {
        name: {k: v["threshold"] for k, v in per_class_val.get(name, {}).get("thresholds", {}).items()}
        for name in classes
    }
    return multiclass_test(y, prob, classes, thresholds, EFFICIENCIES)


def compare_models(y: np.ndarray, scores: dict[str, dict[str, np.ndarray]], classes=None) -> list[dict]:
    """Every pair of models compared on the same test events by DeLong's paired test of their first forms'
    AUCs (``delta``: the second's minus the first's; per class for K classes): whether a cheaper model
    really loses, beyond the statistics of the split."""
    firsts = [(model, *next(iter(by_form.items()))) for model, by_form in scores.items() if by_form]
    out = []
    for i, (a, form_a, pa) in enumerate(firsts):
        for b, form_b, pb in firsts[i + 1 :]:
            out.append({"a": a, "form_a": form_a, "b": b, "form_b": form_b, **_paired_tests(y, pa, pb, classes)})
    return out


def forms(layout, manifest, x_test: np.ndarray, threads: int | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Probabilities on the test split (signal ``(n,)``, or K classes ``(n, K)``): {model: {form: scores}}
    for every form that exists.

    The trained form from the run's predictions, ONNX Runtime on the exported ONNX files, the
    references saved by the export (QONNX), and each firmware project's C simulation as ``csim``
    saved it for this export (simulated here only when it did not)."""
    from trigdeploy.csim.run import prebuild, saved_outputs
    from trigdeploy.models import registry
    from trigdeploy.simulators import SIMULATORS
    from trigdeploy.simulators import missing as missing_simulator

    out: dict[str, dict[str, np.ndarray]] = {}
    for kind in registry.KINDS.values():
        pred = layout.predictions(kind.name)
        if pred.is_file():
            out.setdefault(kind.name, {})[kind.label] = np.load(pred)["test"].astype(np.float64)
    for model, entry in manifest.models.items():
        if "onnx" in entry:
            from trigdeploy.convert.to_onnx import onnx_logits

            out[model]["ONNX Runtime"] = probabilities(onnx_logits(manifest.export_dir / entry["onnx"]["file"], x_test))
    saved = {p.name: saved_outputs(layout, manifest, p.name) for p in manifest.projects}
    unsaved = [p for p in manifest.projects if saved[p.name] is None and not missing_simulator(p.simulator)]
    prebuild(  # what csim has not simulated is built here first, side by side, as csim would
        [
            (SIMULATORS[p.simulator].prebuild, layout.project(p.name))
            for p in unsaved
            if SIMULATORS[p.simulator].prebuild
        ],
        layout.csim_cache,
    )
    for p in manifest.projects:
        inputs, ref = manifest.reference(p)
        if p.reference_form and p.reference_form not in out[p.model]:  # one reference for all backends
            out[p.model][p.reference_form] = probabilities(ref)
        logits = saved[p.name]
        why = missing_simulator(p.simulator) if logits is None else None
        if why:
            logger.warning(f"bench: {p.name} not simulated: {why}")
            continue
        if logits is None:  # csim has not run on this export: simulate here
            sim = SIMULATORS[p.simulator]
            logits = sim.run(layout.project(p.name), layout.csim_cache, inputs, p.exact, threads, "fast")[0]
        out[p.model][p.form] = probabilities(as_logits(logits, len(inputs)))
    return out


def roc_plot(
    y: np.ndarray, scores: dict[str, dict[str, np.ndarray]], path: Path, title: str, classes: list[str] | None = None
) -> None:
    """Background rejection 1/εB (log) against signal efficiency εS for every model and form, with the 95 %
    band of each model's first form; K classes (``classes``): one panel per class, that class against all
    the others."""
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
                if j == 0:  # the model's first form: the 95 % band of its 1/εB (background counts)
                    _band(ax, tpr[keep], fpr[keep], int(np.sum(~np.asarray(truth, bool))), f"C{i}")
                ax.plot(
                    tpr[keep],
                    1.0 / fpr[keep],
                    styles[j % len(styles)],
                    color=f"C{i}",
                    lw=1.4,
                    label=f"{model} · {form} (AUC {roc_auc(truth, s):.4f})",
                )
        ax.set_yscale("log")
        ax.set_xlabel(f"{sig} efficiency $\\varepsilon_S$")
        ax.set_ylabel(f"{bkg} rejection $1/\\varepsilon_B$")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3, which="both")
        ax.set_title(title if column is None else f"{sig} vs the rest")
        ax.legend(fontsize=7, loc="upper right")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if classes:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _band(ax, tpr: np.ndarray, fpr: np.ndarray, n_background: int, color: str) -> None:
    """Clopper–Pearson 95 % band of 1/εB along a ROC curve (the background events passing each point)."""
    lo, hi = clopper_pearson_band(np.rint(fpr * n_background), n_background)
    upper = np.where(lo > 0, 1.0 / np.maximum(lo, 1e-300), np.nan)  # unbounded where no event passes
    ax.fill_between(tpr, 1.0 / hi, upper, color=color, alpha=0.12, lw=0)


def confusion_plot(report: dict[str, dict[str, dict]], path: Path, title: str) -> None:
    """The test confusion matrix of every model's last form (the firmware's simulation where there is
    one), one panel per model."""
    last = {model: list(by_form.items())[-1] for model, by_form in report.items()}
    panels = {f"{model} · {form}": f for model, (form, f) in last.items()}
    plots.confusion(panels, next(iter(panels.values()))["classes"], path, title)
