"""The data layer: mirror, cache, checksum mismatch, truncated file, offline missing file."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from dlabs.data import store as F
from dlabs.errors import DataError

from conftest import MIRROR, needs_data


def _tiny_dataset(tmp_path, monkeypatch, content=b"1 2 3\n", url=None):
    mirror = tmp_path / "mirror"
    (mirror / "tiny").mkdir(parents=True)
    (mirror / "tiny" / "t.data").write_bytes(content)
    monkeypatch.setenv("DLABS_MIRROR", str(mirror))
    ds = F.Dataset("tiny", (F.DataFile("t.data", "sha256:" + hashlib.sha256(b"1 2 3\n").hexdigest(), url),))
    monkeypatch.setitem(F._REGISTRY, "tiny", ds)
    return mirror


def test_mirror_file_is_verified_and_returned(tmp_path, monkeypatch):
    mirror = _tiny_dataset(tmp_path, monkeypatch)
    assert F.fetch("tiny", "t.data") == mirror / "tiny" / "t.data"


def test_cache_is_preferred_over_mirror(tmp_path, monkeypatch, isolated):
    _tiny_dataset(tmp_path, monkeypatch)
    cached = isolated / "home" / "data" / "tiny" / "t.data"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"1 2 3\n")
    assert F.fetch("tiny", "t.data") == cached


def test_checksum_mismatch_is_a_one_line_error(tmp_path, monkeypatch):
    _tiny_dataset(tmp_path, monkeypatch, content=b"1 2 4\n")
    with pytest.raises(DataError, match=r"checksum mismatch for tiny/t.data") as e:
        F.fetch("tiny", "t.data")
    assert "\n" not in str(e.value)


def test_truncated_file_is_caught(tmp_path, monkeypatch):
    _tiny_dataset(tmp_path, monkeypatch, content=b"1 2")
    with pytest.raises(DataError, match="checksum mismatch"):
        F.fetch("tiny", "t.data")


def test_offline_missing_file_names_file_and_fix(tmp_path, monkeypatch):
    mirror = _tiny_dataset(tmp_path, monkeypatch, url="https://example.invalid/t.data")
    (mirror / "tiny" / "t.data").unlink()
    with pytest.raises(DataError, match=r"tiny/t.data not found .* DLABS_OFFLINE .* put it in"):
        F.fetch("tiny", "t.data")


def test_failed_download_leaves_no_partial_file(tmp_path, monkeypatch, isolated):
    mirror = _tiny_dataset(tmp_path, monkeypatch, url="file:///nonexistent/t.data")
    (mirror / "tiny" / "t.data").unlink()
    monkeypatch.setenv("DLABS_OFFLINE", "0")
    with pytest.raises(DataError, match="cannot download tiny/t.data"):
        F.fetch("tiny", "t.data")
    assert not list((isolated / "home" / "data" / "tiny").glob("*"))


def test_download_verifies_then_renames(tmp_path, monkeypatch, isolated):
    src = tmp_path / "upstream.data"
    src.write_bytes(b"1 2 3\n")
    mirror = _tiny_dataset(tmp_path, monkeypatch, url=src.as_uri())
    (mirror / "tiny" / "t.data").unlink()
    monkeypatch.setenv("DLABS_OFFLINE", "0")
    path = F.fetch("tiny", "t.data")
    assert path == isolated / "home" / "data" / "tiny" / "t.data" and path.read_bytes() == b"1 2 3\n"


def test_every_declared_dataset_has_checksums():
    for ds in F.datasets().values():
        assert ds.files and all(f.checksum.split(":")[0] in ("sha256", "md5") for f in ds.files)


@needs_data("boston")
def test_boston_reader_and_keras_split():
    from dlabs.data import tabular

    x, y, names, target = tabular.load_boston()
    assert x.shape == (506, 13) and len(names) == 13 and target == "MEDV"
    assert y[0] == 24.0
    train, test = tabular.keras_split(506)
    assert len(train) == 404 and len(test) == 102 and not set(train) & set(test)


def test_cli_data_error_is_one_line_nonzero(tmp_path):
    env = {"DLABS_MIRROR": str(tmp_path / "empty"), "DLABS_HOME": str(tmp_path / "h"), "DLABS_OFFLINE": "1",
           "PATH": ""}
    proc = subprocess.run([sys.executable, "-m", "dlabs", "data", "fetch", "boston"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: boston/housing.data not found")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@needs_data("boston")
def test_fetch_all_verifies_the_whole_mirror_that_is_present():
    from dlabs import api

    out = api.data_fetch("boston")
    assert set(out["boston"]) == {"housing.data", "housing.names"}
    assert MIRROR in __import__("pathlib").Path(out["boston"]["housing.data"]).parents
