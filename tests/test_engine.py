"""The engine: config overrides, a tiny model learns, resume equals an uninterrupted run."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch
from torch import nn

from dlabs import config
from dlabs.engine.device import pick_device, set_seed
from dlabs.engine.trainer import TensorBatcher, TrainConfig, fit
from dlabs.errors import DlabsError


def _data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(n, 1, generator=g))
    return TensorBatcher(x[:200], y[:200]), TensorBatcher(x[200:], y[200:])


def _fit(cfg, checkpoint=None, resume=False, stop_after=None):
    set_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1))
    callbacks = {}
    if stop_after:
        def interrupt(row):
            if row["epoch"] == stop_after:
                raise KeyboardInterrupt
        callbacks["on_epoch_end"] = [interrupt]
    train, val = _data()
    history = fit(model, train, val, cfg=cfg, loss_fn=nn.MSELoss(), seed=0, checkpoint=checkpoint, resume=resume,
                  progress=False, callbacks=callbacks)
    return model, history


def test_tiny_model_learns():
    _, history = _fit(TrainConfig(epochs=30, lr=1e-2))
    assert history[-1]["val_loss"] < 0.1 * history[0]["val_loss"]


@pytest.mark.parametrize("amp_cpu", ["autocast", "matmul"])
def test_amp_on_cpu_learns(amp_cpu):
    """bfloat16 where the CPU has it natively, by autocast or inside oneDNN's matrix kernels (a float32 run
    elsewhere): still learns, and the matrix setting is the process' own again afterwards."""
    _, history = _fit(TrainConfig(epochs=30, lr=1e-2, amp=True, amp_cpu=amp_cpu))
    assert history[-1]["val_loss"] < 0.1 * history[0]["val_loss"]
    assert torch.get_float32_matmul_precision() == "highest"


@pytest.mark.parametrize("fused", [False, True])
def test_keras_rmsprop_is_keras_formula(fused):
    """v = rho v + (1 - rho) g^2; p -= lr g / sqrt(v + eps), over several steps and shapes, in foreach
    kernels and in the fused Adam kernel."""
    from dlabs.engine.optim import KerasRMSprop

    g = torch.Generator().manual_seed(0)
    params = [torch.randn(5, 3, generator=g, requires_grad=True), torch.randn(3, generator=g, requires_grad=True)]
    ref = [p.detach().clone() for p in params]
    square = [torch.zeros_like(p) for p in ref]
    opt = KerasRMSprop(params, lr=0.01, rho=0.9, eps=1e-7, fused=fused)
    for _ in range(4):
        grads = [torch.randn(p.shape, generator=g) for p in params]
        for p, grad in zip(params, grads):
            p.grad = grad.clone()
        opt.step()
        for r, v, grad in zip(ref, square, grads):
            v.mul_(0.9).add_(0.1 * grad * grad)
            r.sub_(0.01 * grad / torch.sqrt(v + 1e-7))
    for p, r in zip(params, ref):
        assert torch.allclose(p.detach(), r, atol=1e-6)


def test_fused_keras_rmsprop_resumes_from_its_state_dict():
    from dlabs.engine.optim import KerasRMSprop

    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(4, 3, generator=g) for _ in range(6)]
    whole, first = torch.zeros(4, 3, requires_grad=True), torch.zeros(4, 3, requires_grad=True)
    opt_whole, opt_first = KerasRMSprop([whole], fused=True), KerasRMSprop([first], fused=True)
    for i, grad in enumerate(grads):
        whole.grad = grad.clone()
        opt_whole.step()
        if i < 3:
            first.grad = grad.clone()
            opt_first.step()
    resumed = first.detach().clone().requires_grad_()
    opt = KerasRMSprop([resumed], fused=True)
    opt.load_state_dict(opt_first.state_dict())
    for grad in grads[3:]:
        resumed.grad = grad.clone()
        opt.step()
    assert torch.equal(resumed.detach(), whole.detach())


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    cfg = TrainConfig(epochs=8, lr=1e-2, schedule="cosine", batch_size=16)
    full_model, full = _fit(cfg)
    ck = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        _fit(cfg, checkpoint=ck, stop_after=3)
    resumed_model, resumed = _fit(cfg, checkpoint=ck, resume=True)
    assert [r["epoch"] for r in resumed] == list(range(1, 9))
    assert resumed[-1]["val_loss"] == full[-1]["val_loss"]
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_loads_with_weights_only(tmp_path):
    ck = tmp_path / "c.pt"
    _fit(TrainConfig(epochs=2), checkpoint=ck)
    assert "model" in torch.load(ck, weights_only=True)


def test_early_stopping_stops_and_restores_best():
    cfg = TrainConfig(epochs=200, lr=1e-2, patience=2)  # val loss reaches the noise floor and stalls
    _, history = _fit(cfg)
    assert len(history) < 200


def test_device_choice():
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(DlabsError):
        pick_device("tpu")


@dataclasses.dataclass(frozen=True)
class Inner:
    lr: float = config.option(1e-3, "learning rate")
    widths: tuple[int, ...] = config.option((8, 4), "widths")
    flag: bool = config.option(False, "a flag")


@dataclasses.dataclass(frozen=True)
class Outer:
    train: Inner = dataclasses.field(default_factory=Inner)
    name: str = config.option("x", "a name")


def test_config_overrides_are_strict():
    cfg = config.override(Outer(), ["train.lr=3e-4", "train.widths=16,8,4", "train.flag=true", "name=y"])
    assert cfg.train.lr == 3e-4 and cfg.train.widths == (16, 8, 4) and cfg.train.flag and cfg.name == "y"
    with pytest.raises(DlabsError, match="unknown config key 'train.lrr'"):
        config.override(Outer(), ["train.lrr=1"])
    with pytest.raises(DlabsError, match=r"train.lr=fast: expected float"):
        config.override(Outer(), ["train.lr=fast"])
    with pytest.raises(DlabsError, match="is a section"):
        config.override(Outer(), ["train=1"])
    assert config.from_dict(Outer, config.to_dict(cfg)) == cfg


def test_fit_logs_a_line_per_epoch(caplog):
    """What `dlabs -v` shows on standard error, terminal or not."""
    import logging

    with caplog.at_level(logging.DEBUG, logger="dlabs.engine.trainer"):
        _fit(TrainConfig(epochs=3, lr=1e-2))
    lines = [r.getMessage() for r in caplog.records if " epoch " in r.getMessage()]
    assert len(lines) == 3 and "epoch 3/3" in lines[-1] and "val_loss" in lines[-1]


def test_a_training_thread_setting_does_not_carry_into_the_next():
    # a fresh process: other tests in this worker have already set the thread count
    code = ("import os, torch; default = torch.get_num_threads()\n"
            "from dlabs.engine.device import set_threads\n"
            "assert set_threads(1) == 1\n"
            "assert set_threads(0) == default, 'threads=0 kept what the last training set'\n"
            "assert 1 <= set_threads(-1) <= os.cpu_count()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
