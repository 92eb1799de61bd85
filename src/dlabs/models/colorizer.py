"""Colorizers: networks that take the lightness L of a photo and predict its ab colour channels.

Every network takes L in [0, 100] as (N, 1, H, W) (any float dtype) and returns raw output:
2 channels (ab / 110, tanh) for regression, or one logit per ab bin for classification.
`ab(x)` turns either into ab in Lab units at the input's size, which is what evaluation and
predict use, through the one colouring path `colorize` (ab predicted at the network's size,
up-sampled and recombined with the photo's own full-resolution L).

The ab bins are a fixed 10x10 grid over [-110, 110]^2 (484 cells, the grid of Zhang, Isola and
Efros 2016; the cells outside the sRGB gamut never occur in a target, so their probability is
learned to be ~0). The read-out is their annealed mean: softmax(log p / T) weighted mean of the
cell centres; T = 1 is the mean, T -> 0 the mode, T ~ 0.38 the paper's compromise.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlabs.data import colour as C
from dlabs.errors import DlabsError

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


def rebalance(ab: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-cell weights 1 / ((1 - lam) p + lam / Q) over the Q cells seen in `ab`, E_p[w] = 1."""
    p = torch.bincount(bin_index(ab).flatten(), minlength=N_BINS).double()
    p /= p.sum()
    seen = p > 0
    w = torch.where(seen, 1 / ((1 - lam) * p + lam / seen.sum()), torch.zeros_like(p))
    return (w / (p * w).sum()).float()


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
    -128, up-sample, 64, up-sample, 32, tanh to 2 channels, up-sample; ReLU, no normalisation. `upsample` is how
    the up-sampling layers fill in pixels: Keras' UpSampling2D default (nearest) or bilinear."""

    def __init__(self, upsample: str = "nearest"):
        super().__init__()
        if upsample not in ("nearest", "bilinear"):
            raise DlabsError(f"model.upsample={upsample}: expected nearest or bilinear")
        w = [(1, 64, 2), (64, 128, 1), (128, 128, 2), (128, 256, 1), (256, 256, 2), (256, 512, 1), (512, 512, 1),
             (512, 256, 1), (256, 128, 1)]
        layers = [m for cin, cout, s in w for m in _conv(cin, cout, s, norm=False)]
        up = [nn.Upsample(scale_factor=2, mode=upsample) for _ in range(3)]
        layers += [up[0], *_conv(128, 64, norm=False), up[1], *_conv(64, 32, norm=False), nn.Conv2d(32, 2, 3, 1, 1),
                   nn.Tanh(), up[2]]
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


# colouring: one code path for evaluation, plots and predict ------------------------------------------

def to_lab(rgb: np.ndarray, size: int = 0) -> torch.Tensor:
    """uint8 (N, H, W, 3) or (H, W, 3) -> Lab float32 (N, 3, H, W), first resized to size x size if given."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).float().div(255)
    t = (t if t.ndim == 4 else t[None]).permute(0, 3, 1, 2)
    return C.rgb_to_lab(shrink(t, size) if size else t)


def shrink(x: torch.Tensor, size: int) -> torch.Tensor:
    return x if x.shape[-2:] == (size, size) else F.interpolate(x, (size, size), mode="bilinear", antialias=True,
                                                                   align_corners=False)


@torch.inference_mode()
def colorize(net, lightness: torch.Tensor, size: int, batch: int = 128) -> torch.Tensor:
    """L (N, 1, H, W) at any size -> uint8 RGB (N, 3, H, W): ab predicted at size x size (on the
    network's device), up-sampled bilinearly to H x W and recombined with the full-resolution L."""
    device = next(net.parameters(), torch.empty(0)).device
    out = []
    for i in range(0, len(lightness), batch):
        L = lightness[i:i + batch]
        ab = net.ab(shrink(L, size).to(device)).float().cpu()
        ab = F.interpolate(ab, L.shape[-2:], mode="bilinear", align_corners=False)
        out.append(C.to_uint8(C.lab_to_rgb(torch.cat([L, ab], 1))))
    return torch.cat(out)


def grey_image(lightness: torch.Tensor) -> torch.Tensor:
    """The grey baseline: L with a = b = 0, as uint8 RGB."""
    return C.to_uint8(C.lab_to_rgb(F.pad(lightness, (0, 0, 0, 0, 0, 2))))


STRIP = 1 << 16  # pixels coloured at a time: a 24-megapixel photo never exists whole as float Lab


def colour_photo(net, rgb: np.ndarray, size: int) -> np.ndarray:
    """Any uint8 RGB photo (H, W, 3) (grey or colour: turned grey first) coloured at its full
    resolution, by `colorize`'s path; a photo over `STRIP` pixels a strip of rows at a time, so its
    float copies take a few MB per strip rather than gigabytes."""
    h, w = rgb.shape[:2]
    if h * w <= STRIP:
        return colorize(net, to_lab(rgb)[:, :1], size, batch=1)[0].permute(1, 2, 0).numpy()
    strips = [slice(r, min(h, r + max(1, STRIP // w))) for r in range(0, h, max(1, STRIP // w))]
    L = torch.empty(1, 1, h, w)  # float32 lightness: the one full-size float array
    for rows in strips:
        L[:, :, rows] = to_lab(rgb[rows])[:, :1]
    device = next(net.parameters(), torch.empty(0)).device
    with torch.inference_mode():
        ab = net.ab(shrink(L, size).to(device)).float().cpu()
        ab = F.interpolate(ab, (ab.shape[2], w), mode="bilinear", align_corners=False)  # the width first
    src = ((torch.arange(h, dtype=torch.float32) + 0.5) * (ab.shape[2] / h) - 0.5).clamp(min=0)  # then the height
    lo = src.floor().long().clamp(max=ab.shape[2] - 1)
    hi, frac = (lo + 1).clamp(max=ab.shape[2] - 1), src - lo
    out = np.empty((h, w, 3), dtype=np.uint8)
    for rows in strips:
        f = frac[rows].view(1, 1, -1, 1)
        ab_rows = ab[:, :, lo[rows]] * (1 - f) + ab[:, :, hi[rows]] * f
        out[rows] = C.to_uint8(C.lab_to_rgb(torch.cat([L[:, :, rows], ab_rows], 1)))[0].permute(1, 2, 0).numpy()
    return out


def colour_sets(net, sets: dict[str, np.ndarray], size: int) -> dict[str, torch.Tensor]:
    """Each set of uint8 photos (N, H, W, 3) turned grey and coloured back, uint8 (N, 3, H, W); with
    `net` None, the grey images themselves (the baseline)."""
    out = {}
    for name, photos in sets.items():
        L = to_lab(photos)[:, :1]
        out[name] = grey_image(L) if net is None else colorize(net, L, size)
    return out
