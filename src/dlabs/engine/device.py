"""Device choice and seeding, each in one place."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from dlabs.errors import DlabsError


def pick_device(name: str = "auto") -> torch.device:
    """`auto` picks cuda, then mps, then cpu; asking for an absent device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DlabsError(f"--device {name}: no CUDA device is available (use --device auto or cpu)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise DlabsError("--device mps: MPS is not available (use --device auto or cpu)")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise DlabsError(f"--device {name}: expected auto, cpu, cuda or mps")
    return torch.device(name)


def auto_threads(window: float = 0.25) -> int:
    """CPU threads for a training starting now (``train.threads=-1``): one per core left idle by the rest
    of the machine over the next `window` seconds (Linux' /proc/stat), at least one; elsewhere one per
    core. On a 2-core machine with another job running, a second thread stalls behind it (the manual's
    Fashion CNN: 2.6 s with one thread, 3.6 s with two); on an idle one it shares the work."""
    import time

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    def ticks() -> tuple[int, int]:  # all CPUs' (total, idle + iowait) time since boot
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return sum(v), v[3] + v[4]

    try:
        total, idle = ticks()
        time.sleep(window)
        total2, idle2 = ticks()
    except (OSError, ValueError, IndexError):
        return cores
    free = (os.cpu_count() or cores) * (idle2 - idle) / max(1, total2 - total)
    return max(1, min(cores, round(free)))


_DEFAULT_THREADS = torch.get_num_threads()  # PyTorch's own choice at start: one per core


def set_threads(n: int) -> int:
    """PyTorch's CPU threads for a training (``train.threads``): `n` if above 0, one per idle core if
    -1 (`auto_threads`), PyTorch's default if 0, so one lab's setting never carries into the next
    training in the same process. Returns the count set."""
    torch.set_num_threads(n if n > 0 else auto_threads() if n < 0 else _DEFAULT_THREADS)
    return torch.get_num_threads()


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices)."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def environment(device: torch.device, seed: int) -> dict:
    """What a run folder records about where it ran."""
    import platform
    import sys

    import sklearn

    import dlabs

    env = {
        "dlabs": dlabs.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "seed": seed,
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env
