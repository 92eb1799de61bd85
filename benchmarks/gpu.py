"""Every lab's `best` preset trained on one GPU: training time and the headline test metric,
beside the same preset on the CPU when asked (``--cpu``), measured in the same run.

    python benchmarks/gpu.py                  # all labs on cuda
    python benchmarks/gpu.py mnist fashion --cpu

Prints one JSON object and a Markdown table. Needs a CUDA build of PyTorch and a GPU; CI never
runs it. Extra protocols (CV, backtests, verification) are left out: this measures the model.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from dlabs import api


def measure(lab: str, device: str, runs: str) -> dict:
    run = api.train(lab, "best", device=device, runs=runs, progress=False)
    m = api.evaluate(run, device=device, protocols=False)
    headline = api.load(run).lab.headline
    return {"train_s": round(m["train_seconds"], 1), headline: m["model"].get(headline)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labs", nargs="*")
    ap.add_argument("--cpu", action="store_true", help="also train each preset on the CPU")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this benchmark needs a GPU")
    rows = []
    with tempfile.TemporaryDirectory(prefix="dlabs-gpu-") as runs:
        for lab in args.labs or api.lab_names():
            row = {"lab": lab, "gpu": torch.cuda.get_device_name(), "cuda": measure(lab, "cuda", runs)}
            if args.cpu:
                row["cpu"] = measure(lab, "cpu", runs)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    print(json.dumps(rows, indent=2))
    print("| lab | GPU train s | GPU metric | CPU train s | CPU metric |\n|---|---|---|---|---|")
    for r in rows:
        g, c = r["cuda"], r.get("cpu", {})
        metric = [k for k in g if k != "train_s"][0]
        print(f"| {r['lab']} | {g['train_s']} | {metric} {g[metric]:.4g} | {c.get('train_s', '')} | "
              f"{c.get(metric, '')} |")


if __name__ == "__main__":
    main()
