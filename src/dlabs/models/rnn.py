"""Recurrent sequence regressors: stacked LSTM or GRU layers read a window, a linear head maps
the last hidden state to the output. `SequenceEnsemble` trains K of them side by side (different
initialisations, the same batches) and, like `EnsembleMLP`, returns (K, N, out) in training and
the members' mean in eval; `forward_members` gives every member's output, for a spread.
"""

from __future__ import annotations

import torch
from torch import nn



class SequenceRegressor(nn.Module):
    """(N, T, F) -> (N, out) from the last step of `layers` stacked LSTM/GRU layers with dropout between."""

    def __init__(self, n_in: int, hidden: int, layers: int, n_out: int = 1, cell: str = "lstm", dropout: float = 0.0,
                 zero_head: bool = False):
        super().__init__()
        kinds = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in kinds:
            raise ValueError(f"cell={cell}: expected lstm or gru")
        # Keras' Dropout after each LSTM layer = dropout between layers and on the last output
        self.rnn = kinds[cell](n_in, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(hidden, n_out)
        if zero_head:  # start from output 0 (e.g. a standardised target's mean) and learn departures from it
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(self.drop(out[:, -1]))


class SequenceEnsemble(nn.Module):
    """K `SequenceRegressor`s; (K, N, out) while training, their mean in eval."""

    def __init__(self, members: int, n_in: int, hidden: int, layers: int, n_out: int = 1, cell: str = "lstm",
                 dropout: float = 0.0, zero_head: bool = False):
        super().__init__()
        self.members = nn.ModuleList(SequenceRegressor(n_in, hidden, layers, n_out, cell, dropout, zero_head)
                                     for _ in range(members))

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.forward_members(x)
        return out if self.training else out.mean(0)
