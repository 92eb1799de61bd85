"""Device choice and seeding, each in one place."""

from __future__ import annotations

import os
import random
import time

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
    Fashion CNN: 2.6 s with one thread, 3.6 s with two); on an idle one it shares the work. The
    training then follows the machine epoch by epoch (`CoreWatch`)."""
    watch = CoreWatch()
    time.sleep(window)
    others = watch.others()
    return _cores() if others is None else _idle_cores(others, _cores())


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _idle_cores(others: float, most: int) -> int:
    """One per core that `others` (cores busy with other processes) leaves idle, at least one, at most `most`."""
    return max(1, min(most, round(_cores() - others)))


def _ticks() -> tuple[int, int]:
    """All CPUs' (total, idle + iowait) time since boot, in clock ticks (Linux' /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v), v[3] + v[4]


class CoreWatch:
    """Cores that other processes used since the last look, for ``train.threads`` -1 and 0 to follow the
    machine epoch by epoch: the CPU time /proc/stat counts as busy, less this process' own. Where there
    is no /proc/stat it sees nothing and keeps the thread count."""

    def __init__(self):
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[float, int, int, float] | None:
        t = os.times()
        try:
            return (time.monotonic(), *_ticks(), t.user + t.system)
        except (OSError, ValueError, IndexError):
            return None

    def others(self) -> float | None:
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None:
            return None
        (w0, total0, idle0, own0), (w1, total1, idle1, own1) = last, now
        busy = ((total1 - total0) - (idle1 - idle0)) / self._hz
        return max(0.0, busy - (own1 - own0)) / max(w1 - w0, 1e-9)

    def threads(self, most: int) -> int:
        """One thread per core the rest of the machine left idle since the last look, at least one and
        at most `most`."""
        others = self.others()
        return torch.get_num_threads() if others is None else _idle_cores(others, most)


_DEFAULT_THREADS = torch.get_num_threads()  # PyTorch's own choice at start: one per core


def most_threads(n: int) -> int:
    """The most threads a training with ``train.threads=n`` follows the machine up to (`CoreWatch`), 0
    where it keeps its count: every core for -1, PyTorch's default for 0 (so a busy machine takes it
    down to one thread as well), none for a fixed count."""
    return _cores() if n < 0 else _DEFAULT_THREADS if n == 0 else 0


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
