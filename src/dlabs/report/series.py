"""Plots of forecasts of a time series: actual against forecasts, error over time, per-fold
scores of a walk-forward backtest, and a forecast with its uncertainty band.

Every function takes arrays and a path, writes one PNG with the Agg backend and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlabs.report.plots import pyplot, save


def actual_vs_forecasts(dates, actual, forecasts: dict[str, np.ndarray], path: Path, title: str, ylabel: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(dates, actual, "k-o", ms=3, lw=2, label="actual")
    for name, f in forecasts.items():
        ax.plot(dates, f, "-", marker=".", lw=1.2, label=name)
    ax.set(title=title, ylabel=ylabel)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return save(fig, path)


def error_over_time(dates, actual, forecasts: dict[str, np.ndarray], path: Path, title: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, f in forecasts.items():
        err = np.asarray(f) - np.asarray(actual)
        ax.plot(dates, err, marker=".", lw=1, label=f"{name} (RMSE {np.sqrt(np.mean(err ** 2)):.2f})")
    ax.axhline(0, color="k", lw=1)
    ax.set(title=title, ylabel="forecast - actual")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return save(fig, path)


def fold_scores(folds: list[dict], names: list[str], path: Path, metric: str = "rmse", title: str = "") -> Path:
    """Grouped bars: one group per fold (``fold["label"]``), one bar per name (``fold[name]``)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(folds) + 2), 4.2))
    width = 0.8 / max(1, len(names))
    x = np.arange(len(folds))
    for i, name in enumerate(names):
        ax.bar(x + i * width - 0.4 + width / 2, [f.get(name, np.nan) for f in folds], width, label=name)
    ax.set_xticks(x, [str(f["label"]) for f in folds])
    ax.set(ylabel=metric, title=title or f"{metric} per fold")
    ax.legend(fontsize=8)
    return save(fig, path)


def forecast_band(hist_dates, hist_values, dates, forecast, low, high, path: Path, title: str, ylabel: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(hist_dates, hist_values, "k-", lw=1.5, label="history")
    ax.plot(dates, forecast, "C0-o", ms=4, label="forecast")
    ax.fill_between(dates, low, high, color="C0", alpha=0.25, label="90% band")
    ax.set(title=title, ylabel=ylabel)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return save(fig, path)
