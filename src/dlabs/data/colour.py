"""sRGB <-> CIELAB (D65 white, 2-degree observer) in torch, and the image-quality measures of a colorizer.

Tensors are channel-first, ``(..., 3, H, W)``: sRGB in [0, 1], L in [0, 100], a and b roughly
in [-110, 110]. `lab_to_rgb` clips to the sRGB gamut. The measures follow their papers: PSNR on
8-bit RGB; SSIM (Wang et al. 2004) with the 11x11 Gaussian window of sigma 1.5, K1 0.01, K2 0.03,
on each RGB channel and averaged; colourfulness M = sigma_rgyb + 0.3 mu_rgyb (Hasler and
Suesstrunk 2003) on 0..255 RGB; hue agreement (`hue_hits`), whether the colours are the right ones.
Also the "colour by brightness" baseline: the mean ab of training pixels at each lightness level.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

_M = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                   [0.2126729, 0.7151522, 0.0721750],
                   [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
_M_INV = torch.linalg.inv(_M)  # once, not per call (and a constant an ONNX export can hold)
_WHITE = (0.95047, 1.0, 1.08883)
_D = 6 / 29


def _mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,...jhw->...ihw", m.to(x.dtype), x)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp(min=0) + 0.055) / 1.055) ** 2.4)
    xyz = _mix(_M, lin) / torch.tensor(_WHITE, dtype=rgb.dtype).view(3, 1, 1)
    f = torch.where(xyz > _D ** 3, xyz.clamp(min=1e-12) ** (1 / 3), xyz / (3 * _D ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], -3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], -3)
    xyz = torch.where(f > _D, f ** 3, 3 * _D ** 2 * (f - 4 / 29)) * torch.tensor(_WHITE, dtype=lab.dtype).view(3, 1, 1)
    lin = _mix(_M_INV, xyz).clamp(0, 1)
    return torch.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055).clamp(0, 1)


def to_uint8(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb * 255).round().clamp(0, 255).to(torch.uint8)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image PSNR in dB of uint8 (N, 3, H, W) images."""
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(255.0 ** 2 / mse.clamp(min=1e-10))


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image SSIM of uint8 (N, 3, H, W) images: the Gaussian 11x11 (sigma 1.5) window, valid region only."""
    g = torch.exp(-(torch.arange(11, dtype=torch.float64) - 5) ** 2 / (2 * 1.5 ** 2))
    g = (g / g.sum()).float()
    x, y = x.float(), y.float()  # float32 is exact enough here: errors ~1e-3 on variances of ~10^3
    maps = torch.cat([x, y, x * x, y * y, x * y], 1)  # the window is separable: two 1-D passes over all five
    k = maps.shape[1]
    maps = F.conv2d(F.conv2d(maps, g.view(1, 1, 11, 1).expand(k, 1, 11, 1), groups=k),
                    g.view(1, 1, 1, 11).expand(k, 1, 1, 11), groups=k)
    mx, my, xx, yy, xy = maps.chunk(5, 1)
    vx, vy, cxy = xx - mx ** 2, yy - my ** 2, xy - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.flatten(1).double().mean(1)


def colourfulness(x: torch.Tensor) -> torch.Tensor:
    """Per image colourfulness (Hasler and Suesstrunk 2003) of uint8 (N, 3, H, W) images."""
    r, g, b = x.double().unbind(1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    sigma = (rg.var(1, correction=0) + yb.var(1, correction=0)).sqrt()
    mu = (rg.mean(1) ** 2 + yb.mean(1) ** 2).sqrt()
    return sigma + 0.3 * mu


HUE_CHROMA, HUE_MIN_CHROMA, HUE_DEGREES = 15.0, 5.0, 45.0
HUE_AGREEMENT = (f"hue agreement: among the pixels whose original Lab chroma is above {HUE_CHROMA:g}, the share whose "
                 f"coloured pixel has chroma above {HUE_MIN_CHROMA:g} and a hue within {HUE_DEGREES:g} degrees of the "
                 "original's (pooled over the photos' pixels; grey scores 0)")


def hue_hits(x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image (agreeing pixels, chromatic pixels) of uint8 outputs `x` against originals `y`
    (N, 3, H, W): the one definition of hue agreement (`HUE_AGREEMENT`); its share is their ratio."""
    hits, chromatic = [], []
    for i in range(0, len(x), batch):  # float Lab of a few hundred photos at once would take gigabytes
        p, o = (rgb_to_lab(t[i:i + batch].float() / 255)[:, 1:] for t in (x, y))
        mask = o.norm(dim=1) > HUE_CHROMA
        cos = (p * o).sum(1) / (p.norm(dim=1) * o.norm(dim=1)).clamp(min=1e-9)  # cosine of the hue difference
        agree = mask & (p.norm(dim=1) > HUE_MIN_CHROMA) & (cos >= np.cos(np.radians(HUE_DEGREES)) - 1e-6)
        hits.append(agree.flatten(1).sum(1))
        chromatic.append(mask.flatten(1).sum(1))
    return torch.cat(hits).double(), torch.cat(chromatic).double()


