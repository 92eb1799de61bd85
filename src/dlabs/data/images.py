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
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dlabs.errors import InputError, TooLarge

MAX_BYTES = 50 * 2**20  # a photo from any phone fits; anything larger is refused before reading
MAX_PIXELS = 50_000_000  # checked from the header, before decoding (decompression bombs)
_STRIP = 1 << 16  # pixels converted at a time, so a large photo never exists as float in memory whole


@contextmanager
def _opened(source: str | Path | bytes, name: str | None = None):
    """The PIL image of a file or its bytes, its size and pixel count checked from the header
    before anything is decoded. Every failure, then or while the caller decodes it (a truncated
    or corrupt file), is the same one-line `InputError` starting with `name` (default: the path),
    on the command line and on the web alike; size limits are `TooLarge` (HTTP 413)."""
    import io

    from PIL import Image, UnidentifiedImageError

    if isinstance(source, bytes):
        path, size, opened = name or "image", len(source), io.BytesIO(source)
    else:
        path = name or str(source)
        if not Path(source).is_file():
            raise InputError(f"{path}: no such file")
        size, opened = Path(source).stat().st_size, Path(source)
    if size == 0:
        raise InputError(f"{path}: empty file")
    limit = f"the limit is {MAX_PIXELS / 1e6:g} megapixels"
    if size > MAX_BYTES:
        raise TooLarge(f"{path}: file too large ({size / 2**20:.0f} MiB; the limit is {MAX_BYTES // 2**20} MiB)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(opened) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise TooLarge(f"{path}: image too large ({im.width}x{im.height} pixels; {limit})")
                if im.width < 1 or im.height < 1:
                    raise InputError(f"{path}: image has no pixels")
                yield im
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # a header Pillow itself refuses
        raise TooLarge(f"{path}: image too large (its header declares far more pixels; {limit})") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file (PNG, JPEG, GIF, BMP, WebP...)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # truncated or corrupt image data
        raise InputError(f"{path}: unreadable image, damaged or truncated ({e})") from None


def check_image(data: bytes, name: str) -> None:
    """Refuse what `load_rgb` and `load_grey` would refuse from the header alone (no decoding):
    the web app's early check of an upload, with the same messages."""
    with _opened(data, name):
        pass


def _deep_grey(im) -> np.ndarray | None:
    """16-bit or float grey as float32 in [0, 1], scaled by its own range rather than clipped; None otherwise."""
    if im.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        return None
    a = np.asarray(im, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _pixels(source, name) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(16-bit or float grey as float32, None) or (None, uint8 RGB (H, W, 3), or RGBA (H, W, 4) when
    the image has transparency) of any image, EXIF rotation applied (CMYK, P, LA... all converted)."""
    from PIL import ImageOps

    with _opened(source, name) as im:
        deep = _deep_grey(im)
        if deep is not None:
            return deep, None
        mode = "RGBA" if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info else "RGB"
        if im.getexif().get(0x0112, 1) != 1:  # an EXIF orientation other than upright
            im = ImageOps.exif_transpose(im)
        im = im if im.mode == mode else im.convert(mode)
        out = np.empty((im.height, im.width, len(mode)), dtype=np.uint8)
        for rows in _strips(im.height, im.width):  # copied out a strip at a time: no whole-image byte string
            out[rows] = np.asarray(im.crop((0, rows.start, im.width, rows.stop)))
        return None, out


def _strips(h: int, w: int):
    rows = max(1, _STRIP // max(w, 1))
    return (slice(r, min(h, r + rows)) for r in range(0, h, rows))


def load_grey(path: str | Path | bytes, name: str | None = None) -> np.ndarray:
    """A grey float32 image in [0, 1] from an image file or its bytes, or an `InputError` naming the problem."""
    deep, rgba = _pixels(path, name)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"
    if deep is not None:
        return np.dstack([deep, deep, deep, np.ones_like(deep)])[..., :3] @ weights
    grey = np.empty(rgba.shape[:2], dtype=np.float32)
    for rows in _strips(*grey.shape):
        part = np.ones(rgba[rows].shape[:2] + (4,), dtype=np.float32)  # RGBA, as Pillow's RGBA to float
        part[..., :rgba.shape[2]] = rgba[rows] / np.float32(255.0)
        grey[rows] = part[..., :3] @ weights
    if rgba.shape[2] == 4 and rgba[..., 3].min() < 255:
        # flatten transparency onto the background that contrasts with what is drawn
        opaque = rgba[..., 3] > 127
        ink = float(grey[opaque].mean()) if opaque.any() else 0.0
        background = 0.0 if ink > 0.5 else 1.0
        for rows in _strips(*grey.shape):
            alpha = rgba[rows, :, 3].astype(np.float32) / 255.0
            grey[rows] = alpha * grey[rows] + (1 - alpha) * background
    return grey


def load_rgb(path: str | Path | bytes, name: str | None = None) -> np.ndarray:
    """An RGB uint8 photo (H, W, 3) from an image file or its bytes; transparency flattened onto white.
    Converted a strip at a time: a 24-megapixel photo costs its uint8 pixels, not float copies."""
    deep, rgba = _pixels(path, name)
    if deep is not None:
        return np.repeat(_uint8(deep)[..., None], 3, axis=2)
    if rgba.shape[2] == 3 or rgba[..., 3].min() == 255:
        return rgba if rgba.shape[2] == 3 else np.ascontiguousarray(rgba[..., :3])
    out = np.empty(rgba.shape[:2] + (3,), dtype=np.uint8)
    for rows in _strips(*out.shape[:2]):
        part = rgba[rows].astype(np.float32) / 255.0
        alpha = part[..., 3:]
        out[rows] = _uint8(part[..., :3] * alpha + (1 - alpha))
    return out


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
    return to_28(grey, digits=True)[0]


def fashion_item(grey: np.ndarray) -> np.ndarray:
    """28x28 uint8 in Fashion-MNIST's convention: light item on black, longest side 28, centred."""
    return to_28(grey, digits=False)[0]


def to_28(grey: np.ndarray, digits: bool) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A grey image as a 28x28 uint8 input in MNIST's convention (`digits`) or Fashion-MNIST's, and
    where the image went: (sy, sx, oy, ox) such that the centre of its pixel (y, x) lands at
    ((y + .5) sy - .5 + oy, (x + .5) sx - .5 + ox) of the 28x28 input (to map a saliency map back)."""
    a = _content(light_on_dark(grey), threshold=0.1 if digits else 0.02)
    rows, cols = np.nonzero(a.any(1))[0], np.nonzero(a.any(0))[0]
    box = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    r = _resize(box, 20 if digits else 28)
    if digits:  # the digit's centre of mass at the centre
        ys, xs = np.indices(r.shape)
        mass = r.sum()
        top, left = int(round(13.5 - (ys * r).sum() / mass)), int(round(13.5 - (xs * r).sum() / mass))
    else:
        top, left = (28 - r.shape[0]) // 2, (28 - r.shape[1]) // 2
    sy, sx = r.shape[0] / box.shape[0], r.shape[1] / box.shape[1]
    return _uint8(_paste(r, top, left)), (sy, sx, top - rows[0] * sy, left - cols[0] * sx)


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
        except Exception:  # truncated (BadZipFile, EOFError), corrupt (zlib.error) or foreign: rebuilt below
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
