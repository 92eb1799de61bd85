"""The agegender networks: a trunk (the manual's CNN or a VGG-style one with batch norm) under two
heads, gender and age, the age either one number in years or a distribution over 0..100 (DLDL)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dlabs.data.utkface import MAX_AGE
from dlabs.errors import DlabsError
from dlabs.models.cnn import Standardize, _conv_bn
from dlabs.models.face import manual_face_trunk

AGE_SCALE = 20.0  # years; about the spread of UTKFace ages, so the age loss weighs like the gender loss


class TwoHeads(nn.Module):
    """A trunk, then one linear layer giving [gender logit, age] (regression: age in years) or
    [gender logit, 101 age logits] (dldl)."""

    def __init__(self, trunk: nn.Module, features: int, age_out: int, age_mean: float, dropout: float):
        super().__init__()
        self.trunk, self.drop, self.head = trunk, nn.Dropout(dropout), nn.Linear(features, 1 + age_out)
        self.register_buffer("age_mean", torch.tensor(float(age_mean)))

    def forward(self, x):
        out = self.head(self.drop(self.trunk(x)))
        if out.shape[1] == 2:  # regression: the head predicts the standardised age
            out = torch.cat([out[:, :1], out[:, 1:] * AGE_SCALE + self.age_mean], 1)
        return out


def decode(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """P(female) and age in years from the network's output."""
    if out.shape[1] == 2:
        return torch.sigmoid(out[:, 0]), out[:, 1].clamp(0, MAX_AGE)
    ages = torch.arange(out.shape[1] - 1, dtype=out.dtype, device=out.device)
    return torch.sigmoid(out[:, 0]), (torch.softmax(out[:, 1:], 1) * ages).sum(1)


class TwoHeadLoss(nn.Module):
    """Binary cross-entropy on gender + `weight` x the age loss (in units of AGE_SCALE years)."""

    def __init__(self, age_loss: str, weight: float, sigma: float):
        super().__init__()
        if age_loss not in ("mse", "l1", "smooth_l1", "dldl"):
            raise DlabsError(f"age_loss={age_loss}: expected mse, l1, smooth_l1 or dldl")
        self.age_loss, self.weight, self.sigma = age_loss, weight, sigma

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        gender = F.binary_cross_entropy_with_logits(out[:, 0], target[:, 0])
        age = target[:, 1]
        if self.age_loss == "dldl":
            ages = torch.arange(out.shape[1] - 1, dtype=out.dtype, device=out.device)
            q = torch.softmax(-0.5 * ((ages - age[:, None]) / self.sigma) ** 2, 1)  # a normalised Gaussian
            logp = torch.log_softmax(out[:, 1:], 1)
            # cross-entropy to the label distribution, plus L1 on its expectation (DLDL-v2)
            loss = -(q * logp).sum(1).mean() + ((logp.exp() * ages).sum(1) - age).abs().mean() / AGE_SCALE
        else:
            fn = {"mse": F.mse_loss, "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss}[self.age_loss]
            loss = fn(out[:, 1] / AGE_SCALE, age / AGE_SCALE)
        return gender + self.weight * loss


def build_trunk(m, size: int, mean, std) -> tuple[nn.Module, int]:
    """(trunk from raw uint8 pixels to a feature vector, its width) for the lab's model config `m`."""
    if m.kind == "manual_cnn":
        return manual_face_trunk(mean, std, size, m.dropout), 512
    if m.kind == "facenet":
        layers, c = [Standardize(mean, std)], 3
        for k, width in enumerate(m.widths):
            for j in range(m.depth):
                conv = _conv_bn(c, width)
                if k == 0 and j == 0:  # stride-2 stem: a quarter of the cost at full resolution
                    conv[0] = nn.Conv2d(c, width, 3, stride=2, padding=1, bias=False)
                layers += conv
                c = width
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), c
    raise DlabsError(f"model.kind={m.kind}: expected manual_cnn or facenet")
