"""Plots that several labs draw: confusion matrix, ROC curve, predicted-vs-true, a table's overview.

Every function takes arrays and a path, writes one PNG with the Agg backend and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    """Lay out, write as PNG (atomically: a killed run never leaves half a plot) and close a figure."""
    import io

    from dlabs.paths import atomic_write

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    atomic_write(path, buf.getvalue())
    return path


def confusion_matrix(y_true, y_pred, labels: list[str], path: Path, title: str = "confusion matrix (test split)") -> Path:
    from sklearn.metrics import confusion_matrix as cm

    plt = pyplot()
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
    return save(fig, path)


def roc_curve(y_true, scores, path: Path, curves: dict[str, np.ndarray] | None = None) -> Path:
    """ROC of `scores` (and of any extra named score arrays, e.g. baselines) on the same labels."""
    from sklearn.metrics import auc, roc_curve as roc

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, s in {"model": scores, **(curves or {})}.items():
        fpr, tpr, _ = roc(y_true, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test split)")
    ax.legend(loc="lower right")
    return save(fig, path)


def regression_scatter(y_true, y_pred, target: str, path: Path) -> Path:
    """Predicted against true, and residuals against predicted, side by side."""
    plt = pyplot()
    y_true, y_pred = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    lo, hi = min(y_true.min(), y_pred.min()), max(y_true.max(), y_pred.max())
    axes[0].scatter(y_true, y_pred, s=14, alpha=0.7)
    axes[0].plot([lo, hi], [lo, hi], "k--", lw=1)
    axes[0].set(xlabel=f"true {target}", ylabel=f"predicted {target}", title="test split: predicted vs true")
    axes[1].scatter(y_pred, y_pred - y_true, s=14, alpha=0.7)
    axes[1].axhline(0, color="k", lw=1)
    axes[1].set(xlabel=f"predicted {target}", ylabel="residual (predicted - true)", title="test split: residuals")
    return save(fig, path)


def tabular_overview(frame, target: str, outdir: Path) -> None:
    """Exploration of a table: target distribution, correlation heatmap, top features against the target."""
    plt = pyplot()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(frame[target], bins=40)
    ax.set(xlabel=target, ylabel="count", title=f"distribution of {target}")
    save(fig, outdir / "target_distribution.png")
    c = frame.corr()
    fig, ax = plt.subplots(figsize=(8, 7))
    im = ax.imshow(c, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(c)), c.columns, rotation=90)
    ax.set_yticks(range(len(c)), c.columns)
    fig.colorbar(im)
    ax.set_title("correlation")
    save(fig, outdir / "correlation_heatmap.png")
    corr = c[target].drop(target).sort_values(key=abs, ascending=False)
    top = list(corr.index[:4])
    fig, axes = plt.subplots(1, len(top), figsize=(4 * len(top), 3.6), sharey=True)
    for ax, name in zip(np.atleast_1d(axes), top):
        ax.scatter(frame[name], frame[target], s=8, alpha=0.5)
        ax.set(xlabel=f"{name} (r={corr[name]:.2f})", ylabel=target)
    fig.suptitle(f"the features most correlated with {target}")
    save(fig, outdir / "top_features_scatter.png")


def learning_curves(history, path) -> None:
    """The loss columns of a run's per-epoch history (a DataFrame) against the epoch, log scale."""
    if history.empty:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in [c for c in history.columns if c.endswith("loss")]:
        ax.plot(history["epoch"], history[c], label=c)
    ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="learning curves")
    ax.legend()
    save(fig, path)
