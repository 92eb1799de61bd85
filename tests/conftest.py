"""Shared fixtures: an isolated cache and runs folder per test, the real data through the mirror.

The mirror is ``$DLABS_MIRROR`` if set, else ``../shared/data`` beside the checkout. Tests never
reach the network: DLABS_OFFLINE is always on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# PyTorch's (OpenMP) threads: each xdist worker its share of the cores, set before torch is imported. With
# more threads than cores they spin waiting for each other: the suite took 390 s with two threads a worker
# on 2 cores, 280 s with one
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("DLABS_MIRROR") or ROOT.parent / "shared" / "data")


def home_with(path: Path, parsed: Path | None) -> Path:
    """A DLABS_HOME at `path` whose decoded-data cache is `parsed` (shared), or its own (None)."""
    path.mkdir(parents=True, exist_ok=True)
    if parsed is not None:
        (path / "parsed").symlink_to(parsed, target_is_directory=True)
    return path


def session_dir(tmp_path_factory) -> Path:
    """The session's temp folder that all xdist workers share (each worker's own is inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def shared_parsed(tmp_path_factory) -> Path:
    """One cache of decoded data sets for the whole session, all xdist workers included: every test has
    its own download cache, but decoding LFW's 13,233 JPEGs (7 s) once is enough. Caches are written
    atomically, so workers may fill it at the same time."""
    parsed = session_dir(tmp_path_factory) / "parsed"
    parsed.mkdir(exist_ok=True)
    return parsed


@pytest.fixture(scope="session", autouse=True)
def session_env(tmp_path_factory, shared_parsed):
    """Environment for module-scoped fixtures too: offline, the mirror, a private download cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DLABS_HOME", str(home_with(tmp_path_factory.mktemp("home"), shared_parsed)))
    mp.setenv("DLABS_OFFLINE", "1")
    mp.setenv("DLABS_MIRROR", str(MIRROR))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, request, shared_parsed):
    """Each test's own runs folder and download cache; decoded data from the session's cache unless the
    test is marked `own_parsed_cache` (it inspects or corrupts that cache)."""
    own = request.node.get_closest_marker("own_parsed_cache") is not None
    monkeypatch.setenv("DLABS_HOME", str(home_with(tmp_path / "home", None if own else shared_parsed)))
    monkeypatch.setenv("DLABS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DLABS_OFFLINE", "1")
    monkeypatch.setenv("DLABS_MIRROR", str(MIRROR))
    yield tmp_path


def needs_data(dataset: str):
    return pytest.mark.skipif(not (MIRROR / dataset).is_dir(), reason=f"data set {dataset} not in {MIRROR}")
