"""`colorize`: colour black-and-white photos: a network sees the lightness L and predicts ab (CIELAB).

Data: colour flower photos (128x128), LFW faces (150x150 centre crops, split by person) and
UTKFace (100x100). The held-out evaluation set and the validation set are fixed in
``splits/colorize.json`` (seeded, made once by `make_split`); no LFW person of either is in
training. Training uses every other flower and a seeded subset of each face set, at
`data.size` pixels a side. Protocol: each held-out photo, at its stored size, is turned grey,
coloured by the same code path as `predict` (ab predicted at the network's size, up-sampled
and recombined with the photo's own full-resolution L) and compared with the original: PSNR
and SSIM on 8-bit RGB, and the colourfulness of the outputs over that of the originals
(Hasler and Suesstrunk 2003, means over the set). Baseline: the grey image itself (ab = 0).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from dlabs import paths
from dlabs.config import option
from dlabs.data import colour as C
from dlabs.data import lfw
from dlabs.data.images import load_image_archive, load_rgb
from dlabs.data.store import fetch
from dlabs.engine.trainer import TensorBatcher, TrainConfig
from dlabs.errors import DlabsError, InputError
from dlabs.labs import Lab, Prepared, register
from dlabs.models import colorizer as Z
from dlabs.models.cnn import from_nhwc

log = logging.getLogger(__name__)

SPLIT_FILE = Path(__file__).with_name("splits") / "colorize.json"
SETS = {"flowers": ("colorize", "photos_160.tar.gz", 128), "lfw": ("lfw", "images", 150),
        "utkface": ("utkface", "images", 100)}
GALLERY_SIDE = 800  # pixels: the old photos are coloured at about this size for the report
GALLERY = 4  # held-out photos per set shown in the report's gallery


@dataclass(frozen=True)
class DataConfig:
    size: int = option(64, "network input size: photos are resized to size x size for training and prediction")
    faces: int = option(3000, "training photos drawn (seeded) from each face set (LFW, UTKFace); the flowers are all used")
    sets: tuple[str, ...] = option(("flowers", "lfw", "utkface"), "photo sets used for training, validation and "
                                   "the held-out evaluation (the protocol is all three)")
    limit: int = option(0, "use at most N training and N//4 validation photos per set (quick runs); 0 = all")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = option("unet", "manual (the manual's encoder-decoder, tanh ab) | unet (U-Net with skip connections)")
    widths: tuple[int, ...] = option((16, 32, 64, 128), "unet: channels per stage (each stage halves the size)")
    head: str = option("classify", "unet: regress (2 channels, tanh) | classify (logits over the 484 ab grid cells)")
    out_stride: int = option(4, "unet: output at 1/out_stride of the input size (1, 2, 4...), up-sampled bilinearly")
    temperature: float = option(0.38, "classify: annealed-mean temperature of the read-out (1 = mean, -> 0 = mode); "
                                      "0 = chosen after training on the validation photos (see TEMPERATURES)")


@dataclass(frozen=True)
class ColorizeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=32, threads=1))
    loss: str = option("ce", "ce (class-rebalanced cross-entropy, classify head) | mse | l1 | huber (regress on ab)")
    rebalance: float = option(0.5, "ce: lambda of the class rebalancing (Zhang et al.): the prior is mixed with "
                                   "this share of uniform; 1 = no rebalancing")
    flip: bool = option(True, "random horizontal flips of training photos")


# the manual's network gets the same photos; one epoch (about 7 minutes on one core) is its time budget
MANUAL = ColorizeConfig(data=DataConfig(faces=2000), model=ModelConfig(kind="manual"), loss="mse",
                        train=TrainConfig(epochs=30, batch_size=32, threads=1, max_seconds=420, patience=4))
# Read-out temperature on the 300 validation photos (2-epoch run): T 0.2 / 0.38 / 0.6 / 1.0 gave PSNR
# 22.37 / 23.00 / 23.46 / 23.65 dB and colourfulness 1.11 / 1.00 / 0.91 / 0.81 of the originals' (grey: 21.25 dB);
# the 6-epoch model: T 0.38 / 0.6 / 0.8 / 1.0 gave 23.54 / 23.87 / 23.96 / 23.94 dB and 1.06 / 0.98 / 0.92 / 0.87.
# So `best` picks T after training, on validation: the highest PSNR whose colourfulness stays at least
# MIN_COLOURFUL of the originals'. A Huber regression head: 24.38 dB but 0.59 (sepia flowers, 0.33).
TEMPERATURES = (0.38, 0.5, 0.6, 0.7, 0.8, 1.0)
MIN_COLOURFUL = 0.8
BEST = ColorizeConfig(model=ModelConfig(temperature=0.0),
                      train=TrainConfig(epochs=6, batch_size=32, lr=2e-3, optimizer="adamw", weight_decay=1e-4,
                                        schedule="cosine", threads=1, max_seconds=1080))
SMOKE = ColorizeConfig(data=DataConfig(size=32, sets=("flowers",), limit=64),
                       model=ModelConfig(widths=(8, 16), out_stride=2, temperature=0.0),
                       train=TrainConfig(epochs=1, batch_size=16, threads=1))


# the fixed split -------------------------------------------------------------------------------

def _archive(name: str) -> tuple[list[str], np.ndarray]:
    ds, role, size = SETS[name]
    if name == "lfw":  # the face lab's reader: the mirror's framing from upstream lfw.tgz too
        return lfw.load_photos(size)
    return load_image_archive(fetch(ds, role), size)


def _person(name: str) -> str:
    return name.split("/")[-2]


def make_split(seed: int = 2016, n_test: int = 300, n_val: int = 100, per_person: int = 3) -> dict:
    """The held-out evaluation and validation photos of each set; LFW by person (at most
    `per_person` photos of each chosen person, the rest of them never used)."""
    rng = np.random.default_rng(seed)
    split = {"seed": seed, "note": "made by dlabs.labs.colorize.make_split; LFW people of test and val are never trained on"}
    for name in SETS:
        names = _archive(name)[0]
        if name == "lfw":
            people: dict[str, list[str]] = {}
            for n in names:
                people.setdefault(_person(n), []).append(n)
            order = rng.permutation(sorted(people))
            picked, part = {"test": [], "val": []}, "test"
            for p in order:
                target = n_test if part == "test" else n_val
                picked[part] += sorted(rng.permutation(people[p])[:per_person].tolist())
                if len(picked[part]) >= target:
                    if part == "val":
                        break
                    part = "val"
        else:
            idx = rng.permutation(len(names))
            picked = {"test": sorted(names[i] for i in idx[:n_test]),
                      "val": sorted(names[i] for i in idx[n_test:n_test + n_val])}
        split[name] = picked
    return split


def held_out(names: list[str], split: dict, by_person: bool) -> tuple[dict[str, list[int]], np.ndarray]:
    """Indices of the split's test and val photos, and of the photos left for training: by person,
    every photo of a held-out person is left out."""
    pos = {n: i for i, n in enumerate(names)}
    held = {part: [pos[n] for n in split[part]] for part in ("test", "val")}
    out = {names[i] for part in held.values() for i in part}
    if by_person:
        people = {_person(n) for n in out}
        out |= {n for n in names if _person(n) in people}
    return held, np.array([i for i, n in enumerate(names) if n not in out], dtype=np.int64)


def load_split() -> dict:
    return json.loads(SPLIT_FILE.read_text())


# colouring: one code path for evaluation and predict -------------------------------------------------

def to_lab(rgb: np.ndarray, size: int = 0) -> torch.Tensor:
    """uint8 (N, H, W, 3) or (H, W, 3) -> Lab float32 (N, 3, H, W), first resized to size x size if given."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).float().div(255)
    t = (t if t.ndim == 4 else t[None]).permute(0, 3, 1, 2)
    return C.rgb_to_lab(shrink(t, size) if size else t)


