"""Optimizers, learning-rate schedules and mixed precision, from a `TrainConfig`."""

from __future__ import annotations

import contextlib

import torch

from dlabs.engine.train_config import TrainConfig
from dlabs.errors import DlabsError


def _optimizer(cfg: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    # the fused Adam kernels update all parameters in one pass (the manual's Fashion CNN: 2,677
    # against 2,483 images/s on 2 CPU cores; Keras' RMSprop goes through them too); MPS and other
    # devices keep the default
    fused = {"fused": True} if cfg.fused and device.type in ("cpu", "cuda") else {}
    eps = {"eps": cfg.eps} if cfg.eps > 0 else {}
    kinds = {
        "adam": lambda: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **eps, **fused),
        "adamw": lambda: torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **eps, **fused),
        # Keras' RMSprop: rho 0.9, eps 1e-7 (PyTorch defaults differ: alpha .99, eps 1e-8)
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=cfg.lr, alpha=0.9, eps=cfg.eps or 1e-7,
                                               weight_decay=cfg.weight_decay),
        "keras_rmsprop": lambda: KerasRMSprop(params, lr=cfg.lr, eps=cfg.eps or 1e-7, weight_decay=cfg.weight_decay,
                                              **fused),
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
    """Whether this CPU computes in bfloat16 natively (elsewhere CPU autocast emulates it, slower than float32):
    it has AVX512-BF16 or AMX, and PyTorch's kernels may use AVX-512 (not with ATEN_CPU_CAPABILITY=avx2)."""
    return ("AVX512" in torch.backends.cpu.get_cpu_capability()
            and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()))


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop as Keras computes it, ``v = rho v + (1 - rho) g^2; p -= lr g / sqrt(v + eps)``, on all
    parameters at once (foreach kernels). PyTorch's RMSprop adds eps outside the root, where Keras'
    1e-7 weighs ~3,000 times less than inside it (sqrt(1e-7) = 3.2e-4).

    `fused` runs the update in PyTorch's fused Adam kernel, one pass over memory instead of five: Adam
    with beta1 0 (its first moment is the gradient), beta2 rho, eps 0 and bias corrections of 1 (a step
    count so large that rho^step is 0) is this update when its second moment holds v + eps, which
    adding (1 - rho) eps / rho before each step keeps: rho (v + eps + (1 - rho) eps / rho) + (1 - rho) g^2
    = v' + eps. The same algorithm; rounding differs slightly."""

    _NEVER_CORRECTED = 1e9  # Adam's step count: rho^step is 0, so its bias corrections are 1

    def __init__(self, params, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7, weight_decay: float = 0.0,
                 fused: bool = False):
        if not 0 < rho < 1:
            raise DlabsError(f"RMSprop rho={rho}: expected 0 < rho < 1")
        # "fused" as PyTorch's own optimizers name it: loading a checkpoint then puts "step" on the parameters' device
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "fused": fused})
        self._roots: dict[torch.Tensor, torch.Tensor] = {}  # sqrt(v + eps): a fresh one each step costs page faults

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                (self._fused_step if group["fused"] else self._foreach_step)(group, params)

    def _foreach_step(self, group: dict, params: list[torch.Tensor]) -> None:
        grads = [p.grad for p in params]
        if group["weight_decay"]:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        for p in params:  # built once (setdefault would build a zero tensor every step)
            if "square_avg" not in self.state[p]:
                self.state[p]["square_avg"] = torch.zeros_like(p)
            if p not in self._roots:
                self._roots[p] = torch.empty_like(p)
        square, root = [self.state[p]["square_avg"] for p in params], [self._roots[p] for p in params]
        torch._foreach_mul_(square, group["rho"])
        torch._foreach_addcmul_(square, grads, grads, value=1 - group["rho"])
        for r, v in zip(root, square):
            torch.add(v, group["eps"], out=r)
        torch._foreach_sqrt_(root)
        torch._foreach_addcdiv_(params, grads, root, value=-group["lr"])

    def _fused_step(self, group: dict, params: list[torch.Tensor]) -> None:
        rho, eps = group["rho"], group["eps"]
        for p in params:
            if "square_avg_eps" not in self.state[p]:
                self.state[p].update(square_avg_eps=torch.full_like(p, eps), grad=torch.zeros_like(p),
                                     step=torch.tensor(self._NEVER_CORRECTED, device=p.device))
        state = [self.state[p] for p in params]
        square = [s["square_avg_eps"] for s in state]
        torch._foreach_add_(square, (1 - rho) * eps / rho)
        torch._fused_adam_(params, [p.grad for p in params], [s["grad"] for s in state], square, [],
                           [s["step"] for s in state], lr=group["lr"], beta1=0.0, beta2=rho,
                           weight_decay=group["weight_decay"], eps=0.0, amsgrad=False, maximize=False)


def use_amp(cfg: TrainConfig, device: torch.device | str) -> bool:
    """Mixed precision: always on CUDA; with `train.amp`, also on a CPU with native bfloat16."""
    device = torch.device(device)
    if cfg.amp_cpu not in ("autocast", "matmul"):
        raise DlabsError(f"train.amp_cpu={cfg.amp_cpu}: expected autocast or matmul")
    return device.type == "cuda" or cfg.amp and device.type == "cpu" and native_bf16()


@contextlib.contextmanager
def bf16_matmul(enabled: bool):
    """While open (and `enabled`), oneDNN multiplies float32 matrices in bfloat16 inside its kernels,
    accumulating in float32: the speed of bfloat16 without autocast's casts of weights and gradients.
    Through `set_float32_matmul_precision` only: mixing it with the per-backend settings makes PyTorch
    refuse to report the precision afterwards."""
    before = torch.get_float32_matmul_precision()
    if enabled:
        torch.set_float32_matmul_precision("medium")  # on CPU: oneDNN's bfloat16 matrix products
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def amp_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the device computes in it; float16 (with gradient scaling) on older GPUs."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16
