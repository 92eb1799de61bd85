"""Plots of gender and age from faces: the fairness table, age error by band, predicted against
true age and a gallery of test faces (from a model's test predictions), and the data's ages and
sample faces.

Every function takes arrays (and the report's tables) and a folder, and writes PNGs with the Agg
backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlabs.data.utkface import GENDERS, MAX_AGE, RACES
from dlabs.report.plots import pyplot, save


def test_plots(x: np.ndarray, gender: np.ndarray, age: np.ndarray, p_female: np.ndarray, age_pred: np.ndarray,
               tables: dict, outdir: Path) -> None:
    """fairness.png, age_error_by_band.png, age_scatter.png and gallery.png from the test faces, their
    labels, the model's predictions and the tables `dlabs.models.agegender.fairness` gives."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    groups = tables["fairness_test"]
    names = list(groups)
    for ax, key, label in ((axes[0], "gender_accuracy", "gender accuracy"), (axes[1], "age_mae", "age MAE (years)")):
        ax.barh(names, [groups[n][key] for n in names], color=["C0" if "male" == n.split()[1] else "C1" for n in names])
        ax.set(title=f"{label} by race and gender (test split)")
        ax.invert_yaxis()
    axes[0].set_xlim(min(groups[n]["gender_accuracy"] for n in names) - 0.05, 1)
    save(fig, outdir / "fairness.png")

    bands = tables["age_mae_by_band_test"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(list(bands), [b["age_mae"] for b in bands.values()])
    ax.set(title="age MAE by true age band (test split)", xlabel="age band", ylabel="MAE (years)")
    save(fig, outdir / "age_error_by_band.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(age, age_pred, s=3, alpha=0.3)
    ax.plot([0, MAX_AGE], [0, MAX_AGE], "k--", lw=1)
    ax.set(title="predicted against true age (test split)", xlabel="true age", ylabel="predicted age")
    save(fig, outdir / "age_scatter.png")

    pick = np.random.default_rng(0).choice(len(x), size=min(24, len(x)), replace=False)
    fig, axes = plt.subplots(3, 8, figsize=(13, 6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), pick):
        ax.imshow(x[i])
        said = GENDERS[int(p_female[i] >= 0.5)]
        ok = said == GENDERS[gender[i]]
        ax.set_title(f"true {GENDERS[gender[i]][0].upper()} {age[i]}\nsaid {said[0].upper()} {age_pred[i]:.0f}",
                     fontsize=8, color="black" if ok else "red")
    fig.suptitle("random test faces: true and predicted gender (M/F) and age; red = wrong gender")
    save(fig, outdir / "gallery.png")


def data_plots(x: np.ndarray, gender: np.ndarray, age: np.ndarray, race: np.ndarray, outdir: Path) -> None:
    """ages.png (ages by gender) and samples.png (16 random faces with their labels)."""
    plt = pyplot()
    outdir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist([age[gender == 0], age[gender == 1]], bins=50, stacked=True, label=GENDERS)
    ax.set(title="ages (capped at 100) by gender", xlabel="age", ylabel="faces")
    ax.legend()
    save(fig, outdir / "ages.png")
    fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
    for ax, i in zip(axes.ravel(), np.random.default_rng(0).choice(len(x), 16, replace=False)):
        ax.imshow(x[i])
        ax.set_title(f"{GENDERS[gender[i]]} {age[i]}, {RACES[race[i]]}", fontsize=7)
        ax.axis("off")
    save(fig, outdir / "samples.png")
