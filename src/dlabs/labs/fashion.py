"""`fashion`: Fashion-MNIST clothing, 10 classes, the official 60,000 / 10,000 split.

`manual` is the manual's CNN (conv 32-64-128 with max-pool and dropout .25, dense 128, Adam, 10
epochs); `best` a batch-normalised CNN with random crops, flips and cutout, label smoothing, a
one-cycle schedule and test-time augmentation (mirror and one-pixel shifts). Predict takes a photo
of a garment and prepares it as Fashion-MNIST did (trimmed, longest side 28, centred, light item on
black).
"""

from __future__ import annotations

from dlabs.data.augment import AugmentConfig
from dlabs.engine.train_config import TrainConfig
from dlabs.labs import register
from dlabs.labs._classify import DataConfig
from dlabs.labs._images import ImageConfig, ImageLab, ModelConfig

MANUAL = ImageConfig(
    data=DataConfig(val_fraction=0.0),
    model=ModelConfig(kind="manual_cnn", dropout=0.25, init="keras", pixels="unit"),
    train=TrainConfig(epochs=10, batch_size=32, optimizer="adam", lr=1e-3, eps=1e-7, restore_best=False, fused=True,
                       threads=-1, fast_dropout=True),
)
"""The manual's Fashion-MNIST CNN (lab-manual.txt lines 1835-2042), as its Keras code trains it.

layers: 1-conv32-conv64-conv128-128-10 (3x3 'valid' convolutions, 2x2 max-pool after the first two, ReLU,
softmax out; lines 1918-1992)
dropout: 0.25 (after each pool and the dense layer; lines 1935, 1956, 1988)
loss: cross-entropy ('sparse_categorical_crossentropy', line 2041)
optimizer: adam ('adam', line 2041: Keras' lr 0.001, epsilon 1e-7)
lr: 0.001
eps: 1e-7
epochs: 10 (line 2042)
batch: 32 (Keras' default: the manual gives none, line 2042 counts 1875 batches of 32)
validation: none (the manual validates on its test set, line 2042; dlabs takes no validation from the test split
and, like the manual, fits on all 60,000 training images)
init: keras (Glorot-uniform kernels, zero biases: Keras' default)
pixels: unit (x / 255, lines 1873-1875)
Differs: the fused Adam kernel (the same update in one pass; rounding differs slightly); dropout masks from
16-bit random lanes (the rate rounded to 1/65,536).
"""
# chosen on the 2,000 validation images (docs/experiments/fashion.md)
BEST = ImageConfig(
    data=DataConfig(val_fraction=1 / 30),
    model=ModelConfig(kind="convnet", widths=(16, 32, 64), depths=(2, 2, 2), dropout=0.1),
    train=TrainConfig(epochs=44, batch_size=128, optimizer="adamw", lr=4e-3, weight_decay=5e-4,
                      schedule="onecycle", restore_best=False),
    augment=AugmentConfig(shift=2, flip=True, erase=8),
    label_smoothing=0.1,
    tta=True,
    tta_shift=1,
)
SMOKE = ImageConfig(
    data=DataConfig(limit=3000),
    model=ModelConfig(kind="mlp", hidden=(128,), dropout=0.0),
    train=TrainConfig(epochs=3, batch_size=64, lr=2e-3),
    augment=AugmentConfig(shift=1, flip=True),
)


@register
class Fashion(ImageLab):
    name = "fashion"
    title = "Fashion-MNIST clothing: the manual's CNN and a stronger one, against logistic regression"
    datasets = ("fashion_mnist",)
    protocol = "official Fashion-MNIST split: 60,000 train / 10,000 test"
    labels = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    presets = {"manual": MANUAL, "best": BEST, "smoke": SMOKE}
    search_space = {"train.lr": ("log", 1e-3, 1e-2), "train.weight_decay": ("log", 1e-5, 1e-2),
                    "model.widths": ("choice", ["16,32,64", "32,64,128"]), "model.dropout": ("float", 0.0, 0.3),
                    "augment.erase": ("int", 0, 12), "train.epochs": ("int", 10, 44)}  # convnet (best); mlp: no widths
    notes = ("Validation is a seeded share of the 60,000 training images; the 10,000 test images are used only for "
             "the final table. Photos you predict on are converted the way Fashion-MNIST was made: grey, the item "
             "light on a black background (photos on white are inverted), trimmed to the item, its longest side "
             "scaled to 28 pixels and centred.")
