"""Faults, each bounded in time: `kill -9` in the middle of evaluate, report, a gallery enroll and
a download; two trainings started at once into one runs folder; a full disk while a run is
written; and the web app under concurrent bad and good requests. Afterwards every file holds its
old or its new content whole, nothing half-written is left behind, and the next command works.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import fake_runs as F
import numpy as np
import pytest
from conftest import needs_data
from PIL import Image

from dlabs import api

pytestmark = needs_data("boston")
BOSTON = {"CRIM": 0.1, "ZN": 12.5, "INDUS": 7.9, "CHAS": 0, "NOX": 0.52, "RM": 6.2, "AGE": 65, "DIS": 4.1,
          "RAD": 5, "TAX": 311, "PTRATIO": 15.2, "B": 396.9, "LSTAT": 12.4}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault-runs")
    boston = api.train("boston", "smoke", runs=root, progress=False)
    api.evaluate(boston, protocols=False)
    return {"root": root, "boston": boston.path, "faces": F.faces_run(root).path, "imdb": F.imdb_run(root).path,
            "colorize": F.colorize_run(root).path, "stocks": F.stocks_run(root).path}


def _dlabs(*args) -> subprocess.Popen:
    env = os.environ | {"OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.Popen([sys.executable, "-m", "dlabs", "-q", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_when(proc: subprocess.Popen, ready, limit: float = 60.0) -> bool:
    """kill -9 `proc` as soon as `ready()` is true (or at `limit` seconds); False if it ended first."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return True


def _whole(folder: Path) -> list[Path]:
    """Every visible file under `folder`, each checked to be complete; no temporary file of a writer
    that is gone is left."""
    import pandas as pd

    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".png":
            with Image.open(path) as im:
                im.load()
        elif path.suffix == ".html":
            assert path.read_text().rstrip().endswith("</html>"), path
        elif path.suffix == ".csv":
            pd.read_csv(path)
        found.append(path)
    return found


def _debris(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.suffix in (".tmp", ".part")]


def test_kill_during_evaluate_and_report_leaves_whole_files(runs):
    run = runs["boston"]
    plots = run / "plots"
    first = {p: p.stat().st_mtime_ns for p in plots.glob("*.png")}
    proc = _dlabs("evaluate", run)  # the protocols too: long enough to be killed while it writes plots
    assert _kill_when(proc, lambda: any(p.stat().st_mtime_ns != first.get(p) for p in plots.glob("*.png")))
    _whole(run)
    proc = _dlabs("report", run)
    start = time.monotonic()
    _kill_when(proc, lambda: time.monotonic() - start > random.uniform(1.0, 3.0))
    _whole(run)
    assert api.evaluate(run, protocols=False)["model"]["rmse"] > 0  # the next command works
    assert Path(api.report(str(run))).read_text().rstrip().endswith("</html>")
    assert not _debris(run)  # a writer killed mid-file left no temporary file behind


