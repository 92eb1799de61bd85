"""What `mnist` and `fashion` share: 28x28 grey images in idx files, CNN/MLP models on raw uint8
pixels, batch augmentation, and predict on any image file a person has.

Images stay in memory as one uint8 tensor (N, 1, 28, 28); the model's first layer standardises
them with the training split's pixel statistics (saved in the run's state and in the weights),
so no data loader and no per-batch preprocessing run on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dlabs.config import option
from dlabs.data import idx, images
from dlabs.data.augment import AugmentConfig
from dlabs.engine.train_config import TrainConfig
from dlabs.errors import DlabsError, InputError
from dlabs.labs import _explain
from dlabs.labs._classify import ClassifierLab, DataConfig


@dataclass(frozen=True)
class ModelConfig:
    kind: str = option("convnet", "mlp (784 -> hidden -> classes) | manual_cnn (the manual's Fashion CNN) | convnet "
                                  "(VGG-style with batch norm)")
    hidden: tuple[int, ...] = option((512, 512), "mlp: hidden layer widths")
    widths: tuple[int, ...] = option((32, 64, 128), "convnet: channels per stage (each stage halves the size)")
    depths: tuple[int, ...] = option((2, 2, 2), "convnet: conv layers in each stage of `widths`")
    batchnorm: bool = option(True, "convnet: batch normalisation after each convolution (false: a bias instead)")
    dropout: float = option(0.2, "dropout (mlp: after each hidden layer; cnn: as in the model)")
    init: str = option("torch", "torch (PyTorch's default) | keras (Glorot-uniform kernels, zero biases)")
    pixels: str = option("standardize", "standardize (with the training pixels' mean and std) | unit (x/255, "
                                        "as the manual's code)")


@dataclass(frozen=True)
class ImageConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy")
    tta: bool = option(False, "test-time augmentation: average the prediction over the image and its mirror "
                              "(clothing only)")
    tta_shift: int = option(0, "test-time augmentation: also average over copies moved this many pixels up, down, "
                               "left and right; 0 = off")


class ImageLab(ClassifierLab):
    input_kind = "image"
    Config = ImageConfig
    digits = False  # MNIST's 20x20-box-by-mass convention for predict input; else Fashion-MNIST's

    def load(self, cfg):
        return idx.load_images(self.datasets[0], len(self.labels))

    def fit_state(self, cfg, x_fit):
        if cfg.model.pixels not in ("standardize", "unit"):
            raise DlabsError(f"model.pixels={cfg.model.pixels}: expected standardize or unit")
        x = x_fit.astype(np.float32) / 255.0
        mean, std = (float(x.mean()), float(x.std())) if cfg.model.pixels == "standardize" else (0.0, 1.0)
        return {"pixel_mean": mean, "pixel_std": std, "size": list(x_fit.shape[1:])}

    def to_tensor(self, x, state):
        import torch

        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)).unsqueeze(1)

    def baseline_features(self, x, state):
        return x.reshape(len(x), -1).astype(np.float32) / 255.0

    def build_model(self, cfg, state):
        from dlabs.models.init import initialise

        return initialise(self._network(cfg, state), cfg.model.init)

    def _network(self, cfg, state):
        from torch import nn

        from dlabs.models.cnn import ConvNet, Flatten, ManualCNN, channels_last
        from dlabs.models.mlp import MLP

        mean, std, n, m = state["pixel_mean"], state["pixel_std"], len(self.labels), cfg.model
        if m.kind == "mlp":
            return nn.Sequential(Flatten(mean, std), MLP(28 * 28, tuple(m.hidden), n, m.dropout))
        if m.kind == "manual_cnn":
            return channels_last(ManualCNN(mean, std, n, m.dropout))
        if m.kind == "convnet":
            if len(m.depths) != len(m.widths):
                raise DlabsError(f"model.depths={m.depths}: give one conv count per stage of model.widths={m.widths}")
            return channels_last(ConvNet(mean, std, tuple(m.widths), tuple(m.depths), n, m.dropout, m.batchnorm))
        raise DlabsError(f"model.kind={m.kind}: expected mlp, manual_cnn or convnet")

    def augment(self, cfg):
        from dlabs.data.augment import ImageAugment

        aug = ImageAugment(cfg.augment)
        return aug if aug else None

    def proba(self, model, x, cfg, batch_size=1000):
        from dlabs.data.augment import shifted

        views = [x, x.flip(3)] if cfg.tta else [x]
        if s := cfg.tta_shift:
            views += [shifted(v, dy, dx) for v in views for dy, dx in ((s, 0), (-s, 0), (0, s), (0, -s))]
        return np.mean([super(ImageLab, self).proba(model, v, cfg, batch_size) for v in views], axis=0)

    def form(self, state):
        return {"draw": self.digits, "options": [_explain.EXPLAIN]}

    def predict(self, model, request):
        explain = _explain.wanted(request)
        predictions = super().predict(model, request)
        return _explain.classes(self, model, request, predictions) if explain else predictions

    def format(self, predictions):
        return "\n".join(line + _explain.paths(p) for line, p in zip(super().format(predictions).split("\n"), predictions))

    def read_inputs(self, state, cfg, request):
        if not request.items:
            raise InputError("no input: give one or more image files (PNG, JPEG, ...)")
        convert = images.mnist_digit if self.digits else images.fashion_item
        arrays = []
        for name, data in request.items:
            try:
                arrays.append(convert(images.load_grey(data if isinstance(data, bytes) else data.encode(), name)))
            except InputError as e:
                msg = str(e)
                raise InputError(msg if msg.startswith(name) else f"{name}: {msg}") from None
        return [name for name, _ in request.items], np.stack(arrays)

    def draw(self, ax, x):
        ax.imshow(x, cmap="gray_r", vmin=0, vmax=255)
