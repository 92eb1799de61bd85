"""Model building blocks shared by the labs."""

from dlabs.models.mlp import MLP, EnsembleMLP

__all__ = ["MLP", "EnsembleMLP"]
