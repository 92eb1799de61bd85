"""Metrics shared by the labs, with lower-case names (see DESIGN.md, "Benchmarks")."""

from __future__ import annotations

import numpy as np


def regression(y_true, y_pred) -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
    err = y_pred - y_true
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    return {
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1 - (err ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
    }


def mean_sd(rows: list[dict[str, float]]) -> dict[str, float]:
    """Across folds: ``<metric>`` (the mean) and ``<metric>_sd`` for every metric."""
    out = {}
    for key in rows[0]:
        values = np.array([r[key] for r in rows], dtype=float)
        out[key] = float(values.mean())
        out[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out
