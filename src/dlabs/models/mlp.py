"""Multi-layer perceptrons: a plain one and a vectorised ensemble of them.

`EnsembleMLP` holds K independently initialised MLPs as batched weight tensors, so one forward
pass (a batched matmul) trains all K members at the price of little more than one on a CPU. Its
training output is (K, N, out) and the loss is taken per member; in eval mode it returns the
members' mean, the ensemble prediction.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlabs.errors import DlabsError

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


class MLP(nn.Sequential):
    """in -> hidden... -> out with ReLU and optional dropout after each hidden layer."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float | tuple[float, ...] = 0.0):
        drops = dropout if isinstance(dropout, tuple) else (dropout,) * len(hidden)
        layers: list[nn.Module] = []
        for width, p in zip(hidden, drops):
            layers += [nn.Linear(n_in, width), nn.ReLU()]
            if p > 0:
                layers.append(nn.Dropout(p))
            n_in = width
        layers.append(nn.Linear(n_in, n_out))
        super().__init__(*layers)


class EnsembleMLP(nn.Module):
    """K MLPs trained side by side; `forward` returns (K, N, out) in training, the mean in eval."""

    def __init__(self, members: int, n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float = 0.0,
                 activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise DlabsError(f"activation {activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        self.activation = ACTIVATIONS[activation]
        sizes = [n_in, *hidden, n_out]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            w = torch.empty(members, a, b)
            bound = 1 / math.sqrt(a)  # nn.Linear's default initialisation, per member
            nn.init.uniform_(w, -bound, bound)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.empty(members, 1, b).uniform_(-bound, bound)))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.members = members

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0).expand(self.members, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self.dropout(self.activation(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.forward_members(x)
        return out if self.training else out.mean(0)
