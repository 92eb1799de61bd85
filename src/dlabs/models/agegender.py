"""The agegender networks: a trunk (the manual's CNN or a VGG-style one with batch norm) under two
heads, gender and age, the age either one number in years or a distribution over 0..100 (DLDL);
how their outputs are read and scored (overall, by race and gender, by age band), and the
validation residuals that predict's age range comes from (`dlabs.data.utkface.age_range`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlabs.data.utkface import AGE_BANDS, GENDERS, MAX_AGE, RACES, band_names, band_of
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


def val_metrics(out, target) -> dict:
    """The per-epoch validation metrics of training."""
    p, age = decode(out)
    return {"gender_accuracy": ((p >= 0.5).float() == target[:, 0]).float().mean(),
            "age_mae": (age - target[:, 1]).abs().mean()}


def outputs(net: nn.Module, x: torch.Tensor, device="cpu", amp: bool = False, tta: bool = False,
            batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """P(female) and predicted age of faces (N, 3, H, W) (with `tta`, averaged with their mirror images)."""
    from dlabs.engine.trainer import TensorBatcher, predict

    none = torch.zeros(len(x))  # `predict` batches a target too
    views = [x, x.flip(3)] if tta else [x]
    runs = (decode(predict(net, TensorBatcher(v, none), device, amp, batch_size)[0]) for v in views)
    p, age = (torch.stack(t).mean(0).numpy() for t in zip(*runs))
    return p, age


def scores(p_female, age_pred, gender, age) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    p_female, age_pred = np.asarray(p_female, dtype=float), np.asarray(age_pred, dtype=float)
    err = np.abs(age_pred - age)
    return {"gender_accuracy": float(((p_female >= 0.5) == gender).mean()),
            "gender_auc": float(roc_auc_score(gender, p_female)) if len(set(gender)) == 2 else float("nan"),
            "age_mae": float(err.mean()), "age_rmse": float(np.sqrt((err ** 2).mean())),
            "age_within_5": float((err <= 5).mean())}


def fairness(p, age_pred, gender, age, race) -> dict:
    """The test tables of the report: scores by race x gender, the groups clearly worse than
    overall, and scores by true age band."""
    groups = {}
    for r, rname in enumerate(RACES):
        for g, gname in enumerate(GENDERS):
            m = (race == r) & (gender == g)
            s = scores(p[m], age_pred[m], gender[m], age[m])
            groups[f"{rname} {gname}"] = {"n": int(m.sum()), "gender_accuracy": s["gender_accuracy"],
                                          "age_mae": s["age_mae"]}
    overall = scores(p, age_pred, gender, age)
    worse = [f"{g}: gender accuracy {v['gender_accuracy']:.1%} (overall {overall['gender_accuracy']:.1%}), "
             f"age MAE {v['age_mae']:.2f} (overall {overall['age_mae']:.2f}), {v['n']} faces"
             for g, v in groups.items()
             if v["gender_accuracy"] < overall["gender_accuracy"] - 0.02 or v["age_mae"] > overall["age_mae"] + 0.5]
    bands = band_of(age)
    by_band = {n: {"n": int((bands == b).sum()), "age_mae": float(np.abs(age_pred - age)[bands == b].mean()),
                   "gender_accuracy": float(((p >= 0.5) == gender)[bands == b].mean())}
               for b, n in enumerate(band_names()) if (bands == b).any()}
    return {"fairness_test": groups, "fairness_worse_than_overall": worse, "age_mae_by_band_test": by_band}


def age_interval(age, age_pred) -> dict:
    """The 10% and 90% quantiles of (true - predicted age) per predicted-age band (the overall
    quantiles where a band holds fewer than 20 faces)."""
    resid = age - age_pred
    bands = band_of(age_pred)
    low, high = [], []
    for b in range(len(AGE_BANDS) - 1):
        r = resid[bands == b] if (bands == b).sum() >= 20 else resid
        low.append(float(np.quantile(r, 0.1)))
        high.append(float(np.quantile(r, 0.9)))
    return {"bands": list(AGE_BANDS), "low": low, "high": high, "coverage": 0.8}

