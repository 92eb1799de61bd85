"""Plots of review (text) data for the imdb lab.

Every function takes arrays and a path, writes one PNG with the Agg backend and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlabs.report.plots import pyplot, save


def length_by_class(lengths: np.ndarray, y: np.ndarray, labels, path: Path, split: str) -> Path:
    """Overlaid histograms of document length (tokens) per class, up to the 99th percentile."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.linspace(0, np.percentile(lengths, 99), 60)
    for c, label in enumerate(labels):
        ax.hist(lengths[y == c], bins=bins, alpha=0.55, label=label)
    ax.set(xlabel="tokens per review", ylabel="reviews", title=f"review length by class ({split})")
    ax.legend()
    return save(fig, path)
