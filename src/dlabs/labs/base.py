"""What a lab is: a small declarative module on top of the core.

A lab declares its config and presets, and says how to prepare its data (splits plus the
preprocessing state fitted on the training split), build its model, loss and metrics, run its
baselines, draw its plots and predict on new input. It owns no training loop, no run-folder
code and no report code: `dlabs.api` drives all labs through this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dlabs import config as config_
from dlabs.errors import DlabsError


@dataclass
class Prepared:
    """A lab's data, ready for the engine."""

    train: Any  # a batcher: len() and batch(indices) -> (inputs..., target)
    val: Any | None  # taken from the training split only, for early stopping
    test: Any  # the protocol's test split: never used for training or model choice
    state: dict  # fitted preprocessing (JSON values and NumPy arrays), saved with the model
    # counts and notes for the report; "fit_seconds": time prepare spent fitting parts of the model
    # (a boston blend's trees and Gaussian process), counted in the run's train_seconds
    info: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)  # lab-specific arrays (baselines, plots)


class Lab:
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    task: ClassVar[str] = ""  # regression | classification | ...
    input_kind: ClassVar[str] = "tabular"  # what predict and the web form take: tabular | text | image | csv
    datasets: ClassVar[tuple[str, ...]] = ()
    protocol: ClassVar[str] = ""  # the fixed evaluation protocol, in words
    headline: ClassVar[str] = ""  # the metric shown in listings
    Config: ClassVar[type]
    presets: ClassVar[dict[str, Any]] = {}
    bench_presets: ClassVar[tuple[str, ...]] = ("best", "manual")
    # a `best` run's evaluation also shows the `manual` preset, trained on the same split, as a baseline
    compare_manual: ClassVar[bool] = False
    notes: ClassVar[str] = ""  # a paragraph for the report

    # configuration --------------------------------------------------------------------------
    def config(self, preset: str = "best", overrides: tuple[str, ...] | list[str] = ()) -> Any:
        if preset not in self.presets:
            raise DlabsError(f"lab '{self.name}' has no preset '{preset}' (presets: {', '.join(self.presets)})")
        return config_.override(self.presets[preset], overrides)

    # data and model -------------------------------------------------------------------------
    def prepare(self, cfg: Any, seed: int) -> Prepared:
        raise NotImplementedError

    def build_model(self, cfg: Any, state: dict):
        raise NotImplementedError

    def loss_fn(self, cfg: Any):
        raise NotImplementedError

    def metrics_fn(self, cfg: Any):
        """Validation metrics computed each epoch from (outputs, targets); None for loss only."""
        return None

    def augment(self, cfg: Any):
        """A transform applied to each training batch, or None."""
        return None

    def after_fit(self, model, data: Prepared, cfg: Any, trainer, run) -> dict:
        """Called once training ends: state fitted with the trained model on the validation split
        (prediction intervals, decision thresholds, a read-out setting), merged into the saved
        state; the lab may also write its own files into `run`."""
        return {}

    # evaluation -----------------------------------------------------------------------------
    def evaluate(self, model, data: Prepared, cfg: Any, trainer) -> dict[str, float]:
        """Metrics of the trained model on the protocol's test split."""
        raise NotImplementedError

    def baselines(self, data: Prepared, cfg: Any, seed: int) -> dict[str, dict]:
        """``{name: {"metrics": {...}, "train_seconds": s}}`` on the same split."""
        return {}

    def protocols(self, cfg: Any, seed: int, device) -> dict:
        """Extra protocols reported beside the test split (k-fold CV, backtests...)."""
        return {}

    def plots(self, run, model, data: Prepared, cfg: Any, trainer) -> None:
        """Write the lab's own PNGs into ``run.plots_dir()`` (results) and its ``data/`` subfolder (exploration)."""

    def explore(self, cfg: Any, outdir: Path | None = None) -> dict:
        """A data summary (and plots into `outdir`) for ``dlabs data info`` and the report."""
        return {}

    # use ------------------------------------------------------------------------------------
    def predict(self, model, state: dict, cfg: Any, inputs: list[str], fields: dict[str, str]) -> list[dict]:
        raise NotImplementedError

    def format(self, predictions: list[dict]) -> str:
        return "\n".join(str(p) for p in predictions)

    def form(self, state: dict) -> dict:
        """Additions to the web form that `dlabs serve` builds from `input_kind` (default: none).

        Keys it reads: ``example`` (text or CSV text to start from; for images, a PNG data URL
        that the sample requests send), ``options`` (extra inputs
        passed to `predict` in `fields`: ``[{"name", "type": "number"|"integer"|"text",
        "default", "help"}]``), ``fields`` (tabular: ``[{"name", "example", "help"}]``, default
        ``state["features"]``), ``draw`` (image: offer a drawing pad), ``help`` (a line above
        the form), ``scratch`` (the name of a field in which the web app passes a folder of the
        request where `predict` may write files, e.g. a plot; removed after the request). Only
        declared fields and options reach `predict` from the web.
        """
        return {}
