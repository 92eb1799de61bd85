"""Results as plain JSON values, for every file and response dlabs writes."""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any, Callable


def jsonable(obj: Any, text: Callable[[str], str] | None = None) -> Any:
    """`obj` with str keys, lists for tuples, NumPy (or torch) scalars and arrays as Python numbers and
    lists, non-finite floats as None (JSON has no NaN) and paths as str; `text` is applied to every string."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v, text) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, text) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return jsonable(obj.tolist(), text)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, str) and text is not None:
        return text(obj)
    return obj
