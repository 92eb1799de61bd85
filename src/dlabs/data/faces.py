"""The face pipeline shared by the `faces` and `agegender` labs: find the one face in a photo and
crop it the way the training images are framed.

Detection uses OpenCV's frontal-face Haar cascade, whose model file ships inside the
`opencv-python-headless` wheel, so nothing is downloaded. Training sets such as LFW and UTKFace
are already cropped around a face; `Framing.calibrate` runs the same detector over a sample of
them and records, relative to the detected box, where the training crop lies (its centre and
side). `crop_face` then cuts a photo a person hands to `predict` the same way, so the model sees
what it was trained on. The framing is part of a lab's fitted state and is saved with the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from dlabs.errors import DataError, InputError

MIN_FACE = 24  # pixels: smaller detections are noise, and a face this small has nothing to learn from
MIN_SIDE = 32  # an image smaller than this on either side cannot hold a usable face
DETECT_SIDE = 640  # photos are scaled down to at most this before detection (speed); boxes are scaled back


@lru_cache(maxsize=1)
def _cascade():
    try:
        import cv2
    except ImportError:
        raise DataError("the face detector needs OpenCV: pip install 'opencv-python-headless<5'") from None
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise DataError(f"{path}: OpenCV's bundled face cascade is missing; reinstall opencv-python-headless<5")
    return cascade


def detect(rgb: np.ndarray, min_face: int = MIN_FACE) -> np.ndarray:
    """Face boxes (x, y, w, h) in pixels of `rgb` (H, W, 3 uint8), largest first."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    grey = cv2.equalizeHist(grey)
    side = max(min(grey.shape) // 8, int(min_face * scale), 12)  # faces under 1/8 of the picture are background
    boxes = _cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64) / scale
    return boxes[np.argsort(-boxes[:, 2] * boxes[:, 3])]


def on_canvas(img: np.ndarray) -> np.ndarray:
    """A square face crop centred on a canvas twice its size, filled with its mean colour, as a
    face sits in a photo."""
    side = img.shape[0]
    canvas = np.empty((2 * side, 2 * side, 3), dtype=np.uint8)
    canvas[:] = img.reshape(-1, 3).mean(0).astype(np.uint8)
    canvas[side // 2:side // 2 + side, side // 2:side // 2 + side] = img
    return canvas


@dataclass(frozen=True)
class Framing:
    """Where a training crop lies relative to a detected face box of width w: centre offset
    (dx, dy) in units of w from the box centre, and side `scale` * w."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0

    @classmethod
    def calibrate(cls, images: np.ndarray, sample: int = 400, seed: int = 0) -> "Framing":
        """The median framing of already-cropped training images (N, S, S, 3), from the detector."""
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(images), size=min(sample, len(images)), replace=False)
        rows = []
        for i in idx:
            # Tight crops (UTKFace) leave the detector no margin, so each one is placed on a canvas.
            side = images[i].shape[0]
            boxes = detect(on_canvas(images[i]), min_face=side // 3)
            if len(boxes) != 1:
                continue
            x, y, w, _ = boxes[0]
            centre = side // 2 + side / 2  # where on_canvas put the crop's centre
            rows.append(((centre - (x + w / 2)) / w, (centre - (y + w / 2)) / w, side / w))
        if len(rows) < 20:
            raise DataError(f"the face detector found a single face in only {len(rows)} of {len(idx)} "
                            "training images; cannot calibrate the crop")
        dx, dy, scale = np.median(np.array(rows), axis=0)
        return cls(float(dx), float(dy), float(scale))

    def state(self) -> dict:
        return asdict(self)


def region(box, framing: Framing) -> tuple[int, int, int]:
    """(left, top, side) in pixels of the square that `framing` places around a detected face `box`."""
    x, y, w, _ = box
    side = framing.scale * w
    cx, cy = x + w / 2 + framing.dx * w, y + w / 2 + framing.dy * w
    return int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side))


def crop(rgb: np.ndarray, box, framing: Framing, size: int) -> np.ndarray:
    """The square region `framing` places around `box`, resized to size x size (edges replicated
    where it leaves the photo)."""
    from PIL import Image

    left, top, n = region(box, framing)
    h, wid = rgb.shape[:2]
    ys = np.clip(np.arange(top, top + n), 0, h - 1)
    xs = np.clip(np.arange(left, left + n), 0, wid - 1)
    patch = rgb[ys][:, xs]
    return np.asarray(Image.fromarray(patch).resize((size, size), Image.Resampling.BOX))


def crop_face(rgb: np.ndarray, framing: Framing, size: int, source: str = "image") -> np.ndarray:
    """The one face in a photo, cropped like the training images; an `InputError` when the photo
    is too small, or holds no face or several."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(f"{source}: image too small for a face ({w}x{h}; at least {MIN_SIDE}x{MIN_SIDE} pixels)")
    boxes = detect(rgb)
    if len(boxes) == 0:
        raise InputError(f"{source}: no face found (a frontal face of at least {MIN_FACE} pixels is needed)")
    if len(boxes) > 1:
        # a much smaller second detection is background (a poster, a crowd); two similar faces are ambiguous
        if boxes[1, 2] * boxes[1, 3] > 0.25 * boxes[0, 2] * boxes[0, 3]:
            raise InputError(f"{source}: {len(boxes)} faces found; crop the photo to one person")
    return crop(rgb, boxes[0], framing, size)


def crop_photos(photos, framing: Framing, size: int) -> np.ndarray:
    """The one face of each photo (N, size, size, 3), framed like the training crops; an `InputError`
    names the first bad photo. A photo is a file's ``(name, bytes)`` as predict receives it (text
    typed in its place is no photo either), or a path."""
    from dlabs.data.images import load_rgb

    out = []
    for p in photos:
        name, source = p if isinstance(p, tuple) else (str(p), p)
        if isinstance(p, tuple) and isinstance(source, str):
            source = source.encode()
        out.append(crop_face(load_rgb(source, name), framing, size, name))
    return np.stack(out)
