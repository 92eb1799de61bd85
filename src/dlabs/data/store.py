"""Declared data files: find, verify and cache declared data files.

A file is looked up in this order: the cache (``$DLABS_HOME/data/<dataset>/<file>``), the
mirror (``$DLABS_MIRROR/<dataset>/<file>``), then its upstream URL, downloaded with a progress
bar to a temporary file that is renamed only once its checksum matches. Verified files are
remembered by (size, mtime), and hashed again once their ctime moves past the hash, so a large
archive is hashed once, not on every run; `verify_all` always hashes. Everything
that can go wrong ends in a one-line `DataError` that names the file and what to do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.request
from pathlib import Path

from dlabs import paths
from dlabs.data.catalog import _REGISTRY, DataFile, Dataset
from dlabs.errors import DataError, DlabsError

log = logging.getLogger(__name__)


def datasets() -> dict[str, Dataset]:
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


def _verified(path: Path, spec: DataFile, force: bool = False) -> bool:
    """True if `path` matches `spec`'s checksum. The file is hashed once and then remembered by its
    size and mtime, and hashed again when its ctime is past the hash (an edit in place that keeps
    size and mtime still moves the ctime, which no one can set back); `force` always hashes."""
    st = path.stat()
    key = str(path.resolve())
    stamps = _load_stamps()
    old = stamps.get(key)
    if (not force and isinstance(old, list) and len(old) == 4 and old[:3] == [st.st_size, st.st_mtime_ns, spec.checksum]
            and st.st_ctime_ns <= old[3]):
        return True
    started = time.time_ns()  # the hash reads what the file held from here on
    algo, _, expected = spec.checksum.partition(":")
    if _digest(path, algo) != expected:
        return False
    stamps[key] = [st.st_size, st.st_mtime_ns, spec.checksum, started]
    try:
        paths.atomic_write(_stamp_path(), json.dumps(stamps))
    except DlabsError:
        pass  # a read-only home only costs a re-hash next time
    return True


def _candidates(ds: Dataset, spec: DataFile) -> list[tuple[str, Path]]:
    out = [("cache", paths.home() / "data" / ds.name / spec.name)]
    mirror = paths.mirror()
    if mirror is not None:
        out.append(("mirror", mirror / ds.name / spec.name))
    return out


def _local(ds: Dataset, spec: DataFile, force: bool = False) -> Path | None:
    for where, path in _candidates(ds, spec):
        if path.is_file():
            if _verified(path, spec, force):
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
    paths.sweep(target.parent, f".{spec.name}.")  # what a killed download left
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.name}.{os.getpid()}.", suffix=".part")
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


def verify_all(dataset_name: str) -> dict[str, Path]:
    """Hash every file of a data set that is present again, whatever was remembered (``dlabs data
    verify``); a file that is not present is an error that says how to fetch it."""
    ds = dataset(dataset_name)
    out = {}
    for role in ds.roles():
        found = [p for spec in ds.files if spec.key == role if (p := _local(ds, spec, force=True)) is not None]
        if not found:
            raise DataError(f"{ds.name}/{role}: not present in cache or mirror; get it with: dlabs data fetch {ds.name}")
        out[role] = found[0]
    return out


def fetch_all(dataset_name: str) -> dict[str, Path]:
    """Fetch and verify every role of a data set."""
    ds = dataset(dataset_name)
    return {role: fetch(ds.name, role) for role in ds.roles()}
