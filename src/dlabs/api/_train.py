"""Training a lab into a run folder, on one process or as one rank of a torchrun job."""

from __future__ import annotations

import logging
import time

from dlabs import config as config_
from dlabs.api._data import _lab, _run, load
from dlabs.errors import DlabsError

log = logging.getLogger("dlabs.api")


def _setup(cfg, seed: int, device: str):
    """The device, PyTorch's thread count and the seeds, before any data is read."""
    from dlabs.engine.device import pick_device, set_seed, set_threads

    dev = pick_device(device)
    threads = set_threads(cfg.train.threads)
    if cfg.train.threads < 0:
        log.info("%d CPU threads (train.threads=-1: one per idle core)", threads)
    set_seed(seed)
    return dev


def train(lab: str = "", preset: str = "best", overrides=(), device: str = "auto", seed: int = 0,
          runs=None, resume=None, progress: bool | None = None, callbacks: dict | None = None):
    """Train a lab's model into a new run folder (or resume an interrupted one); returns the Run.

    `callbacks` maps a training event (``on_epoch_end``) to a list of functions ``fn(row)``. A run
    that fails before its first checkpoint leaves no folder behind. Started by torchrun with
    several ranks, every rank trains its share and rank 0 alone writes the one run folder.
    """
    import shutil

    from dlabs.engine import distributed
    from dlabs.engine.device import environment
    from dlabs.engine.runfolder import Run

    if resume is not None:
        run = _run(resume, lab, runs)
        meta = run.read_json("config.json")
        lab_ = _lab(meta["lab"])
        if run.exists("model.safetensors") and not run.exists("checkpoint.pt"):
            raise DlabsError(f"{run.path}: this run already finished; nothing to resume")
        cfg = config_.from_dict(lab_.Config, meta["config"])
        seed, preset = meta["seed"], meta["preset"]
    else:
        lab_ = _lab(lab)
        cfg = lab_.config(preset, overrides)
    dev = _setup(cfg, seed, device)
    backend = distributed.init(dev)
    dev, main = distributed.local_device(dev), distributed.is_main()
    if resume is None:
        run = Run(distributed.broadcast(str(Run.create(lab_.name, preset, runs).path) if main else None))
    try:
        if resume is None and main:
            run.write_json("config.json", {"lab": lab_.name, "preset": preset, "seed": seed,
                                           "overrides": list(overrides), "config": config_.to_dict(cfg)})
        data = lab_.train_data(cfg, seed)
        ranks = {"world_size": distributed.world_size(), "backend": backend,
                 "rank_devices": distributed.gather(str(dev))}
        if main:
            run.write_json("env.json", environment(dev, seed) | ranks | {"started": time.strftime("%Y-%m-%dT%H:%M:%S")})
            run.save_state(data.state)
        log.info("training %s/%s on %s (%s)", lab_.name, run.id, dev,
                 ", ".join(f"{v} {k}" for k, v in data.counts.items()) or f"{len(data.train)} train")
        model, history = lab_.train_model(cfg, data, seed, dev, checkpoint=run.file("checkpoint.pt"),
                                          resume=resume is not None, progress=progress, callbacks=callbacks)
        in_sync = len(set(distributed.gather(_checksum(model)))) == 1
        distributed.shutdown()  # what follows (and any protocol a later evaluate trains) runs on one process
        if not main:
            return run
        fitted = lab_.after_fit(model, data, cfg, dev)
    except BaseException:
        if main and resume is None and not run.exists("checkpoint.pt"):
            shutil.rmtree(run.path, ignore_errors=True)  # nothing to resume: leave no half run behind
        raise
    try:  # a full disk here keeps the last checkpoint, so the run can still be finished
        if fitted:
            run.save_state(data.state | fitted)
        run.save_weights(model.cpu())
        run.save_history(history)
    except DlabsError as e:
        raise DlabsError(f"{e}; once there is room, finish the run with: dlabs train --resume {run.path}") from None
    env = run.read_json("env.json")
    trained = (history[-1]["seconds"] if history else 0.0) + data.fit_seconds
    env.update(train_seconds=trained, epochs_run=len(history), finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    if ranks["world_size"] > 1:
        env["ranks_identical"] = in_sync  # every rank ended with the weights saved here
    run.write_json("env.json", env)
    lab_.after_save(load(run))
    run.file("checkpoint.pt").unlink(missing_ok=True)
    log.info("trained %s in %.1fs: %s", run.id, env["train_seconds"], run.path)
    return run


def _checksum(model) -> str:
    import hashlib

    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode() + t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def is_main_process() -> bool:
    """False on every rank but 0 of a torchrun job: those print and write nothing."""
    from dlabs.engine import distributed

    return distributed.is_main()


def launch(nproc: int, args: list[str]) -> int:
    """Run ``dlabs ARGS`` (less any ``--nproc N``) as `nproc` processes on this machine through
    PyTorch's launcher (``torch.distributed.run --standalone``, torchrun's module); its exit status."""
    import subprocess
    import sys

    drop = {i for i, a in enumerate(args) if a == "--nproc"}
    args = [a for i, a in enumerate(args) if i not in drop and i - 1 not in drop and not a.startswith("--nproc=")]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "dlabs", *args]
    log.info("starting %s", " ".join(cmd[1:]))
    return subprocess.call(cmd)
