"""`colorize`: colour black-and-white photos: a network sees the lightness L and predicts ab (CIELAB).

Data (`dlabs.data.colorize_sets`): flowers (128x128), LFW faces (150x150, split by person), UTKFace
(100x100) and outdoor scenes (160x160); the held-out and validation sets are fixed in
``splits/colorize.json``. Training uses the other flowers and scenes and a seeded subset of each face
set, at `data.size` pixels. Protocol: each held-out photo, at its stored size, is turned grey,
coloured as `predict` colours (ab at the network's size, up-sampled, recombined with the photo's own
L) and compared with the original, per set and over all: PSNR and SSIM on 8-bit RGB, colourfulness
over the originals' (Hasler and Suesstrunk 2003) and hue agreement (`dlabs.data.colour.hue_hits`).
Baselines (`_colorize_metrics`): the grey image itself (ab = 0), and the mean ab of the training
pixels at each lightness level.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlabs.config import option
from dlabs.engine.train_config import TrainConfig
from dlabs.errors import DlabsError, InputError
from dlabs.labs import Evaluation, Lab, Output, TrainData, _colorize_metrics, _export_photos, register

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    size: int = option(64, "network input size: photos are resized to size x size for training and prediction")
    faces: int = option(3000, "training photos drawn (seeded) from each face set (LFW, UTKFace); flowers and scenes: all")
    sets: tuple[str, ...] = option(("flowers", "lfw", "utkface", "scenes"), "photo sets used for training, "
                                   "validation and the held-out evaluation (the protocol is all four)")
    scenes_repeat: int = option(1, "passes over the training scene photos per epoch (the smallest set, oversampled)")
    limit: int = option(0, "use at most N training and N//4 validation photos per set (quick runs); 0 = all")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = option("unet", "manual (the manual's encoder-decoder, tanh ab) | unet (U-Net with skip connections)")
    widths: tuple[int, ...] = option((16, 32, 64, 128), "unet: channels per stage (each stage halves the size)")
    head: str = option("classify", "unet: regress (2 channels, tanh) | classify (logits over the 484 ab grid cells)")
    out_stride: int = option(4, "unet: output at 1/out_stride of the input size (1, 2, 4...), up-sampled bilinearly")
    temperature: float = option(0.38, "classify: annealed-mean read-out temperature (1 = mean, -> 0 = mode; "
                                      "0 = chosen after training on the validation photos, see TEMPERATURES)")
    upsample: str = option("nearest", "manual: up-sampling by nearest (as in the manual) | bilinear")


@dataclass(frozen=True)
class ColorizeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=32, threads=1))
    loss: str = option("ce", "ce (class-rebalanced cross-entropy, classify head) | mse | l1 | huber (regress on ab)")
    rebalance: float = option(0.5, "ce: class-rebalancing lambda (Zhang et al.), the share of uniform mixed into the prior")
    flip: bool = option(True, "random horizontal flips of training photos")


# the manual's network gets the same photos; one epoch (about 7 minutes on one core) is its time budget
MANUAL = ColorizeConfig(data=DataConfig(faces=2000), model=ModelConfig(kind="manual"), loss="mse",
                        train=TrainConfig(epochs=30, batch_size=32, threads=1, max_seconds=420, patience=4))
# `best` picks its read-out temperature on the validation photos after training (`_colorize_metrics`); the
# scenes, an eighth of the photos, are seen twice an epoch; 12 epochs fit 30 minutes (docs/experiments/colorize.md)
BEST = ColorizeConfig(data=DataConfig(scenes_repeat=2), model=ModelConfig(temperature=0.0),
                      train=TrainConfig(epochs=12, batch_size=32, lr=2e-3, optimizer="adamw", weight_decay=1e-4,
                                        schedule="cosine", threads=1, max_seconds=1650))
SMOKE = ColorizeConfig(data=DataConfig(size=32, sets=("flowers",), limit=64),
                       model=ModelConfig(widths=(8, 16), out_stride=2, temperature=0.0),
                       train=TrainConfig(epochs=1, batch_size=16, threads=1))


@dataclass
class ColorizeData(TrainData):
    """The training hand-off, with the validation photos at their stored size for `after_fit`."""

    val_photos: dict[str, np.ndarray] = field(default_factory=dict)


def _batcher(lab, weights):
    """L as input; a, b and each pixel's class-rebalancing weight as the target (half precision)."""
    import torch

    from dlabs.engine.trainer import TensorBatcher
    from dlabs.models.colorizer import bin_index

    w = weights[bin_index(lab[:, 1:])][:, None]
    return TensorBatcher(lab[:, :1].half(), torch.cat([lab[:, 1:], w], 1).half())


