"""Files that a prediction makes (a forecast plot, a coloured photo), served back by token.

A prediction value that is an `Output` (its bytes in memory) is kept here and replaced by
``/api/artifacts/<token>.<ext>``. Only those tokens can be fetched: the URL names no path on
the server. The store keeps the most recent `capacity` files, so memory stays bounded however
long the server runs.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict


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

    def expose(self, obj):
        """`obj` with every `Output` replaced by the URL it is served at."""
        from dlabs.labs import Output

        if isinstance(obj, Output):
            ext = {"image/png": "png", "image/jpeg": "jpg"}.get(obj.media_type, "bin")
            return self.add(obj.data, ext, obj.media_type)
        if isinstance(obj, dict):
            return {k: self.expose(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.expose(v) for v in obj]
        return obj
