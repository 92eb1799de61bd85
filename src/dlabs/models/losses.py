"""Losses shared by the labs."""

from __future__ import annotations

import torch
from torch import nn


class MemberLoss(nn.Module):
    """MSE or Huber that also takes an ensemble's (K, N, out) output against (N, out) targets."""

    def __init__(self, kind: str = "mse", delta: float = 1.0):
        super().__init__()
        if kind not in ("mse", "huber"):
            from dlabs.errors import DlabsError

            raise DlabsError(f"loss={kind}: expected mse or huber")
        self.fn = nn.HuberLoss(delta=delta) if kind == "huber" else nn.MSELoss()

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.fn(out, target.expand_as(out))


class EnsembleCrossEntropy(nn.Module):
    """Cross-entropy that also takes an ensemble's (K, N, C) training output against (N,) targets."""

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if out.ndim == 3:
            out, target = out.reshape(-1, out.shape[-1]), target.repeat(out.shape[0])
        return nn.functional.cross_entropy(out, target, label_smoothing=self.label_smoothing)
