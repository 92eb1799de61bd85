"""Tabular data: readers for the housing files, seeded splits, a saved scaler, and parsing of
feature rows that a person types (flags, JSON, CSV) into a validated matrix.
"""

from __future__ import annotations

import io
import json
import math

from pathlib import Path

import numpy as np

from dlabs.data.store import fetch
from dlabs.errors import DataError, InputError

BOSTON_FEATURES = ("CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT")
CALIFORNIA_COLUMNS = ("longitude", "latitude", "housingMedianAge", "totalRooms", "totalBedrooms",
                      "population", "households", "medianIncome", "medianHouseValue")


def _loadtxt(path: Path, cols: int, **kw) -> np.ndarray:
    try:
        arr = np.loadtxt(path, **kw)
    except ValueError as e:
        raise DataError(f"{path}: not a numeric table ({e})") from None
    if arr.ndim != 2 or arr.shape[1] != cols:
        raise DataError(f"{path}: expected {cols} columns, found shape {arr.shape}")
    return arr


def load_boston() -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """(X 506x13, y MEDV in $1000s, feature names, target name) from the UCI file (no header)."""
    arr = _loadtxt(fetch("boston", "housing.data"), 14)
    return arr[:, :13], arr[:, 13], BOSTON_FEATURES, "MEDV"


def load_california() -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """(X 20640x8 raw block totals, y median house value in $, names, target) from StatLib's file."""
    arr = _loadtxt(fetch("california_housing", "cal_housing.data"), 9, delimiter=",")
    return arr[:, :8], arr[:, 8], CALIFORNIA_COLUMNS[:8], CALIFORNIA_COLUMNS[8]


def keras_split(n: int, seed: int = 113, test_split: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Keras' `boston_housing.load_data` split: shuffle 0..n-1 with `np.random.seed(seed)`, first 80% train."""
    indices = np.arange(n)
    np.random.RandomState(seed).shuffle(indices)  # identical to np.random.seed(seed); np.random.shuffle
    cut = int(n * (1 - test_split))
    return indices[:cut], indices[cut:]


def holdout(indices: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (fit, validation) with a seeded shuffle; fraction 0 gives no validation."""
    if fraction <= 0:
        return indices, indices[:0]
    perm = np.random.RandomState(seed).permutation(len(indices))
    n_val = max(1, int(round(len(indices) * fraction)))
    return indices[perm[n_val:]], indices[perm[:n_val]]


class Scaler:
    """Standardisation fitted on training rows only; its state (with the rows' range, which
    `check_range` judges new input by) is saved with the model."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, low=None, high=None):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.low, self.high = low, high

    @classmethod
    def fit(cls, x: np.ndarray) -> "Scaler":
        x = np.asarray(x, dtype=np.float64)
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 0, std, 1.0), x.min(axis=0), x.max(axis=0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z) * self.scale + self.mean

    def state(self, prefix: str) -> dict:
        out = {f"{prefix}_mean": np.atleast_1d(self.mean), f"{prefix}_scale": np.atleast_1d(self.scale)}
        if self.low is not None:
            out |= {f"{prefix}_min": np.atleast_1d(self.low), f"{prefix}_max": np.atleast_1d(self.high)}
        return out

    @classmethod
    def from_state(cls, state: dict, prefix: str) -> "Scaler":
        return cls(state[f"{prefix}_mean"], state[f"{prefix}_scale"])


def _rows_from_text(text: str, source: str) -> list[dict]:
    text = text.strip()
    if not text:
        raise InputError(f"{source}: empty input")
    if text[0] in "{[":
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise InputError(f"{source}: not valid JSON ({e})") from None
        except RecursionError:
            raise InputError(f"{source}: not a JSON object of features (nested too deeply)") from None
        rows = obj if isinstance(obj, list) else [obj]
        if not all(isinstance(r, dict) for r in rows):
            raise InputError(f"{source}: expected a JSON object of features or a list of them")
        return rows
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True)
    except Exception as e:  # pandas raises several parser error types
        raise InputError(f"{source}: not a CSV table with a header row ({e.__class__.__name__})") from None
    return frame.to_dict(orient="records")


