"""Gradient-boosted regression trees stored as plain arrays.

scikit-learn fits the trees; `pack_boosting` flattens them into NumPy arrays that a run folder
saves with safetensors (no pickle: weights are data, not code), and `predict_boosting`
evaluates them with vectorised array walks, matching scikit-learn's own prediction.
"""

from __future__ import annotations

import numpy as np


def pack_boosting(est, prefix: str = "trees") -> dict[str, np.ndarray]:
    """Arrays of a fitted `GradientBoostingRegressor` (squared-error loss)."""
    trees = [t[0].tree_ for t in est.estimators_]
    offsets = np.cumsum([0] + [t.node_count for t in trees[:-1]])

    def shifted(children, off):  # child indices into the concatenated arrays; -1 marks a leaf
        return np.where(children == -1, -1, children + off)

    return {
        f"{prefix}_feature": np.concatenate([t.feature for t in trees]).astype(np.int64),
        f"{prefix}_threshold": np.concatenate([t.threshold for t in trees]),
        f"{prefix}_left": np.concatenate([shifted(t.children_left, o) for t, o in zip(trees, offsets)]).astype(np.int64),
        f"{prefix}_right": np.concatenate([shifted(t.children_right, o) for t, o in zip(trees, offsets)]).astype(np.int64),
        f"{prefix}_value": np.concatenate([t.value[:, 0, 0] for t in trees]),
        f"{prefix}_roots": offsets.astype(np.int64),
        f"{prefix}_scalars": np.array([float(np.ravel(est.init_.constant_)[0]), est.learning_rate]),
    }


def predict_boosting(state: dict, x: np.ndarray, prefix: str = "trees") -> np.ndarray:
    feature, threshold = state[f"{prefix}_feature"], state[f"{prefix}_threshold"]
    left, right, value = state[f"{prefix}_left"], state[f"{prefix}_right"], state[f"{prefix}_value"]
    init, rate = state[f"{prefix}_scalars"]
    # scikit-learn compares float32 inputs with float64 thresholds; do the same to agree exactly
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    rows = np.arange(len(x))[:, None]
    node = np.broadcast_to(state[f"{prefix}_roots"], (len(x), len(state[f"{prefix}_roots"]))).copy()
    while True:
        inner = left[node] != -1
        if not inner.any():
            break
        go_left = x[rows, np.where(inner, feature[node], 0)] <= threshold[node]
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)
    return init + rate * value[node].sum(axis=1)


def regression_baselines(seed: int) -> dict:
    """The regression baselines a critic asks for: the mean, linear regression, gradient-boosted trees."""
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "mean": DummyRegressor(strategy="mean"),
        "linear_regression": make_pipeline(StandardScaler(), LinearRegression()),
        "gradient_boosting": GradientBoostingRegressor(n_estimators=500, learning_rate=0.05, max_depth=3,
                                                       subsample=0.8, random_state=seed),
    }
