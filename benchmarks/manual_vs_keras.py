"""The course's own models, dlabs against the manual's Keras code: test metric and training time.

For each lab given (boston, imdb, letters, mnist, fashion), the manual's Keras code (its model,
compile and fit calls as the manual writes them) and ``dlabs train LAB --preset manual`` followed
by ``dlabs evaluate`` run alternately, `--seeds` times each (seeds 0..N-1; which side goes first
alternates too), on the same data and protocol:

- the same rows: the Keras side reads arrays that dlabs' own loaders made (boston's Keras split
  404/102; the official MNIST / Fashion-MNIST 60k/10k; letters' UCI first 16,000 / last 4,000;
  imdb's official 25k/25k reviews as dlabs' multi-hot of the 10,000 words in most training
  reviews), and is scored on the same test split;
- the manual's preprocessing on the Keras side (boston's StandardScaler, pixels / 255; letters
  has no code of its own in the manual, so its features are standardised as dlabs does);
- ``verbose=0``, and no ``validation_data=(x_test, y_test)``: the manual watches the test set
  during training, which dlabs does not do; dropping it only makes the Keras side faster.

Time is the whole training, ``model.fit`` on the Keras side and the lab's training on the dlabs
side (building the model, every epoch and its checkpoint); data loading and scoring are outside
both. Both sides get the same CPU threads (`--threads`, default 2: TensorFlow's intra- and
inter-op pools, PyTorch's at most that). ``--isa avx2`` emulates a CPU without AVX-512 on one
that has it, for both sides (oneDNN's ``ONEDNN_MAX_CPU_ISA=AVX2``, PyTorch's
``ATEN_CPU_CAPABILITY=avx2``, MKL's ``MKL_ENABLE_INSTRUCTIONS=AVX2``); the table says so.

TensorFlow is not a dependency of dlabs: the Keras side runs in a virtual environment that this
script creates once (``--venv``) with ``pip install tensorflow-cpu scikit-learn``. This is a
benchmark, not a test; run it on an otherwise idle machine, one lab at a time if it is shared:

    python benchmarks/manual_vs_keras.py boston letters --seeds 5
    python benchmarks/manual_vs_keras.py fashion --isa avx2 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABS = ("boston", "imdb", "letters", "mnist", "fashion")
METRIC = {"boston": ("rmse", "min"), "imdb": ("accuracy", "max"), "letters": ("accuracy", "max"),
          "mnist": ("accuracy", "max"), "fashion": ("accuracy", "max")}

KERAS_HEAD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    lab, data, seed, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras
    keras.utils.set_random_seed(seed)
    d = np.load(data)
""")

