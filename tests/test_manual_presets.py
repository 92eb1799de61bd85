"""The `manual` presets are the manual's models as its Keras code trains them.

Each lab's `MANUAL` preset carries a docstring that lists the manual's settings (``key: value``
lines, with the lines of lab-manual.txt they come from); here the resolved config, and the model
it builds, must say the same. Also: Keras' `validation_split` semantics and Keras' initialisation.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import math
import sys

import numpy as np
import pytest

from dlabs.labs import get_lab
from dlabs.labs._keras import keras_validation_split, validation_rows

LABS = ("boston", "imdb", "letters", "mnist", "fashion")
# what each lab's model is built from without its data: the state keys `build_model` reads
STATES = {
    "boston": {"features": [f"f{i}" for i in range(13)]},
    "imdb": {"scale": np.ones(10_000, dtype=np.float32)},
    "letters": {},
    "mnist": {"pixel_mean": 0.0, "pixel_std": 1.0},
    "fashion": {"pixel_mean": 0.0, "pixel_std": 1.0},
}


def manual_doc(name: str) -> dict[str, str]:
    """The ``key: value`` lines of the docstring that follows ``MANUAL = ...`` in the lab's module."""
    module = importlib.import_module(f"dlabs.labs.{name}")
    body = ast.parse(inspect.getsource(module)).body
    for node, after in itertools.pairwise(body):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MANUAL" for t in node.targets):
            assert isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant), f"{name}: MANUAL has no docstring"
            doc = after.value.value
            assert "lab-manual.txt" in doc.splitlines()[0], f"{name}: the docstring should cite the manual"
            return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in doc.splitlines()[2:])
                    if k.strip().isidentifier() and v}
    raise AssertionError(f"{name}: no MANUAL preset")


def layers(model) -> str:
    """The model's layer widths, input first: "13-128-64-1", "1-conv32-conv64-128-10"."""
    import torch
    from torch import nn

    from dlabs.models.mlp import EnsembleMLP

    sizes = []
    for m in model.modules():
        if isinstance(m, EnsembleMLP):
            sizes += [str(m.weights[0].shape[1])] + [str(w.shape[2]) for w in m.weights]
        elif isinstance(m, nn.Conv2d):
            sizes += [str(m.in_channels)] * (not sizes) + [f"conv{m.out_channels}"]
        elif isinstance(m, nn.Linear):
            sizes += [str(m.in_features)] * (not sizes) + [str(m.out_features)]
    assert isinstance(model, torch.nn.Module)
    return "-".join(sizes)


def first(value: str) -> str:
    return value.split()[0]


@pytest.mark.parametrize("name", LABS)
def test_manual_preset_matches_its_docstring(name):
    lab = get_lab(name)
    cfg = lab.config("manual")
    doc = manual_doc(name)
    for key in ("layers", "epochs", "batch", "optimizer", "lr", "eps", "validation", "init", "loss"):
        assert key in doc, f"{name}: the MANUAL docstring lists no {key}"
    t = cfg.train
    assert layers(lab.build_model(cfg, STATES[name])) == first(doc["layers"])
    assert t.epochs == int(first(doc["epochs"]))
    assert t.batch_size == int(first(doc["batch"]))
    assert t.optimizer == first(doc["optimizer"])
    assert math.isclose(t.lr, float(first(doc["lr"])))
    assert math.isclose(t.eps, float(first(doc["eps"])))
    assert cfg.model.init == first(doc["init"]) == "keras"
    assert (t.patience, t.schedule, t.weight_decay) == (0, "none", 0.0)  # Keras' fit: no early stop, no schedule
    val = doc["validation"].split()
    if val[0] == "none":
        assert cfg.data.val_fraction == 0
    else:
        assert val[0] == cfg.data.val_split == "last" and math.isclose(cfg.data.val_fraction, float(val[1]))
    d = cfg.model.dropout  # imdb: one rate per hidden layer
    assert ("-".join(f"{p:g}" for p in d if p) if isinstance(d, tuple) else f"{d:g}") == first(doc["dropout"])
    if "pixels" in doc:
        assert cfg.model.pixels == first(doc["pixels"])


