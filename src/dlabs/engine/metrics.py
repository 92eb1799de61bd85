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


def classification(y_true, proba) -> dict[str, float]:
    """Accuracy and macro F1 from class probabilities (N, C), or P(positive) (N,) for two classes;
    binary problems also get precision, recall and ROC AUC of the positive class."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    y_true = np.asarray(y_true).ravel()
    proba = np.asarray(proba, dtype=float)
    binary = proba.ndim == 1 or proba.shape[1] == 1
    y_pred = (proba.ravel() >= 0.5).astype(int) if binary else proba.argmax(1)
    out = {"accuracy": float((y_pred == y_true).mean())}
    if binary:
        out.update(precision=float(precision_score(y_true, y_pred, zero_division=0)),
                   recall=float(recall_score(y_true, y_pred, zero_division=0)),
                   f1=float(f1_score(y_true, y_pred, zero_division=0)),
                   auc=float(roc_auc_score(y_true, proba.ravel())) if len(set(y_true)) == 2 else float("nan"))
    else:
        out["f1"] = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
    return out


def per_class(y_true, y_pred, labels: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class, keyed by label."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=range(len(labels)), zero_division=0)
    return {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)}


def forecast(y_true, y_pred, y_prev) -> dict[str, float]:
    """Point forecasts of a series: RMSE, MAE, MAPE (in percent) and direction accuracy, the share
    of steps where the forecast moves from the previous actual value `y_prev` the way the series
    did (a forecast of no change counts as wrong)."""
    y_true, y_pred, y_prev = (np.asarray(a, dtype=float).ravel() for a in (y_true, y_pred, y_prev))
    point = regression(y_true, y_pred)
    return {
        "rmse": point["rmse"],
        "mae": point["mae"],
        "mape": float(100 * np.mean(np.abs(y_pred - y_true) / np.abs(y_true))),
        "direction_accuracy": float(np.mean(np.sign(y_pred - y_prev) == np.sign(y_true - y_prev))),
    }


def diebold_mariano(err_a, err_b) -> float:
    """Two-sided p-value that one-step forecasts with errors `err_a` and `err_b` are equally accurate
    in squared error (Diebold-Mariano, normal approximation): a small value means a real difference."""
    import math

    d = np.asarray(err_a, dtype=float) ** 2 - np.asarray(err_b, dtype=float) ** 2
    sd = d.std(ddof=1) if len(d) > 1 else 0.0
    if sd == 0:
        return 1.0
    return float(math.erfc(abs(d.mean() / (sd / math.sqrt(len(d)))) / math.sqrt(2)))
