"""Gaussian-process regression stored as plain arrays.

`fit_gp` lets scikit-learn fit the kernel's hyperparameters by maximum likelihood: a Matern 3/2
kernel with one length scale per feature, plus white noise. `pack_gp` keeps what the predictive
mean needs (the fitting rows, their weights, the length scales) as NumPy arrays for safetensors,
and `predict_gp` evaluates it, matching scikit-learn's own prediction. A GP costs the cube of its
rows, so at most `max_rows` rows (a seeded sample) are fitted.
"""

from __future__ import annotations

import warnings

import numpy as np

SQRT3 = np.sqrt(3.0)


def fit_gp(x: np.ndarray, y: np.ndarray, seed: int, max_rows: int = 1500,
           prefix: str = "gp") -> dict[str, np.ndarray]:
    """Arrays of a GP fitted on features `x` (standardised by the caller) and targets `y`."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    if len(x) > max_rows:
        keep = np.random.default_rng(seed).choice(len(x), max_rows, replace=False)
        x, y = x[keep], y[keep]
    mean, sd = float(y.mean()), float(y.std()) or 1.0
    kernel = (ConstantKernel(1.0) * Matern(np.ones(x.shape[1]), (1e-2, 1e3), nu=1.5)
              + WhiteKernel(0.1, (1e-4, 1.0)))
    with warnings.catch_warnings():  # a length scale at its upper bound is a feature the GP finds useless
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp = GaussianProcessRegressor(kernel, n_restarts_optimizer=1, random_state=seed).fit(x, (y - mean) / sd)
    return pack_gp(gp, mean, sd, prefix)


def pack_gp(gp, mean: float = 0.0, sd: float = 1.0, prefix: str = "gp") -> dict[str, np.ndarray]:
    """Arrays of a fitted `GaussianProcessRegressor` with kernel constant * Matern(nu=1.5) + white noise,
    fitted on targets standardised as (y - mean) / sd."""
    scaled, matern = gp.kernel_.k1.k1, gp.kernel_.k1.k2
    return {f"{prefix}_x": np.asarray(gp.X_train_, np.float64), f"{prefix}_alpha": gp.alpha_.ravel(),
            f"{prefix}_length": np.atleast_1d(matern.length_scale).astype(np.float64),
            f"{prefix}_scalars": np.array([scaled.constant_value, mean, sd])}


def predict_gp(state: dict, x: np.ndarray, prefix: str = "gp") -> np.ndarray:
    """The GP's predictive mean at rows `x` (standardised like the fitting rows)."""
    from scipy.spatial.distance import cdist

    length = state[f"{prefix}_length"]
    constant, mean, sd = state[f"{prefix}_scalars"]
    r = cdist(np.asarray(x, np.float64) / length, state[f"{prefix}_x"] / length)
    k = constant * (1 + SQRT3 * r) * np.exp(-SQRT3 * r)
    return mean + sd * (k @ state[f"{prefix}_alpha"])