def test_keras_validation_split_takes_the_last_rows_in_order():
    rows = np.arange(100, 120)[::-1]  # any order: the split keeps it
    fit, val = keras_validation_split(rows, 0.25)
    assert list(fit) == list(rows[:15]) and list(val) == list(rows[15:])
    # Keras: the first floor(n * (1 - f)) rows fit; boston's 404 rows at 0.05 leave the last 21
    fit, val = keras_validation_split(np.arange(404), 0.05)
    assert len(fit) == 383 and list(val) == list(range(383, 404))
    # the same whatever the seed, and nothing held out at 0
    assert np.array_equal(validation_rows(rows, 0.25, "last", 1)[1], validation_rows(rows, 0.25, "last", 2)[1])
    assert len(validation_rows(rows, 0.0, "last", 0)[1]) == 0
    # the seeded share stays what it was (the `best` presets' results depend on it)
    fit, val = validation_rows(np.arange(20), 0.25, "seeded", 0)
    perm = np.random.RandomState(0).permutation(20)
    assert list(val) == list(perm[:5]) and list(fit) == list(perm[5:])


def test_boston_manual_validates_on_the_last_rows_of_the_keras_split():
    from dlabs.data import tabular

    train_idx, _ = tabular.keras_split(506)
    fit, val = validation_rows(train_idx, 0.05, "last", 0)
    assert list(val) == list(train_idx[383:]) and list(fit) == list(train_idx[:383])


def test_keras_init_is_glorot_uniform_with_zero_biases():
    import torch
    from torch import nn

    from dlabs.models.init import initialise
    from dlabs.models.mlp import MLP, EnsembleMLP

    torch.manual_seed(0)
    mlp = initialise(MLP(400, (200,), 10), "keras")
    bound = math.sqrt(6 / 600)
    w = mlp[0].weight
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound and torch.all(mlp[0].bias == 0)
    ens = initialise(EnsembleMLP(2, 400, (200,), 10), "keras")
    assert ens.weights[0].abs().max() <= bound and torch.all(ens.biases[0] == 0)
    conv = initialise(nn.Sequential(nn.Conv2d(32, 64, 3)), "keras")[0]
    assert conv.weight.abs().max() <= math.sqrt(6 / (9 * 32 + 9 * 64)) and torch.all(conv.bias == 0)
    with pytest.raises(Exception, match="model.init"):
        initialise(mlp, "xavier")


def test_best_presets_keep_pytorch_defaults():
    for name in LABS:
        cfg = get_lab(name).config("best")
        assert cfg.train.eps == 0.0 and getattr(cfg.model, "init", "torch") == "torch"
        assert cfg.data.val_split == "seeded"


def test_fast_dropout_keeps_the_rate_and_is_put_back_after_training():
    import torch
    from torch import nn

    from dlabs.engine.dropout import FastDropout
    from dlabs.engine.trainer import TensorBatcher, TrainConfig, fit

    torch.manual_seed(0)
    out = FastDropout(0.25).train()(torch.ones(1_000_000))
    assert abs(float((out == 0).float().mean()) - 0.25) < 0.003
    assert torch.all((out == 0) | torch.isclose(out, torch.tensor(4 / 3)))
    x = torch.randn(5, 3)
    assert FastDropout(0.5).eval()(x) is x
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))
    data = TensorBatcher(torch.randn(64, 4), torch.randn(64, 1))
    seen = []
    history = fit(model, data, cfg=TrainConfig(epochs=2, batch_size=16, fast_dropout=True), loss_fn=nn.MSELoss(),
                  callbacks={"on_epoch_end": [lambda row: seen.append(type(model[2]).__name__)]}, progress=False)
    assert seen == ["FastDropout", "FastDropout"] and type(model[2]) is nn.Dropout and len(history) == 2


