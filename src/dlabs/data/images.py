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


def _open_rgba(path: str | Path) -> np.ndarray:
    """RGBA float32 in [0, 1] from an image file (EXIF rotation applied), or a one-line `InputError`."""
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
                if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                    # 16-bit or float grey: scale to 8 bits by its own range rather than clipping
                    a = np.asarray(im, dtype=np.float32)
                    lo, hi = float(a.min()), float(a.max())
                    grey = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
                    return np.dstack([grey, grey, grey, np.ones_like(grey)])
                im = ImageOps.exif_transpose(im)
                return np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0  # CMYK, P, LA... all converted
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        kind = "not an image Pillow can read" if isinstance(e, UnidentifiedImageError) else "image too large"
        raise InputError(f"{path}: {kind}") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt image data
        raise InputError(f"{path}: unreadable image ({e})") from None


def load_grey(path: str | Path) -> np.ndarray:
    """A grey float32 image in [0, 1] from an image file, or an `InputError` naming the problem."""
    rgba = _open_rgba(path)
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"
    alpha = rgba[..., 3]
    if alpha.min() < 1.0:
        # flatten transparency onto the background that contrasts with what is drawn
        opaque = alpha > 0.5
        ink = float(grey[opaque].mean()) if opaque.any() else 0.0
        background = 0.0 if ink > 0.5 else 1.0
        grey = alpha * grey + (1 - alpha) * background
    return grey


def load_rgb(path: str | Path) -> np.ndarray:
    """An RGB uint8 photo (H, W, 3) from an image file; transparency flattened onto white."""
    rgba = _open_rgba(path)
    alpha = rgba[..., 3:]
    return _uint8(rgba[..., :3] * alpha + (1 - alpha))


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


# photo archives ----------------------------------------------------------------------------

_PHOTO = (".jpg", ".jpeg", ".png")


def read_image_archive(path: Path, size: int, crop: float = 1.0) -> tuple[list[str], np.ndarray]:
    """Every photo in a ``.tar``/``.tar.gz`` (member names sorted) as RGB uint8 (N, size, size, 3).

    `crop` keeps that central fraction of each side before resizing (area-averaging, so no
    aliasing). Members that are not photos are skipped; a photo that does not decode is a
    `DataError` naming it, as is a corrupt archive.
    """
    import tarfile
    import zlib
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    from dlabs.errors import DataError

    names, images = [], []
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members = sorted((m for m in tar if m.isfile() and m.name.lower().endswith(_PHOTO)),
                             key=lambda m: m.name)
            for m in members:
                raw = tar.extractfile(m).read()
                try:
                    with Image.open(BytesIO(raw)) as im:
                        im = im.convert("RGB")
                        w, h = im.size
                        cw, ch = w * crop, h * crop
                        box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
                        images.append(np.asarray(im.resize((size, size), Image.Resampling.BOX, box=box)))
                except (UnidentifiedImageError, OSError, ValueError) as e:
                    raise DataError(f"{path}: member {m.name} is not a readable image ({e})") from None
                names.append(m.name)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable tar archive ({e.__class__.__name__}: {e}); "
                        "it is corrupt or truncated, delete it and fetch it again") from None
    if not names:
        raise DataError(f"{path}: no photos found in the archive")
    return names, np.stack(images)


def load_image_archive(path: Path, size: int, crop: float = 1.0) -> tuple[list[str], np.ndarray]:
    """`read_image_archive` through a cache in ``$DLABS_HOME/parsed/``: decoding tens of thousands
    of JPEGs takes a while. The cache is keyed by the archive itself (name, bytes, modification
    time), the size and the crop, so every lab decoding the same file the same way shares it, and a
    re-fetched file is decoded again."""
    import io
    import logging
    import re

    from dlabs import paths

    stat = Path(path).stat()
    tag = re.sub(r"[^0-9a-zA-Z]+", "-", f"{Path(path).name}-{stat.st_size}-{stat.st_mtime_ns}")[-120:]
    cache = paths.home() / "parsed" / f"images-{tag}-{size}-{crop:g}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                return [str(n) for n in z["names"]], z["images"]
        except (OSError, ValueError, KeyError):
            logging.getLogger(__name__).warning("%s: unreadable cache, decoding the archive again", cache)
    names, images = read_image_archive(path, size, crop)
    buf = io.BytesIO()
    np.savez(buf, names=np.array(names), images=images)  # JPEG pixels barely compress; keep it fast
    paths.atomic_write(cache, buf.getvalue())
    return names, images


def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Exact per-channel mean and standard deviation of uint8 images (..., C), in 0..1, from pixel
    histograms: float32 sums over tens of millions of pixels stall (2**24) and give wrong values."""
    values = np.arange(256) / 255.0
    mean, std = [], []
    for c in range(x.shape[-1]):
        counts = np.bincount(x[..., c].ravel(), minlength=256) / x[..., c].size
        m = float(counts @ values)
        mean.append(m)
        std.append(float(np.sqrt(counts @ (values - m) ** 2)))
    return mean, std
