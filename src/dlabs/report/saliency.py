"""A saliency map drawn over the photo it explains, as PNG bytes of the photo's size: the photo in
dimmed grey, the map in colour on top, opaque where the map is strong."""

from __future__ import annotations

import io

import numpy as np


def overlay_png(photo: np.ndarray, heat: np.ndarray) -> bytes:
    """`photo` (H, W, 3) uint8 or (H, W) grey in 0..1, `heat` (H, W) in 0..1 -> PNG bytes, H x W."""
    import matplotlib
    from PIL import Image

    photo = np.asarray(photo)
    grey = photo if photo.ndim == 2 else photo.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255
    base = (0.25 + 0.5 * np.clip(grey, 0, 1))[..., None]  # dimmed, so that the colours of the map stand out
    lut = matplotlib.colormaps["inferno"](np.linspace(0, 1, 256))[:, :3].astype(np.float32)
    h = np.clip(heat, 0, 1)
    colour = lut[np.round(h * 255).astype(np.uint8)]
    alpha = (0.9 * np.sqrt(h))[..., None]
    out = base * (1 - alpha) + colour * alpha
    buf = io.BytesIO()
    Image.fromarray(np.round(out * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
