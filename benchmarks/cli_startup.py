"""How long `dlabs list` and `dlabs --help` take to start: the median of N runs of each, alternating.

    python benchmarks/cli_startup.py [--repeats 5] [--runs DIR]

Targets on a 2-core laptop CPU: `dlabs list` at most 0.5 s, `dlabs --help` at most 0.3 s (reading
the lab registry must not import torch). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--runs", default=None, help="runs folder for `dlabs list` (default: $DLABS_RUNS or ./runs)")
    args = ap.parse_args()
    exe = shutil.which("dlabs") or sys.exit("dlabs is not on PATH: activate the venv")
    commands = {"list": [exe, "list"] + (["--runs", args.runs] if args.runs else []), "--help": [exe, "--help"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    subprocess.run(commands["list"], capture_output=True)  # warm the file cache once
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times[name].append(time.perf_counter() - t0)
    print(json.dumps({name: {"median_s": round(statistics.median(t), 3), "runs_s": [round(x, 3) for x in t]}
                      for name, t in times.items()}, indent=2))


if __name__ == "__main__":
    main()
