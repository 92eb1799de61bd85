"""Device choice, CPU threads and arithmetic, and seeding, each in one place."""

from __future__ import annotations

import contextlib
import ctypes
import functools
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


def flush_denormals(on: bool) -> bool:
    """Whether CPU arithmetic treats float32 magnitudes below 1.2e-38 (denormals) as zero, as TensorFlow
    does: x86 cores compute on denormals many times slower, and weights, gradients and Adam's moments
    drift into them as a training goes on. The flag is per thread, so it is set on each of PyTorch's
    OpenMP threads (GNU libgomp: Linux); elsewhere nothing changes. Returns the setting before."""
    before = torch.tensor([1e-39]).mul_(1.0).item() == 0.0  # a denormal that reads as zero: flushing
    try:
        parallel = ctypes.CDLL(None).GOMP_parallel
    except (AttributeError, OSError):
        return before
    parallel.argtypes = [_ON_THREAD, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    # every thread of the pool, beyond today's team too; threads it adds later copy their creator's flag
    parallel(_ON_THREAD(lambda _: torch.set_flush_denormal(on)), None, max(torch.get_num_threads(), _cores()), 0)
    return before


_ON_THREAD = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


@functools.cache
def keep_freed_memory() -> None:
    """Have glibc keep memory a training frees for its next step: by default it hands blocks of a few MiB
    back to the kernel at once (mapped apart, or trimmed off its heap) and every step faults their pages
    in again (the manual's Fashion CNN: about 100 page faults a step, 3% of its time on 2 cores). Blocks
    up to 32 MiB then come from the heap, which keeps up to 64 MiB free. Once a process; elsewhere than
    glibc (macOS, Windows, musl) nothing changes."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, ValueError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 64 << 20)


@contextlib.contextmanager
def cpu_arithmetic(device: torch.device, flush: bool):
    """What a training on the CPU runs under (other devices: nothing): freed memory kept for the next step
    (`keep_freed_memory`) and denormals flushed to zero if `flush` (`flush_denormals`), put back after."""
    if device.type != "cpu":
        yield
        return
    keep_freed_memory()
    before = flush_denormals(flush)
    try:
        yield
    finally:
        flush_denormals(before)


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
