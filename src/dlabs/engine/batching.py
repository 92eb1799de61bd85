"""Batchers: examples held in memory, cut into batches by index (the engine's data interface).

A batcher is any object with ``len()`` and ``batch(indices) -> tuple of tensors`` whose last
tensor is the target; `TensorBatcher` is the one for tensors in memory.
"""

from __future__ import annotations

import torch


class TensorBatcher:
    """Batches from tensors held in memory (the last tensor is the target)."""

    def __init__(self, *tensors: torch.Tensor):
        if len({len(t) for t in tensors}) != 1:
            raise ValueError("tensors differ in length")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        idx = idx.to(self.tensors[0].device)
        return tuple(t[idx] for t in self.tensors)

    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in self.tensors)

    def to(self, device) -> "TensorBatcher":
        return TensorBatcher(*(t.to(device) for t in self.tensors))


class _Shard:
    """This rank's share of a batcher (every `world`-th example from `rank`): validation across ranks."""

    def __init__(self, data, rank: int, world: int):
        self.data, self.index = data, torch.arange(rank, len(data), world)

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.data.batch(self.index[idx])


# a data set held in memory moves onto the GPU once when it is smaller than this (MNIST, letters...)
ON_DEVICE_BYTES = 2 * 2**30
