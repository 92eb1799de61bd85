"""The registry of labs.

Each lab is one module in this package that defines a `Lab` subclass and decorates it with
`register`. Modules are discovered on first use, so adding a lab is adding a file. An unknown
name is an error that lists the valid ones; registering a name twice is an error.
"""

from __future__ import annotations

import importlib
import pkgutil

from dlabs.errors import DlabsError
from dlabs.labs.base import Baseline, Evaluation, Export, Lab, Model, Output, Request, TrainData

_LABS: dict[str, Lab] = {}
_loaded = False


def register(cls: type[Lab]) -> type[Lab]:
    if cls.name in _LABS:
        raise ValueError(f"lab {cls.name!r} registered twice")
    _LABS[cls.name] = cls()
    return cls


def _discover() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


def labs() -> dict[str, Lab]:
    _discover()
    return dict(sorted(_LABS.items()))


def get_lab(name: str) -> Lab:
    all_ = labs()
    if name not in all_:
        raise DlabsError(f"unknown lab '{name}' (labs: {', '.join(all_)})")
    return all_[name]


__all__ = ["Lab", "TrainData", "Model", "Evaluation", "Baseline", "Request", "Output", "Export", "register", "labs",
           "get_lab"]
