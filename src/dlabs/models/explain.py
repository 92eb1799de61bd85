"""Why an image network said what it did: integrated gradients (Sundararajan, Taly and Yan 2017)
by Captum, mapped back onto the photo a person gave.

Integrated gradients sum, along the straight path from a baseline image (black, or a plain face of
the training images' mean colour) to the input, the gradient of one output (the predicted class's
logit, the gender logit, the predicted age) with respect to every pixel: each pixel's share of the
difference between the output on the input and on the baseline. Captum is an optional extra
(``pip install 'dlabs[explain]'``).

The network sees a prepared copy of the photo (a 28x28 digit, a face crop); `to_photo` maps a map
of that copy back onto the photo's own pixels, given where the photo went (a scale and an offset
per axis), so the map has the photo's size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dlabs.errors import DlabsError


def integrated_gradients(output: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, baseline: torch.Tensor,
                         steps: int = 32) -> np.ndarray:
    """Attributions (N, H, W) of `output` (a function of a float batch, one number per example) for
    the inputs `x` (N, C, H, W), summed over channels."""
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        raise DlabsError("--explain needs Captum: pip install 'dlabs[explain]' (or: pip install captum)") from None
    x = x.float().detach()
    attr = IntegratedGradients(output).attribute(x, baselines=baseline.float().expand_as(x), n_steps=steps,
                                                 internal_batch_size=steps)
    return attr.sum(1).detach().cpu().numpy()


def heat(attr: np.ndarray, signed: bool = True, blur: float = 0.0) -> np.ndarray:
    """An attribution map as 0..1: the positive part (evidence for the output) when `signed`, else
    the magnitude, smoothed by a Gaussian of `blur` pixels (pixel-level maps of photos are speckled),
    over its 99th percentile."""
    a = np.clip(attr, 0, None) if signed else np.abs(attr)
    if blur > 0:
        from scipy.ndimage import gaussian_filter

        a = gaussian_filter(a, blur)
    top = np.percentile(a, 99)
    return np.clip(a / top, 0, 1).astype(np.float32) if top > 0 else np.zeros_like(a, dtype=np.float32)


def _weights(n_out: int, scale: float, offset: float, n_in: int) -> np.ndarray:
    """(n_out, n_in) bilinear weights: output pixel i samples the map at (i + .5) * scale - .5 + offset;
    positions outside the map get nothing."""
    pos = (np.arange(n_out) + 0.5) * scale - 0.5 + offset
    lo = np.floor(pos).astype(int)
    frac = (pos - lo).astype(np.float32)
    w = np.zeros((n_out, n_in), dtype=np.float32)
    rows = np.arange(n_out)
    for idx, weight in ((lo, 1 - frac), (lo + 1, frac)):
        ok = (idx >= 0) & (idx < n_in)
        w[rows[ok], idx[ok]] = weight[ok]
    return w


def to_photo(map_: np.ndarray, shape: tuple[int, int], where: tuple[float, float, float, float]) -> np.ndarray:
    """A map (h, w) of the network's input as a map of the photo (shape H, W); `where` = (sy, sx, oy, ox):
    the photo's pixel (y, x) is at ((y + .5) sy - .5 + oy, (x + .5) sx - .5 + ox) of the input. Separable,
    so a large photo costs one H x W array."""
    sy, sx, oy, ox = where
    return _weights(shape[0], sy, oy, map_.shape[0]) @ map_ @ _weights(shape[1], sx, ox, map_.shape[1]).T
