"""Training across processes and machines: PyTorch's process group as `torchrun` sets it up.

`torchrun --nproc-per-node N -m dlabs train ...` (and its multi-node forms) starts N copies of
dlabs with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous in the environment.
`init` joins the process group they describe (``gloo`` on CPU, ``nccl`` on CUDA); while it is
up, `fit` shards each global batch across ranks and wraps the model in
`DistributedDataParallel`, and `shutdown` ends it (so that models a protocol trains later, on
rank 0 alone, train as single processes). Without torchrun's environment everything here answers
as a single process, so a plain run needs nothing. Rank 0 alone writes files and logs.
"""

from __future__ import annotations

import datetime
import os

# a rank that dies leaves the others waiting in a collective: they give up after this long
TIMEOUT_SECONDS = int(os.environ.get("DLABS_DIST_TIMEOUT", "120"))


def launched() -> bool:
    """Whether torchrun started this process as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether a process group is up: training now runs across ranks."""
    if not launched():
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return int(os.environ["WORLD_SIZE"]) if active() else 1


def rank() -> int:
    """This process's rank under torchrun (0 otherwise); rank 0 reports and writes."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init(device) -> str | None:
    """Join torchrun's process group (once); the backend's name, or None for a single process."""
    if not launched():
        return None
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_SECONDS))
    return dist.get_backend()


def local_device(device):
    """On CUDA, this rank's own GPU (``LOCAL_RANK``); elsewhere the device as given."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and launched() and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def broadcast(obj):
    """Rank 0's `obj` on every rank (e.g. the run folder it created)."""
    if not active():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj) -> list:
    """Every rank's `obj`, in rank order, on every rank."""
    if not active():
        return [obj]
    import torch.distributed as dist

    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if active():
        import torch.distributed as dist

        dist.barrier()


def shutdown() -> None:
    if active():
        import gc

        import torch.distributed as dist

        # a finished DistributedDataParallel wrapper lives on in a reference cycle, holding the group;
        # freed later, at interpreter exit, gloo's threads abort the process (1 job in ~20 here)
        gc.collect()
        if dist.is_initialized():
            dist.destroy_process_group()