def hue_agreement(x: torch.Tensor, y: torch.Tensor) -> float:
    hits, chromatic = hue_hits(x, y)
    return float(hits.sum() / chromatic.sum().clamp(min=1))


def scores(outputs: torch.Tensor, originals: torch.Tensor) -> dict:
    """Per image measures of uint8 outputs (N, 3, H, W) against their originals."""
    hits, chromatic = hue_hits(outputs, originals)
    return {"psnr": psnr(outputs, originals), "ssim": ssim(outputs, originals),
            "colorfulness": colourfulness(outputs), "colorfulness_original": colourfulness(originals),
            "hue_hits": hits, "hue_pixels": chromatic}


def summarise(per_set: dict[str, dict]) -> dict[str, float]:
    """Means of `scores` over all photos (and per set), colourfulness as a ratio of means, hue
    agreement as the share of all chromatic pixels."""
    def measures(s: dict, suffix: str = "") -> dict:
        return {f"psnr{suffix}": s["psnr"].mean(), f"ssim{suffix}": s["ssim"].mean(),
                f"colorfulness_ratio{suffix}": s["colorfulness"].mean() / s["colorfulness_original"].mean(),
                f"hue_agreement{suffix}": s["hue_hits"].sum() / s["hue_pixels"].sum().clamp(min=1)}

    out = measures({k: torch.cat([s[k] for s in per_set.values()]) for k in next(iter(per_set.values()))})
    for name, s in per_set.items():
        out.update(measures(s, f"_{name}"))
    return {k: round(float(v), 4) for k, v in out.items()}


def score_sets(outputs: dict[str, torch.Tensor], originals: dict) -> dict[str, float]:
    """`summarise` of uint8 outputs (N, 3, H, W) against the original photos (N, H, W, 3) of each set."""
    return summarise({name: scores(out, torch.from_numpy(np.ascontiguousarray(originals[name])).permute(0, 3, 1, 2))
                      for name, out in outputs.items()})


LEVELS = 101  # lightness levels of the baseline's table: L rounded to an integer, 0..100


def fit_lightness_table(photo_batches) -> torch.Tensor:
    """The "colour by brightness" baseline fitted on training photos: (LEVELS, 2) mean ab of their
    pixels at each rounded L; a level no training pixel has takes its nearest level's colour."""
    total, count = torch.zeros(LEVELS, 2, dtype=torch.float64), torch.zeros(LEVELS, dtype=torch.float64)
    for photos in photo_batches:  # uint8 (N, H, W, 3), a batch at a time
        lab = rgb_to_lab(torch.from_numpy(np.ascontiguousarray(photos)).permute(0, 3, 1, 2).float() / 255)
        level = lab[:, 0].round().long().clamp(0, LEVELS - 1).flatten()
        count += torch.bincount(level, minlength=LEVELS).double()
        for c in (0, 1):
            total[:, c] += torch.bincount(level, lab[:, c + 1].flatten().double(), minlength=LEVELS)
    seen = torch.nonzero(count > 0).flatten()
    if not len(seen):
        raise ValueError("no training pixels to fit the lightness table on")
    nearest = seen[(torch.arange(LEVELS)[:, None] - seen[None]).abs().argmin(1)]
    return (total[nearest] / count[nearest, None]).float()


def colour_by_lightness(table: torch.Tensor, photos: np.ndarray, batch: int = 64) -> torch.Tensor:
    """uint8 photos (N, H, W, 3) turned grey and coloured with the table's ab of each pixel's L, uint8 (N, 3, H, W)."""
    out = []
    for i in range(0, len(photos), batch):
        rgb = torch.from_numpy(np.ascontiguousarray(photos[i:i + batch])).permute(0, 3, 1, 2).float() / 255
        L = rgb_to_lab(rgb)[:, :1]
        ab = table[L[:, 0].round().long().clamp(0, LEVELS - 1)].permute(0, 3, 1, 2)
        out.append(to_uint8(lab_to_rgb(torch.cat([L, ab], 1))))
    return torch.cat(out)
