"""The idx format of MNIST and Fashion-MNIST, read strictly into NumPy arrays.

An idx file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values. Files may be gzipped. Every way a file can
be broken (not gzip, truncated, wrong magic, a length that disagrees with the header) is a
one-line `DataError` naming the file, never a NumPy error from deep inside.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from dlabs.data.store import fetch
from dlabs.errors import DataError

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_HINT = "delete it (or the cached copy) and fetch it again: dlabs data fetch"


def _bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip data ({e}); {_HINT}") from None


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an idx file (gzipped or not), checked against its header."""
    path = Path(path)
    data = _bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES or data[3] == 0:
        raise DataError(f"{path}: not an idx file (bad magic number {data[:4].hex() or 'empty'}); {_HINT}")
    ndim, dtype = data[3], np.dtype(_TYPES[data[2]])
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated idx header; {_HINT}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"{path}: header says {'x'.join(map(str, dims))} values ({expected} bytes) but the file "
                        f"holds {len(data) - header} bytes; {_HINT}")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def load_images(dataset: str, n_classes: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images N x 28 x 28 uint8, train labels, test images, test labels) of an MNIST-style data set."""
    out = []
    for prefix in ("train", "t10k"):
        images = read_idx(fetch(dataset, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(fetch(dataset, f"{prefix}-labels-idx1-ubyte.gz"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{dataset}/{prefix}: {images.shape} images do not match {labels.shape} labels")
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise DataError(f"{dataset}/{prefix}: labels outside 0..{n_classes - 1}")
        out += [images, labels.astype(np.int64)]
    return tuple(out)
