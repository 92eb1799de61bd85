"""Plots that several labs draw: confusion matrix, ROC curve, predicted-vs-true scatter.

Every function takes arrays and a path, writes one PNG with the Agg backend and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix(y_true, y_pred, labels: list[str], path: Path, title: str = "confusion matrix (test split)") -> Path:
    from sklearn.metrics import confusion_matrix as cm

    plt = _plt()
    m = cm(y_true, y_pred, labels=range(len(labels)))
    size = max(5, 0.35 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(np.log1p(m), cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 12 else 0)
    ax.set_yticks(range(len(labels)), labels)
    if len(labels) <= 12:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, m[i, j], ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def roc_curve(y_true, scores, path: Path, curves: dict[str, np.ndarray] | None = None) -> Path:
    """ROC of `scores` (and of any extra named score arrays, e.g. baselines) on the same labels."""
    from sklearn.metrics import auc, roc_curve as roc

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, s in {"model": scores, **(curves or {})}.items():
        fpr, tpr, _ = roc(y_true, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test split)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
