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
