"""Data augmentation on whole batches of image tensors, vectorised (no per-image Python loop).

`ImageAugment` is a Lab's `augment()` transform: the trainer calls it on each training batch
``(images, targets)`` after moving it to the device. Images are (N, 1, H, W), uint8 or float,
with a background of 0 (MNIST's polarity). Randomness comes from torch's global generator,
which `set_seed` seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlabs.config import option

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class AugmentConfig:
    shift: int = option(0, "random translation by up to this many pixels each way (pad with background, crop)")
    flip: bool = option(False, "random horizontal flips (clothing, not digits)")
    erase: int = option(0, "side of a square of background pasted at a random place (cutout); 0 = off")
    erase_p: float = option(0.5, "probability of the cutout per image")
    rotate: float = option(0.0, "random rotation by up to this many degrees each way, about the centre; 0 = off")
    scale: float = option(0.0, "random zoom by a factor within 1 +- this; 0 = off")


class ImageAugment:
    def __init__(self, cfg: AugmentConfig):
        self.cfg = cfg

    def __bool__(self) -> bool:
        return bool(self.cfg.shift or self.cfg.flip or self.cfg.erase or self.cfg.rotate or self.cfg.scale)

    def __call__(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        import torch
        from torch.nn import functional as F

        x, *rest = batch
        n, c, h, w = x.shape
        dev = x.device
        if self.cfg.rotate or self.cfg.scale:  # one affine resampling (float pixels out; background 0)
            angle = (torch.rand(n, device=dev) * 2 - 1) * (self.cfg.rotate * torch.pi / 180)
            zoom = 1 + (torch.rand(n, device=dev) * 2 - 1) * self.cfg.scale
            cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
            zero = torch.zeros_like(cos)
            theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
            grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
            x = F.grid_sample(x.float(), grid, align_corners=False)
        if self.cfg.shift:
            s = self.cfg.shift
            padded = F.pad(x, (s, s, s, s))
            oy, ox = (torch.randint(0, 2 * s + 1, (n, 1), device=dev) for _ in range(2))
            rows = (oy + torch.arange(h, device=dev))[:, None, :, None]
            cols = (ox + torch.arange(w, device=dev))[:, None, None, :]
            x = padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                       rows, cols]
        if self.cfg.flip:
            x = torch.where(torch.rand(n, 1, 1, 1, device=dev) < 0.5, x.flip(3), x)
        if self.cfg.erase:
            k = self.cfg.erase
            cy, cx = torch.randint(0, h, (n, 1, 1, 1), device=dev), torch.randint(0, w, (n, 1, 1, 1), device=dev)
            yy, xx = torch.arange(h, device=dev)[:, None], torch.arange(w, device=dev)[None, :]
            box = ((yy - cy).abs() <= k // 2) & ((xx - cx).abs() <= k // 2)
            box &= torch.rand(n, 1, 1, 1, device=dev) < self.cfg.erase_p
            x = x.masked_fill(box, 0)
        return (x, *rest)


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Images (N, C, H, W) moved down by `dy` and right by `dx` pixels (negative: up, left), the
    uncovered border filled with background (0)."""
    from torch.nn import functional as F

    h, w = x.shape[-2:]
    p = max(abs(dy), abs(dx))
    return F.pad(x, (p, p, p, p))[..., p - dy:p - dy + h, p - dx:p - dx + w]
