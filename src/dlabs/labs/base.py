"""What a lab is: a small declarative module on top of the core, and the typed hand-offs between
its hooks and `dlabs.api`.

A lab declares its config and presets and says how to read its training split (fitting the
preprocessing state on training rows only), build its model, loss and metrics, read its test
split with a saved state, score a model on it, run its baselines, draw its plots and predict on
new input. It owns no training loop (`Lab.train_model` goes through the engine's one `fit`), no
run-folder code and no report code: `dlabs.api` drives all labs through this interface.

Lab modules import torch and their heavy helpers inside the hooks, so that reading the registry
(`dlabs list`, `dlabs --help`) stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dlabs import config as config_
from dlabs.errors import DlabsError, InputError


@dataclass
class TrainData:
    """What training needs: the fitting and validation rows as batchers, and the preprocessing
    state fitted on the fitting rows only (JSON values and NumPy arrays, saved with the model)."""

    train: Any  # a batcher: len() and batch(indices) -> (inputs..., target)
    val: Any | None  # taken from the training split only, for early stopping and curves
    state: dict
    counts: dict = field(default_factory=dict)  # examples per part, for the log and the report
    fit_seconds: float = 0.0  # time spent fitting parts of the model outside the network (boston's trees, GP)


@dataclass
class Model:
    """A trained model as its run folder holds it."""

    lab: "Lab"
    cfg: Any
    state: dict
    net: Any  # the nn.Module, in eval mode (None for an exported model)
    run: Path  # the run folder (a lab may keep files beside the model, e.g. the faces gallery)
    seed: int = 0
    # an exported model (`dlabs predict --onnx`): its graph in ONNX Runtime, ``onnx(**inputs) -> {output:
    # array}`` on NumPy arrays; a lab's predict runs its network through it when it is set
    onnx: Any = None


@dataclass
class Export:
    """A lab's whole predictor as one graph for `dlabs export` (`Lab.export`): the module traced, what
    it takes and gives, and the preparation left outside it (written to preprocessing.json)."""

    module: Any  # an nn.Module in eval mode: module(*inputs, in `inputs` order) -> outputs, in `outputs` order
    inputs: dict[str, str]  # graph input name -> what it holds
    outputs: dict[str, str]  # graph output name -> what it holds
    checks: list[dict[str, Any]]  # batches of graph inputs (NumPy) made from up to 1,000 test examples
    expected: list[dict[str, Any]] | None = None  # the lab's own PyTorch outputs on `checks` (None: the module's)
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)  # input -> {axis: name}; default {0: batch}
    classes: dict[str, str] = field(default_factory=dict)  # output -> its class: argmax | positive (> 0) | half (>= .5)
    before: list[str] = field(default_factory=list)  # preparation of raw input before the graph, in order
    after: list[str] = field(default_factory=list)  # what is made of the outputs
    values: dict = field(default_factory=dict)  # JSON values that preparation needs (labels, framing...)
    files: dict[str, bytes] = field(default_factory=dict)  # files kept beside the graph (the faces gallery)
    limitations: list[str] = field(default_factory=list)  # Markdown paragraphs for the model card


@dataclass
class Evaluation:
    """What `Lab.evaluate` returns: the test metrics, and what the report and plots need."""

    metrics: dict[str, float]
    predictions: dict[str, Any] = field(default_factory=dict)  # arrays the plots draw (not saved)
    info: dict = field(default_factory=dict)  # JSON values shown in the report (counts, tables, notes)
    protocol: str = ""  # the protocol in words where it differs from `Lab.protocol` (another data set)
    protocols: dict = field(default_factory=dict)  # the extra protocols' results, set by `api.evaluate` for plots


@dataclass
class Baseline:
    """A baseline's test metrics, fitted on the training split."""

    metrics: dict[str, float]
    train_seconds: float = 0.0