def shrink(x: torch.Tensor, size: int) -> torch.Tensor:
    return x if x.shape[-2:] == (size, size) else F.interpolate(x, (size, size), mode="bilinear", antialias=True,
                                                                   align_corners=False)


@torch.inference_mode()
def colorize(model, lightness: torch.Tensor, size: int, batch: int = 128) -> torch.Tensor:
    """L (N, 1, H, W) at any size -> uint8 RGB (N, 3, H, W): ab predicted at size x size, up-sampled
    bilinearly to H x W and recombined with the full-resolution L."""
    out = []
    for i in range(0, len(lightness), batch):
        L = lightness[i:i + batch]
        ab = model.ab(shrink(L, size))
        ab = F.interpolate(ab, L.shape[-2:], mode="bilinear", align_corners=False)
        out.append(C.to_uint8(C.lab_to_rgb(torch.cat([L, ab], 1))))
    return torch.cat(out)


def grey_image(lightness: torch.Tensor) -> torch.Tensor:
    """The grey baseline: L with a = b = 0, as uint8 RGB."""
    return C.to_uint8(C.lab_to_rgb(F.pad(lightness, (0, 0, 0, 0, 0, 2))))


def scores(outputs: torch.Tensor, originals: torch.Tensor) -> dict:
    return {"psnr": C.psnr(outputs, originals), "ssim": C.ssim(outputs, originals),
            "colorfulness": C.colourfulness(outputs), "colorfulness_original": C.colourfulness(originals)}


