"""Speed race: the manual's Fashion-MNIST CNN trained by dlabs and by Keras 3 on TensorFlow.

Both train the same model (the manual's CNN: conv 32-64-128, max-pool, dropout .25, dense 128)
with the same settings (Adam 1e-3, batch 32) on the same real Fashion-MNIST images, for the same
number of samples, on the same CPU, one after the other, and the script prints images per second
for both and their ratio. Each side first runs a short warm-up fit (graph tracing, oneDNN
kernel selection) that is not timed; then one epoch over `--samples` images is timed from
`fit` start to end. `--repeats` alternates the two and keeps the median, because a shared CPU
is noisy.

TensorFlow is not a dependency of dlabs: the Keras side runs the manual's own code in a separate
virtual environment that this script creates (``--venv``, default /tmp/dlabs-keras-venv) with
``pip install tensorflow-cpu`` from PyPI. This is a benchmark, not a test:

    python benchmarks/fashion_vs_keras.py --samples 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

KERAS_SIDE = textwrap.dedent("""
    import gzip, json, sys, time
    import numpy as np
    import keras
    from keras import layers

    images, labels, samples, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with gzip.open(images) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:samples]
    with gzip.open(labels) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:samples]
    x = x.astype("float32") / 255.0
    y = keras.utils.to_categorical(y, 10)

    def manual_cnn():  # the manual's model, as written there
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Dropout(0.25),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Dropout(0.25),
            layers.Conv2D(128, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.25),
            layers.Dense(10, activation="softmax"),
        ])
        model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(), metrics=["accuracy"])
        return model

    model = manual_cnn()
    model.fit(x[:warmup], y[:warmup], batch_size=32, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    seconds = time.perf_counter() - t0
    print(json.dumps({"samples": len(x), "seconds": seconds, "img_per_s": len(x) / seconds,
                      "keras": keras.__version__, "backend": keras.backend.backend()}))
""")

DLABS_SIDE = textwrap.dedent("""
    import json, sys, time
    import torch
    from dlabs.engine.device import set_seed
    from dlabs.engine.trainer import Trainer
    from dlabs.labs import get_lab

    samples, warmup = int(sys.argv[1]), int(sys.argv[2])
    lab = get_lab("fashion")
    cfg = lab.config("manual", ["data.val_fraction=0", f"data.limit={samples}", "train.epochs=1"])
    set_seed(0)
    data = lab.prepare(cfg, 0)  # the lab's own path: uint8 tensors in memory, the engine's batcher
    model = lab.build_model(cfg, data.state)
    warm = type(data.train)(*(t[:warmup] for t in data.train.tensors))
    Trainer(cfg.train, "cpu", progress=False).fit(model, warm, loss_fn=lab.loss_fn(cfg))
    model = lab.build_model(cfg, data.state)
    t0 = time.perf_counter()
    Trainer(cfg.train, "cpu", progress=False).fit(model, data.train, loss_fn=lab.loss_fn(cfg))
    seconds = time.perf_counter() - t0
    print(json.dumps({"samples": len(data.train), "seconds": seconds, "img_per_s": len(data.train) / seconds,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))
""")


def keras_venv(path: Path) -> Path:
    python = path / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import keras, tensorflow"], capture_output=True).returncode == 0:
        return python
    print(f"creating {path} with tensorflow-cpu (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "tensorflow-cpu"], check=True)
    return python


def run_side(cmd: list, env: dict) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=20000, help="training images per timed fit")
    ap.add_argument("--warmup", type=int, default=640, help="images in the untimed warm-up fit")
    ap.add_argument("--repeats", type=int, default=3, help="alternating measurements; the median is kept")
    ap.add_argument("--venv", type=Path, default=Path("/tmp/dlabs-keras-venv"))
    args = ap.parse_args()

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "src"))
    from dlabs.data.store import fetch

    images = fetch("fashion_mnist", "train-images-idx3-ubyte.gz")
    labels = fetch("fashion_mnist", "train-labels-idx1-ubyte.gz")
    python = keras_venv(args.venv)
    env = dict(os.environ, PYTHONPATH=str(root / "src"), TF_CPP_MIN_LOG_LEVEL="2")
    # PyTorch's OpenMP threads spin while they wait; on a CPU shared with other processes that
    # costs several-fold, so the dlabs side runs with passive waiting (see the report).
    dlabs_env = dict(env, OMP_WAIT_POLICY=env.get("OMP_WAIT_POLICY", "PASSIVE"))
    keras_rows, dlabs_rows = [], []
    for r in range(args.repeats):
        keras_rows.append(run_side([str(python), "-c", KERAS_SIDE, str(images), str(labels), str(args.samples),
                                    str(args.warmup)], env))
        dlabs_rows.append(run_side([sys.executable, "-c", DLABS_SIDE, str(args.samples), str(args.warmup)], dlabs_env))
        print(f"repeat {r + 1}: keras {keras_rows[-1]['img_per_s']:.0f} img/s, "
              f"dlabs {dlabs_rows[-1]['img_per_s']:.0f} img/s", file=sys.stderr)
    keras = statistics.median(row["img_per_s"] for row in keras_rows)
    dlabs = statistics.median(row["img_per_s"] for row in dlabs_rows)
    load = os.getloadavg()
    print(json.dumps({"model": "manual fashion CNN", "batch_size": 32, "samples": args.samples,
                      "cpu_count": os.cpu_count(), "load_average": [round(v, 2) for v in load],
                      "keras": {"img_per_s": round(keras, 1), **{k: v for k, v in keras_rows[0].items()
                                                                 if k in ("keras", "backend")}},
                      "dlabs": {"img_per_s": round(dlabs, 1), **{k: v for k, v in dlabs_rows[0].items()
                                                                 if k in ("torch", "threads")}},
                      "ratio_dlabs_over_keras": round(dlabs / keras, 3),
                      "runs": {"keras": keras_rows, "dlabs": dlabs_rows}}, indent=2))


if __name__ == "__main__":
    main()
