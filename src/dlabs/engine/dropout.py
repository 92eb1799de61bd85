"""A cheaper dropout mask for CPU training (``train.fast_dropout``).

PyTorch's CPU dropout draws one Bernoulli variate per element (about 9 ns each on one core): the
mask of the manual's letters MLP took 36% of a training step. `FastDropout` cuts every 64-bit
random word into four 16-bit lanes, so one draw serves four elements, and keeps an element when its
lane is at least ``p * 65536`` (the rate rounded to 1/65,536). `use_fast_dropout` swaps it in for a
model's ``nn.Dropout`` modules for the length of a training and puts them back after.
"""

from __future__ import annotations

import torch
from torch import nn


class FastDropout(nn.Module):
    """Inverted dropout with rate `p`: in training, each element kept with probability 1 - p and scaled
    by 1 / (1 - p); the identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0:
            return x
        if self.p >= 1:
            return x * 0
        words = torch.empty((x.numel() + 3) // 4, dtype=torch.int64, device=x.device).random_(-2**63, 2**63 - 1)
        lanes = words.view(torch.int16)[:x.numel()].view(x.shape)
        keep = (lanes >= round(self.p * 65536) - 32768).to(x.dtype).mul_(1 / (1 - self.p))
        return x * keep


def use_fast_dropout(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace `model`'s ``nn.Dropout`` modules by `FastDropout`; returns what `restore` puts back."""
    swapped = []
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p))
                swapped.append((parent, name, child))
    return swapped


def restore(swapped: list[tuple[nn.Module, str, nn.Module]]) -> None:
    for parent, name, child in swapped:
        setattr(parent, name, child)