def feature_rows(items: list[tuple[str, str | bytes]], fields: dict[str, str], names: tuple[str, ...]) -> np.ndarray:
    """Parse predict input into an (n, len(names)) float matrix, strictly.

    Forms: ``--NAME value`` flags (`fields`), and items (``(name, text or a file's bytes)``)
    holding a JSON object or list of objects, or a CSV table with a header row. Names match
    case-insensitively; a missing, unknown, non-numeric or non-finite feature is an error that
    names it (and the row).
    """
    rows: list[tuple[str, dict]] = []
    if fields:
        rows.append(("flags", fields))
    for source, data in items:
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise InputError(f"{source}: not UTF-8 text (expected JSON or CSV)") from None
        parsed = _rows_from_text(data, source)
        rows += [(f"{source} row {i + 1}" if len(parsed) > 1 else source, r) for i, r in enumerate(parsed)]
    if not rows:
        raise InputError(f"no input: give the features as flags (--{names[0]} ...), JSON, or a CSV file")
    lookup = {n.lower(): n for n in names}
    out = np.empty((len(rows), len(names)))
    for r, (where, row) in enumerate(rows):
        given = {}
        for key, value in row.items():
            canon = lookup.get(str(key).strip().lower())
            if canon is None:
                raise InputError(f"{where}: unknown feature '{key}' (expected: {', '.join(names)})")
            if canon in given:  # CRIM and crim in one object: neither silently wins
                raise InputError(f"{where}: feature {canon} given twice")
            given[canon] = value
        missing = [n for n in names if n not in given]
        if missing:
            raise InputError(f"{where}: missing feature(s) {', '.join(missing)}")
        for c, name in enumerate(names):
            if isinstance(given[name], bool):  # JSON true/false: float() would take them as 1 and 0
                raise InputError(f"{where}: feature {name} is {json.dumps(given[name])}, not a number")
            try:
                value = float(given[name])
            except (TypeError, ValueError):
                raise InputError(f"{where}: feature {name} is not a number ({given[name]!r})") from None
            if not math.isfinite(value):
                raise InputError(f"{where}: feature {name} is {given[name]!r}; a finite number is required")
            out[r, c] = value
    return out


REACH = 2.0  # input more than this many training ranges beyond the training rows is refused


def check_range(x: np.ndarray, state: dict, names, prefix: str = "x") -> list[list[str]]:
    """Notes per row of `x` for features outside the range of the training rows (the prediction
    extrapolates); a feature far outside it (`REACH` ranges beyond, or for a run saved without
    ranges 20 standard deviations from the mean) is refused: there the model says nothing."""
    mean, scale = np.asarray(state[f"{prefix}_mean"]), np.asarray(state[f"{prefix}_scale"])
    if f"{prefix}_min" in state:
        low, high = np.asarray(state[f"{prefix}_min"]), np.asarray(state[f"{prefix}_max"])
        span = np.maximum(high - low, scale)
        far, bounds = (x < low - REACH * span) | (x > high + REACH * span), (low, high)
    else:
        far, bounds = np.abs(x - mean) > 20 * scale, None
    if far.any():
        r, c = np.argwhere(far)[0]
        seen = f"{bounds[0][c]:g} to {bounds[1][c]:g}" if bounds else f"mean {mean[c]:.4g}, sd {scale[c]:.4g}"
        raise InputError(f"row {r + 1}: feature {names[c]} is {x[r, c]:g}, far outside the training rows "
                         f"({seen}); the model cannot predict there")
    if bounds is None:
        return [[] for _ in x]
    return [[f"{n} {v:g} is outside the training range {lo:g} to {hi:g}: the prediction extrapolates"
             for n, v, lo, hi in zip(names, row, *bounds) if not lo <= v <= hi] for row in x]