# the manual's code for each lab; `fit()` trains, `test_metric()` scores on the test split
KERAS = {
    "boston": """
        X_train, y_train, X_test, y_test = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
        from sklearn.preprocessing import StandardScaler
        sc = StandardScaler()
        X_train = sc.fit_transform(X_train)
        X_test = sc.transform(X_test)
        from keras.layers import Dense
        from keras.models import Sequential
        model = Sequential()
        model.add(Dense(128, activation = 'relu', input_dim =13))
        model.add(Dense(64, activation = 'relu'))
        model.add(Dense(32, activation = 'relu'))
        model.add(Dense(16, activation = 'relu'))
        model.add(Dense(1))
        model.compile(optimizer = 'adam', loss = 'mean_squared_error', metrics=['mae'])
        fit = lambda: model.fit(X_train, y_train, epochs=100, validation_split=0.05, verbose=0)
        def test_metric():
            mse_nn, mae_nn = model.evaluate(X_test, y_test, verbose=0)
            return float(np.sqrt(mse_nn))
    """,
    "imdb": """
        from scipy.sparse import csr_matrix
        def dense(part):
            return csr_matrix((np.ones(len(d[part + "_indices"]), np.float32), d[part + "_indices"],
                               d[part + "_indptr"]), shape=(len(d[part + "_indptr"]) - 1, 10000)).toarray()
        X_train, y_train = dense("train"), d["y_train"].astype("float32")
        X_test, y_test = dense("test"), d["y_test"].astype("float32")
        from keras import models, layers
        model = models.Sequential()
        model.add(layers.Dense(50, activation = "relu", input_shape=(10000, )))
        model.add(layers.Dropout(0.3, noise_shape=None, seed=None))
        model.add(layers.Dense(50, activation = "relu"))
        model.add(layers.Dropout(0.2, noise_shape=None, seed=None))
        model.add(layers.Dense(50, activation = "relu"))
        model.add(layers.Dense(1, activation = "sigmoid"))
        callback = tf.keras.callbacks.EarlyStopping(monitor='loss', patience=3)
        model.compile(optimizer = "adam", loss = "binary_crossentropy", metrics = ["accuracy"])
        fit = lambda: model.fit(X_train, y_train, epochs= 2, batch_size = 500, callbacks=[callback], verbose=0)
        def test_metric():
            return float(model.evaluate(X_test, y_test, batch_size=500, verbose=0)[1])
    """,
    # the manual's lab 3 code is its MNIST MLP; on letters it takes 16 standardised features, 26 classes
    "letters": """
        x_train, y_train, x_test, y_test = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        num_classes = 26
        y_train, y_test = np.eye(num_classes)[y_train], np.eye(num_classes)[y_test]
        from keras.models import Sequential
        from keras.layers import Dense, Dropout
        from keras.optimizers import RMSprop
        model = Sequential()
        model.add(Dense(512, activation='relu', input_shape=(16,)))
        model.add(Dropout(0.2))
        model.add(Dense(512, activation='relu'))
        model.add(Dropout(0.2))
        model.add(Dense(num_classes, activation='softmax'))
        model.compile(loss='categorical_crossentropy', optimizer=RMSprop(), metrics=['accuracy'])
        batch_size = 128
        epochs = 20
        fit = lambda: model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0)
        def test_metric():
            return float(model.evaluate(x_test, y_test, verbose=0)[1])
    """,
    "mnist": """
        x_train, y_train, x_test, y_test = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
        x_train = x_train.reshape(60000, 784)
        x_test = x_test.reshape(10000, 784)
        x_train = x_train.astype('float32')
        x_test = x_test.astype('float32')
        x_train /= 255
        x_test /= 255
        num_classes = 10
        y_train = np.eye(num_classes)[y_train]
        y_test = np.eye(num_classes)[y_test]
        from keras.models import Sequential
        from keras.layers import Dense, Dropout
        from keras.optimizers import RMSprop
        model = Sequential()
        model.add(Dense(512, activation='relu', input_shape=(784,)))
        model.add(Dropout(0.2))
        model.add(Dense(512, activation='relu'))
        model.add(Dropout(0.2))
        model.add(Dense(num_classes, activation='softmax'))
        model.compile(loss='categorical_crossentropy', optimizer=RMSprop(), metrics=['accuracy'])
        batch_size = 128
        epochs = 20
        fit = lambda: model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0)
        def test_metric():
            return float(model.evaluate(x_test, y_test, verbose=0)[1])
    """,
    "fashion": """
        x_train, y_train, x_test, y_test = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
        x_train = x_train.astype('float32') / 255.0
        x_test = x_test.astype('float32') / 255.0
        x_train = x_train.reshape(-1, 28, 28, 1)
        x_test = x_test.reshape(-1, 28, 28, 1)
        model = keras.Sequential([
            keras.layers.Conv2D(32, (3,3), activation='relu', input_shape=(28,28,1)),
            keras.layers.MaxPooling2D((2,2)),
            keras.layers.Dropout(0.25),
            keras.layers.Conv2D(64, (3,3), activation='relu'),
            keras.layers.MaxPooling2D((2,2)),
            keras.layers.Dropout(0.25),
            keras.layers.Conv2D(128, (3,3), activation='relu'),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation='relu'),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(10, activation='softmax')
        ])
        model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
        fit = lambda: model.fit(x_train, y_train, epochs=10, verbose=0)
        def test_metric():
            test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
            return float(test_acc)
    """,
}

