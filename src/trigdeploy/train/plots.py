"""Plots shared by the training report and the benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trigdeploy.io import atomic_path


def confusion(panels: dict[str, dict], classes, path: Path, title: str | None = None) -> None:
    """One panel per entry (name → a figures dict with ``confusion_matrix`` and ``accuracy``): the test
    confusion matrix, each row as fractions of its true class, with the counts written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(classes)
    k = len(classes)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 0.4, 4.4), squeeze=False)
    for ax, (name, f) in zip(axes[0], panels.items()):
        counts = np.asarray(f["confusion_matrix"])
        frac = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if frac[i, j] > 0.5 else "black",
                )
        ax.set(
            xticks=range(k),
            yticks=range(k),
            xticklabels=classes,
            yticklabels=classes,
            xlabel="predicted (largest logit)",
            ylabel="true class",
        )
        ax.set_title(f"{name}\naccuracy {f['accuracy']:.4f}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def training_curves(history: dict[str, list[dict]], path: Path) -> None:
    """The torch models' training loss and validation AUC per epoch, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_auc) = plt.subplots(1, 2, figsize=(10, 4))
    for name, h in history.items():
        epochs = [e["epoch"] for e in h]
        ax_loss.plot(epochs, [e["train_loss"] for e in h], marker="o", label=name)
        ax_auc.plot(epochs, [e["val_auc"] for e in h], marker="o", label=name)
    ax_loss.set(xlabel="epoch", ylabel="training loss (weighted BCE; K classes: CE)")
    ax_auc.set(xlabel="epoch", ylabel="validation AUC")
    for ax in (ax_loss, ax_auc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
