"""`mnist`: handwritten digits, 10 classes, the official 60,000 / 10,000 split.

`manual` is the manual's MLP (784-512-512-10, dropout .2, RMSprop, batch 128, 20 epochs);
`best` a batch-normalised CNN trained with random shifts, label smoothing and a one-cycle
schedule. Predict takes any image of a digit and prepares it as MNIST did (grey, light on dark,
fitted in a 20x20 box, centred by mass in 28x28).
"""

from __future__ import annotations

from dlabs.data.augment import AugmentConfig
from dlabs.engine.train_config import TrainConfig
from dlabs.labs import register
from dlabs.labs._classify import DataConfig
from dlabs.labs._images import ImageConfig, ImageLab, ModelConfig

MANUAL = ImageConfig(
    data=DataConfig(val_fraction=0.0),
    model=ModelConfig(kind="mlp", hidden=(512, 512), dropout=0.2, init="keras", pixels="unit"),
    train=TrainConfig(epochs=20, batch_size=128, optimizer="keras_rmsprop", lr=1e-3, eps=1e-7, restore_best=False,
                      threads=-1, amp=True, amp_cpu="matmul", fast_dropout=True, fused=True),
)
"""The manual's MNIST MLP (lab-manual.txt lines 1572-1665), as its Keras code trains it.

layers: 784-512-512-10 (ReLU, softmax out; lines 1628-1643)
dropout: 0.2 (after each hidden layer; lines 1632, 1641)
loss: cross-entropy ('categorical_crossentropy', line 1646)
optimizer: keras_rmsprop (RMSprop(), line 1647, as Keras computes it: lr 0.001, rho 0.9, epsilon 1e-7)
lr: 0.001
eps: 1e-7
epochs: 20 (line 1652)
batch: 128 (line 1652)
validation: none (the manual validates on its test set, line 1658; dlabs takes no validation from the test split
and, like the manual, fits on all 60,000 training images)
init: keras (Glorot-uniform kernels, zero biases: Keras' default)
pixels: unit (x / 255, lines 1580-1590)
Differs: on a CPU with native bfloat16 (AVX512-BF16 or AMX) oneDNN multiplies the float32 matrices in bfloat16;
the RMSprop update in the fused Adam kernel (the same update in one pass; rounding differs slightly); dropout masks
from 16-bit random lanes (the rate rounded to 1/65,536).
"""
BEST = ImageConfig(
    data=DataConfig(val_fraction=1 / 30),
    model=ModelConfig(kind="convnet", widths=(16, 32, 64), depths=(2, 2, 2), dropout=0.1),
    train=TrainConfig(epochs=10, batch_size=128, optimizer="adamw", lr=4e-3, weight_decay=5e-4,
                      schedule="onecycle", restore_best=False),
    augment=AugmentConfig(shift=2),
    label_smoothing=0.1,
)
SMOKE = ImageConfig(
    data=DataConfig(limit=3000),
    model=ModelConfig(kind="mlp", hidden=(128,), dropout=0.0),
    train=TrainConfig(epochs=3, batch_size=64, lr=2e-3),
    augment=AugmentConfig(shift=1),
)


@register
class Mnist(ImageLab):
    name = "mnist"
    title = "MNIST handwritten digits: the manual's MLP and a CNN, against logistic regression"
    datasets = ("mnist",)
    protocol = "official MNIST split: 60,000 train / 10,000 test"
    labels = tuple("0123456789")
    presets = {"manual": MANUAL, "best": BEST, "smoke": SMOKE}
    search_space = {"train.lr": ("log", 1e-3, 1e-2), "train.weight_decay": ("log", 1e-5, 1e-2),
                    "model.widths": ("choice", ["16,32,64", "32,64,128"]), "model.dropout": ("float", 0.0, 0.3),
                    "augment.shift": ("int", 0, 3), "train.epochs": ("int", 4, 12)}  # convnet (best); mlp: no widths
    digits = True
    notes = ("Validation for early stopping and curves is a seeded share of the 60,000 training images; the 10,000 "
             "test images are used only for the final table. Images you predict on are converted the way MNIST "
             "was made: grey, light digit on a dark background (dark-on-light drawings are inverted), the digit's "
             "bounding box scaled to fit 20x20 pixels and placed in 28x28 with its centre of mass at the centre.")
