"""Images that `predict` writes (a forecast plot, a coloured photo), served back by token.

A prediction value that is the path of a PNG or JPEG written during the request is read into
memory and replaced by ``/api/artifacts/<token>.<ext>``. Only those tokens can be fetched: the
URL names no path on the server, so nothing else can be reached through it. The store keeps
the most recent `capacity` images, so memory stays bounded however long the server runs.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from pathlib import Path

MAGIC = {b"\x89PNG\r\n\x1a\n": ("png", "image/png"), b"\xff\xd8\xff": ("jpg", "image/jpeg")}
MAX_BYTES = 20 * 1024 * 1024


class Artifacts:
    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._items.get(name)

    def add(self, data: bytes, ext: str, media_type: str) -> str:
        name = f"{secrets.token_urlsafe(16)}.{ext}"
        with self._lock:
            self._items[name] = (data, media_type)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return f"/api/artifacts/{name}"

    def expose(self, obj, since: float):
        """`obj` with every path of an image written since `since` replaced by its URL."""
        if isinstance(obj, dict):
            return {k: self.expose(v, since) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.expose(v, since) for v in obj]
        if isinstance(obj, str) and obj.lower().endswith((".png", ".jpg", ".jpeg")) and len(obj) < 4096:
            found = _image_file(Path(obj), since)
            if found is not None:
                return self.add(*found)
        return obj


def _image_file(path: Path, since: float) -> tuple[bytes, str, str] | None:
    try:
        st = path.stat()
        if not path.is_file() or st.st_size > MAX_BYTES or st.st_mtime < since - 1.0:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    for magic, (ext, media_type) in MAGIC.items():
        if data.startswith(magic):
            return data, ext, media_type
    return None
