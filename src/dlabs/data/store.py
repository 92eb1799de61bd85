"""Declared data files: find, verify and cache declared data files.

A file is looked up in this order: the cache (``$DLABS_HOME/data/<dataset>/<file>``), the
mirror (``$DLABS_MIRROR/<dataset>/<file>``), then its upstream URL, downloaded with a progress
bar to a temporary file that is renamed only once its checksum matches. Verified files are
remembered by (size, mtime) so a large archive is hashed once, not on every run. Everything
that can go wrong ends in a one-line `DataError` that names the file and what to do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dlabs import paths
from dlabs.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataFile:
    """One accepted file: its name, checksum (``sha256:<hex>`` or ``md5:<hex>``) and URL.

    Several files may share a `role` (e.g. the mirror's repacked archive and the upstream
    original): `fetch` returns the first of them that is available, in declaration order.
    """

    name: str
    checksum: str
    url: str | None = None
    role: str = ""
    size: int | None = None

    @property
    def key(self) -> str:
        return self.role or self.name


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[DataFile, ...]
    description: str = ""
    citation: str = ""

    def roles(self) -> list[str]:
        return list(dict.fromkeys(f.key for f in self.files))


_REGISTRY: dict[str, Dataset] = {}


def declare(ds: Dataset) -> Dataset:
    if ds.name in _REGISTRY:
        raise ValueError(f"data set {ds.name!r} declared twice")
    _REGISTRY[ds.name] = ds
    return ds


def datasets() -> dict[str, Dataset]:
    from dlabs.data import catalog  # noqa: F401  (declares everything on import)

    return dict(_REGISTRY)


def dataset(name: str) -> Dataset:
    all_ = datasets()
    if name not in all_:
        raise DataError(f"unknown data set '{name}' (known: {', '.join(sorted(all_))})")
    return all_[name]


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stamp_path() -> Path:
    return paths.home() / "verified.json"


def _load_stamps() -> dict:
    try:
        return json.loads(_stamp_path().read_text())
    except (OSError, ValueError):
        return {}


def _verified(path: Path, spec: DataFile) -> bool:
    """True if `path` matches `spec`'s checksum (hashing only when size or mtime changed)."""
    st = path.stat()
    key = str(path.resolve())
    stamp = [st.st_size, st.st_mtime_ns, spec.checksum]
    stamps = _load_stamps()
    if stamps.get(key) == stamp:
        return True
    algo, _, expected = spec.checksum.partition(":")
    if _digest(path, algo) != expected:
        return False
    stamps[key] = stamp
    try:
        paths.atomic_write(_stamp_path(), json.dumps(stamps))
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return True


def _candidates(ds: Dataset, spec: DataFile) -> list[tuple[str, Path]]:
    out = [("cache", paths.home() / "data" / ds.name / spec.name)]
    mirror = paths.mirror()
    if mirror is not None:
        out.append(("mirror", mirror / ds.name / spec.name))
    return out


def _local(ds: Dataset, spec: DataFile) -> Path | None:
    for where, path in _candidates(ds, spec):
        if path.is_file():
            if _verified(path, spec):
                return path
            raise DataError(
                f"{path}: checksum mismatch for {ds.name}/{spec.name} in the {where} "
                f"(expected {spec.checksum}); delete or replace the file"
            )
    return None


def _download(ds: Dataset, spec: DataFile) -> Path:
    from tqdm import tqdm

    target = paths.home() / "data" / ds.name / spec.name
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s from %s", spec.name, spec.url)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(spec.url, timeout=60) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=spec.name, disable=None) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        if not _verified(Path(tmp), spec):
            raise DataError(
                f"{spec.url}: downloaded {spec.name} does not match {spec.checksum}; "
                "the upstream file changed or the download is corrupt (put a good copy in the mirror)"
            )
        os.replace(tmp, target)
        return target
    except OSError as e:
        raise DataError(
            f"cannot download {ds.name}/{spec.name} from {spec.url} ({e.__class__.__name__}: "
            f"{getattr(e, 'reason', e)}); set DLABS_MIRROR to a folder holding {ds.name}/{spec.name}"
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch(dataset_name: str, role: str) -> Path:
    """The local path of the file playing `role` (a file name or role) in a data set."""
    ds = dataset(dataset_name)
    specs = [f for f in ds.files if f.key == role or f.name == role]
    if not specs:
        raise DataError(f"data set '{ds.name}' has no file '{role}' (files: {', '.join(ds.roles())})")
    for spec in specs:
        found = _local(ds, spec)
        if found is not None:
            return found
    where = f"$DLABS_MIRROR/{ds.name}/" if paths.mirror() is None else f"{paths.mirror()}/{ds.name}/"
    names = " or ".join(s.name for s in specs)
    downloadable = [s for s in specs if s.url]
    if not downloadable:
        raise DataError(f"{ds.name}/{names} not found and has no public URL; put it in {where}")
    if paths.offline():
        raise DataError(f"{ds.name}/{names} not found in cache or mirror and DLABS_OFFLINE is set; put it in {where}")
    return _download(ds, downloadable[0])


def fetch_all(dataset_name: str) -> dict[str, Path]:
    """Fetch and verify every role of a data set."""
    ds = dataset(dataset_name)
    return {role: fetch(ds.name, role) for role in ds.roles()}
