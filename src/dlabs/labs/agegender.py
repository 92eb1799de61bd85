"""`agegender`: gender and age from a face photo, trained on UTKFace (23,708 aligned, cropped faces).

Labels come from the file names, ages capped at 100 as in the manual, and the split is a committed
seeded 80/10/10 split stratified by gender and age band (`dlabs.data.utkface`).

One network, two heads: a gender logit (binary cross-entropy) and an age head, either one number
in years (MSE as in the manual, or L1 / smooth L1) or a distribution over 0..100 years
(label-distribution learning, DLDL: a Gaussian around the true age, read out as the expectation).
Photos given to `predict` go through the shared face pipeline (`dlabs.data.faces`), cropped the
way the training faces are framed; the age range it reports is the 10%-90% band of the validation
residuals at that predicted age.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlabs.config import option
from dlabs.data.augment import AugmentConfig
from dlabs.data.utkface import GENDERS, MAX_AGE, RACES, SPLIT_FILE, age_range, load_faces, load_parts
from dlabs.engine.train_config import TrainConfig
from dlabs.errors import InputError
from dlabs.labs import Baseline, Evaluation, Lab, TrainData, _explain, _export_photos, register


@dataclass(frozen=True)
class DataConfig:
    size: int = option(64, "side of the square face images in pixels (decoded from the 100x100 mirror)")
    limit: int = option(0, "train on only N training faces, a seeded sample (quick runs); 0 = all")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = option("facenet", "manual_cnn (the manual's conv 32-64-128-128, dense 512) | facenet "
                                  "(VGG-style with batch norm, stride-2 stem)")
    widths: tuple[int, ...] = option((32, 64, 128, 256), "facenet: channels per stage (each stage halves the size)")
    depth: int = option(2, "facenet: conv layers per stage")
    dropout: float = option(0.5, "dropout before the heads")


@dataclass(frozen=True)
class AgeGenderConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    age_loss: str = option("dldl", "mse | l1 | smooth_l1 (one number in years) | dldl (a distribution over 0..100)")
    age_weight: float = option(1.0, "weight of the age loss beside the gender loss")
    sigma: float = option(3.0, "dldl: standard deviation in years of the label distribution")
    tta: bool = option(False, "test-time augmentation: average the predictions of the face and its mirror image")


MANUAL = AgeGenderConfig(
    model=ModelConfig(kind="manual_cnn", dropout=0.5),
    train=TrainConfig(epochs=5, batch_size=64, optimizer="adam", lr=1e-3, threads=1, fused=True, max_seconds=720),
    age_loss="mse",
)
# chosen on the validation tenth (docs/experiments/agegender.md)
BEST = AgeGenderConfig(
    model=ModelConfig(kind="facenet", widths=(32, 64, 128, 256), depth=2, dropout=0.3),
    train=TrainConfig(epochs=10, batch_size=64, optimizer="adamw", lr=2e-3, weight_decay=5e-4, schedule="onecycle",
                      restore_best=False, threads=1, fused=True, max_seconds=1500),
    augment=AugmentConfig(shift=4, flip=True),
    age_loss="dldl",
    tta=True,
)
SMOKE = AgeGenderConfig(
    data=DataConfig(size=32, limit=1500),
    model=ModelConfig(kind="facenet", widths=(8, 16), depth=1, dropout=0.0),
    train=TrainConfig(epochs=2, batch_size=64, lr=3e-3, threads=1),
    augment=AugmentConfig(shift=2, flip=True),
)


@dataclass
class TestFaces:
    """The test tenth: faces (N, size, size, 3) uint8 and their labels."""

    x: np.ndarray
    gender: np.ndarray
    age: np.ndarray
    race: np.ndarray
    info: dict


def _batcher(x: np.ndarray, gender: np.ndarray, age: np.ndarray):
    import torch

    from dlabs.engine.trainer import TensorBatcher
    from dlabs.models.cnn import from_nhwc

    return TensorBatcher(from_nhwc(x), torch.from_numpy(np.stack([gender, age], 1).astype(np.float32)))


@register
class AgeGender(Lab):
    name = "agegender"
    title = "Gender and age from a face (UTKFace): the manual's two-headed CNN and a stronger one"
    task = "multi-task: binary classification + regression"
    input_kind = "image"
    datasets = ("utkface",)
    protocol = "fixed seeded 80/10/10 UTKFace split stratified by gender x age band (splits/utkface.json)"
    headline = "age_mae"
    Config = AgeGenderConfig
    presets = {"manual": MANUAL, "best": BEST, "smoke": SMOKE}
    search_space = {"train.lr": ("log", 5e-4, 5e-3), "train.weight_decay": ("log", 1e-5, 1e-2),
                    "model.widths": ("choice", ["16,32,64,128", "32,64,128,256"]), "model.depth": ("int", 1, 2),
                    "model.dropout": ("float", 0.0, 0.5), "train.epochs": ("int", 4, 10)}  # 10: the time budget
    export = _export_photos.agegender  # dlabs export: the whole predictor as one ONNX graph
    notes = ("Labels are read from UTKFace's file names; the 3 names without a race field are skipped, and ages "
             "above 100 count as 100, as in the manual. Gender is UTKFace's binary label. The validation tenth is "
             "used for the age range that predict reports; the test tenth only for the final tables. Photos given "
             "to predict are cropped around the one detected face, framed as the training faces are. In the "
             "fairness table, age MAE also follows each group's age mix (errors grow with age, and UTKFace's Asian "
             "and Others faces are younger), and gender is hardest for young children.")

    def train_data(self, cfg: AgeGenderConfig, seed: int) -> TrainData:
        from dlabs.data import faces
        from dlabs.data.images import channel_stats
        from dlabs.data.utkface import example_photo

        d, idx = load_parts(cfg.data.size, cfg.data.limit)
        tr, va = idx["train"], idx["val"]
        mean, std = channel_stats(d["x"][tr])
        state = {"size": cfg.data.size, "pixel_mean": mean, "pixel_std": std, "age_mean": float(d["age"][tr].mean()),
                 "framing": faces.Framing.calibrate(d["x"][tr], seed=seed).state(), "example": example_photo(d["x"][tr])}
        return TrainData(_batcher(d["x"][tr], d["gender"][tr], d["age"][tr]),
                         _batcher(d["x"][va], d["gender"][va], d["age"][va]), state,
                         {"train": len(tr), "validation": len(va)})

    def build_model(self, cfg: AgeGenderConfig, state: dict):
        from dlabs.models.agegender import TwoHeads, build_trunk
        from dlabs.models.cnn import channels_last

        trunk, features = build_trunk(cfg.model, state["size"], state["pixel_mean"], state["pixel_std"])
        age_out = MAX_AGE + 1 if cfg.age_loss == "dldl" else 1
        return channels_last(TwoHeads(trunk, features, age_out, state["age_mean"], cfg.model.dropout))

    def loss_fn(self, cfg: AgeGenderConfig):
        from dlabs.models.agegender import TwoHeadLoss

        return TwoHeadLoss(cfg.age_loss, cfg.age_weight, cfg.sigma)

    def metrics_fn(self, cfg: AgeGenderConfig):
        from dlabs.models.agegender import val_metrics

        return val_metrics

    def augment(self, cfg: AgeGenderConfig):
        from dlabs.data.augment import ImageAugment

        aug = ImageAugment(cfg.augment)
        return aug if aug else None

    def after_fit(self, model, data: TrainData, cfg: AgeGenderConfig, device) -> dict:
        """The age range predict reports, from the validation residuals (`age_interval`)."""
        from dlabs.engine.trainer import use_amp
        from dlabs.models.agegender import age_interval, outputs

        x, target = data.val.tensors
        _, age_pred = outputs(model, x, device, use_amp(cfg.train, device), cfg.tta)
        return {"age_interval": age_interval(target[:, 1].numpy().astype(np.int64), age_pred)}

    def test_data(self, cfg: AgeGenderConfig, state: dict) -> TestFaces:
        from dlabs.data.utkface import split_indices

        d = load_faces(state["size"])
        t = split_indices(d)["test"]
        info = {"faces": len(d["stems"]), "skipped_malformed_names": len(d["skipped"]), "skipped": d["skipped"],
                "age_cap": MAX_AGE, "size": state["size"], "test": len(t)}
        return TestFaces(d["x"][t], d["gender"][t], d["age"][t], d["race"][t], info)

    def evaluate(self, model, test: TestFaces, device) -> Evaluation:
        from dlabs.engine.trainer import use_amp
        from dlabs.models.agegender import fairness, outputs, scores
        from dlabs.models.cnn import from_nhwc

        p, age_pred = outputs(model.net, from_nhwc(test.x), device, use_amp(model.cfg.train, device), model.cfg.tta)
        tables = fairness(p, age_pred, test.gender, test.age, test.race)
        return Evaluation(scores(p, age_pred, test.gender, test.age), {"p_female": p, "age_pred": age_pred},
                          test.info | tables)

    def baselines(self, cfg: AgeGenderConfig, seed: int, test: TestFaces) -> dict:
        from dlabs.models.agegender import scores

        d, idx = load_parts(cfg.data.size, cfg.data.limit)
        t0 = time.perf_counter()
        female = float(np.mean(d["gender"][idx["train"]]) > 0.5)
        median = float(np.median(d["age"][idx["train"]]))
        s = scores(np.full(len(test.age), female), np.full(len(test.age), median), test.gender, test.age)
        return {"majority_median": Baseline(s, time.perf_counter() - t0)}

    def plots(self, model, test: TestFaces, evaluation: Evaluation, outdir: Path) -> None:
        from dlabs.report.agegender import test_plots

        test_plots(test.x, test.gender, test.age, evaluation.predictions["p_female"],
                   evaluation.predictions["age_pred"], evaluation.info, outdir)

    def explore(self, cfg: AgeGenderConfig, outdir=None) -> dict:
        d = load_faces(cfg.data.size)
        counts = {f"{r} {g}": int(((d["race"] == i) & (d["gender"] == j)).sum())
                  for i, r in enumerate(RACES) for j, g in enumerate(GENDERS)}
        info = {"faces": len(d["stems"]), "skipped_malformed_names": d["skipped"], "age_cap": MAX_AGE,
                "age_median": float(np.median(d["age"])), "female_share": float(d["gender"].mean()),
                "race_gender_counts": counts, "split": json.loads(SPLIT_FILE.read_text())["counts"]}
        if outdir is not None:
            from dlabs.report.agegender import data_plots

            data_plots(d["x"], d["gender"], d["age"], d["race"], Path(outdir))
        return info

    # use ----------------------------------------------------------------------------------------
    def predict(self, model, request) -> list[dict]:
        from dlabs.data import faces
        from dlabs.data.images import load_rgb

        if not request.items:
            raise InputError("no input: give one or more photos with a face (JPEG, PNG, ...)")
        state, framing = model.state, faces.Framing(**model.state["framing"])
        x = np.stack([faces.crop_face(load_rgb(data if isinstance(data, bytes) else data.encode(), name),
                                      framing, state["size"], name) for name, data in request.items])
        p, age = _export_photos.agegender_outputs(model, x)  # PyTorch, or ONNX Runtime for an export
        out = []
        for (name, _), pf, a in zip(request.items, p, age):
            top = sorted([{"label": "female", "probability": round(float(pf), 4)},
                          {"label": "male", "probability": round(float(1 - pf), 4)}], key=lambda t: -t["probability"])
            out.append({"input": name, "gender": top[0]["label"], "probability": top[0]["probability"],
                        "top": top, "age": round(float(a), 1), "age_range": age_range(a, state["age_interval"])})
        return _explain.faces(model, request, out) if _explain.wanted(request) else out

    def format(self, predictions: list[dict]) -> str:
        return "\n".join(f"{p['input']}: {p['gender']} ({p['probability']:.0%}), age {p['age']:.0f} "
                         f"(80% range {p['age_range'][0]}-{p['age_range'][1]}){_explain.paths(p)}" for p in predictions)

    def form(self, state) -> dict:
        import base64
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(state["example"], dtype=np.uint8)).save(buf, format="PNG")
        return {"help": "A photo with one face, looking at the camera; it is cropped around the face.",
                "example": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(),
                "options": [_explain.EXPLAIN]}