def summarise(per_set: dict[str, dict]) -> dict[str, float]:
    """Means over all held-out photos (and per set), colourfulness as a ratio of means."""
    cat = {k: torch.cat([s[k] for s in per_set.values()]) for k in next(iter(per_set.values()))}
    out = {"psnr": cat["psnr"].mean(), "ssim": cat["ssim"].mean(),
           "colorfulness_ratio": cat["colorfulness"].mean() / cat["colorfulness_original"].mean()}
    for name, s in per_set.items():
        out[f"psnr_{name}"] = s["psnr"].mean()
        out[f"colorfulness_ratio_{name}"] = s["colorfulness"].mean() / s["colorfulness_original"].mean()
    return {k: round(float(v), 4) for k, v in out.items()}


@register
class Colorize(Lab):
    name = "colorize"
    title = "Colorize black-and-white photos: L in, ab out (CIELAB), against the grey image"
    task = "image-to-image"
    input_kind = "image"
    datasets = ("colorize", "lfw", "utkface")
    protocol = ("fixed held-out set (splits/colorize.json: 300 flowers at 128px, 300 LFW faces of unseen people at "
                "150px, 300 UTKFace at 100px), turned grey and coloured back at full size; PSNR/SSIM on RGB, "
                "colourfulness output/original")
    headline = "psnr"
    Config = ColorizeConfig
    presets = {"manual": MANUAL, "best": BEST, "smoke": SMOKE}
    notes = ("Every metric is on the held-out set at each photo's stored size, never seen in training or model choice. "
             "PSNR rewards cautious, desaturated colour (the grey image already scores well), so it is read together "
             "with the colourfulness ratio: 1 means as colourful as the originals, the grey image scores 0. The "
             "classification head with class rebalancing and an annealed-mean read-out (Zhang et al. 2016) keeps "
             "colours saturated where a regression head averages them to sepia.")

    def prepare(self, cfg: ColorizeConfig, seed: int) -> Prepared:
        split, size, rng = load_split(), cfg.data.size, np.random.default_rng(seed)
        train, val, test, val_raw, counts = [], [], {}, {}, {}
        for name in cfg.data.sets:
            if name not in SETS:
                raise DlabsError(f"data.sets: unknown set '{name}' (sets: {', '.join(SETS)})")
            names, images = _archive(name)
            held, pool = held_out(names, split[name], by_person=name == "lfw")
            if name != "flowers" and cfg.data.faces < len(pool):
                pool = np.sort(rng.choice(pool, cfg.data.faces, replace=False))
            vidx = held["val"]
            if cfg.data.limit:
                pool, vidx = pool[:cfg.data.limit], vidx[:max(1, cfg.data.limit // 4)]
            train.append(to_lab(images[pool], size))
            val.append(to_lab(images[vidx], size))
            tidx = held["test"][:max(8, cfg.data.limit // 4)] if cfg.data.limit else held["test"]
            test[name], val_raw[name] = images[tidx], images[vidx]
            counts[name] = {"train": len(pool), "val": len(vidx), "test": len(tidx),
                            "size": int(images.shape[1])}
        tr, va = torch.cat(train), torch.cat(val)
        weights = self._rebalance(tr[:, 1:], cfg.rebalance)
        state = {"size": size, "bin_weights": weights.tolist()}
        info = {"sets": counts, "train_photos": len(tr), "val_photos": len(va), "network_size": size}
        return Prepared(self._batcher(tr, weights), self._batcher(va, weights), self._batcher(va[:1], weights),
                        state, info, {"test": test, "val": val_raw})

    @staticmethod
    def _rebalance(ab: torch.Tensor, lam: float) -> torch.Tensor:
        """Per-cell weights 1 / ((1 - lam) p + lam / Q) over the Q cells seen in training, E_p[w] = 1."""
        p = torch.bincount(Z.bin_index(ab).flatten(), minlength=Z.N_BINS).double()
        p /= p.sum()
        seen = p > 0
        w = torch.where(seen, 1 / ((1 - lam) * p + lam / seen.sum()), torch.zeros_like(p))
        return (w / (p * w).sum()).float()

    @staticmethod
    def _batcher(lab: torch.Tensor, weights: torch.Tensor) -> TensorBatcher:
        w = weights[Z.bin_index(lab[:, 1:])][:, None]
        return TensorBatcher(lab[:, :1].half(), torch.cat([lab[:, 1:], w], 1).half())

    def build_model(self, cfg: ColorizeConfig, state: dict):
        m = cfg.model
        if m.kind == "manual":
            net = Z.ManualColorizer()
        elif m.kind == "unet":
            net = Z.UNet(tuple(m.widths), Z.N_BINS if m.head == "classify" else 0, m.out_stride,
                         state.get("temperature") or m.temperature or TEMPERATURES[0])
        else:
            raise DlabsError(f"model.kind={m.kind}: expected manual or unet")
        if (m.kind == "unet" and m.head == "classify") != (cfg.loss == "ce"):
            raise DlabsError(f"loss={cfg.loss} does not fit the {m.kind}/{m.head} output: ce goes with the classify head")
        return net.to(memory_format=torch.channels_last)

    def loss_fn(self, cfg: ColorizeConfig):
        return Z.ColorLoss(cfg.loss)

    def augment(self, cfg: ColorizeConfig):
        if not cfg.flip:
            return None

        def flip(batch):
            x, y = batch
            m = torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5
            return torch.where(m, x.flip(3), x), torch.where(m, y.flip(3), y)
        return flip

    def after_fit(self, model, data: Prepared, cfg, trainer, run) -> dict:
        """With `model.temperature=0`, the read-out temperature is chosen on the validation photos."""
        if cfg.model.kind != "unet" or cfg.model.head != "classify" or cfg.model.temperature:
            return {}
        model, scored = model.cpu().eval(), {}
        for t in TEMPERATURES:
            model.temperature = t
            scored[t] = self.score_sets(model, data.raw["val"], data.state["size"])
        colourful = [t for t in TEMPERATURES if scored[t]["colorfulness_ratio"] >= MIN_COLOURFUL] or [min(TEMPERATURES)]
        model.temperature = best = max(colourful, key=lambda t: scored[t]["psnr"])
        log.info("read-out temperature %s chosen on validation (PSNR, colourfulness): %s", best,
                 {t: (m["psnr"], m["colorfulness_ratio"]) for t, m in scored.items()})
        return {"temperature": best, "temperature_validation": {str(t): m for t, m in scored.items()}}

    # evaluation ---------------------------------------------------------------------------------
    def score_sets(self, model, sets: dict[str, np.ndarray], size: int, grey: bool = False) -> dict:
        per = {}
        for name, images in sets.items():
            lab = to_lab(images)
            L = lab[:, :1]
            out = grey_image(L) if grey else colorize(model, L, size)
            per[name] = scores(out, from_nhwc(images))
        return summarise(per)

    def evaluate(self, model, data: Prepared, cfg, trainer) -> dict:
        return self.score_sets(model.cpu().eval(), data.raw["test"], data.state["size"])

    def baselines(self, data: Prepared, cfg, seed: int) -> dict:
        return {"grey": {"metrics": self.score_sets(None, data.raw["test"], data.state["size"], grey=True),
                         "train_seconds": 0.0}}

    def plots(self, run, model, data: Prepared, cfg, trainer) -> None:
        from dlabs.report.plots import pyplot, save

        plt, model, size = pyplot(), model.cpu().eval(), data.state["size"]
        rows = [img for images in data.raw["test"].values() for img in images[:GALLERY]]
        fig, axes = plt.subplots(len(rows), 3, figsize=(6, 2 * len(rows)))
        for ax_row, img in zip(axes, rows):
            L = to_lab(img)[:, :1]
            for ax, im, title in zip(ax_row, (grey_image(L), colorize(model, L, size), None), ("grey input", "dlabs", "original")):
                ax.imshow(img if im is None else im[0].permute(1, 2, 0).numpy())
                ax.set_title(title, fontsize=9)
                ax.axis("off")
        save(fig, run.plots_dir() / "gallery_heldout.png")
        from dlabs.data.catalog import BW_SAMPLES

        names = sorted(BW_SAMPLES, key=str.lower)
        fig, axes = plt.subplots((len(names) + 3) // 4, 4, figsize=(16, 4 * ((len(names) + 3) // 4)))
        for ax in axes.flat:
            ax.axis("off")
        for ax, name in zip(axes.flat, names):
            rgb = load_rgb(fetch("colorize", f"bw_samples/{name}"))
            step = max(1, max(rgb.shape[:2]) // GALLERY_SIDE)  # a figure panel shows no more than this
            ax.imshow(self.colour_photo(model, rgb[::step, ::step], size))
            ax.set_title(name, fontsize=9)
        save(fig, run.plots_dir() / "gallery_old_photos.png")

    # use ----------------------------------------------------------------------------------------
    def colour_photo(self, model, rgb: np.ndarray, size: int) -> np.ndarray:
        """Any uint8 RGB photo (grey or colour: turned grey first) coloured at its full resolution."""
        return colorize(model, to_lab(rgb)[:, :1], size, batch=1)[0].permute(1, 2, 0).numpy()

    def form(self, state: dict) -> dict:
        return {"scratch": "out", "help": "a black-and-white (or colour: it is turned grey first) photo of any size"}

    def predict(self, model, state, cfg, inputs, fields) -> list[dict]:
        from io import BytesIO

        from PIL import Image

        unknown = set(fields) - {"out"}
        if unknown:
            raise InputError(f"unknown option(s) --{', --'.join(sorted(unknown))} (expected --out DIR)")
        if not inputs:
            raise InputError("no input: give one or more photo files (PNG, JPEG, ...)")
        out = []
        for path in map(Path, inputs):
            rgb = load_rgb(path)
            coloured = self.colour_photo(model, rgb, state["size"])
            target = (Path(fields["out"]) if fields.get("out") else path.parent) / f"{path.stem}_colorized.png"
            if target.exists() and target.resolve() == path.resolve():
                raise InputError(f"{path}: the output would overwrite the input")
            buf = BytesIO()
            Image.fromarray(coloured).save(buf, format="PNG")
            paths.atomic_write(target, buf.getvalue())
            chroma = float(np.abs(rgb.astype(np.int16) - rgb.mean(2, keepdims=True)).mean())
            out.append({"input": str(path), "output": str(target), "size": [rgb.shape[1], rgb.shape[0]],
                        "input_was": "grey" if chroma < 2 else "colour (turned grey first)"})
        return out

    def format(self, predictions: list[dict]) -> str:
        return "\n".join(f"{p['input']} ({p['size'][0]}x{p['size'][1]}, {p['input_was']}) -> {p['output']}"
                         for p in predictions)
