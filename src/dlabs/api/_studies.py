"""The studies: small declared experiments that show one idea of the course on a lab's own data.

A study trains a few variants of one lab's preset, each a list of ``--set`` overrides on top of
the study's own settings (the real form) or of its tiny `smoke` settings (for tests), through
`api.train`, so through the engine's one `fit`. `dlabs.api._study` runs them and measures each
variant; the study's `judge` then says in words what was measured and whether the textbook
expectation (its `expectation`) showed, with the numbers either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from dlabs.api import _judges as judge


@dataclass(frozen=True)
class Variant:
    label: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Study:
    name: str
    lab: str
    title: str
    expectation: str  # what the textbook says should happen
    variants: tuple[Variant, ...]
    judge: Callable[[list[dict]], dict]  # variant results -> {"holds", "finding"[, "marks"]}
    preset: str = "manual"
    settings: tuple[str, ...] = ()  # overrides every variant shares in the real form
    smoke: tuple[str, ...] = ()  # tiny settings added after `settings` in the smoke form (for tests)
    measure: tuple[str, ...] = ("test",)  # fit: eval-mode loss and metrics on the fitting and validation rows
    curves: tuple[tuple[str, ...], ...] = (("val_loss",),)  # history columns, one panel each
    bars: tuple[tuple[str, ...], ...] = ()  # scores, one panel each


# the declarations ------------------------------------------------------------------------------
_LETTERS_SMOKE = ("data.limit=1000", "train.epochs=2")
_FASHION = ("model.kind=convnet", "model.widths=16,32,64", "model.depths=2,2,2", "model.dropout=0.1",
            "data.limit=12000", "train.epochs=5", "train.batch_size=64", "train.lr=0.002")
_FASHION_SMOKE = ("data.limit=300", "train.epochs=1")
_FACES = ("model.kind=facenet", "model.widths=32,64,128", "model.depth=1", "model.dropout=0.3", "data.size=32",
          "data.limit=12000", "train.epochs=8", "train.lr=0.003", "train.max_seconds=0", "train.threads=0",
          "augment.shift=0", "augment.flip=false")
_FACES_SMOKE = ("data.limit=300", "train.epochs=1", "model.widths=8,16")

STUDIES: tuple[Study, ...] = (
    Study("boston-standardise", "boston", "Standardised against raw features (the manual's MLP)",
          "standardised inputs train faster and end with a lower error",
          (Variant("standardised", ("data.standardize=true",)), Variant("raw features", ("data.standardize=false",))),
          judge.standardise, smoke=("train.epochs=2",), curves=(("val_loss",), ("train_loss",)), bars=(("test_rmse",),)),
    Study("boston-capacity", "boston", "Training and test error as the network grows",
          "training error keeps falling as the model grows; test error stops improving",
          (Variant("linear (no hidden layer)", ("model.hidden=()",)), Variant("8", ("model.hidden=8",)),
           Variant("64", ("model.hidden=64",)), Variant("128-64-32-16 (manual)", ()),
           Variant("512-512-512", ("model.hidden=512,512,512",))),
          judge.capacity, settings=("data.val_fraction=0", "data.scale_target=true", "train.epochs=200"),
          smoke=("train.epochs=2",),
          measure=("fit", "test"), curves=(("train_loss",),), bars=(("train_rmse", "test_rmse"),)),
    Study("imdb-epochs", "imdb", "The epoch cycle: where the validation curve turns",
          "validation loss bottoms out after a few epochs while training loss keeps falling",
          (Variant("the manual's MLP"),), judge.epochs,
          settings=("data.val_fraction=0.1", "train.patience=0", "train.restore_best=false", "train.epochs=12"),
          smoke=("data.subsample=600", "train.epochs=2"),
          curves=(("train_loss", "val_loss"), ("val_accuracy",))),
    Study("letters-dropout", "letters", "Dropout and the gap between training and validation accuracy",
          "dropout narrows the train-validation gap",
          (Variant("no dropout", ("model.dropout=0",)), Variant("dropout 0.2 (manual)", ("model.dropout=0.2",)),
           Variant("dropout 0.5", ("model.dropout=0.5",))),
          judge.dropout, smoke=_LETTERS_SMOKE, measure=("fit", "test"), curves=(("val_loss",),),
          bars=(("train_accuracy", "val_accuracy", "test_accuracy"),)),
    Study("letters-batch-size", "letters", "Batch sizes 32, 128 and 512: time and accuracy",
          "larger batches are faster per epoch but end less accurate for the same epochs",
          tuple(Variant(f"batch {b}", (f"train.batch_size={b}",)) for b in (32, 128, 512)),
          judge.batch_size, smoke=_LETTERS_SMOKE, curves=(("val_accuracy",),), bars=(("seconds_per_epoch",),)),
    Study("letters-optimizer", "letters", "Adam, RMSprop and SGD on the manual's MLP",
          "adaptive optimizers converge faster than plain SGD at the same learning rate",
          tuple(Variant(label, (f"train.optimizer={key}",)) for label, key in
                (("Adam", "adam"), ("RMSprop", "rmsprop"), ("SGD", "sgd"))),
          judge.optimizer, smoke=_LETTERS_SMOKE, curves=(("val_accuracy",), ("train_loss",))),
    Study("letters-activation", "letters", "ReLU, tanh and sigmoid hidden units",
          "ReLU trains fastest; the sigmoid saturates",
          tuple(Variant(label, (f"model.activation={key}",)) for label, key in
                (("ReLU", "relu"), ("tanh", "tanh"), ("sigmoid", "sigmoid"))),
          judge.activation, smoke=_LETTERS_SMOKE, curves=(("val_accuracy",), ("train_loss",))),
    Study("fashion-batchnorm", "fashion", "A VGG-style CNN with and without batch normalisation",
          "batch normalisation makes the network train faster and end more accurate",
          (Variant("batch norm", ("model.batchnorm=true",)), Variant("no batch norm", ("model.batchnorm=false",))),
          judge.batchnorm, settings=_FASHION, smoke=(*_FASHION_SMOKE, "model.widths=8,16", "model.depths=1,1"),
          curves=(("val_loss",), ("val_accuracy",)), bars=(("test_accuracy",),)),
    Study("fashion-conv", "fashion", "Dense layers against convolutions at about the same size",
          "convolutions beat dense layers on images",
          (Variant("dense 784-256-128", ("model.kind=mlp", "model.hidden=256,128", "model.dropout=0.25")),
           Variant("the manual's CNN", ("model.kind=manual_cnn",))),
          judge.conv, settings=("data.limit=12000", "train.epochs=5"), smoke=_FASHION_SMOKE,
          curves=(("val_accuracy",),), bars=(("test_accuracy",), ("parameters",))),
    Study("agegender-age-loss", "agegender", "Training the age head on MSE or on MAE",
          "each loss gives the lower error on its own metric",
          (Variant("MSE", ("age_loss=mse",)), Variant("MAE", ("age_loss=l1",))),
          judge.age_loss, settings=_FACES, smoke=_FACES_SMOKE, curves=(("val_age_mae",),),
          bars=(("test_age_mae", "test_age_rmse"),)),
    Study("agegender-augment", "agegender", "A generator of shifted and flipped faces, against the faces as they are",
          "augmentation narrows the gap between training and unseen faces",
          (Variant("no augmentation"), Variant("shifts and flips", ("augment.shift=3", "augment.flip=true"))),
          judge.augment, settings=(*_FACES, "age_loss=l1"), smoke=_FACES_SMOKE, measure=("fit", "test"),
          curves=(("val_age_mae",),), bars=(("train_age_mae", "val_age_mae", "test_age_mae"),)),
    Study("colorize-upsampling", "colorize", "The manual's colorizer with nearest and bilinear up-sampling",
          "bilinear up-sampling gives smoother colour and a higher PSNR",
          (Variant("nearest (UpSampling2D's default)", ("model.upsample=nearest",)),
           Variant("bilinear", ("model.upsample=bilinear",))),
          judge.upsampling, settings=("data.sets=flowers", "data.size=32", "data.limit=2000", "train.epochs=4",
                                 "train.max_seconds=0", "train.patience=0", "train.threads=0"),
          smoke=("data.limit=40", "train.epochs=1"), curves=(("val_loss",),),
          bars=(("test_psnr",), ("test_colorfulness_ratio",))),
)


def get(name: str) -> Study:
    from dlabs.errors import DlabsError

    for s in STUDIES:
        if s.name == name:
            return s
    raise DlabsError(f"unknown study '{name}' (studies: {', '.join(s.name for s in STUDIES)})")
