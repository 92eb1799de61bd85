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
import torch

from dlabs.config import option
from dlabs.data import faces
from dlabs.data.augment import AugmentConfig, ImageAugment
from dlabs.data.images import channel_stats
from dlabs.data.utkface import (AGE_BANDS, GENDERS, MAX_AGE, RACES, SPLIT_FILE, band_names, band_of, example_photo,
                                load_faces, split_indices)
from dlabs.engine.trainer import TensorBatcher, TrainConfig
from dlabs.errors import InputError
from dlabs.labs import register
from dlabs.labs.base import Lab, Prepared
from dlabs.models.agegender import TwoHeadLoss, TwoHeads, build_trunk, decode
from dlabs.models.cnn import channels_last, from_nhwc


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


def scores(p_female, age_pred, gender, age) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    p_female, age_pred = np.asarray(p_female, dtype=float), np.asarray(age_pred, dtype=float)
    err = np.abs(age_pred - age)
    return {"gender_accuracy": float(((p_female >= 0.5) == gender).mean()),
            "gender_auc": float(roc_auc_score(gender, p_female)) if len(set(gender)) == 2 else float("nan"),
            "age_mae": float(err.mean()), "age_rmse": float(np.sqrt((err ** 2).mean())),
            "age_within_5": float((err <= 5).mean())}


def val_metrics(out, target) -> dict:
    p, age = decode(out)
    return {"gender_accuracy": ((p >= 0.5).float() == target[:, 0]).float().mean(),
            "age_mae": (age - target[:, 1]).abs().mean()}


