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


def best_threshold(d: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold (same person at or below it) with the highest accuracy on these pairs."""
    order = np.argsort(d)
    ds, ss = d[order], same[order].astype(int)
    accepted_same = np.cumsum(ss)
    rejected_other = (len(ss) - ss.sum()) - (np.arange(1, len(ss) + 1) - accepted_same)
    best = int(np.argmax(accepted_same + rejected_other))  # accept the best+1 smallest distances
    return float((ds[best] + ds[min(best + 1, len(ds) - 1)]) / 2)


def fold_accuracies(dist: list[np.ndarray], same: list[np.ndarray]) -> dict:
    """Each fold's accuracy at the threshold chosen on the other folds; pooled ROC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    accs, thresholds = [], []
    for k in range(len(dist)):
        others = [i for i in range(len(dist)) if i != k]
        t = best_threshold(np.concatenate([dist[i] for i in others]), np.concatenate([same[i] for i in others]))
        accs.append(float(((dist[k] <= t) == same[k]).mean()))
        thresholds.append(t)
    d, s = np.concatenate(dist), np.concatenate(same)
    auc = float(roc_auc_score(s, -d))
    fpr, tpr, _ = roc_curve(s, -d)
    keep = np.unique(np.linspace(0, len(fpr) - 1, 100).round().astype(int))
    return {"accuracy": float(np.mean(accs)), "accuracy_sd": float(np.std(accs, ddof=1)), "auc": auc,
            "folds": [round(a, 4) for a in accs], "thresholds": [round(t, 4) for t in thresholds],
            "roc": {"fpr": fpr[keep].round(4).tolist(), "tpr": tpr[keep].round(4).tolist(), "auc": auc}}


def identification(y: np.ndarray, scores: np.ndarray) -> dict:
    from sklearn.metrics import f1_score

    rank = np.argsort(-scores, axis=1)
    top1 = float((rank[:, 0] == y).mean())
    return {"accuracy": top1, "identification_top1": top1,
            "identification_top5": float((rank[:, :5] == y[:, None]).any(1).mean()),
            "f1": float(f1_score(y, rank[:, 0], average="macro"))}


def most_confused(y: np.ndarray, pred: np.ndarray, labels: list[str], n: int = 10) -> list[dict]:
    pairs, counts = np.unique(np.stack([y, pred], 1)[y != pred], axis=0, return_counts=True)
    order = np.argsort(-counts)[:n]
    return [{"true": labels[pairs[i, 0]], "predicted": labels[pairs[i, 1]], "count": int(counts[i])} for i in order]


LOWER_IS_BETTER = {"rmse", "mae", "mape", "loss", "age_mae", "backtest_rmse", "eer"}


def better(metric: str, a: float, b: float) -> bool:
    """Whether `a` is a better value of `metric` than `b`."""
    return a < b if metric in LOWER_IS_BETTER or metric.endswith(("_rmse", "_mae")) else a > b


def verdict(metric: str, model: dict, baselines: dict) -> list[str]:
    """Plain sentences: does the model beat each baseline on the headline metric?"""
    out = []
    if metric not in model:
        return out
    for name, b in baselines.items():
        other = b["metrics"].get(metric)
        if other is None:
            continue
        wins = better(metric, model[metric], other)
        word = "beats" if wins else "does NOT beat"
        by = f", {abs(model[metric] - other) / abs(other):.1%} {'better' if wins else 'worse'}" if other else ""
        out.append(f"the model {word} {name} on {metric} ({model[metric]:.4g} vs {other:.4g}{by})")
    return out
