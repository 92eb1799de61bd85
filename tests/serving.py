"""Smoke runs of every lab with data, made once per test session and shared by the test files that
only read them (the run-folder contract, the web app, the book, export, explain)."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

from dlabs import api
from dlabs.labs import labs

from conftest import MIRROR, session_dir

_made: dict[str, Path] = {}


def servable_labs() -> list[str]:
    """Labs whose data is in the mirror (the others cannot train here, and are skipped)."""
    return [name for name, lab in labs().items() if all((MIRROR / ds).is_dir() for ds in lab.datasets[:1])]


UNEVALUATED = "letters"  # trained only: the web app's and the book's paths for a run not yet evaluated
# faces' LFW View 2 protocol trains models of its own; tests/test_faces.py covers it
OVERRIDES = {"faces": ["verification=false"]}


def smoke_runs(tmp_path_factory) -> Path:
    """A runs folder with a smoke run per servable lab, made by `dlabs run` (trained, evaluated with the
    lab's extra protocols, reported), but UNEVALUATED's, which is only trained. Readers copy a run
    before they change it.

    Made once per test session and shared by xdist's workers: each lab's run is made by whichever
    worker first takes its lock, so workers that need the runs at the same time share the work.
    """
    if "root" not in _made:
        shared = session_dir(tmp_path_factory)
        root = shared / "serve-runs"
        pending = servable_labs()
        while pending:
            for name in list(pending):
                made = shared / f"serve-runs.{name}.made"
                with open(shared / f"serve-runs.{name}.lock", "w") as lock:
                    if not made.exists():
                        try:  # released by the OS too if the worker dies
                            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        except BlockingIOError:
                            continue  # another worker is making it
                        if not made.exists():
                            _make(name, root)
                            made.touch()
                pending.remove(name)
            if pending:
                time.sleep(0.5)
        _made["root"] = root
    return _made["root"]


def _make(name: str, root: Path) -> None:
    shutil.rmtree(root / name, ignore_errors=True)  # what a worker that died left
    if name == UNEVALUATED:
        api.train(name, "smoke", runs=root, progress=False)
    else:
        api.run(name, "smoke", OVERRIDES.get(name, ()), runs=root, progress=False)


def browser_path() -> str | None:
    """Debian's chromium, when installed (the browser tests skip without it)."""
    path = os.environ.get("DLABS_CHROMIUM", "/usr/bin/chromium")
    return path if Path(path).is_file() else None


class ServerThread:
    """A real uvicorn server for `app` on a free port of 127.0.0.1, in a background thread."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServerThread":
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
