"""Galleries of coloured photos: held-out photos beside their grey input and original, and old
black-and-white photos coloured.

Every function takes uint8 RGB photos (H, W, 3) and a path, and writes one PNG with the Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlabs.report.plots import pyplot, save


def heldout_gallery(rows: list[tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """One row per (original, coloured) pair: the grey input the model saw, its colours, the original."""
    from dlabs.models.colorizer import grey_image, to_lab

    plt = pyplot()
    fig, axes = plt.subplots(len(rows), 3, figsize=(6, 2 * len(rows)), squeeze=False)
    for ax_row, (original, coloured) in zip(axes, rows):
        grey = grey_image(to_lab(original)[:, :1])[0].permute(1, 2, 0).numpy()
        for ax, im, title in zip(ax_row, (grey, coloured, original), ("grey input", "dlabs", "original")):
            ax.imshow(im)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    return save(fig, path)


def photo_gallery(photos: dict[str, np.ndarray], path: Path, cols: int = 4) -> Path:
    """The photos by name, `cols` a row."""
    plt = pyplot()
    rows = (len(photos) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, rgb) in zip(axes.flat, photos.items()):
        ax.imshow(rgb)
        ax.set_title(name, fontsize=9)
    return save(fig, path)
