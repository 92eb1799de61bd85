"""The one training loop, behind one function: `fit`.

`fit` trains any `nn.Module` on any batcher (an object with ``len()`` and
``batch(indices) -> tuple of tensors``, the last tensor being the target): it shuffles with its
own seeded generator, steps the optimizer and the learning-rate schedule, validates every epoch,
stops early, restores the best weights, logs a line per epoch, and writes an atomic checkpoint
at epoch ends (the first, the last, and between them as often as costs at most ~5% of the time)
that holds everything needed to resume bit-for-bit on CPU (weights, optimizer, schedule, RNG
states, history). Every training in dlabs goes through it: a run's
model, cross-validation folds, backtests and verification models alike. Started by torchrun,
each rank trains on its share of every global batch of the same seeded permutation, in
`DistributedDataParallel` (`dlabs.engine.distributed`). It is extended through named callbacks,
never by copying it.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from dlabs.engine import distributed
from dlabs.engine.batching import ON_DEVICE_BYTES, TensorBatcher, _Shard
from dlabs.engine.device import CoreWatch, cpu_arithmetic, most_threads
from dlabs.engine.optim import _optimizer, _scheduler, amp_dtype, bf16_matmul, native_bf16, use_amp
from dlabs.engine.train_config import TrainConfig
from dlabs.errors import DlabsError
from dlabs.paths import write_error

log = logging.getLogger(__name__)

__all__ = ["fit", "predict", "TensorBatcher", "TrainConfig", "use_amp", "amp_dtype", "native_bf16"]


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except OSError as e:  # a full disk: the previous checkpoint stays as it was
        tmp.unlink(missing_ok=True)
        raise write_error(path, e) from None


@torch.inference_mode()
def predict(model: nn.Module, data, device: torch.device | str = "cpu", amp: bool = False,
            batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and targets of `model` over a whole batcher, in order, on the CPU."""
    device = torch.device(device)
    model.eval()
    outs, targets = [], []
    for start in range(0, len(data), batch_size):
        batch = tuple(t.to(device, non_blocking=True)
                      for t in data.batch(torch.arange(start, min(start + batch_size, len(data)))))
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp):
            out = model(*batch[:-1])
        outs.append(out.float().cpu())
        targets.append(batch[-1].cpu())
    return torch.cat(outs), torch.cat(targets)


def fit(model: nn.Module, train, val=None, *, cfg: TrainConfig, loss_fn: Callable,
        metrics_fn: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
        device: torch.device | str = "cpu", seed: int = 0, transform: Callable[[tuple], tuple] | None = None,
        checkpoint: str | Path | None = None, resume: bool = False, progress: bool | None = None,
        callbacks: dict[str, list[Callable]] | None = None, desc: str = "train") -> list[dict]:
    """Train `model` in place (see the module docstring) and return its per-epoch history.

    `transform` is applied to each training batch on the device (augmentation); `checkpoint` is
    written after every epoch and read back with `resume`; `callbacks` maps an event
    (``on_epoch_end``) to functions ``fn(row)``; `desc` names the training in logs and progress.
    """
    loop = _Loop(cfg, device, seed, transform, checkpoint, progress, desc)
    for event, fns in (callbacks or {}).items():
        loop.callbacks[event].extend(fns)
    with bf16_matmul(loop.bf16_matmul), cpu_arithmetic(loop.device, cfg.flush_denormals):
        return loop.fit(model, train, val, loss_fn=loss_fn, metrics_fn=metrics_fn, resume=resume)


