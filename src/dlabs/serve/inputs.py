"""From a web request to the `Request` that `Lab.predict` takes, with limits.

By the lab's input kind:

- ``tabular``: a JSON object (or form fields) of feature values -> ``options``;
- ``text``: the ``text`` field -> ``items=[("text", text)]``;
- ``image`` / ``csv``: the uploaded ``file`` (multipart) -> ``items=[(file name, bytes)]``,
  kept in memory (nothing is written to disk);

and the options the lab's form declares (such as a forecast horizon) -> ``options``, as strings;
any other field is refused. The lab then validates values as it does on the command line. Checked here, before the lab sees them:
the body size (an upload of at most `MAX_UPLOAD_BYTES`), empty text, files that are not
images, CSV files that are not a consistent table, and text that would name a file on the
server (the command line reads a path or ``-`` as a file or standard input; the web must not).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from dlabs.errors import InputError, TooLarge, printable

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # one uploaded file
MAX_TEXT_CHARS = 200_000  # pasted text
_FORM_OVERHEAD = 1024 * 1024  # multipart boundaries and small fields around the file


class Unsupported(InputError):
    """The request's content type is not one the endpoint takes (HTTP 415)."""


async def read_body(request) -> bytes:
    """The request body, refused as soon as it passes the limit (before it is all read)."""
    limit = MAX_UPLOAD_BYTES + _FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request of {int(declared) / 2**20:.1f} MB; uploads are limited to {_mb(MAX_UPLOAD_BYTES)}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request over {_mb(limit)}; uploads are limited to {_mb(MAX_UPLOAD_BYTES)}")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse(request, body: bytes, form: dict):
    """The `Request` for `Lab.predict` from a JSON or form request, as the lab's form declares.

    Only the fields the form declares reach the lab (its tabular fields and its options): a
    command-line option such as an output folder is never open to the web.
    """
    from dlabs.labs import Request

    kind = form["kind"]
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        values, upload = _json_fields(body), None
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        values, upload = await _form_fields(request, body)
    else:
        raise Unsupported(f"content type '{ctype or 'none'}': send application/json or multipart/form-data")
    items: list[tuple[str, str | bytes]] = []
    if kind == "tabular":
        if not values:
            raise InputError("no features given: send each feature as a field (a JSON object of name: number)")
    elif kind == "text":
        items = [("text", check_text(values.pop("text", "")))]
    elif upload is None:  # image, csv and any other upload kind
        if ctype == "application/json":
            raise Unsupported("upload the file as multipart/form-data, in a field named 'file'")
        raise InputError("no file: upload one in the field named 'file'")
    else:
        filename, data = upload
        if kind == "image":
            check_image(data, filename)
        elif kind == "csv":
            check_csv(data, filename)
        items = [(filename, data)]
    allowed = [f["name"] for f in form.get("fields", [])] + [o["name"] for o in form.get("options", [])]
    lookup = {name.lower(): name for name in allowed}
    unknown = [k for k in values if k.strip().lower() not in lookup]
    if unknown:
        takes = f"this lab takes: {', '.join(allowed)}" if allowed else "this lab takes no options"
        raise InputError(f"unknown field '{unknown[0]}' ({takes})")
    return Request(items, values)


def _json_fields(body: bytes) -> dict[str, str]:
    if not body.strip():
        return {}
    try:
        obj = json.loads(body)
    except ValueError as e:
        raise InputError(f"the body is not valid JSON ({e})") from None
    except RecursionError:
        raise InputError("the body is not a flat JSON object (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object of field names and values")
    return {printable(str(k)): _as_text(v) for k, v in obj.items()}


def _as_text(v) -> str:
    if isinstance(v, str):
        return printable(v)  # a JSON escape may hold a lone surrogate, which no response can encode
    if v is None:
        return ""
    return json.dumps(v)  # numbers and booleans as JSON writes them; lists and objects too


async def _form_fields(request, body: bytes) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    from starlette.datastructures import UploadFile
    from starlette.requests import Request

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=200, max_part_size=MAX_UPLOAD_BYTES)
    except Exception as e:  # starlette raises its own parser errors; all mean a malformed form
        raise InputError(f"malformed form data ({getattr(e, 'detail', None) or e})") from None
    values, upload = {}, None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "file":
                    raise InputError(f"unexpected file field '{key}': upload the file as 'file'")
                data = await value.read()
                if len(data) > MAX_UPLOAD_BYTES:
                    raise TooLarge(f"{value.filename}: {len(data) / 2**20:.1f} MB; uploads are limited to "
                                   f"{_mb(MAX_UPLOAD_BYTES)}")
                upload = (Path(value.filename or "").name[:100] or "upload", data)
            else:
                values[printable(key)] = printable(value)
    finally:
        await form.close()
    return values, upload


def check_text(text: str) -> str:
    if not text.strip():
        raise InputError("empty text: type or paste some text")
    if len(text) > MAX_TEXT_CHARS:
        raise TooLarge(f"text of {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    stripped = text.strip()
    if stripped == "-" or ("\n" not in stripped and len(stripped) < 4096 and os.path.exists(stripped)):
        raise InputError("the text names a file or stream on the server; paste the text itself")
    return text


def check_image(data: bytes, filename: str) -> None:
    """The labs' own image reader's checks (size, pixels, format), before a lab decodes it: the
    same messages as on the command line."""
    from dlabs import api

    api.check_image(data, filename)


def check_csv(data: bytes, filename: str) -> None:
    """A text table with a header and rows of the same width (the lab checks its columns)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{filename}: not a CSV text file (not UTF-8 text)") from None
    if "\x00" in text:
        raise InputError(f"{filename}: not a CSV text file (binary data)")
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error as e:  # a field over the csv module's limit, a NUL byte...
        raise InputError(f"{filename}: malformed CSV ({e})") from None
    if len(rows) < 2:
        raise InputError(f"{filename}: a CSV file needs a header row and at least one data row")
    width = len(rows[0])
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != width:
            raise InputError(f"{filename}: malformed CSV: row {i} has {len(r)} columns, the header has {width}")


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"