@register
class Colorize(Lab):
    name = "colorize"
    title = "Colorize black-and-white photos: L in, ab out (CIELAB), against the grey image"
    task = "image-to-image"
    input_kind = "image"
    datasets = ("colorize", "lfw", "utkface", "colorize_scenes")
    protocol = ("fixed held-out set (splits/colorize.json: 300 flowers at 128px, 300 LFW faces of unseen people at "
                "150px, 300 UTKFace at 100px, 300 outdoor scenes at 160px, 50 per class), turned grey and coloured "
                "back at full size; per set and over all: PSNR/SSIM on RGB, colourfulness output/original, hue "
                "agreement")
    headline = "psnr"
    Config = ColorizeConfig
    presets = {"manual": MANUAL, "best": BEST, "smoke": SMOKE}
    compare_manual = True  # `best` is judged against the manual's network on the same photos, scenes included
    search_space = {"train.lr": ("log", 5e-4, 5e-3), "train.weight_decay": ("log", 1e-6, 1e-2),
                    "model.widths": ("choice", ["16,32,64,128", "32,64,128,256"]), "train.epochs": ("int", 3, 8)}
    export = _export_photos.colorize  # dlabs export: the whole predictor as one ONNX graph
    notes = ("Every metric is on the held-out set at each photo's stored size, never seen in training or model choice. "
             "PSNR rewards cautious, desaturated colour (the grey image already scores well), so it is read together "
             "with the colourfulness ratio (1: as colourful as the originals; grey scores 0) and with hue agreement, "
             "which asks whether the colours are the right ones: among the pixels whose original Lab chroma is above "
             "15, the share coloured with chroma above 5 and a hue within 45 degrees of the original's. The "
             "'lightness' baseline colours each pixel with the mean ab of the training pixels of its lightness, so a "
             "network has to beat colour by brightness, not just no colour. The classification head with class "
             "rebalancing and an annealed-mean read-out (Zhang et al. 2016) keeps colours saturated where a "
             "regression head averages them to sepia.")

    def train_data(self, cfg: ColorizeConfig, seed: int) -> ColorizeData:
        import torch

        from dlabs.data.colorize_sets import training_photos
        from dlabs.models.colorizer import rebalance, to_lab

        photos = training_photos(cfg.data.sets, cfg.data.faces, cfg.data.limit, seed)
        repeat = {"scenes": max(1, cfg.data.scenes_repeat)}
        tr = torch.cat([to_lab(train, cfg.data.size).repeat(repeat.get(name, 1), 1, 1, 1)
                        for name, (train, _) in photos.items()])
        va = torch.cat([to_lab(val, cfg.data.size) for _, val in photos.values()])
        weights = rebalance(tr[:, 1:], cfg.rebalance)
        return ColorizeData(_batcher(tr, weights), _batcher(va, weights),
                            {"size": cfg.data.size, "bin_weights": weights.tolist()},
                            {"train": len(tr), "validation": len(va)},
                            val_photos={name: val for name, (_, val) in photos.items()})

    def build_model(self, cfg: ColorizeConfig, state: dict):
        import torch

        from dlabs.models import colorizer as Z

        m = cfg.model
        if m.kind == "manual":
            net = Z.ManualColorizer(m.upsample)
        elif m.kind == "unet":
            net = Z.UNet(tuple(m.widths), Z.N_BINS if m.head == "classify" else 0, m.out_stride,
                         state.get("temperature") or m.temperature or _colorize_metrics.TEMPERATURES[0])
        else:
            raise DlabsError(f"model.kind={m.kind}: expected manual or unet")
        if (m.kind == "unet" and m.head == "classify") != (cfg.loss == "ce"):
            raise DlabsError(f"loss={cfg.loss} does not fit the {m.kind}/{m.head} output: ce goes with the classify head")
        return net.to(memory_format=torch.channels_last)

    def loss_fn(self, cfg: ColorizeConfig):
        from dlabs.models.colorizer import ColorLoss

        return ColorLoss(cfg.loss)

    def augment(self, cfg: ColorizeConfig):
        if not cfg.flip:
            return None
        import torch

        def flip(batch):
            x, y = batch
            m = torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5
            return torch.where(m, x.flip(3), x), torch.where(m, y.flip(3), y)
        return flip

    def after_fit(self, model, data: ColorizeData, cfg: ColorizeConfig, device) -> dict:
        """With `model.temperature=0`, the read-out temperature is chosen on the validation photos."""
        if cfg.model.kind != "unet" or cfg.model.head != "classify" or cfg.model.temperature:
            return {}
        return _colorize_metrics.choose_temperature(model, data.val_photos, data.state["size"])

    # evaluation ---------------------------------------------------------------------------------
    def test_data(self, cfg: ColorizeConfig, state: dict) -> dict[str, np.ndarray]:
        """The held-out photos of each set at their stored size (uint8, N x H x W x 3)."""
        from dlabs.data.colorize_sets import test_photos

        return test_photos(cfg.data.sets, cfg.data.limit)

    def evaluate(self, model, test: dict[str, np.ndarray], device) -> Evaluation:
        from dlabs.data.colour import HUE_AGREEMENT, score_sets
        from dlabs.models.colorizer import colour_sets

        size = model.state["size"]
        coloured = colour_sets(model.net, test, size)
        info = {"sets": {name: {"test": len(x), "size": int(x.shape[1])} for name, x in test.items()},
                "network_size": size, "hue_agreement": HUE_AGREEMENT}
        if model.state.get("temperature"):
            info["read_out_temperature"] = float(model.state["temperature"])
        return Evaluation(score_sets(coloured, test), {"coloured": coloured}, info)

    def baselines(self, cfg: ColorizeConfig, seed: int, test: dict[str, np.ndarray]) -> dict:
        return _colorize_metrics.baselines(cfg, seed, test)

    def plots(self, model, test: dict[str, np.ndarray], evaluation: Evaluation, outdir: Path) -> None:
        """Held-out galleries (grey input, dlabs, original) and the old photos, coloured at full
        resolution into ``plots/old_photos/`` (not in a quick `data.limit` run) and shown in one figure."""
        from dlabs.report.colorize import heldout_gallery, photo_gallery

        sets, scenes = _colorize_metrics.heldout_rows(test, evaluation.predictions["coloured"])
        heldout_gallery(sets, outdir / "gallery_heldout.png")
        if scenes:
            heldout_gallery(scenes, outdir / "gallery_heldout_scenes.png")
        photo_gallery(_colorize_metrics.old_photos(model.net, model.state["size"], outdir, not model.cfg.data.limit),
                      outdir / "gallery_old_photos.png")

    # use ----------------------------------------------------------------------------------------
    def form(self, state: dict) -> dict:
        return {"help": "a black-and-white (or colour: it is turned grey first) photo of any size"}

    def predict(self, model, request) -> list[dict]:
        from io import BytesIO

        from PIL import Image

        from dlabs.data.images import load_rgb

        if not request.items:
            raise InputError("no input: give one or more photo files (PNG, JPEG, ...)")
        out = []
        for name, data in request.items:
            rgb = load_rgb(data if isinstance(data, bytes) else data.encode(), name)
            s = int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 2**20)) + 1  # grey or colour, judged on ~1 MP
            chroma = float(np.abs(rgb[::s, ::s].astype(np.int16) - rgb[::s, ::s].mean(2, keepdims=True)).mean())
            buf = BytesIO()
            Image.fromarray(_export_photos.colour_photo(model, rgb)).save(buf, "PNG", compress_level=1)  # torch or ONNX
            out.append({"input": name, "output": Output(f"{Path(name).stem}_colorized.png", buf.getvalue()),
                        "size": [rgb.shape[1], rgb.shape[0]],
                        "input_was": "grey" if chroma < 2 else "colour (turned grey first)"})
        return out

    def format(self, predictions: list[dict]) -> str:
        return "\n".join(f"{p['input']} ({p['size'][0]}x{p['size'][1]}, {p['input_was']}) -> {p['output']}"
                         for p in predictions)
