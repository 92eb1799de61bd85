"""The one training loop.

`Trainer.fit` trains any `nn.Module` on any batcher (an object with ``len()`` and
``batch(indices) -> tuple of tensors``, the last tensor being the target): it shuffles with its
own seeded generator, steps the optimizer and the learning-rate schedule, validates every epoch,
stops early, restores the best weights, and writes an atomic checkpoint after every epoch that
holds everything needed to resume bit-for-bit on CPU (weights, optimizer, schedule, RNG states,
history). It is extended through named callbacks, never by copying it.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from dlabs.config import option
from dlabs.errors import DlabsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = option(10, "passes over the training data")
    batch_size: int = option(32, "examples per optimizer step")
    lr: float = option(1e-3, "learning rate (the peak rate for onecycle)")
    optimizer: str = option("adam", "adam | adamw | rmsprop | sgd")
    weight_decay: float = option(0.0, "L2 penalty (decoupled for adamw)")
    momentum: float = option(0.9, "momentum for sgd")
    schedule: str = option("none", "learning-rate schedule: none | cosine | onecycle | plateau")
    patience: int = option(0, "early stopping: epochs without improvement of `monitor` before stopping; 0 = off")
    monitor: str = option("val_loss", "history column watched by early stopping, plateau and best-weights")
    mode: str = option("min", "min | max: whether a smaller or larger `monitor` is better")
    restore_best: bool = option(True, "end with the weights of the best epoch by `monitor` (needs a validation set)")
    grad_clip: float = option(0.0, "clip the gradient norm to this value; 0 = off")
    max_seconds: float = option(0.0, "stop after the epoch that passes this wall-clock budget; 0 = no budget")
    amp: bool = option(False, "bfloat16 autocast on CUDA, and on CPUs with native bfloat16 (AVX512-BF16 or AMX; "
                              "ignored on others, where it would be slower)")
    fused: bool = option(False, "fused Adam/AdamW kernels on CPU and CUDA: the same algorithm, faster, "
                                "rounding differs slightly from the default implementation")
    threads: int = option(0, "CPU threads for PyTorch's operators; 0 = PyTorch's default (one per core). "
                             "Small models run faster on 1, and a busy CPU makes several threads stall")


class TensorBatcher:
    """Batches from tensors held in memory (the last tensor is the target)."""

    def __init__(self, *tensors: torch.Tensor):
        if len({len(t) for t in tensors}) != 1:
            raise ValueError("tensors differ in length")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t[idx] for t in self.tensors)


def _optimizer(cfg: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    # the fused Adam kernels update all parameters in one pass (the manual's Fashion CNN: 2,677
    # against 2,483 images/s on 2 CPU cores); MPS and other devices keep the default
    fused = {"fused": True} if cfg.fused and device.type in ("cpu", "cuda") else {}
    kinds = {
        "adam": lambda: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused),
        "adamw": lambda: torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused),
        # Keras' RMSprop: rho 0.9, eps 1e-7 (PyTorch defaults differ: alpha .99, eps 1e-8)
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=cfg.lr, alpha=0.9, eps=1e-7,
                                               weight_decay=cfg.weight_decay),
        "sgd": lambda: torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                       weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0),
    }
    if cfg.optimizer not in kinds:
        raise DlabsError(f"train.optimizer={cfg.optimizer}: expected one of {', '.join(kinds)}")
    return kinds[cfg.optimizer]()


def _scheduler(cfg: TrainConfig, opt, steps_per_epoch: int):
    total = max(1, cfg.epochs * steps_per_epoch)
    if cfg.schedule == "none":
        return None
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=cfg.mode, factor=0.5,
                                                          patience=max(1, cfg.patience // 3))
    raise DlabsError(f"train.schedule={cfg.schedule}: expected none, cosine, onecycle or plateau")


def native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (elsewhere CPU autocast emulates it, slower than float32)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Trainer:
    """Trains a model; see the module docstring. Callbacks: ``on_epoch_end(trainer, row)``."""

    def __init__(self, cfg: TrainConfig, device: torch.device | str = "cpu", seed: int = 0,
                 transform: Callable[[tuple], tuple] | None = None,
                 checkpoint: str | Path | None = None, progress: bool | None = None):
        self.cfg = cfg
        self.device = torch.device(device)
        self.amp = cfg.amp and (self.device.type == "cuda" or self.device.type == "cpu" and native_bf16())
        self.seed = seed
        self.transform = transform  # applied to each training batch on the device (augmentation)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.progress = progress
        self.callbacks: dict[str, list[Callable]] = {"on_epoch_end": []}
        self.history: list[dict] = []

    def add_callback(self, event: str, fn: Callable) -> None:
        self.callbacks[event].append(fn)

    def _to(self, batch):
        return tuple(t.to(self.device, non_blocking=True) for t in batch)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    @torch.inference_mode()
    def predict(self, model: nn.Module, data, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs and targets over a whole batcher, in order, on the CPU."""
        model.eval()
        outs, targets = [], []
        for start in range(0, len(data), batch_size):
            batch = self._to(data.batch(torch.arange(start, min(start + batch_size, len(data)))))
            with self._autocast():
                out = model(*batch[:-1])
            outs.append(out.float().cpu())
            targets.append(batch[-1].cpu())
        return torch.cat(outs), torch.cat(targets)

    def fit(self, model: nn.Module, train, val=None, *, loss_fn: Callable,
            metrics_fn: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
            resume: bool = False) -> list[dict]:
        """Train `model` in place and return the per-epoch history."""
        cfg = self.cfg
        model.to(self.device)
        steps = math.ceil(len(train) / cfg.batch_size)
        opt = _optimizer(cfg, [p for p in model.parameters() if p.requires_grad], self.device)
        sched = _scheduler(cfg, opt, steps)
        gen = torch.Generator().manual_seed(self.seed)
        better = (lambda a, b: a < b) if cfg.mode == "min" else (lambda a, b: a > b)
        state = {"epoch": 0, "best": None, "best_state": None, "bad": 0, "elapsed": 0.0}
        if resume and self.checkpoint and self.checkpoint.exists():
            state = self._load(model, opt, sched, gen)
            log.info("resumed from %s at epoch %d", self.checkpoint, state["epoch"])
        if cfg.restore_best and val is None:
            log.debug("no validation set: restore_best is ignored")

        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, initial=state["epoch"], desc="train", unit="epoch",
                   disable=None if self.progress is None else not self.progress, leave=False)
        try:
            for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
                t0 = time.perf_counter()
                model.train()
                order = torch.randperm(len(train), generator=gen)
                total, count = 0.0, 0
                for i in range(steps):
                    batch = self._to(train.batch(order[i * cfg.batch_size:(i + 1) * cfg.batch_size]))
                    if self.transform is not None:
                        batch = self.transform(batch)
                    with self._autocast():
                        loss = loss_fn(model(*batch[:-1]), batch[-1])
                    if not torch.isfinite(loss):
                        raise DlabsError(f"training diverged at epoch {epoch} (loss {loss.item()}); "
                                         "lower train.lr")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip > 0:
                        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    opt.step()
                    if sched is not None and cfg.schedule != "plateau":
                        sched.step()
                    n = len(batch[-1])
                    total += loss.item() * n
                    count += n
                row = {"epoch": epoch, "train_loss": total / max(count, 1),
                       "lr": opt.param_groups[0]["lr"]}
                if val is not None:
                    out, target = self.predict(model, val, max(cfg.batch_size, 1024))
                    with torch.no_grad():
                        row["val_loss"] = float(loss_fn(out, target))
                    if metrics_fn is not None:
                        row.update({f"val_{k}": float(v) for k, v in metrics_fn(out, target).items()})
                state["elapsed"] += time.perf_counter() - t0
                row["seconds"] = state["elapsed"]
                self.history.append(row)
                stop = self._early_stop(row, state, model, better)
                if sched is not None and cfg.schedule == "plateau" and cfg.monitor in row:
                    sched.step(row[cfg.monitor])
                state["epoch"] = epoch
                if cfg.max_seconds and state["elapsed"] >= cfg.max_seconds:
                    log.info("time budget of %.0fs reached after epoch %d", cfg.max_seconds, epoch)
                    stop = True
                self._save(model, opt, sched, gen, state)
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds", "lr")})
                for fn in self.callbacks["on_epoch_end"]:
                    fn(self, row)
                if stop:
                    log.info("early stop at epoch %d", epoch)
                    break
        finally:
            bar.close()
        if cfg.restore_best and state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        return self.history

    def _early_stop(self, row: dict, state: dict, model: nn.Module, better) -> bool:
        if self.cfg.monitor not in row:
            return False
        value = row[self.cfg.monitor]
        if state["best"] is None or better(value, state["best"]):
            state["best"], state["bad"] = value, 0
            if self.cfg.restore_best:
                state["best_state"] = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            return False
        state["bad"] += 1
        return 0 < self.cfg.patience <= state["bad"]

    def _save(self, model, opt, sched, gen, state) -> None:
        if self.checkpoint is None:
            return
        _atomic_save({
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "history": self.history,
            "state": state,
        }, self.checkpoint)

    def _load(self, model, opt, sched, gen) -> dict:
        ck = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and ck["scheduler"] is not None:
            sched.load_state_dict(ck["scheduler"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        if ck["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        self.history = list(ck["history"])
        return dict(ck["state"])
