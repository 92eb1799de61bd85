"""Keras' default initialisation for PyTorch modules, for the presets that reproduce Keras code.

Keras' Dense and Conv2D start with Glorot-uniform kernels (bound sqrt(6 / (fan_in + fan_out)))
and zero biases; PyTorch's Linear and Conv2d draw both from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
The starting point matters for small data (boston's 383 fitting rows), so the `manual` presets
set ``model.init=keras``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlabs.errors import DlabsError

INITS = ("torch", "keras")


@torch.no_grad()
def initialise(model: nn.Module, how: str = "torch") -> nn.Module:
    """`model` with its kernels and biases re-drawn as `how` says (``torch`` leaves them as built)."""
    if how not in INITS:
        raise DlabsError(f"model.init={how}: expected one of {', '.join(INITS)}")
    if how == "torch":
        return model
    from dlabs.models.mlp import EnsembleMLP

    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)  # fans of a conv include its kernel area, as in Keras
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, EnsembleMLP):  # weights (members, in, out): each member its own Glorot draw
            for w, b in zip(m.weights, m.biases):
                bound = math.sqrt(6.0 / (w.shape[1] + w.shape[2]))
                w.uniform_(-bound, bound)
                b.zero_()
    return model
