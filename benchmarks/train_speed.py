"""Training speed of one lab preset under several variants, alternating, in one run.

A variant is a name and settings: ``nproc=N`` (N processes under torchrun, DDP), ``threads=N``
(PyTorch's CPU threads per process), ``src=DIR`` (another source tree of dlabs, e.g. an older
commit checked out with `git worktree`, to compare code). Each repeat trains every variant once,
in turn, so a noisy machine slows them alike; the table gives the median epoch time and whole
training time of each, and the ratio to the first variant.

    # 2 processes x 1 thread against 1 process x 2 threads
    python benchmarks/train_speed.py fashion -p best --set train.epochs=2 \
        --variant 1x2=nproc=1,threads=2 --variant 2x1=nproc=2,threads=1
    # this tree against an older commit
    git worktree add /tmp/before HEAD~5
    python benchmarks/train_speed.py fashion -p manual --variant before=src=/tmp/before/src --variant after=src=src

Prints one JSON object on standard output (progress on standard error). Say which CPU it ran
on (`lscpu`): the figures differ between machines with and without AVX-512.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _variant(text: str) -> tuple[str, dict]:
    name, _, spec = text.partition("=")
    settings = dict(kv.split("=", 1) for kv in spec.split(",") if kv)
    unknown = set(settings) - {"nproc", "threads", "src"}
    if not name or unknown:
        raise SystemExit(f"--variant {text}: expected NAME=nproc=N,threads=N,src=DIR")
    return name, settings


def _train(lab: str, preset: str, sets: list[str], settings: dict, runs: Path) -> dict:
    env = dict(os.environ)
    if "src" in settings:
        env["PYTHONPATH"] = str(Path(settings["src"]).resolve())
    args = ["-m", "dlabs", "-q", "train", lab, "--preset", preset, "--runs", str(runs)]
    for s in sets + ([f"train.threads={settings['threads']}"] if "threads" in settings else []):
        args += ["--set", s]
    nproc = int(settings.get("nproc", 1))
    cmd = [sys.executable] + (["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
                              if nproc > 1 else []) + args
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    run = max((runs / lab).iterdir(), key=lambda p: p.stat().st_mtime)
    seconds = [float(line.split(",")[-1]) for line in (run / "history.csv").read_text().splitlines()[1:]]
    epochs = [b - a for a, b in zip([0.0] + seconds, seconds)]
    return {"epoch_s": statistics.median(epochs), "train_s": seconds[-1], "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lab")
    ap.add_argument("-p", "--preset", default="best")
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--variant", action="append", required=True, type=_variant)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, list[dict]] = {name: [] for name, _ in args.variant}
    with tempfile.TemporaryDirectory(prefix="dlabs-bench-") as tmp:
        for r in range(args.repeats):
            for name, settings in args.variant:
                m = _train(args.lab, args.preset, args.sets, settings, Path(tmp) / name)
                results[name].append(m)
                print(f"repeat {r + 1} {name}: {m}", file=sys.stderr)
    first = args.variant[0][0]
    summary = {name: {k: statistics.median(m[k] for m in ms) for k in ("epoch_s", "train_s", "wall_s")}
               for name, ms in results.items()}
    for name in summary:
        summary[name]["speedup_over_" + first] = summary[first]["epoch_s"] / summary[name]["epoch_s"]
    print(json.dumps({"lab": args.lab, "preset": args.preset, "sets": args.sets, "repeats": args.repeats,
                      "variants": dict(args.variant), "median": summary, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
