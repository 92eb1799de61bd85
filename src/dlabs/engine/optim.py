"""Optimizers, learning-rate schedules and mixed precision, from a `TrainConfig`."""

from __future__ import annotations

import torch

from dlabs.engine.train_config import TrainConfig
from dlabs.errors import DlabsError


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


def use_amp(cfg: TrainConfig, device: torch.device | str) -> bool:
    """Mixed precision: always on CUDA; with `train.amp`, also on a CPU with native bfloat16."""
    device = torch.device(device)
    return device.type == "cuda" or cfg.amp and device.type == "cpu" and native_bf16()


def amp_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the device computes in it; float16 (with gradient scaling) on older GPUs."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16
