"""`letters`: UCI letter recognition, 26 classes from 16 integer features of a glyph's pixels.

Protocol (UCI's): the first 16,000 rows train, the last 4,000 test. The file has no header row;
reading it with a default header silently turns the first sample into column names, so it is
read with none and its length checked. Features are standardised with statistics of the rows
the model is fitted on, saved with the model and reused at prediction time.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import numpy as np

from dlabs.config import option
from dlabs.data import tabular
from dlabs.data.store import fetch
from dlabs.engine.train_config import TrainConfig
from dlabs.errors import DataError, InputError
from dlabs.labs import register
from dlabs.labs._classify import ClassifierLab, DataConfig

FEATURES = ("x-box", "y-box", "width", "high", "onpix", "x-bar", "y-bar", "x2bar", "y2bar", "xybar", "x2ybr",
            "xy2br", "x-ege", "xegvy", "y-ege", "yegvx")
ROWS, TRAIN_ROWS = 20000, 16000


def load_letters(path=None) -> tuple[np.ndarray, np.ndarray]:
    """(X 20000x16 integer features, y 0..25) from `letter-recognition.data` (no header row)."""
    path = path or fetch("letter", "letter-recognition.data")
    letters, rows = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(",")
        if len(parts) != 17 or len(parts[0]) != 1 or parts[0] not in string.ascii_uppercase:
            raise DataError(f"{path} line {n}: expected a letter A-Z and 16 integers, got {line[:60]!r}")
        try:
            rows.append([int(v) for v in parts[1:]])
        except ValueError:
            raise DataError(f"{path} line {n}: non-integer feature in {line[:60]!r}") from None
        letters.append(ord(parts[0]) - ord("A"))
    if len(rows) != ROWS:
        raise DataError(f"{path}: expected {ROWS} rows, found {len(rows)} (a header row or a truncated file?)")
    return np.array(rows, dtype=np.float32), np.array(letters, dtype=np.int64)


@dataclass(frozen=True)
class ModelConfig:
    hidden: tuple[int, ...] = option((512, 512), "hidden layer widths")
    activation: str = option("relu", "relu | tanh | sigmoid after each hidden layer")
    dropout: float = option(0.2, "dropout after each hidden layer")
    members: int = option(1, "ensemble size: members with different initialisations, logits averaged")
    init: str = option("torch", "torch (PyTorch's default) | keras (Glorot-uniform kernels, zero biases)")


@dataclass(frozen=True)
class LettersConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=30, batch_size=128, optimizer="rmsprop", lr=1e-3, restore_best=False))
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy")
    noise: float = option(0.0, "augmentation: Gaussian noise added to the standardised features (std)")


MANUAL = LettersConfig(data=DataConfig(val_fraction=0.0), model=ModelConfig(init="keras"),
                       train=TrainConfig(epochs=20, batch_size=128, optimizer="keras_rmsprop", lr=1e-3, eps=1e-7,
                                         restore_best=False, threads=-1, fast_dropout=True, fused=True))
"""Lab 3's assignment is letters, but its code is an MLP on MNIST (lab-manual.txt lines 1447, 1572-1665):
that MLP, with the 16 glyph features in and the 26 letters out.

layers: 16-512-512-26 (ReLU, softmax out; lines 1628-1643)
dropout: 0.2 (after each hidden layer; lines 1632, 1641)
loss: cross-entropy ('categorical_crossentropy', line 1646)
optimizer: keras_rmsprop (RMSprop(), line 1647, as Keras computes it: lr 0.001, rho 0.9, epsilon 1e-7)
lr: 0.001
eps: 1e-7
epochs: 20 (line 1652)
batch: 128 (line 1652)
validation: none (the manual validates on its test set, line 1658; dlabs takes no validation from the test split
and, like the manual, fits on every training row)
init: keras (Glorot-uniform kernels, zero biases: Keras' default)
Differs: the features are standardised with training statistics (the manual's /255 is for pixels; it gives
nothing for these 0-15 integers); the RMSprop update in the fused Adam kernel (the same update in one pass;
rounding differs slightly); dropout masks from 16-bit random lanes (the rate rounded to 1/65,536).
"""
BEST = LettersConfig(
    data=DataConfig(val_fraction=0.05),
    model=ModelConfig(hidden=(512, 512), dropout=0.1, members=1),
    train=TrainConfig(epochs=40, batch_size=128, optimizer="adamw", lr=3e-3, weight_decay=1e-4,
                      schedule="onecycle", restore_best=False),
    label_smoothing=0.05,
)
SMOKE = LettersConfig(data=DataConfig(limit=4000), model=ModelConfig(hidden=(64,)),
                      train=TrainConfig(epochs=5, batch_size=128, optimizer="adam", lr=3e-3))


@register
class Letters(ClassifierLab):
    name = "letters"
    title = "Letter recognition: the manual's MLP on UCI's 16 glyph features, 26 classes"
    input_kind = "tabular"
    datasets = ("letter",)
    protocol = "UCI split: first 16,000 rows train, last 4,000 test"
    labels = tuple(string.ascii_uppercase)
    Config = LettersConfig
    presets = {"manual": MANUAL, "best": BEST, "smoke": SMOKE}
    search_space = {"train.lr": ("log", 3e-4, 1e-2), "train.weight_decay": ("log", 1e-6, 1e-2),
                    "model.hidden": ("choice", ["256,256", "512,512", "1024,1024", "512,512,512"]),
                    "model.dropout": ("float", 0.0, 0.4), "train.epochs": ("int", 10, 50)}
    notes = ("letter-recognition.data has no header row: pandas' read_csv with its default header=0 turns the first "
             "sample into column names and silently trains on 19,999 rows. dlabs reads it with no header and checks "
             "that all 20,000 rows are there. Features are standardised with training statistics saved in the run.")

    def load(self, cfg):
        x, y = load_letters()
        return x[:TRAIN_ROWS], y[:TRAIN_ROWS], x[TRAIN_ROWS:], y[TRAIN_ROWS:]

    def fit_state(self, cfg, x_fit):
        return {"features": list(FEATURES), **tabular.Scaler.fit(x_fit).state("x")}

    def baseline_features(self, x, state):
        return tabular.Scaler.from_state(state, "x").transform(x)

    def to_tensor(self, x, state):
        import torch

        return torch.tensor(self.baseline_features(x, state), dtype=torch.float32)

    def build_model(self, cfg, state):
        from dlabs.models.init import initialise
        from dlabs.models.mlp import EnsembleMLP

        m = cfg.model
        net = EnsembleMLP(m.members, len(FEATURES), tuple(m.hidden), len(self.labels), m.dropout, m.activation)
        return initialise(net, m.init)

    def augment(self, cfg):
        if cfg.noise <= 0:
            return None
        import torch

        return lambda batch: (batch[0] + cfg.noise * torch.randn_like(batch[0]), *batch[1:])

    def form(self, state):
        return {"fields": [{"name": n, "example": int(round(float(m))), "help": "an integer 0 to 15"}
                           for n, m in zip(state["features"], state["x_mean"])],
                "help": "The 16 integer features of a glyph (0 to 15), prefilled with the training means rounded."}

    def read_inputs(self, state, cfg, request):
        x = tabular.feature_rows(request.items, request.options, tuple(state["features"]))
        bad = np.argwhere((x < 0) | (x > 15) | (x != np.round(x)))
        if len(bad):
            r, c = bad[0]
            raise InputError(f"row {r + 1}: feature {state['features'][c]} is {x[r, c]:g}; "
                             "the features are integers 0 to 15")
        return [f"row {i + 1}" for i in range(len(x))], x
