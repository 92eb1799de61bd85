"""Training across processes with torchrun (DDP on CPU, gloo): one run folder, the same curve as one
process, two "nodes" on one machine, and a killed rank that ends the job and is resumed.

Each test starts real torchrun process groups on loopback, bounded in time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dlabs import api

from conftest import needs_data

pytestmark = needs_data("letter")

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
# no dropout: 2 ranks sharing each global batch then compute the same gradients as 1 process
TRAIN = ["-m", "dlabs", "-q", "train", "letters", "--preset", "smoke", "--set", "model.dropout=0",
         "--set", "train.epochs=30"]
LIMIT = 180  # seconds any one launch may take


def _torchrun(launcher: list[str], runs: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(TORCHRUN + launcher + TRAIN + ["--runs", str(runs), *extra], capture_output=True, text=True,
                          timeout=LIMIT)


def _only_run(runs: Path) -> Path:
    found = list((runs / "letters").iterdir())
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("ddp")
    done = _torchrun(["--standalone", "--nproc-per-node", "2"], runs)
    assert done.returncode == 0, done.stderr[-2000:]
    return _only_run(runs)


def test_two_processes_make_one_run_folder_that_evaluates(ddp_run):
    env = json.loads((ddp_run / "env.json").read_text())
    assert env["world_size"] == 2 and env["backend"] == "gloo" and env["rank_devices"] == ["cpu", "cpu"]
    assert env["ranks_identical"] is True  # both ranks ended with the weights that were saved
    assert not (ddp_run / "checkpoint.pt").exists()
    assert api.evaluate(str(ddp_run), protocols=False)["model"]["accuracy"] > 0.5


def test_two_processes_follow_the_one_process_loss_curve(ddp_run, tmp_path):
    done = subprocess.run([sys.executable] + TRAIN + ["--runs", str(tmp_path)], capture_output=True, text=True,
                          timeout=LIMIT)
    assert done.returncode == 0, done.stderr[-2000:]
    one, two = (pd.read_csv(p / "history.csv") for p in (_only_run(tmp_path), ddp_run))
    # measured: the two agree to about 1e-7 (float sums in another order); 1e-5 leaves room for other CPUs
    for column in ("train_loss", "val_loss", "val_accuracy"):
        assert one[column].to_numpy() == pytest.approx(two[column].to_numpy(), rel=1e-5, abs=1e-6), column


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_on_one_machine_train_one_run(tmp_path):
    port = str(_free_port())
    # the c10d rendezvous the README gives
    node = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
            "--rdzv-id", tmp_path.name]
    nodes = [subprocess.Popen(TORCHRUN + node + TRAIN + ["--runs", str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in (0, 1)]
    try:
        outs = [n.communicate(timeout=LIMIT) for n in nodes]
    finally:
        for n in nodes:
            n.kill()
    assert [n.returncode for n in nodes] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    env = json.loads((_only_run(tmp_path) / "env.json").read_text())
    assert env["world_size"] == 2 and env["ranks_identical"] is True


def _workers(pid: int) -> list[int]:
    """The processes torchrun started (its children), from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _epochs_done(checkpoint: Path) -> int:
    import torch

    try:
        return len(torch.load(checkpoint, weights_only=True)["history"])
    except Exception:  # not written yet
        return 0


def test_a_killed_rank_ends_the_job_and_resume_finishes_it(ddp_run, tmp_path):
    job = subprocess.Popen(TORCHRUN + ["--standalone", "--nproc-per-node", "2"] + TRAIN + ["--runs", str(tmp_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline and job.poll() is None:
            runs = list((tmp_path / "letters").glob("*/checkpoint.pt"))
            if runs and _epochs_done(runs[0]) >= 3:
                break
            time.sleep(0.05)
        assert job.poll() is None, "training ended before a rank could be killed"
        os.kill(max(_workers(job.pid)), signal.SIGKILL)
        started = time.monotonic()
        _, err = job.communicate(timeout=90)  # torchrun notices the dead rank and ends the other
    finally:
        job.kill()
    assert job.returncode != 0 and time.monotonic() - started < 90
    assert "SIGKILL" in err or "Signal 9" in err
    run = _only_run(tmp_path)
    assert (run / "checkpoint.pt").exists() and not (run / "model.safetensors").exists()

    done = subprocess.run(TORCHRUN + ["--standalone", "--nproc-per-node", "2", "-m", "dlabs", "-q", "train",
                                      "--resume", str(run)], capture_output=True, text=True, timeout=LIMIT)
    assert done.returncode == 0, done.stderr[-2000:]
    resumed, whole = (pd.read_csv(p / "history.csv") for p in (run, ddp_run))
    assert list(resumed["epoch"]) == list(range(1, 31))
    assert resumed["val_loss"].to_numpy() == pytest.approx(whole["val_loss"].to_numpy(), rel=1e-6)
    assert (api.evaluate(str(run), protocols=False)["model"]
            == api.evaluate(str(ddp_run), protocols=False)["model"])
