"""Where dlabs keeps things: the one place that reads the environment.

- `DLABS_HOME` (default `~/.cache/dlabs`): the download cache, under `data/<dataset>/`.
- `DLABS_MIRROR`: an optional folder laid out `<dataset>/<file>` that is read before any
  download (for machines without internet, such as `../shared/data`).
- `DLABS_RUNS` (default `./runs`): where run folders go, `runs/<lab>/<run-id>/`. The CLI's
  `--runs` option overrides it.
- `DLABS_OFFLINE=1`: never touch the network; a file missing from cache and mirror is an error.

`atomic_write` is how every file dlabs keeps is written: a temporary file in the same folder,
then a rename, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("DLABS_HOME") or Path.home() / ".cache" / "dlabs").expanduser()


def mirror() -> Path | None:
    value = os.environ.get("DLABS_MIRROR")
    return Path(value).expanduser() if value else None


def runs_dir(override: str | Path | None = None) -> Path:
    value = override or os.environ.get("DLABS_RUNS") or "runs"
    return Path(value).expanduser().resolve()


def offline() -> bool:
    return os.environ.get("DLABS_OFFLINE", "") not in ("", "0", "false", "no")


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` through a uniquely named temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