KERAS_TAIL = textwrap.dedent("""
    t0 = time.perf_counter()
    fit()
    seconds = time.perf_counter() - t0
    print(json.dumps({"metric": test_metric(), "train_seconds": seconds, "keras": keras.__version__,
                      "tensorflow": tf.__version__}))
""")

# `dlabs train LAB --preset manual --seed S` then `dlabs evaluate RUN`, through the API the CLI calls;
# the lab's training is timed, and the baselines (not compared here) are skipped
DLABS_SIDE = textwrap.dedent("""
    import json, sys, time
    from dlabs import api
    from dlabs.labs import get_lab
    lab, seed, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    metric = {"boston": "rmse"}.get(lab, "accuracy")
    lab_ = get_lab(lab)
    seconds, train_model = [], lab_.train_model
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        out = train_model(*args, **kwargs)
        seconds.append(time.perf_counter() - t0)
        return out
    lab_.train_model = timed
    lab_.baselines = lambda *args: {}
    run = api.train(lab, preset="manual", seed=seed, runs=runs, progress=False)
    import torch
    threads = torch.get_num_threads()  # as trained (evaluate sets its own)
    result = api.evaluate(run, runs=runs, protocols=seed == 0)  # seed 0's row is the README's (boston: with CV)
    print(json.dumps({"metric": result["model"][metric], "train_seconds": seconds[0], "metrics": result["model"],
                      "protocols": result.get("protocols", {}),
                      "torch": torch.__version__, "threads": threads,
                      "capability": torch.backends.cpu.get_cpu_capability()}))
""")


def export_data(lab: str, path: Path) -> None:
    """The lab's train and test arrays as dlabs reads them, for the Keras side (an .npz file)."""
    import numpy as np

    from dlabs.labs import get_lab

    if lab == "boston":
        from dlabs.data import tabular

        x, y, _, _ = tabular.load_boston()
        tr, te = tabular.keras_split(len(x))
        arrays = {"x_train": x[tr], "y_train": y[tr], "x_test": x[te], "y_test": y[te]}
    elif lab == "imdb":
        lab_ = get_lab("imdb")
        cfg = lab_.config("manual")
        data = lab_.train_data(cfg, 0)  # no validation share: the vocabulary of all 25,000 training reviews
        test = lab_.test_data(cfg, data.state)
        arrays = {}
        for part, x, y in (("train", data.train.x, data.train.y.numpy().ravel()), ("test", test.x, test.y)):
            x = x.tocsr()
            x.sort_indices()
            arrays |= {f"{part}_indptr": x.indptr, f"{part}_indices": x.indices, f"y_{part}": np.asarray(y)}
    else:
        lab_ = get_lab(lab)
        x_tr, y_tr, x_te, y_te = lab_.load(lab_.config("manual"))
        arrays = {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}
    np.savez(path, **arrays)


def keras_venv(path: Path) -> Path:
    python = path / "bin" / "python"
    probe = [str(python), "-c", "import keras, tensorflow, sklearn, scipy"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"creating {path} with tensorflow-cpu and scikit-learn (once)", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "tensorflow-cpu", "scikit-learn"], check=True)
    return python