MANUAL = AgeGenderConfig(
    model=ModelConfig(kind="manual_cnn", dropout=0.5),
    train=TrainConfig(epochs=5, batch_size=64, optimizer="adam", lr=1e-3, threads=1, fused=True, max_seconds=720),
    age_loss="mse",
)
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
    notes = ("Labels are read from UTKFace's file names; the 3 names without a race field are skipped, and ages "
             "above 100 count as 100, as in the manual. Gender is UTKFace's binary label. The validation tenth is "
             "used for the age range that predict reports; the test tenth only for the final tables. Photos given "
             "to predict are cropped around the one detected face, framed as the training faces are. In the "
             "fairness table, age MAE also follows each group's age mix (errors grow with age, and UTKFace's Asian "
             "and Others faces are younger), and gender is hardest for young children.")

    def prepare(self, cfg, seed: int) -> Prepared:
        d = load_faces(cfg.data.size)
        idx = split_indices(d)
        if cfg.data.limit:  # a seeded sample: the names sort by age, so the first N would be the ages 1, 10-19, 100
            idx["train"] = np.sort(np.random.default_rng(0).permutation(idx["train"])[:cfg.data.limit])
        x_fit = d["x"][idx["train"]]
        mean, std = channel_stats(x_fit)
        state = {"size": cfg.data.size, "pixel_mean": mean, "pixel_std": std,
                 "age_mean": float(d["age"][idx["train"]].mean()),
                 "framing": faces.Framing.calibrate(x_fit, seed=seed).state(), "example": example_photo(x_fit)}

        def batcher(i):
            x = from_nhwc(d["x"][i])
            y = torch.from_numpy(np.stack([d["gender"][i], d["age"][i]], 1).astype(np.float32))
            return TensorBatcher(x, y)

        info = {"faces": len(d["stems"]), "skipped_malformed_names": len(d["skipped"]), "skipped": d["skipped"],
                "age_cap": MAX_AGE, "size": cfg.data.size, **{k: len(v) for k, v in idx.items()},
                "train_female_share": float(d["gender"][idx["train"]].mean())}
        raw = {k: d[k] for k in ("age", "gender", "race")} | {"x": d["x"], "idx": idx}
        return Prepared(batcher(idx["train"]), batcher(idx["val"]), batcher(idx["test"]), state, info, raw)

    def build_model(self, cfg, state):
        trunk, features = build_trunk(cfg.model, state["size"], state["pixel_mean"], state["pixel_std"])
        age_out = MAX_AGE + 1 if cfg.age_loss == "dldl" else 1
        return channels_last(TwoHeads(trunk, features, age_out, state["age_mean"], cfg.model.dropout))

    def loss_fn(self, cfg):
        return TwoHeadLoss(cfg.age_loss, cfg.age_weight, cfg.sigma)

    def metrics_fn(self, cfg):
        return val_metrics

    def augment(self, cfg):
        aug = ImageAugment(cfg.augment)
        return aug if aug else None

    def _outputs(self, model, batcher, trainer, tta: bool) -> tuple[np.ndarray, np.ndarray]:
        """P(female) and predicted age of a batcher's faces (with `tta`, averaged with their mirror images)."""
        views = [batcher, TensorBatcher(batcher.tensors[0].flip(3), batcher.tensors[1])] if tta else [batcher]
        p, age = (torch.stack(t).mean(0).numpy() for t in zip(*(decode(trainer.predict(model, v, 512)[0]) for v in views)))
        return p, age

    def after_fit(self, model, data, cfg, trainer, run) -> dict:
        """The 10% and 90% quantiles of (true - predicted age) on validation, per predicted-age band."""
        _, age_pred = self._outputs(model, data.val, trainer, cfg.tta)
        resid = data.raw["age"][data.raw["idx"]["val"]] - age_pred
        bands = band_of(age_pred)
        low, high = [], []
        for b in range(len(AGE_BANDS) - 1):
            r = resid[bands == b] if (bands == b).sum() >= 20 else resid  # too few: the overall quantiles
            low.append(float(np.quantile(r, 0.1)))
            high.append(float(np.quantile(r, 0.9)))
        return {"age_interval": {"bands": list(AGE_BANDS), "low": low, "high": high, "coverage": 0.8}}

    def evaluate(self, model, data, cfg, trainer) -> dict:
        p, age_pred = self._outputs(model, data.test, trainer, cfg.tta)
        test = data.raw["idx"]["test"]
        gender, age, race = (data.raw[k][test] for k in ("gender", "age", "race"))
        data.raw["test_pred"] = (p, age_pred)
        groups = {}
        for r, rname in enumerate(RACES):
            for g, gname in enumerate(GENDERS):
                m = (race == r) & (gender == g)
                s = scores(p[m], age_pred[m], gender[m], age[m])
                groups[f"{rname} {gname}"] = {"n": int(m.sum()), "gender_accuracy": s["gender_accuracy"],
                                              "age_mae": s["age_mae"]}
        data.info["fairness_test"] = groups
        overall = scores(p, age_pred, gender, age)
        data.info["fairness_worse_than_overall"] = [
            f"{g}: gender accuracy {v['gender_accuracy']:.1%} (overall {overall['gender_accuracy']:.1%}), "
            f"age MAE {v['age_mae']:.2f} (overall {overall['age_mae']:.2f}), {v['n']} faces"
            for g, v in groups.items()
            if v["gender_accuracy"] < overall["gender_accuracy"] - 0.02 or v["age_mae"] > overall["age_mae"] + 0.5]
        bands = band_of(age)
        data.info["age_mae_by_band_test"] = {
            n: {"n": int((bands == b).sum()), "age_mae": float(np.abs(age_pred - age)[bands == b].mean()),
                "gender_accuracy": float(((p >= 0.5) == gender)[bands == b].mean())}
            for b, n in enumerate(band_names()) if (bands == b).any()}
        return overall

    def baselines(self, data, cfg, seed: int) -> dict:
        t0 = time.perf_counter()
        tr, te = data.raw["idx"]["train"], data.raw["idx"]["test"]
        female = float(np.mean(data.raw["gender"][tr]) > 0.5)
        median = float(np.median(data.raw["age"][tr]))
        gender, age = data.raw["gender"][te], data.raw["age"][te]
        s = scores(np.full(len(te), female), np.full(len(te), median), gender, age)
        return {"majority_median": {"metrics": s, "train_seconds": time.perf_counter() - t0}}

    # plots --------------------------------------------------------------------------------------
    def plots(self, run, model, data, cfg, trainer) -> None:
        from dlabs.report.plots import pyplot, save

        plt = pyplot()
        if "test_pred" not in data.raw:
            self.evaluate(model, data, cfg, trainer)
        p, age_pred = data.raw["test_pred"]
        test = data.raw["idx"]["test"]
        gender, age = data.raw["gender"][test], data.raw["age"][test]
        out = run.plots_dir()
        run.write_json("fairness.json", data.info["fairness_test"])

        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        groups = data.info["fairness_test"]
        names = list(groups)
        for ax, key, label in ((axes[0], "gender_accuracy", "gender accuracy"), (axes[1], "age_mae", "age MAE (years)")):
            ax.barh(names, [groups[n][key] for n in names], color=["C0" if "male" == n.split()[1] else "C1" for n in names])
            ax.set(title=f"{label} by race and gender (test split)")
            ax.invert_yaxis()
        axes[0].set_xlim(min(groups[n]["gender_accuracy"] for n in names) - 0.05, 1)
        save(fig, out / "fairness.png")

        bands = data.info["age_mae_by_band_test"]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar(list(bands), [b["age_mae"] for b in bands.values()])
        ax.set(title="age MAE by true age band (test split)", xlabel="age band", ylabel="MAE (years)")
        save(fig, out / "age_error_by_band.png")

        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(age, age_pred, s=3, alpha=0.3)
        ax.plot([0, MAX_AGE], [0, MAX_AGE], "k--", lw=1)
        ax.set(title="predicted against true age (test split)", xlabel="true age", ylabel="predicted age")
        save(fig, out / "age_scatter.png")

        pick = np.random.default_rng(0).choice(len(test), size=min(24, len(test)), replace=False)
        fig, axes = plt.subplots(3, 8, figsize=(13, 6), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for ax, i in zip(axes.ravel(), pick):
            ax.imshow(data.raw["x"][test[i]])
            said = GENDERS[int(p[i] >= 0.5)]
            ok = said == GENDERS[gender[i]]
            ax.set_title(f"true {GENDERS[gender[i]][0].upper()} {age[i]}\nsaid {said[0].upper()} {age_pred[i]:.0f}",
                         fontsize=8, color="black" if ok else "red")
        fig.suptitle("random test faces: true and predicted gender (M/F) and age; red = wrong gender")
        save(fig, out / "gallery.png")

    def explore(self, cfg, outdir=None) -> dict:
        d = load_faces(cfg.data.size)
        counts = {f"{r} {g}": int(((d["race"] == i) & (d["gender"] == j)).sum())
                  for i, r in enumerate(RACES) for j, g in enumerate(GENDERS)}
        info = {"faces": len(d["stems"]), "skipped_malformed_names": d["skipped"], "age_cap": MAX_AGE,
                "age_median": float(np.median(d["age"])), "female_share": float(d["gender"].mean()),
                "race_gender_counts": counts, "split": json.loads(SPLIT_FILE.read_text())["counts"]}
        if outdir is not None:
            from dlabs.report.plots import pyplot, save

            plt = pyplot()
            Path(outdir).mkdir(parents=True, exist_ok=True)
            fig, ax = plt.subplots(figsize=(7, 3.5))
            ax.hist([d["age"][d["gender"] == 0], d["age"][d["gender"] == 1]], bins=50, stacked=True, label=GENDERS)
            ax.set(title="ages (capped at 100) by gender", xlabel="age", ylabel="faces")
            ax.legend()
            save(fig, Path(outdir) / "ages.png")
            fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
            for ax, i in zip(axes.ravel(), np.random.default_rng(0).choice(len(d["x"]), 16, replace=False)):
                ax.imshow(d["x"][i])
                ax.set_title(f"{GENDERS[d['gender'][i]]} {d['age'][i]}, {RACES[d['race'][i]]}", fontsize=7)
                ax.axis("off")
            save(fig, Path(outdir) / "samples.png")
        return info

    # use ----------------------------------------------------------------------------------------
    def predict(self, model, state, cfg, inputs, fields) -> list[dict]:
        if fields:
            raise InputError(f"{self.name} takes photo files, not --{next(iter(fields))} flags")
        if not inputs:
            raise InputError("no input: give one or more photos with a face (JPEG, PNG, ...)")
        x = faces.crop_photos(inputs, faces.Framing(**state["framing"]), state["size"])
        model.eval()
        x = from_nhwc(x)
        with torch.inference_mode():
            views = [x, x.flip(3)] if cfg.tta else [x]
            p, age = (torch.stack(t).mean(0).numpy() for t in zip(*(decode(model(v).float()) for v in views)))
        iv = state["age_interval"]
        out = []
        for name, pf, a in zip(inputs, p, age):
            b = int(band_of(a))
            top = sorted([{"label": "female", "probability": round(float(pf), 4)},
                          {"label": "male", "probability": round(float(1 - pf), 4)}], key=lambda t: -t["probability"])
            out.append({"input": str(name), "gender": top[0]["label"], "probability": top[0]["probability"],
                        "top": top, "age": round(float(a), 1),
                        # the validation band, widened where needed to hold the estimate itself (the model
                        # over-ages babies, so their band can lie wholly below it)
                        "age_range": [round(float(max(0.0, a + min(iv["low"][b], 0)))),
                                      round(float(min(MAX_AGE, a + max(iv["high"][b], 0))))]})
        return out

    def format(self, predictions: list[dict]) -> str:
        return "\n".join(f"{p['input']}: {p['gender']} ({p['probability']:.0%}), age {p['age']:.0f} "
                         f"(80% range {p['age_range'][0]}-{p['age_range'][1]})" for p in predictions)

    def form(self, state) -> dict:
        import base64
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(state["example"], dtype=np.uint8)).save(buf, format="PNG")
        return {"help": "A photo with one face, looking at the camera; it is cropped around the face.",
                "example": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()}
