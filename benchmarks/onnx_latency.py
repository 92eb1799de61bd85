"""Single-input predict latency of an exported model in ONNX Runtime against the same run in PyTorch.

    python benchmarks/onnx_latency.py [--labs mnist letters imdb] [--calls 200] [--runs DIR]

For each lab: the latest run in the runs folder (a `smoke` run is trained first when there is
none), exported with `dlabs export` into a temporary folder; then the same one input predicted
`--calls` times through each, in blocks that take turns, after a warm-up. Two timings a call: the whole
`predict` (reading and preparing the input, the network, the formatted result: what a user
waits for once the model is loaded) and the network alone (PyTorch's module under inference
mode against ONNX Runtime's session on the prepared input). Prints one JSON object: p50 in
milliseconds and the ratio PyTorch / ONNX Runtime (above 1: ONNX Runtime is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def _input(lab: str, state: dict) -> tuple[list, dict]:
    """One input as `predict` takes it, and the prepared graph input of the same example."""
    import numpy as np

    if lab in ("mnist", "fashion"):
        import io

        from PIL import Image

        from dlabs.data import idx

        *_, x_test, _ = idx.load_images("mnist" if lab == "mnist" else "fashion_mnist", 10)
        buf = io.BytesIO()
        Image.fromarray(255 - x_test[0]).save(buf, format="PNG")
        return [buf.getvalue()], {"image": x_test[:1, None]}
    if lab == "letters":
        row = dict(zip(state["features"], [2, 8, 3, 5, 1, 8, 13, 0, 6, 6, 10, 8, 0, 8, 0, 8]))
        return [json.dumps(row)], {"features": np.array([list(row.values())], dtype=np.float64)}
    if lab == "imdb":
        from dlabs.data import text
        from dlabs.labs._export import bag_input

        review = "A wonderful film: the acting is superb, the story moving, and I loved every minute of it."
        x = text.NgramVocabulary.from_state(state).transform([text.tokenize(review)])
        return [review], bag_input(x)
    raise SystemExit(f"no benchmark input for {lab}")


ROUNDS = 4


def _times(fn, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench(lab: str, calls: int, runs: Path | None) -> dict:
    import torch

    from dlabs import api
    from dlabs.api import _onnx
    from dlabs.labs.base import Request

    run = api.latest_run(lab, runs) or api.train(lab, "smoke", runs=runs, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        result = api.export(run, out=Path(tmp) / lab)
        torch_model, onnx_model = api.load(run), _onnx.load(Path(tmp) / lab)
        items, graph_input = _input(lab, torch_model.state)
        request = Request([("input", i) for i in items] if isinstance(items[0], bytes) else [("text", i) for i in items])
        ex = torch_model.lab.export(torch_model, torch_model.lab.test_data(torch_model.cfg, torch_model.state))
        module, tensors = ex.module.eval(), [torch.from_numpy(v.copy()) for v in graph_input.values()]

        def torch_net():
            with torch.inference_mode():
                module(*tensors)

        timings = {k: [] for k in ("predict_torch", "predict_onnx", "net_torch", "net_onnx")}
        steps = {"predict_torch": lambda: torch_model.lab.predict(torch_model, request),
                 "predict_onnx": lambda: onnx_model.lab.predict(onnx_model, request),
                 "net_torch": torch_net, "net_onnx": lambda: onnx_model.onnx(**graph_input)}
        # in blocks of calls (a runtime's idle threads still spin for a while after its call, which would
        # slow the other one's next call), the blocks taking turns so that a busy moment falls on all alike
        for _ in range(ROUNDS):
            for name, fn in steps.items():
                _times(fn, 5)  # warm-up
                timings[name] += _times(fn, calls // ROUNDS)
    p50 = {k: round(statistics.median(v), 3) for k, v in timings.items()}
    return {"run": str(run.path), "check": result["check"]["max_abs_diff"], "p50_ms": p50,
            "ratio_predict": round(p50["predict_torch"] / p50["predict_onnx"], 2),
            "ratio_network": round(p50["net_torch"] / p50["net_onnx"], 2)}


def main() -> None:
    # PyTorch's OpenMP threads sleep between operators: busy-waiting, on a shared CPU one MNIST image
    # took 15 ms instead of 0.1 ms
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labs", nargs="+", default=["mnist", "letters", "imdb"])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--runs", type=Path, default=None, help="runs folder (default $DLABS_RUNS or ./runs)")
    args = ap.parse_args()
    import torch

    out = {"calls": args.calls, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
           "labs": {lab: bench(lab, args.calls, args.runs) for lab in args.labs}}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
