"""Images a person hands to `predict`, turned into what an MNIST-style model was trained on.

`load_grey` opens any file Pillow can read, safely: a missing, empty, oversized or non-image file,
or a decompression bomb, is a one-line `InputError`. Transparency is flattened onto the
background that contrasts with the drawing, EXIF rotation is applied, and the result is grey
in [0, 1]. `light_on_dark` flips dark-on-light pictures (a pen drawing, a product photo on
white) to the light-on-dark polarity of MNIST and Fashion-MNIST, judging the background by the
image border. `mnist_digit` then follows MNIST's own recipe (the digit's bounding box scaled to
fit 20x20, placed in 28x28 with its centre of mass at the centre), and `fashion_item` follows
Fashion-MNIST's (trimmed, longest side scaled to 28, centred).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from dlabs.errors import InputError

MAX_BYTES = 50 * 2**20  # a photo from any phone fits; anything larger is refused before reading
MAX_PIXELS = 50_000_000  # checked from the header, before decoding (decompression bombs)


def load_grey(path: str | Path) -> np.ndarray:
    """A grey float32 image in [0, 1] from an image file, or an `InputError` naming the problem."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file")
    if size > MAX_BYTES:
        raise InputError(f"{path}: file too large ({size / 2**20:.0f} MiB; the limit is {MAX_BYTES // 2**20} MiB)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise InputError(f"{path}: image too large ({im.width}x{im.height} pixels; "
                                     f"the limit is {MAX_PIXELS:,})")
                if im.width < 1 or im.height < 1:
                    raise InputError(f"{path}: image has no pixels")
                im = ImageOps.exif_transpose(im)
                rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        kind = "not an image Pillow can read" if isinstance(e, UnidentifiedImageError) else "image too large"
        raise InputError(f"{path}: {kind}") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt image data
        raise InputError(f"{path}: unreadable image ({e})") from None
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"
    alpha = rgba[..., 3]
    if alpha.min() < 1.0:
        # flatten transparency onto the background that contrasts with what is drawn
        opaque = alpha > 0.5
        ink = float(grey[opaque].mean()) if opaque.any() else 0.0
        background = 0.0 if ink > 0.5 else 1.0
        grey = alpha * grey + (1 - alpha) * background
    return grey


def light_on_dark(grey: np.ndarray) -> np.ndarray:
    """The image with a dark background: inverted when its border (the background) is light."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if np.median(border) > 0.5 else grey


def _content(a: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Background removed and contrast stretched, so the drawing spans 0..1."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    a = np.clip(a - np.median(border), 0, None)
    top = a.max()
    if top <= 1e-6:
        raise InputError("the image is blank: nothing stands out from the background")
    a = a / top
    return np.where(a < threshold, 0.0, a).astype(np.float32)


def _bbox(a: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(a.any(1))[0], np.nonzero(a.any(0))[0]
    return a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _resize(a: np.ndarray, longest: int) -> np.ndarray:
    from PIL import Image

    h, w = a.shape
    scale = longest / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    im = Image.fromarray(a.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(im), 0, 1)


def _paste(a: np.ndarray, top: int, left: int, size: int = 28) -> np.ndarray:
    out = np.zeros((size, size), dtype=np.float32)
    h, w = a.shape
    t0, l0 = max(0, top), max(0, left)
    t1, l1 = min(size, top + h), min(size, left + w)
    out[t0:t1, l0:l1] = a[t0 - top:t1 - top, l0 - left:l1 - left]
    return out


def _uint8(a: np.ndarray) -> np.ndarray:
    return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)


def mnist_digit(grey: np.ndarray) -> np.ndarray:
    """28x28 uint8 in MNIST's convention: light digit on black, fitted in 20x20, centred by mass."""
    a = _resize(_bbox(_content(light_on_dark(grey))), 20)
    ys, xs = np.indices(a.shape)
    mass = a.sum()
    cy, cx = (ys * a).sum() / mass, (xs * a).sum() / mass
    return _uint8(_paste(a, int(round(13.5 - cy)), int(round(13.5 - cx))))


def fashion_item(grey: np.ndarray) -> np.ndarray:
    """28x28 uint8 in Fashion-MNIST's convention: light item on black, longest side 28, centred."""
    a = _resize(_bbox(_content(light_on_dark(grey), threshold=0.02)), 28)
    h, w = a.shape
    return _uint8(_paste(a, (28 - h) // 2, (28 - w) // 2))