class _Loop:
    """The state of one `fit`."""

    def __init__(self, cfg: TrainConfig, device, seed: int, transform, checkpoint, progress, desc: str):
        self.cfg = cfg
        self.device = torch.device(device)
        amp = use_amp(cfg, self.device)
        self.bf16_matmul = amp and self.device.type == "cpu" and cfg.amp_cpu == "matmul"
        self.amp = amp and not self.bf16_matmul  # autocast
        self.seed = seed
        self.transform = transform
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.progress = progress if distributed.is_main() else False
        self.desc = desc
        self.world = distributed.world_size()  # > 1 only while a process group is up (`api.train` under torchrun)
        self.rank = distributed.rank() if self.world > 1 else 0
        self.dtype = amp_dtype(self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.dtype == torch.float16)
        self.callbacks: dict[str, list[Callable]] = {"on_epoch_end": []}
        self._saved: tuple[float, float] | None = None  # when the last checkpoint was written, and how long it took
        self.history: list[dict] = []

    def _to(self, batch):
        if self.device.type == "cuda" and batch[0].device.type == "cpu":  # pinned: the copy overlaps compute
            return tuple(t.pin_memory().to(self.device, non_blocking=True) for t in batch)
        return tuple(t.to(self.device, non_blocking=True) for t in batch)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.amp)

    def _on_device(self, data):
        if (self.device.type == "cuda" and isinstance(data, TensorBatcher) and data.nbytes() < ON_DEVICE_BYTES):
            return data.to(self.device)
        return data

    def _wrap(self, model: nn.Module) -> nn.Module:
        """The module that trains: `model` itself, or wrapped in DistributedDataParallel across ranks."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DistributedDataParallel(model, device_ids=[self.device])
        return DistributedDataParallel(model)

    def _validate(self, model: nn.Module, val, loss_fn, metrics_fn, batch_size: int) -> dict:
        """Validation loss and metrics over the whole validation set, each rank scoring its share."""
        out, target = predict(model, _Shard(val, self.rank, self.world) if self.world > 1 else val,
                              self.device, self.amp, batch_size)
        if self.world > 1:
            parts = distributed.gather((out, target))
            out, target = torch.cat([o for o, _ in parts]), torch.cat([t for _, t in parts])
        with torch.no_grad():
            row = {"val_loss": float(loss_fn(out, target))}
            if metrics_fn is not None:
                row.update({f"val_{k}": float(v) for k, v in metrics_fn(out, target).items()})
        return row

    def fit(self, model: nn.Module, train, val, *, loss_fn: Callable, metrics_fn, resume: bool) -> list[dict]:
        cfg = self.cfg
        model.to(self.device)
        train, val = self._on_device(train), self._on_device(val) if val is not None else None
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

        from dlabs.engine.dropout import restore, use_fast_dropout

        swapped = use_fast_dropout(model) if cfg.fast_dropout and self.device.type == "cpu" else []
        most = most_threads(cfg.threads) if self.device.type == "cpu" and self.world == 1 else 0
        watch = CoreWatch() if most > 1 else None
        net = self._wrap(model)
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, initial=state["epoch"], desc=self.desc, unit="epoch",
                   disable=None if self.progress is None else not self.progress, leave=False)
        try:
            for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
                t0 = time.perf_counter()
                net.train()
                # every rank draws the same permutation; each takes its share of every global batch
                order = torch.randperm(len(train), generator=gen)
                total, count = 0.0, 0
                for i in range(steps):
                    idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
                    if len(idx) < self.world:  # a last batch too small to share: every rank skips it
                        continue
                    batch = self._to(train.batch(idx[self.rank::self.world]))
                    if self.transform is not None:
                        batch = self.transform(batch)
                    with self._autocast():
                        loss = loss_fn(net(*batch[:-1]), batch[-1])
                    value = loss.item()  # one read of the loss per step: the check and the epoch's mean
                    if not math.isfinite(value):
                        raise DlabsError(f"training diverged at epoch {epoch} (loss {value}); lower train.lr")
                    opt.zero_grad(set_to_none=True)
                    self.scaler.scale(loss).backward()
                    if cfg.grad_clip > 0:
                        self.scaler.unscale_(opt)
                        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    self.scaler.step(opt)
                    self.scaler.update()
                    if sched is not None and cfg.schedule != "plateau":
                        sched.step()
                    n = len(batch[-1])
                    total += value * n
                    count += n
                if self.world > 1:
                    total, count = (sum(x) for x in zip(*distributed.gather((total, count))))
                row = {"epoch": epoch, "train_loss": total / max(count, 1), "lr": opt.param_groups[0]["lr"]}
                if val is not None:
                    row.update(self._validate(model, val, loss_fn, metrics_fn, max(cfg.batch_size, 1024)))
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
                if self._checkpoint_due(stop or epoch == cfg.epochs):
                    self._save(model, opt, sched, gen, state)
                bar.update(1)
                shown = {k: f"{v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds", "lr")}
                bar.set_postfix(shown)
                if self.rank == 0:
                    log.debug("%s epoch %d/%d %s, %.1fs elapsed", self.desc, epoch, cfg.epochs,
                              " ".join(f"{k} {v}" for k, v in shown.items()), row["seconds"])
                for fn in self.callbacks["on_epoch_end"]:
                    fn(row)
                if watch is not None and (threads := watch.threads(most)) != torch.get_num_threads():
                    log.debug("%d CPU threads from epoch %d (other processes' load changed)", threads, epoch + 1)
                    torch.set_num_threads(threads)
                if stop:
                    log.info("early stop at epoch %d", epoch)
                    break
        finally:
            bar.close()
            restore(swapped)
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

    def _checkpoint_due(self, last: bool) -> bool:
        """Whether this epoch ends with a checkpoint: the first and the last do, and between them one
        whenever the epochs since the previous checkpoint took 20 times as long as writing it, so that
        checkpoints cost at most ~5% of the training (boston's 100 epochs of 30 ms each saved every one,
        a quarter of the training's time). Every rank decides alike: rank 0's clock is broadcast."""
        if self.checkpoint is None:
            return False
        due = last or self._saved is None or time.perf_counter() - self._saved[0] >= 20 * self._saved[1]
        return bool(distributed.broadcast(due)) if self.world > 1 else due

    def _save(self, model, opt, sched, gen, state) -> None:
        if self.checkpoint is None:
            return
        started = time.perf_counter()
        rng = distributed.gather(torch.get_rng_state())  # each rank's, so that each resumes its own
        if self.rank != 0:
            return
        _atomic_save({
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "generator": gen.get_state(),
            "torch_rng": rng,
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "history": self.history,
            "state": state,
        }, self.checkpoint)
        self._saved = (time.perf_counter(), time.perf_counter() - started)

    def _load(self, model, opt, sched, gen) -> dict:
        try:  # weights_only: a crafted pickle is refused, never run
            ck = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
            model.load_state_dict(ck["model"])
        except Exception as e:
            first = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:160]
            raise DlabsError(f"{self.checkpoint}: not a readable checkpoint of this run ({first}); "
                             "it cannot be resumed: train a new run") from None
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and ck["scheduler"] is not None:
            sched.load_state_dict(ck["scheduler"])
        gen.set_state(ck["generator"])
        rng = ck["torch_rng"]
        torch.set_rng_state(rng[self.rank] if isinstance(rng, list) else rng)
        if ck["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        self.history = list(ck["history"])
        return dict(ck["state"])
