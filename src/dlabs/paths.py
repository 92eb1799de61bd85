"""Where dlabs keeps things: the one place that reads the environment.

- `DLABS_HOME` (default `~/.cache/dlabs`): the download cache, under `data/<dataset>/`.
- `DLABS_MIRROR`: an optional folder laid out `<dataset>/<file>` that is read before any
  download (for machines without internet, such as `../shared/data`).
- `DLABS_RUNS` (default `./runs`): where run folders go, `runs/<lab>/<run-id>/`. The CLI's
  `--runs` option overrides it.
- `DLABS_OFFLINE=1`: never touch the network; a file missing from cache and mirror is an error.

`atomic_write` is how every file dlabs keeps is written: a temporary file in the same folder,
then a rename, so a reader never sees half a file; the temporary files of a writer that was
killed are removed by the next write of the same file (`sweep`).
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
    """Write `data` to `path` through a uniquely named temporary file and a rename; a failed
    write (a full disk, no permission) leaves the old file as it was and is a one-line error."""
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    sweep(path.parent, f".{path.name}.")


def sweep(folder: Path, prefix: str) -> None:
    """Remove the temporary files ``<prefix><pid>.*`` of writers that are gone (killed mid-write:
    their files were never renamed into place and no one else will remove them)."""
    import glob

    for stale in Path(folder).glob(glob.escape(prefix) + "*"):
        parts = stale.name[len(prefix):].split(".")  # <pid>.<mkstemp's letters>.tmp (or .part)
        if len(parts) == 3 and parts[0].isdigit() and parts[2] in ("tmp", "part") and not _alive(int(parts[0])):
            try:
                stale.unlink()
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's live process
    return True


def write_error(path, e: OSError):
    """The one-line error for a file that could not be written (its old content is kept)."""
    from dlabs.errors import DlabsError

    return DlabsError(f"cannot write {path} ({e.strerror or e}); nothing was changed there")
