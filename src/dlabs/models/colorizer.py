"""Colorizers: networks that take the lightness L of a photo and predict its ab colour channels.

Every network takes L in [0, 100] as (N, 1, H, W) (any float dtype) and returns raw output:
2 channels (ab / 110, tanh) for regression, or one logit per ab bin for classification.
`ab(x)` turns either into ab in Lab units at the input's size, which is what evaluation and
predict use.

The ab bins are a fixed 10x10 grid over [-110, 110]^2 (484 cells, the grid of Zhang, Isola and
Efros 2016; the cells outside the sRGB gamut never occur in a target, so their probability is
learned to be ~0). The read-out is their annealed mean: softmax(log p / T) weighted mean of the
cell centres; T = 1 is the mean, T -> 0 the mode, T ~ 0.38 the paper's compromise.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

AB_RANGE = 110.0
GRID = 10.0
SIDE = int(2 * AB_RANGE / GRID)  # 22 cells per axis
N_BINS = SIDE * SIDE


def bin_centres() -> torch.Tensor:
    c = torch.arange(SIDE, dtype=torch.float32) * GRID - AB_RANGE + GRID / 2
    return torch.stack(torch.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)  # (484, 2): a, b


def bin_index(ab: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) ab -> (N, H, W) index of its grid cell."""
    i = ((ab + AB_RANGE) / GRID).floor().long().clamp(0, SIDE - 1)
    return i[:, 0] * SIDE + i[:, 1]


def _conv(cin: int, cout: int, stride: int = 1, norm: bool = True) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, 3, stride, 1, bias=not norm)]
    return layers + [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)] if norm else layers + [nn.ReLU(inplace=True)]


class _Head(nn.Module):
    """Shared read-out: raw output -> ab (Lab units) at the input's size."""

    bins: int = 0
    temperature: float = 0.38

    def _lightness(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 50.0 - 1.0).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def ab(self, x: torch.Tensor) -> torch.Tensor:
        out = self(x).float()
        if self.bins:
            p = F.softmax(out / self.temperature, 1)  # log-probabilities are the logits up to a constant
            ab = torch.einsum("nkhw,kc->nchw", p, self.centres)
        else:
            ab = out * AB_RANGE
        return F.interpolate(ab, size=x.shape[-2:], mode="bilinear", align_corners=False) if ab.shape[-2:] != x.shape[-2:] else ab


class ManualColorizer(_Head):
    """The manual's encoder-decoder (Wallner's 'beta' colorizer): 3x3 convs 64/s2-128-128/s2-256-256/s2-512-512-256
    -128, up-sample, 64, up-sample, 32, tanh to 2 channels, up-sample; ReLU, no normalisation."""

    def __init__(self):
        super().__init__()
        w = [(1, 64, 2), (64, 128, 1), (128, 128, 2), (128, 256, 1), (256, 256, 2), (256, 512, 1), (512, 512, 1),
             (512, 256, 1), (256, 128, 1)]
        layers = [m for cin, cout, s in w for m in _conv(cin, cout, s, norm=False)]
        layers += [nn.Upsample(scale_factor=2), *_conv(128, 64, norm=False), nn.Upsample(scale_factor=2),
                   *_conv(64, 32, norm=False), nn.Conv2d(32, 2, 3, 1, 1), nn.Tanh(), nn.Upsample(scale_factor=2)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(self._lightness(x))


class UNet(_Head):
    """A small U-Net: `len(widths)` stages (two 3x3 conv-BN-ReLU each, halving the size between stages),
    a decoder that up-samples and concatenates the encoder's features of the same size (skip
    connections), and a 1x1 head at 1/`out_stride` of the input size: 2 channels (tanh) or `bins` logits."""

    def __init__(self, widths=(32, 64, 128, 256), bins: int = 0, out_stride: int = 1, temperature: float = 0.38):
        super().__init__()
        self.bins, self.temperature = bins, temperature
        self.down = nn.ModuleList()
        cin = 1
        for i, w in enumerate(widths):
            self.down.append(nn.Sequential(*_conv(cin, w, 1 if i == 0 else 2), *_conv(w, w)))
            cin = w
        skip = int(torch.log2(torch.tensor(out_stride)))
        self.up = nn.ModuleList()
        for w_skip in reversed(widths[skip:-1]):
            self.up.append(nn.Sequential(*_conv(cin + w_skip, w_skip), *_conv(w_skip, w_skip)))
            cin = w_skip
        self.head = nn.Conv2d(cin, bins or 2, 1)
        self.register_buffer("centres", bin_centres(), persistent=False)

    def forward(self, x):
        feats, h = [], self._lightness(x)
        for stage in self.down:
            h = stage(h)
            feats.append(h)
        for stage, skip in zip(self.up, reversed(feats[len(feats) - 1 - len(self.up):-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = stage(torch.cat([h, skip], 1))
        out = self.head(h)
        return out if self.bins else torch.tanh(out)


class ColorLoss(nn.Module):
    """Loss of raw output against targets (N, 3, H, W): a, b and each pixel's class-rebalancing weight.

    Regression: `kind` mse | l1 | huber on ab / 110 (unweighted). Classification: the weights-rebalanced
    cross-entropy over the ab grid cells (Zhang et al. 2016), targets pooled to the output's size."""

    def __init__(self, kind: str = "ce"):
        super().__init__()
        self.kind = kind

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        if target.shape[-2:] != out.shape[-2:]:
            target = F.adaptive_avg_pool2d(target, out.shape[-2:])
        ab, w = target[:, :2], target[:, 2]
        if self.kind == "ce":
            return (F.cross_entropy(out.float(), bin_index(ab), reduction="none") * w).mean()
        y = ab / AB_RANGE
        if self.kind == "mse":
            return F.mse_loss(out.float(), y)
        if self.kind == "l1":
            return F.l1_loss(out.float(), y)
        return F.smooth_l1_loss(out.float(), y, beta=0.1)