def test_auto_threads_is_between_one_and_the_cores():
    import os

    from dlabs.engine.device import auto_threads

    assert 1 <= auto_threads(0.05) <= (os.cpu_count() or 1)


def test_core_watch_counts_other_processes_not_its_own():
    """`train.threads=-1` follows the machine each epoch: a busy process beside the training counts,
    the training's own threads do not."""
    import subprocess
    import sys
    import time

    from dlabs.engine.device import CoreWatch

    watch = CoreWatch()
    end = time.monotonic() + 0.5
    while time.monotonic() < end:  # this process' own work
        pass
    own = watch.others()
    hog = subprocess.Popen([sys.executable, "-c", "import time\nend = time.monotonic() + 0.6\n"
                            "while time.monotonic() < end: pass"])
    hog.wait()
    busy = watch.others()
    assert busy > 0.6, busy  # the other process ran about 0.6 s of the ~0.65 s since the last look
    assert own < busy, (own, busy)  # the training's own CPU time is left out (the rest of the machine may not be idle)
    assert 1 <= watch.threads(most=2) <= 2


def test_core_watch_keeps_the_threads_where_there_is_no_proc_stat(monkeypatch):
    import torch

    from dlabs.engine import device

    def no_proc_stat():
        raise FileNotFoundError("/proc/stat")

    monkeypatch.setattr(device, "_ticks", no_proc_stat)
    watch = device.CoreWatch()
    assert watch.others() is None and watch.threads(most=4) == torch.get_num_threads()


def test_trainings_follow_the_machine_unless_their_thread_count_is_fixed():
    import os

    from dlabs.engine.device import _DEFAULT_THREADS, most_threads

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert most_threads(-1) == cores and most_threads(0) == _DEFAULT_THREADS and most_threads(2) == 0


def _denormals_kept(threads: int = 2) -> tuple[int, int]:
    """Denormals that survive a multiplication by one in each half of a tensor PyTorch splits across `threads`
    threads (built from integer bits: converting a float would itself flush on a flushing thread)."""
    import torch

    torch.set_num_threads(threads)
    out = (torch.full((2**22,), 1 << 20, dtype=torch.int32).view(torch.float32) * 1.0).view(torch.int32)
    return int((out[:2**21] != 0).sum()), int((out[2**21:] != 0).sum())


@pytest.mark.skipif(sys.platform != "linux", reason="set on every OpenMP thread through GNU libgomp (Linux)")
def test_denormals_flush_on_every_cpu_thread_while_training_only():
    import torch
    from torch import nn

    from dlabs.engine.device import flush_denormals
    from dlabs.engine.trainer import TensorBatcher, TrainConfig, fit

    before = torch.get_num_threads()
    try:
        assert _denormals_kept() == (2**21, 2**21)
        assert flush_denormals(True) is False and _denormals_kept() == (0, 0)  # the worker thread too
        assert flush_denormals(False) is True and _denormals_kept() == (2**21, 2**21)
        data = TensorBatcher(torch.randn(64, 4), torch.randn(64, 1))
        for on in (True, False):
            seen = []
            fit(nn.Linear(4, 1), data, cfg=TrainConfig(epochs=1, batch_size=16, threads=2, flush_denormals=on),
                loss_fn=nn.MSELoss(), callbacks={"on_epoch_end": [lambda row: seen.append(_denormals_kept())]},
                progress=False)
            assert seen == [(0, 0) if on else (2**21, 2**21)]
            assert _denormals_kept() == (2**21, 2**21)  # put back after the training
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_freed_training_memory_is_kept_for_the_next_step():
    import resource

    import torch

    from dlabs.engine.device import keep_freed_memory

    keep_freed_memory()
    torch.empty(2**20).fill_(1.0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        torch.empty(2**20).fill_(1.0)  # 4 MiB: 1,024 pages, faulted in anew each time when handed back
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults < 1024