def test_kill_during_enroll_keeps_a_whole_gallery(runs, tmp_path):
    run = runs["faces"]
    code = ("import sys; from dlabs import api\n"
            "for i in range(10_000):\n"
            f"    api.gallery_enroll(f'P{{i}}', [{str(F.BW / 'abe.jpg')!r}], {str(run)!r}); print(i, flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=os.environ | {"OMP_WAIT_POLICY": "PASSIVE"})
    done = []
    threading.Thread(target=lambda: done.extend(proc.stdout), daemon=True).start()
    _kill_when(proc, lambda: len(done) >= 3)
    people = {p["name"]: p for p in api.gallery_people(run)}  # the gallery reads, and holds whole entries
    enrolled = [n for n in people if n.startswith("P")]
    assert len(enrolled) >= len(done) and {"Ada", "Bob"} <= set(people)
    assert all(people[n]["photos"] == 1 for n in enrolled)
    assert api.gallery_enroll("Zoe", [F.BW / "abe.jpg"], run)["photos"] == 1
    assert not _debris(run)


def test_kill_during_download_then_fetch_again(tmp_path, monkeypatch, isolated):
    import hashlib
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    payload = np.random.default_rng(0).bytes(3 * 2**20)
    half = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                for i in range(0, len(payload), 2**16):
                    self.wfile.write(payload[i:i + 2**16])
                    if i > len(payload) // 2:
                        half.set()
                        time.sleep(0.01)
            except OSError:
                pass  # the client was killed

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/t.data"
    checksum = "sha256:" + hashlib.sha256(payload).hexdigest()
    code = ("from dlabs.data import store\n"
            f"store._REGISTRY['tiny'] = store.Dataset('tiny', (store.DataFile('t.data', {checksum!r}, {url!r}),))\n"
            "store.fetch('tiny', 't.data')\n")
    env = os.environ | {"DLABS_OFFLINE": "0", "DLABS_MIRROR": str(tmp_path / "no-mirror")}
    monkeypatch.setenv("DLABS_OFFLINE", "0")
    monkeypatch.setenv("DLABS_MIRROR", str(tmp_path / "no-mirror"))
    try:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
        assert _kill_when(proc, half.is_set), "the download ended before it could be killed"
        folder = isolated / "home" / "data" / "tiny"
        assert not (folder / "t.data").exists() and _debris(folder)  # only the killed download's .part
        from dlabs.data import store

        monkeypatch.setitem(store._REGISTRY, "tiny", store.Dataset("tiny", (store.DataFile("t.data", checksum, url),)))
        assert store.fetch("tiny", "t.data").read_bytes() == payload  # the next command works
        assert not _debris(folder)
    finally:
        server.shutdown()


def test_two_trainings_at_once_make_two_whole_runs(tmp_path):
    procs = [_dlabs("train", "boston", "--preset", "smoke", "--runs", tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    paths = {Path(o.strip().splitlines()[-1]) for o, _ in outs}
    assert len(paths) == 2 and {p.parent for p in paths} == {tmp_path / "boston"}
    for path in paths:
        files = {p.name for p in _whole(path)}
        assert {"config.json", "env.json", "state.json", "state.safetensors", "model.safetensors", "history.csv"} <= files
        assert "finished" in json.loads((path / "env.json").read_text())


def _full_disk(monkeypatch, when=lambda dst: True):
    real = os.replace

    def replace(src, dst, *a, **k):
        if when(str(dst)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    return real


def _one_line(monkeypatch, capsys, *args) -> str:
    from test_hardening import cli, refused

    return refused(cli(monkeypatch, capsys, *args), "No space left on device")


def test_a_full_disk_is_one_line_and_keeps_what_was_there(runs, tmp_path, monkeypatch, capsys):
    root = tmp_path / "runs"
    with monkeypatch.context() as m:  # the first checkpoint cannot be written: no half run is left
        _full_disk(m)
        _one_line(m, capsys, "train", "boston", "-p", "smoke", "--runs", root)
    assert not list((root / "boston").iterdir())
    with monkeypatch.context() as m:  # the weights cannot be written: the checkpoint stays, to resume from
        _full_disk(m, lambda dst: dst.endswith("model.safetensors"))
        line = _one_line(m, capsys, "train", "boston", "-p", "smoke", "--runs", root)
    run = next((root / "boston").iterdir())
    assert "dlabs train --resume" in line and (run / "checkpoint.pt").is_file()
    api.train(resume=str(run), progress=False)
    assert (run / "model.safetensors").is_file() and not (run / "checkpoint.pt").exists()
    evaluated = runs["boston"]  # an evaluation that cannot write: the old metrics and plots stay
    before = {p: p.read_bytes() for p in _whole(evaluated)}
    with monkeypatch.context() as m:
        _full_disk(m)
        _one_line(m, capsys, "evaluate", evaluated)
    assert {p: p.read_bytes() for p in _whole(evaluated)} == before
    gallery = (runs["faces"] / "gallery.json").read_bytes()
    with monkeypatch.context() as m:
        _full_disk(m)
        _one_line(m, capsys, "faces", "enroll", "Cy", F.BW / "abe.jpg", "--run", runs["faces"])
    assert (runs["faces"] / "gallery.json").read_bytes() == gallery


def _multipart(name: str, data: bytes, ctype: str, fields: dict | None = None) -> tuple[bytes, str]:
    boundary = "dlabs-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in (fields or {}).items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                 f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _corpus() -> list[tuple[str, str, bytes, str, bool]]:
    """(what, lab, body, content type, good?) for the load test: the issue's cases and good requests."""
    from test_hardening import _png_header

    js = "application/json"
    photo = F.png(np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    frame = F.price_frame(40)
    huge = frame.copy()
    huge[["open", "high", "low", "close"]] *= 1e308 / 800
    return [("good boston", "boston", json.dumps(BOSTON).encode(), js, True),
            ("good review", "imdb", b'{"text": "a good film, loved it"}', js, True),
            ("good photo", "colorize", *_multipart("p.png", photo, "image/png"), True),
            ("good prices", "stocks", *_multipart("p.csv", F.prices_csv(frame), "text/csv", {"days": "3"}), True),
            ("nested JSON", "boston", b"[" * 50_000 + b"]" * 50_000, js, False),
            ("a surrogate key", "boston", json.dumps(BOSTON).encode()[:-1] + b', "\\udc80": 1}', js, False),
            ("a surrogate review", "imdb", b'{"text": "\\ud800 good film"}', js, True),
            ("a boolean", "boston", json.dumps(BOSTON | {"CRIM": True}).encode(), js, False),
            ("absurd values", "boston", json.dumps({k: 1e300 for k in BOSTON}).encode(), js, False),
            ("a decompression bomb", "colorize", *_multipart("b.png", _png_header(20_000, 20_000), "image/png"), False),
            ("a truncated photo", "colorize", *_multipart("t.png", photo[: len(photo) // 2], "image/png"), False),
            ("prices near the float maximum", "stocks", *_multipart("h.csv", F.prices_csv(huge), "text/csv"), False),
            ("not JSON", "imdb", b'{"text": ', js, False)]


def _rss() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident size from /proc")
def test_the_web_app_under_concurrent_bad_and_good_requests(runs):
    import urllib.error
    import urllib.request

    from serving import ServerThread

    from dlabs.serve import create_app

    corpus = _corpus()
    results: list[tuple[str, bool, int, bytes]] = []

    def send(url: str, case) -> None:
        what, lab, body, ctype, good = case
        req = urllib.request.Request(f"{url}/api/{lab}/predict", data=body, headers={"content-type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                results.append((what, good, r.status, r.read()))
        except urllib.error.HTTPError as e:
            results.append((what, good, e.code, e.read()))

    with ServerThread(create_app(runs["root"])) as server:
        for case in corpus:  # warm up: every lab loaded, every path taken once
            send(server.url, case)
        gc.collect()
        level = _rss()
        stop = time.monotonic() + 8

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < stop:
                send(server.url, rng.choice(corpus))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        gc.collect()
        after = _rss()
    assert len(results) > 2 * len(corpus)
    for what, good, status, body in results:
        assert status < 500, (what, status, body[:200])
        if good:
            assert status == 200 and json.loads(body)["predictions"], (what, status, body[:200])
        else:
            detail = json.loads(body)["detail"]
            assert 400 <= status < 500 and isinstance(detail, str) and "\n" not in detail, (what, status, detail)
    answered = {what for what, good, status, _ in results if good and status == 200}
    assert answered == {c[0] for c in corpus if c[4]}  # good requests were still answered under load
    assert after - level < 150, f"resident memory grew by {after - level:.0f} MiB under load"
