"""Keras' semantics that the `manual` presets reproduce, where dlabs' defaults differ.

`validation_rows` takes the validation share the way a lab's ``data.val_split`` says: ``seeded``
(dlabs' default: a seeded random share of the training rows) or ``last`` (Keras'
``model.fit(..., validation_split=f)``: the last ``n - floor(n * (1 - f))`` rows in their order,
cut before training and never shuffled into it).
"""

from __future__ import annotations

import math

import numpy as np

from dlabs.data import tabular
from dlabs.errors import DlabsError

SPLITS = ("seeded", "last")
VAL_SPLIT_HELP = ("how the validation share is taken: seeded (a seeded random share) | last (Keras' "
                  "validation_split: the last rows of the training split, in order, unshuffled)")


def keras_validation_split(indices: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) as Keras' `validation_split` cuts them: the first floor(n * (1 - f)) rows fit."""
    if fraction <= 0:
        return indices, indices[:0]
    if fraction >= 1:
        raise DlabsError(f"data.val_fraction={fraction}: expected a share below 1")
    cut = math.floor(len(indices) * (1.0 - fraction))
    return indices[:cut], indices[cut:]


def validation_rows(indices: np.ndarray, fraction: float, how: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices of the training split, taken as ``data.val_split`` says."""
    if how == "last":
        return keras_validation_split(indices, fraction)
    if how == "seeded":
        return tabular.holdout(indices, fraction, seed)
    raise DlabsError(f"data.val_split={how}: expected one of {', '.join(SPLITS)}")