def cpu_flags() -> dict:
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {f: f in flags for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")}


def run_side(cmd: list, env: dict) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        sys.exit(f"{cmd[:3]} failed:\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return row | {"process_seconds": round(time.perf_counter() - t0, 2)}


def summary(rows: list[dict]) -> dict:
    metric = [r["metric"] for r in rows]
    secs = [r["train_seconds"] for r in rows]
    sd = statistics.stdev if len(rows) > 1 else (lambda v: 0.0)
    return {"metric_mean": statistics.mean(metric), "metric_sd": sd(metric), "metric_min": min(metric),
            "metric_max": max(metric), "seconds_mean": statistics.mean(secs), "seconds_sd": sd(secs),
            "seconds_median": statistics.median(secs)}


def compare(lab: str, seeds: int, threads: int, isa: str, python: Path, log) -> dict:
    name, mode = METRIC[lab]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS=str(threads))
    if isa == "avx2":
        env |= {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    with tempfile.TemporaryDirectory(prefix=f"manual-vs-keras-{lab}-") as tmp:
        data = Path(tmp) / "data.npz"
        export_data(lab, data)
        keras_code = KERAS_HEAD + textwrap.dedent(KERAS[lab]) + KERAS_TAIL
        rows = {"keras": [], "dlabs": []}
        for seed in range(seeds):
            sides = {"keras": [str(python), "-c", keras_code, lab, str(data), str(seed), str(threads)],
                     "dlabs": [sys.executable, "-c", DLABS_SIDE, lab, str(seed), str(Path(tmp) / "runs")]}
            for side in (("keras", "dlabs") if seed % 2 == 0 else ("dlabs", "keras")):
                rows[side].append(run_side(sides[side], env) | {"seed": seed})
                r = rows[side][-1]
                log(f"{lab} seed {seed} {side}: {name} {r['metric']:.4f}, train {r['train_seconds']:.1f}s")
    k, d = summary(rows["keras"]), summary(rows["dlabs"])
    # quality parity: dlabs' mean no worse than the Keras mean by more than the Keras seeds' spread
    parity = (d["metric_mean"] <= k["metric_mean"] + k["metric_sd"] if mode == "min"
              else d["metric_mean"] >= k["metric_mean"] - k["metric_sd"])
    return {"lab": lab, "metric": name, "better": mode, "seeds": seeds, "keras": k, "dlabs": d,
            "speedup": k["seconds_mean"] / d["seconds_mean"], "quality_parity": parity,
            "versions": {key: rows[side][0][key] for side, keys in (("keras", ("keras", "tensorflow")),
                                                                    ("dlabs", ("torch", "threads", "capability")))
                         for key in keys},
            "runs": rows}


def table(results: list[dict], header: str) -> str:
    lines = [header, "",
             "| lab | metric (test) | Keras (manual's code) | dlabs `manual` | Keras train s | dlabs train s | speed-up | quality |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        k, d = r["keras"], r["dlabs"]
        fmt = "{:.3f}" if r["metric"] == "rmse" else "{:.4f}"
        lines.append(f"| {r['lab']} | {r['metric']} | {fmt.format(k['metric_mean'])} ± {fmt.format(k['metric_sd'])} "
                     f"| {fmt.format(d['metric_mean'])} ± {fmt.format(d['metric_sd'])} "
                     f"| {k['seconds_mean']:.1f} ± {k['seconds_sd']:.1f} | {d['seconds_mean']:.1f} ± {d['seconds_sd']:.1f} "
                     f"| {r['speedup']:.2f}× | {'parity' if r['quality_parity'] else 'below'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labs", nargs="+", choices=LABS, metavar="LAB", help=f"one or more of {', '.join(LABS)}")
    ap.add_argument("--seeds", type=int, default=5, help="trainings per side (seeds 0..N-1)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for each side")
    ap.add_argument("--isa", choices=("native", "avx2"), default="native",
                    help="avx2: emulate a CPU without AVX-512 (both sides)")
    ap.add_argument("--venv", type=Path, default=Path("/work/keras-venv"), help="the Keras side's virtual environment")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    python = keras_venv(args.venv)
    flags = cpu_flags()
    isa = ("AVX2, emulated on a CPU with AVX-512 (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS)"
           if args.isa == "avx2" and flags["avx512f"] else "native")
    results = [compare(lab, args.seeds, args.threads, args.isa, python, lambda m: print(m, file=sys.stderr, flush=True))
               for lab in args.labs]
    meta = {"isa": isa, "cpu_flags": flags, "cpu_count": os.cpu_count(), "threads": args.threads,
            "load_average": [round(v, 2) for v in os.getloadavg()], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.json:
        print(json.dumps({**meta, "results": results}, indent=2))
        return
    header = (f"{time.strftime('%Y-%m-%d', time.gmtime())}, {args.seeds} seeds per side, {args.threads} threads, "
              f"ISA: {isa}; CPU flags: " + ", ".join(f for f, on in flags.items() if on))
    print(table(results, header))


if __name__ == "__main__":
    main()
