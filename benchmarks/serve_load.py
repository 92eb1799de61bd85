"""Load test of `dlabs serve` on loopback: N concurrent clients for a fixed time per lab.

Starts ``dlabs serve`` on 127.0.0.1 (a free port) over a runs folder, then for each lab named
sends its sample good request (`dlabs.serve.samples`, the same inputs the tests use) from N
concurrent clients for T seconds, and reports requests/s, p50/p99 latency, errors (anything
but HTTP 200) and the server's resident memory: idle, after the first request of each lab (its
model loaded), and after the load. Bounded: at most 256 clients and 600 s per lab, loopback only.

    python benchmarks/serve_load.py boston imdb mnist --clients 8 --seconds 20 --runs runs [--json]

The clients run on the same machine as the server, so on a small machine they take CPU from
it: the figures are a floor for what the server does alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

from dlabs.serve.samples import good_request

HOST = "127.0.0.1"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(runs: str, port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dlabs", "-q", "serve", "--host", HOST, "--port", str(port), "--runs", runs]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(f"http://{HOST}:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"the server did not start in 60 s; see {log}")


async def hammer(base: str, lab: str, request: dict, clients: int, seconds: float) -> dict:
    latencies, errors, statuses = [], 0, {}
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        async def one_client():
            nonlocal errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.post(f"/api/{lab}/predict", **request)
                    code = r.status_code
                except httpx.HTTPError as e:
                    code = type(e).__name__
                latencies.append(time.perf_counter() - t0)
                statuses[code] = statuses.get(code, 0) + 1
                if code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - t0
    latencies.sort()

    def pct(q):
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {"requests": len(latencies), "seconds": round(wall, 2), "req_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(pct(0.50), 1), "p99_ms": round(pct(0.99), 1), "errors": errors,
            "statuses": {str(k): v for k, v in statuses.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labs", nargs="+", help="labs to load (each needs a trained run in --runs)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (at most 256)")
    ap.add_argument("--seconds", type=float, default=20, help="load time per lab (at most 600)")
    ap.add_argument("--runs", default=os.environ.get("DLABS_RUNS", "runs"), help="runs folder to serve")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()
    clients, seconds = max(1, min(args.clients, 256)), max(1.0, min(args.seconds, 600.0))
    port = free_port()
    base = f"http://{HOST}:{port}"
    log = Path(tempfile.gettempdir()) / f"dlabs-serve-load-{port}.log"
    proc = start_server(args.runs, port, log)
    result = {"clients": clients, "seconds_per_lab": seconds, "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "rss_idle_mb": round(rss_mb(proc.pid), 1), "labs": {}}
    try:
        for lab in args.labs:
            details = httpx.get(f"{base}/api/labs/{lab}", timeout=30)
            if details.status_code != 200 or not details.json().get("run"):
                raise SystemExit(f"{lab}: no trained run to serve in {args.runs} ({details.text[:200]})")
            request = good_request(details.json()["form"])
            first = httpx.post(f"{base}/api/{lab}/predict", timeout=120, **request)  # loads the model
            if first.status_code != 200:
                raise SystemExit(f"{lab}: the sample request failed: {first.status_code} {first.text[:200]}")
            before = rss_mb(proc.pid)
            row = asyncio.run(hammer(base, lab, request, clients, seconds))
            row.update(kind=details.json()["input_kind"], rss_before_mb=round(before, 1),
                       rss_after_mb=round(rss_mb(proc.pid), 1))
            result["labs"][lab] = row
            print(f"{lab}: {row}", file=sys.stderr)
        alive = httpx.get(f"{base}/api/health", timeout=10).status_code == 200
        result.update(server_alive_after=alive, rss_end_mb=round(rss_mb(proc.pid), 1))
    finally:
        proc.terminate()
        proc.wait(10)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{clients} clients x {seconds:g} s per lab on {HOST}; {result['cpus']} CPUs, load average before "
          f"{result['load_average'][0]:.2f}; server RSS idle {result['rss_idle_mb']} MB")
    print("| lab | kind | requests | req/s | p50 ms | p99 ms | errors | RSS before MB | RSS after MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lab, r in result["labs"].items():
        print(f"| {lab} | {r['kind']} | {r['requests']} | {r['req_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['errors']} | {r['rss_before_mb']} | {r['rss_after_mb']} |")


if __name__ == "__main__":
    main()