@dataclass
class Request:
    """Input to `Lab.predict`, as the command line or the web app has read it.

    `items` are the inputs in order: text or the bytes of a file, each with a name for messages;
    `options` the named options (``--days 5``, tabular ``--CRIM 0.1``), checked against
    the form's options (and a tabular lab's features) before the lab sees them.
    """

    items: list[tuple[str, str | bytes]] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Output:
    """A file a prediction made (a plot, a coloured photo): its name and its bytes. The command
    line writes it into ``--out``; the web app serves it."""

    name: str
    data: bytes
    media_type: str = "image/png"


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
    # `dlabs tune`: config key -> ("log" | "float" | "int", low, high) or ("choice", [values]), each drawn value
    # a `--set key=value`; only keys that leave the validation metric comparable (no loss settings)
    search_space: ClassVar[dict[str, tuple]] = {}
    tune_set: ClassVar[tuple[str, ...]] = ()  # `--set` overrides every trial gets (a validation share...)

    # configuration --------------------------------------------------------------------------
    def config(self, preset: str = "best", overrides: tuple[str, ...] | list[str] = ()) -> Any:
        if preset not in self.presets:
            raise DlabsError(f"lab '{self.name}' has no preset '{preset}' (presets: {', '.join(self.presets)})")
        return config_.override(self.presets[preset], overrides)

    # training -------------------------------------------------------------------------------
    def train_data(self, cfg: Any, seed: int) -> TrainData:
        """The training split (validation taken out of it) and the state fitted on it."""
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

    def train_model(self, cfg: Any, data: TrainData, seed: int, device, *, checkpoint=None, resume: bool = False,
                    progress: bool | None = False, callbacks: dict | None = None, desc: str = "train", model=None):
        """Build the lab's model (or go on training `model`) and train it through the engine's one
        `fit`: (model, history). Every training of a lab goes through here, a run's model and a
        protocol's models alike."""
        from dlabs.engine.trainer import fit

        model = self.build_model(cfg, data.state) if model is None else model
        history = fit(model, data.train, data.val, cfg=cfg.train, loss_fn=self.loss_fn(cfg),
                      metrics_fn=self.metrics_fn(cfg), device=device, seed=seed, transform=self.augment(cfg),
                      checkpoint=checkpoint, resume=resume, progress=progress, callbacks=callbacks, desc=desc)
        return model, history

    def after_fit(self, model, data: TrainData, cfg: Any, device) -> dict:
        """State fitted with the trained model on the validation split (prediction intervals,
        decision thresholds, a read-out setting), merged into the saved state."""
        return {}

    def after_save(self, model: Model) -> None:
        """Files the lab keeps beside a finished model in its run folder (the faces gallery)."""

    # evaluation -----------------------------------------------------------------------------
    def test_data(self, cfg: Any, state: dict) -> Any:
        """The protocol's test split, prepared with a saved preprocessing state (nothing refitted)."""
        raise NotImplementedError

    def evaluate(self, model: Model, test: Any, device) -> Evaluation:
        """Metrics of a trained model on the protocol's test split, and what its plots draw."""
        raise NotImplementedError

    def baselines(self, cfg: Any, seed: int, test: Any) -> dict[str, Baseline]:
        """Baselines fitted on the training split (read here) and scored on the same test split."""
        return {}

    def protocols(self, cfg: Any, seed: int, device) -> dict:
        """Extra protocols reported beside the test split (k-fold CV, backtests...); those that
        train models do so through `train_model`."""
        return {}

    def plots(self, model: Model, test: Any, evaluation: Evaluation, outdir: Path) -> None:
        """Write the lab's own PNGs into `outdir` from what `evaluate` returned."""

    def explore(self, cfg: Any, outdir: Path | None = None) -> dict:
        """A data summary (and plots into `outdir`) for ``dlabs data info`` and the report."""
        return {}

    # use ------------------------------------------------------------------------------------
    def check_options(self, state: dict, options: dict[str, str]) -> None:
        """Refuse an option the lab does not take (its form's options; a tabular lab's features),
        naming the ones it does: the one place where predict options are checked."""
        allowed = [o["name"] for o in self.form(state).get("options", [])]
        if self.input_kind == "tabular":
            allowed += [f["name"] for f in self.form(state).get("fields", [])] or list(state.get("features", []))
        lookup = {a.lower() for a in allowed}
        unknown = [k for k in options if k.strip().lower() not in lookup]
        if unknown:
            takes = ", ".join(f"--{a}" for a in allowed) or "no options"
            raise InputError(f"unknown option --{unknown[0]} ({self.name} takes {takes})")

    def export(self, model: Model, test: Any) -> Export:
        """The whole predictor as one graph (`Export`), checked on `test` (what `test_data` gave). The
        default is the network as it is, on the graph inputs `export_inputs` makes."""
        checks = self.export_inputs(model, test)
        return Export(model.net, {k: "the network's input" for k in checks[0]}, {"output": "the network's output"},
                      checks)

    def export_inputs(self, model: Model, test: Any) -> list[dict[str, Any]]:
        """Batches of the network's inputs (NumPy) from up to 1,000 test examples, for the default `export`."""
        raise DlabsError(f"{self.name}: cannot be exported: the lab does not say what its network takes")

    def predict(self, model: Model, request: Request) -> list[dict]:
        """One JSON-ready dict per input; files it makes are `Output` values."""
        raise NotImplementedError

    def format(self, predictions: list[dict]) -> str:
        return "\n".join(str(p) for p in predictions)

    def form(self, state: dict) -> dict:
        """Additions to the web form that `dlabs serve` builds from `input_kind` (default: none).

        Keys it reads: ``example`` (text or CSV text to start from; for images, a PNG data URL
        that the sample requests send), ``options`` (the named options `predict` takes, from the
        command line and the web: ``[{"name", "type": "number"|"integer"|"text", "default",
        "help"}]``), ``fields`` (tabular: ``[{"name", "example", "help"}]``, default
        ``state["features"]``), ``draw`` (image: offer a drawing pad), ``help`` (a line above the
        form).
        """
        return {}
