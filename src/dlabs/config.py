"""Frozen dataclass configs with strict dotted overrides.

Every configurable component declares its own dataclass with defaults; each field carries its
help text in ``metadata["help"]`` (use `option`). A lab's config nests them (``data``, ``model``,
``train``...). Presets are plain config values. Overrides are strings ``key.sub=value``: an
unknown key or a value of the wrong type is an error that names the key.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from dlabs.errors import DlabsError


def option(default: Any, help: str) -> Any:
    """A dataclass field with a default and its help text."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults: use a tuple")
    return dataclasses.field(default=default, metadata={"help": help})


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _parse(key: str, text: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _parse(key, text, args[0])
    if origin is tuple:
        inner = typing.get_args(kind)[0] if typing.get_args(kind) else str
        parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
        return tuple(_parse(key, p, inner) for p in parts)
    if kind is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise DlabsError(f"--set {key}={text}: expected true or false")
    if kind in (int, float):
        try:
            value = float(text) if kind is float else int(text)
        except ValueError:
            raise DlabsError(f"--set {key}={text}: expected {kind.__name__}") from None
        return value
    if kind is str:
        return text
    raise DlabsError(f"--set {key}: cannot set a field of type {kind}")


def keys(cfg: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """All dotted keys of a config with their current value and help text."""
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        name = prefix + f.name
        if dataclasses.is_dataclass(value):
            out += keys(value, name + ".")
        else:
            out.append((name, value, f.metadata.get("help", "")))
    return out


def override(cfg: Any, assignments: typing.Iterable[str]) -> Any:
    """Return `cfg` with each ``dotted.key=value`` applied, strictly."""
    for item in assignments:
        if "=" not in item:
            raise DlabsError(f"--set {item}: expected key=value")
        key, text = item.split("=", 1)
        cfg = _set(cfg, key.strip().split("."), text.strip(), key.strip())
    return cfg


def _set(cfg: Any, path: list[str], text: str, key: str) -> Any:
    names = {f.name for f in dataclasses.fields(cfg)}
    if path[0] not in names:
        valid = ", ".join(k for k, _, _ in keys(cfg))
        raise DlabsError(f"unknown config key '{key}' (valid keys: {valid})")
    current = getattr(cfg, path[0])
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise DlabsError(f"unknown config key '{key}': '{path[0]}' has no sub-keys")
        return dataclasses.replace(cfg, **{path[0]: _set(current, path[1:], text, key)})
    if dataclasses.is_dataclass(current):
        raise DlabsError(f"config key '{key}' is a section; set one of its keys")
    value = _parse(key, text, _hints(type(cfg))[path[0]])
    return dataclasses.replace(cfg, **{path[0]: value})


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a (nested) config from `to_dict` output; unknown keys are an error."""
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, kind = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(kind):
            value = from_dict(kind, value)
        elif typing.get_origin(kind) is tuple or (
            typing.get_origin(kind) is typing.Union and isinstance(value, list)
        ):
            value = tuple(value) if value is not None else None
        kwargs[f.name] = value
    extra = set(data) - {f.name for f in dataclasses.fields(cls)}
    if extra:
        raise DlabsError(f"config has unknown keys: {', '.join(sorted(extra))}")
    return cls(**kwargs)


def dumps(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2)
