"""Predict input and output at the edge: the one place where ``-`` means standard input, where a
path is read, and where the files a prediction makes are written."""

from __future__ import annotations

import json
import math
from pathlib import Path

from dlabs.errors import InputError, printable


def read_inputs(kind: str, inputs=(), files=()) -> list[tuple[str, str | bytes]]:
    """``(name, text or bytes)`` for each input: the one place where ``-`` means standard input
    and where a path is read."""
    import sys

    out = []
    for item in inputs:
        if isinstance(item, bytes):
            out.append(("input", item))
        elif str(item) == "-":
            data = sys.stdin.buffer.read()
            if not data.strip():
                raise InputError("no input on standard input")
            out.append(("stdin", data))
        elif isinstance(item, Path) or kind in ("image", "csv") or (kind == "tabular" and _looks_like_path(item)):
            out.append((printable(str(item)), _read_file(item)))
        else:
            out.append(("text", printable(item)))  # an undecodable argument arrives with lone surrogates
    out += [(printable(str(f)), _read_file(f)) for f in files]
    return out


def predict_model(model, request) -> list[dict]:
    """The one way the command line and the web app call a lab's `predict`: the options checked
    first, and a result holding a non-finite number refused rather than shown as a prediction."""
    model.lab.check_options(model.state, request.options)
    predictions = model.lab.predict(model, request)
    try:  # JSON's own check is quick on 100,000 predictions; the walk below names the value
        json.dumps(predictions, allow_nan=False, default=_json_value)
    except (ValueError, TypeError):
        _check_finite(predictions, "prediction")
    return predictions


def _json_value(value):
    import numpy as np

    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else None  # an `Output`: no numbers


def _check_finite(value, where: str) -> None:
    import numpy as np

    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_finite(v, where)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "fc" and not np.isfinite(value).all():
        _check_finite(float(value[~np.isfinite(value)].ravel()[0].real), where)
    elif isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise InputError(f"the model's {where} for this input is {float(value)}, not a number it can give; "
                         "the input lies far outside what it was trained on")


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and not text.lstrip().startswith(("{", "[")) and len(text) < 4096


def _read_file(path) -> bytes:
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror or e})") from None


def save_outputs(predictions: list[dict], outdir) -> list[dict]:
    """The predictions with each `Output` written into `outdir` (never over an existing file)
    and replaced by its path."""
    from dlabs.labs.base import Output
    from dlabs.paths import atomic_write

    outdir = Path(outdir).expanduser()
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"--out {outdir}: is a file, not a folder")

    def save(value):
        if isinstance(value, Output):
            try:
                outdir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise InputError(f"--out {outdir}: cannot make the folder ({e.strerror or e})") from None
            stem, suffix = Path(value.name).stem, Path(value.name).suffix
            path, i = outdir / value.name, 1
            while path.exists():
                path, i = outdir / f"{stem}-{i}{suffix}", i + 1
            atomic_write(path, value.data)
            return str(path)
        if isinstance(value, dict):
            return {k: save(v) for k, v in value.items()}
        if isinstance(value, list):
            return [save(v) for v in value]
        return value

    return save(predictions)


def split_options(tokens: list[str]) -> tuple[list[str], dict[str, str]]:
    """Command-line predict arguments as (inputs, ``--name value`` options); an option given
    twice (in any case) is an error. An option with no value (the last argument, or followed by
    another option) is a switch: ``--explain`` is ``--explain true``."""
    items, options, i = [], {}, 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            key, eq, value = tok[2:].partition("=")
            if not eq:
                switch = i + 1 >= len(tokens) or (tokens[i + 1].startswith("--") and len(tokens[i + 1]) > 2)
                value, i = ("true", i) if switch else (tokens[i + 1], i + 1)
            if key.lower() in {k.lower() for k in options}:
                raise InputError(f"--{key} given twice")
            options[key] = value
        else:
            items.append(tok)
        i += 1
    return items, options


def check_image(data: bytes, name: str) -> None:
    """An uploaded image checked before a lab sees it, by the same reader, limits and messages as
    every lab's `predict` (the web app's early check)."""
    from dlabs.data.images import check_image as check

    check(data, name)
