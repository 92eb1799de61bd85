"""Sample requests for each input kind: a good one and the bad ones a person might send.

The API and browser tests and the load benchmark (`benchmarks/serve_load.py`) take their inputs
from here, so every lab, including one added later, is tried the same way from its form alone.
A request is a dict of keyword arguments for an httpx (or FastAPI TestClient) ``post``.
"""

from __future__ import annotations

import io

import numpy as np

from dlabs.serve.inputs import MAX_TEXT_CHARS, MAX_UPLOAD_BYTES

REVIEW = ("A wonderful, moving film: the acting is superb, the story is beautifully told and I loved "
          "every minute of it. One of the best films I have seen this year.")


def digit_png(size: int = 28) -> bytes:
    """A white '7' on black, MNIST-like (grey, 28x28)."""
    from PIL import Image, ImageDraw

    im = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(im)
    s = size / 28
    d.line([(6 * s, 6 * s), (22 * s, 6 * s), (12 * s, 23 * s)], fill=255, width=max(1, round(3 * s)))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def prices_csv(days: int = 120, seed: int = 0) -> str:
    """Recent daily prices in the layout of the course's stock CSVs (Date, Open, High, Low, Close, Volume)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    close = 800 * np.exp(np.cumsum(rng.normal(0, 0.01, days)))
    open_ = close * (1 + rng.normal(0, 0.003, days))
    dates = pd.bdate_range("2016-06-01", periods=days)  # trading days: weekdays
    lines = ["Date,Open,High,Low,Close,Volume"]
    for d, o, c in zip(dates, open_, close):
        lines.append(f"{d.date()},{o:.2f},{max(o, c) * 1.005:.2f},{min(o, c) * 0.995:.2f},{c:.2f},{int(rng.integers(1e6, 3e6))}")
    return "\n".join(lines) + "\n"


def _options(form: dict) -> dict[str, str]:
    return {o["name"]: str(o["default"]) for o in form.get("options", []) if o.get("default") is not None}


def good_request(form: dict) -> dict:
    """A request the lab should answer with predictions."""
    kind = form["kind"]
    if kind == "tabular":
        return {"json": {f["name"]: f["example"] if f.get("example") is not None else 0.0 for f in form["fields"]}
                | _options(form)}
    if kind == "text":
        return {"json": {"text": form.get("example") or REVIEW} | _options(form)}
    if kind == "csv":
        text = form.get("example") or prices_csv()
        return {"files": {"file": ("prices.csv", text.encode(), "text/csv")}, "data": _options(form)}
    example = form.get("example") or ""
    if example.startswith("data:image/"):  # a lab's own example photo (a face, ...): a data URL
        import base64

        header, payload = example.split(",", 1)
        mime = header[len("data:"):].split(";")[0]
        return {"files": {"file": ("example." + mime.split("/")[1], base64.b64decode(payload), mime)},
                "data": _options(form)}
    return {"files": {"file": ("digit.png", digit_png(), "image/png")}, "data": _options(form)}


def bad_requests(form: dict) -> list[tuple[str, dict, int]]:
    """``(what, request, expected status)`` for inputs a person might get wrong."""
    kind = form["kind"]
    out = [("a content type the API does not take", {"content": b"hello", "headers": {"content-type": "text/plain"}}, 415)]
    if kind in ("tabular", "text"):
        out.append(("malformed JSON", {"content": b'{"a": ', "headers": {"content-type": "application/json"}}, 422))
        out.append(("a JSON list instead of an object", {"json": [1, 2]}, 422))
    good = good_request(form)
    sneaky = {"out": "/tmp/dlabs-serve-must-not-write"}  # a command-line option the web must not pass on
    if "json" in good:
        out.append(("a field the form does not declare", {"json": good["json"] | sneaky}, 422))
    else:
        out.append(("a field the form does not declare", good | {"data": good["data"] | sneaky}, 422))
    if kind == "tabular":
        fields = good_request(form)["json"]
        first = form["fields"][0]["name"]
        out += [("no fields", {"json": {}}, 422),
                ("a field that is not a number", {"json": fields | {first: "abc"}}, 422),
                ("a missing field", {"json": {k: v for k, v in fields.items() if k != first}}, 422),
                ("an unknown field", {"json": fields | {"NOT_A_FEATURE": 1}}, 422),
                ("an infinite value", {"json": fields | {first: "inf"}}, 422)]
    elif kind == "text":
        out += [("empty text", {"json": {"text": ""}}, 422),
                ("blank text", {"data": {"text": "  \n "}}, 422),
                ("no text field", {"json": {"review": REVIEW}}, 422),
                ("text naming a server file", {"json": {"text": "/etc/passwd"}}, 422),
                ("text naming standard input", {"json": {"text": "-"}}, 422),
                ("text over the limit", {"json": {"text": "good " * (MAX_TEXT_CHARS // 5 + 1)}}, 413),
                ("text over the limit, as a form field", {"data": {"text": "good " * (MAX_TEXT_CHARS // 5 + 1)}}, 413)]
    else:
        name, ctype = ("prices.csv", "text/csv") if kind == "csv" else ("photo.png", "image/png")
        big = b"x" * (MAX_UPLOAD_BYTES + 1)
        out += [("no file", {"data": {"x": "1"}}, 422),
                ("JSON instead of an upload", {"json": {"file": "x"}}, 415),
                ("an upload over the size limit", {"files": {"file": (name, big, ctype)}}, 413),
                ("an empty file", {"files": {"file": (name, b"", ctype)}}, 422)]
        if kind == "image":
            out.append(("a file that is not an image", {"files": {"file": (name, b"not an image at all", ctype)}}, 422))
        if kind == "csv":
            out += [("binary data", {"files": {"file": (name, bytes(range(256)) * 4, ctype)}}, 422),
                    ("a header only", {"files": {"file": (name, b"Date,Open\n", ctype)}}, 422),
                    ("ragged rows", {"files": {"file": (name, b"Date,Open\n2017-01-03,778.8\n2017-01-04\n", ctype)}}, 422),
                    ("a table without the lab's columns", {"files": {"file": (name, b"a,b\n1,2\n3,4\n", ctype)}}, 422)]
    return out

