"""The cost of one request (issue 23): the web server's peak memory for a 24-megapixel photo given
to colorize, and the time `dlabs predict imdb --file` takes for a file of 100,000 reviews.

    python benchmarks/request_costs.py --colorize RUN --imdb RUN [--reviews N]

`--colorize` and `--imdb` are run folders of those labs (a `smoke` run is enough: the costs are
the input's, not the model's). The server is `dlabs serve` in its own process; its peak resident
memory is the kernel's high-water mark (VmHWM) after the request. The reviews are the test
split's, repeated up to N, one a line. Prints one JSON object. Targets: at most 1 GiB for the
server, seconds rather than minutes for the reviews.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _status(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB -> MiB
    raise KeyError(key)


def _photo(path: Path) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (400, 600), dtype=np.uint8)
    big = Image.fromarray(small).resize((6000, 4000), Image.Resampling.BICUBIC)
    noise = rng.integers(-6, 7, (4000, 6000), dtype=np.int16)
    Image.fromarray(np.clip(np.asarray(big, dtype=np.int16) + noise, 0, 255).astype(np.uint8)).save(path, quality=85)


def colorize_server(run: Path, work: Path) -> dict:
    runs = work / "runs"
    shutil.copytree(run, runs / "colorize" / run.name)
    photo = work / "24mp.jpg"
    _photo(photo)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([shutil.which("dlabs") or sys.exit("dlabs is not on PATH"), "serve", "--runs", str(runs),
                               "--port", str(port)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/api/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        urllib.request.urlopen(f"{url}/api/labs/colorize", timeout=60)  # loads nothing yet: the form only
        boundary = "bench"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="24mp.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n").encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        before = _status(server.pid, "VmRSS")
        t0 = time.perf_counter()
        req = urllib.request.Request(f"{url}/api/colorize/predict", data=body,
                                     headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=600) as r:
            answer = json.loads(r.read())
        seconds = time.perf_counter() - t0
        return {"photo_mb": round(photo.stat().st_size / 2**20, 1), "pixels": "6000x4000",
                "server_rss_before_mib": round(before), "server_peak_rss_mib": round(_status(server.pid, "VmHWM")),
                "server_rss_after_mib": round(_status(server.pid, "VmRSS")), "seconds": round(seconds, 1),
                "answer": answer["predictions"][0]["size"]}
    finally:
        server.terminate()
        server.wait(30)


def imdb_file(run: Path, work: Path, n: int) -> dict:
    from dlabs.data import aclimdb, store

    path = store.fetch("imdb", "archive")
    spec = next(f for f in store.dataset("imdb").files if f.name == path.name)
    reviews = aclimdb.load_reviews(path, spec.checksum)
    texts = [" ".join(t.split()) for t, s in zip(reviews.texts, reviews.split) if s == 1]
    lines = (texts * (n // len(texts) + 1))[:n]
    (work / "reviews.txt").write_text("\n".join(lines) + "\n")
    cmd = [shutil.which("dlabs") or sys.exit("dlabs is not on PATH"), "predict", "imdb", "--run", str(run),
           "--file", str(work / "reviews.txt")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"reviews": n, "wall_s": round(wall, 1), "cpu_s": round(after.ru_utime + after.ru_stime
                                                                    - before.ru_utime - before.ru_stime, 1),
            "peak_rss_mib": round(after.ru_maxrss / 1024), "lines_printed": out.count("\n")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--colorize", type=Path, help="a colorize run folder")
    ap.add_argument("--imdb", type=Path, help="an imdb run folder")
    ap.add_argument("--reviews", type=int, default=100_000)
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    result = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as work:
        if args.colorize:
            result["colorize_24mp"] = colorize_server(args.colorize.resolve(), Path(work))
        if args.imdb:
            result["imdb_file"] = imdb_file(args.imdb.resolve(), Path(work), args.reviews)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
