"""Shared fixtures: an isolated cache and runs folder per test, the real data through the mirror.

The mirror is ``$DLABS_MIRROR`` if set, else ``../shared/data`` beside the checkout. Tests never
reach the network: DLABS_OFFLINE is always on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("DLABS_MIRROR") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def session_env(tmp_path_factory):
    """Environment for module-scoped fixtures too: offline, the mirror, a private cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DLABS_HOME", str(tmp_path_factory.mktemp("home")))
    mp.setenv("DLABS_OFFLINE", "1")
    mp.setenv("DLABS_MIRROR", str(MIRROR))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DLABS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DLABS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DLABS_OFFLINE", "1")
    monkeypatch.setenv("DLABS_MIRROR", str(MIRROR))
    yield tmp_path


def needs_data(dataset: str):
    return pytest.mark.skipif(not (MIRROR / dataset).is_dir(), reason=f"data set {dataset} not in {MIRROR}")
