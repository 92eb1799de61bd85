"""Plots of forecasts of a time series: actual against forecasts, error over time, and a
forecast with its uncertainty band.

The report's plots take arrays and a path, write one PNG with the Agg backend and return the
path; a prediction's plot comes back as PNG bytes.
"""

from __future__ import annotations

import io
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


def forecast_band(hist_dates, hist_values, dates, forecast, low, high, title: str, ylabel: str) -> bytes:
    """A forecast after its history, with its band, as PNG bytes (a prediction's plot, never a file)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(hist_dates, hist_values, "k-", lw=1.5, label="history")
    ax.plot(dates, forecast, "C0-o", ms=4, label="forecast")
    ax.fill_between(dates, low, high, color="C0", alpha=0.25, label="90% band")
    ax.set(title=title, ylabel=ylabel)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
