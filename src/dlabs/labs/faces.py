"""`faces`: face recognition on Labeled Faces in the Wild: identify, verify, and enroll people.

`best` is three small ResNets, on the whole face crop and on two tighter central parts, trained side
by side; each one's 128-d L2-normalised embedding is trained with a CosFace margin over the training
identities (flips and shifts as augmentation, mirror test-time augmentation) and the three are joined;
`manual` is the manual's CNN (conv 32-64-128-128, dropout .5, Dense 512) trained as a closed-set
classifier of the 62 people with at least 20 photos, its Dense-512 layer serving as embedding.

Two protocols. Closed-set identification: the 62 people with >= 20 photos, a fixed seeded stratified
split (`splits/lfw_identities.json`, a quarter of each person's photos for test); a logistic
regression on the embeddings of each person's training photos names a test photo, beside eigenfaces
(PCA 150 whitened) + RBF SVM. The model is trained on every person's photos except these test photos
and except `calibration_people` people held out to choose the "unknown" distance threshold (and a
Platt-scaled confidence) of the gallery. Verification, LFW View 2 (10 folds of 300 matched and 300
mismatched pairs; the folds are disjoint in people): one model a fold (or `verification_models` fewer,
sharing out the folds) is trained without the people of its folds (but on the identification test
photos of everyone else) and scores its folds' pairs by a joint Bayesian likelihood ratio of each
network's embedding's first principal components (added up over the networks), fitted on its own
training people; each fold's threshold is chosen on the other nine folds' scores. So no test fold's
person is ever trained on: "unrestricted, labeled outside data: none".

The gallery (`gallery.json`, in the run folder) holds embeddings, not photos, starting with the 62
people's mean training embeddings; predict names the nearest person, or "unknown" beyond the threshold.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlabs.config import option
from dlabs.data import lfw
from dlabs.data.augment import AugmentConfig
from dlabs.engine import metrics as M
from dlabs.engine.train_config import TrainConfig
from dlabs.labs import Baseline, Evaluation, Lab, TrainData, _export_photos, _gallery, _verify, register

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    size: int = option(64, "side of the face crop the model sees, in pixels")
    crop: float = option(0.8, "central share of the mirror's 150x150 LFW crops kept (of an upstream 250x250 "
                              "original: 0.6 times this)")
    classes: str = option("all", "who the model is trained to tell apart: all (every person with >= min_images "
                                 "training photos) | identification (the 62 people of the identification split)")
    min_images: int = option(2, "train on the people with at least this many training photos")
    val_fraction: float = option(0.05, "share of the training photos held out for the learning curve")
    calibration_people: int = option(100, "people (not among the 62) held out of training to choose the gallery's "
                                           "'unknown' threshold")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = option("resnet", "resnet (embedding, CosFace margin) | manual (the manual's CNN classifier)")
    widths: tuple[int, ...] = option((32, 64, 128, 256), "resnet: channels per stage")
    dim: int = option(128, "resnet: embedding size")
    dropout: float = option(0.2, "dropout before the embedding layer")
    views: tuple[float, ...] = option((1.0,), "resnet: an ensemble of one network per central share of the crop, "
                                              "trained side by side, their embeddings joined (e.g. 1.0,0.875)")
    side: int = option(0, "resnet: pixels a side each network sees, its view resized (0: data.size)")


@dataclass(frozen=True)
class LossConfig:
    scale: float = option(30.0, "CosFace scale s (1 for a plain classifier)")
    margin: float = option(0.35, "CosFace margin m subtracted from the true class's cosine (0: plain softmax)")


@dataclass(frozen=True)
class FacesConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    verification: bool = option(True, "run LFW View 2 verification in evaluate (trains more models)")
    verification_models: int = option(10, "LFW View 2: models trained for verification (2, 5 or 10), each without "
                                           "the people of its share of the 10 folds; fewer models cost less but "
                                           "see fewer people")


# chosen on the calibration people's pairs, within a 30-CPU-minute budget (docs/experiments/faces.md)
BEST = FacesConfig(
    data=DataConfig(size=64),
    model=ModelConfig(views=(1.0, 0.875, 0.75), side=48),
    loss=LossConfig(margin=0.2),
    train=TrainConfig(epochs=36, batch_size=128, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4,
                      schedule="onecycle", grad_clip=7.0, restore_best=False, max_seconds=1800, threads=2,
                      amp=True),
    augment=AugmentConfig(shift=4, flip=True),
    verification_models=5,
)
MANUAL = FacesConfig(
    data=DataConfig(classes="identification"),
    model=ModelConfig(kind="manual", dropout=0.5),
    loss=LossConfig(scale=1.0, margin=0.0),
    train=TrainConfig(epochs=20, batch_size=32, optimizer="adam", lr=1e-3, restore_best=False, max_seconds=300,
                      threads=1),
)
SMOKE = FacesConfig(
    data=DataConfig(classes="identification", calibration_people=30),
    model=ModelConfig(widths=(8, 16, 32, 64), dim=32),
    loss=LossConfig(margin=0.1),
    train=TrainConfig(epochs=1, batch_size=64, lr=2e-3, threads=1),
    augment=AugmentConfig(shift=2, flip=True), verification_models=2,  # View 2 in 2 models, not 10: a quick check
)


@dataclass
class FacesData(TrainData):
    """`TrainData` and what `after_fit` and verification use: the photos, their rows, the 62 people's."""

    photos: Any = None  # (ids, people, x) as `lfw.load_lfw` gives them
    rows: Any = None  # lfw.TrainingRows
    ident: Any = None  # a run's lfw.Identification (its enrolment photos seed the gallery)


# the lab ------------------------------------------------------------------------------------
@register
class Faces(Lab):
    name = "faces"
    title = "Face recognition on LFW: identify, verify and enroll people"
    task = "face recognition"
    input_kind = "image"
    datasets = ("lfw",)
    protocol = "closed-set identification of the 62 LFW people with >= 20 photos (fixed split, 25% of photos for test)"
    headline = "accuracy"
    Config = FacesConfig
    presets = {"best": BEST, "manual": MANUAL, "smoke": SMOKE}
    search_space = {"train.lr": ("log", 1e-3, 0.1), "train.weight_decay": ("log", 1e-5, 1e-3), "train.epochs": ("int", 12, 36),
                    "model.widths": ("choice", ["16,32,64,128", "32,64,128,256"]), "model.dropout": ("float", 0.0, 0.4)}
    export = _export_photos.faces  # dlabs export: the embedding network as one ONNX graph
    notes = __doc__.split("\n\n", 1)[1]

    def train_data(self, cfg, seed, exclude: frozenset = frozenset()) -> FacesData:
        """A run's training photos, or (with `exclude`) a verification model's (`lfw.training_rows`).
        Only a run's model gets a face framing (for predict) and calibration people (for the gallery)."""
        from dlabs.data import faces
        from dlabs.models.face import batcher

        d = cfg.data
        ids, people, x = lfw.load_lfw(d.size, d.crop)
        rows = lfw.training_rows(ids, people, classes=d.classes, min_images=d.min_images, seed=seed,
                                 calibration_people=d.calibration_people, val_fraction=d.val_fraction, exclude=exclude)
        pixels = x[rows.fit[::4]].astype(np.float32) / 255.0
        state = {"classes": rows.classes, "pixel_mean": float(pixels.mean()), "pixel_std": float(pixels.std()),
                 "size": d.size}
        if not exclude:
            state["framing"] = faces.Framing.calibrate(x[rows.fit]).state()
        label = rows.label
        y = np.array([label.get(p, -1) for p in people])
        counts = {"train": len(rows.fit), "validation": len(rows.val), "people": len(rows.classes),
                  "calibration people": len(set(people[rows.calibration])), "excluded people": len(exclude)}
        return FacesData(batcher(x[rows.fit], y[rows.fit]), batcher(x[rows.val], y[rows.val]) if len(rows.val) else None,
                         state, counts, photos=(ids, people, x), rows=rows,
                         ident=None if exclude else lfw.identification(ids, people, x))

    def build_model(self, cfg, state):
        from dlabs.models.face import build

        return build(cfg.model, state["pixel_mean"], state["pixel_std"], state["size"], len(state["classes"]))

    def loss_fn(self, cfg):
        from dlabs.models.face import CosFaceLoss

        return CosFaceLoss(cfg.loss.scale, cfg.loss.margin)

    def metrics_fn(self, cfg):
        from dlabs.labs._classify import accuracy

        return accuracy

    def augment(self, cfg):
        from dlabs.data.augment import ImageAugment

        aug = ImageAugment(cfg.augment)
        return aug if aug else None

    def after_fit(self, model, data: FacesData, cfg, device) -> dict:
        """The gallery's threshold and confidence (from the held-out calibration people) and first people."""
        _, people, x = data.photos
        return _gallery.fit(model, x[data.rows.calibration], people[data.rows.calibration], data.ident)

    def after_save(self, model) -> None:
        _gallery.seed(model.run, model.state)

    # evaluation -------------------------------------------------------------------------------
    def test_data(self, cfg, state) -> lfw.Identification:
        """The identification test photos, and the enrolment photos the protocol names them from."""
        return lfw.identification(*lfw.load_lfw(cfg.data.size, cfg.data.crop))

    def evaluate(self, model, test: lfw.Identification, device) -> Evaluation:
        # a logistic regression on the embeddings names the people: chosen by CV (docs/experiments/faces.md)
        from sklearn.linear_model import LogisticRegression

        from dlabs.models.face import embed

        clf = LogisticRegression(C=10, max_iter=2000, class_weight="balanced")
        clf.fit(embed(model.net, test.enrol_x), test.enrol_y)
        scores = clf.decision_function(embed(model.net, test.x))
        pred = scores.argmax(1)
        info = {"people": len(model.state["classes"]), "identification_people": len(test.people),
                "enrolment": len(test.enrol_y), "test": len(test.y), "calibration_pairs": model.state.get("calibration_pairs"),
                "most_confused": M.most_confused(test.y, pred, test.people)}
        return Evaluation(M.identification(test.y, scores), {"y": test.y, "pred": pred}, info)

    def baselines(self, cfg, seed, test: lfw.Identification) -> dict[str, Baseline]:
        from dlabs.models.joint_bayes import eigenfaces_svm

        t0 = time.perf_counter()
        scores, params = eigenfaces_svm(test.enrol_x, test.enrol_y, test.x, seed)
        log.info("eigenfaces_svm: C %g, gamma %g by 3-fold CV", params["C"], params["gamma"])
        return {"eigenfaces_svm": Baseline(M.identification(test.y, scores), time.perf_counter() - t0)}

    def protocols(self, cfg, seed, device) -> dict:
        return {"verification": _verify.verification(self, cfg, seed, device)} if cfg.verification else {}

    def plots(self, model, test: lfw.Identification, evaluation: Evaluation, outdir) -> None:
        from dlabs.report import plots as P

        p, confused = evaluation.predictions, evaluation.info["most_confused"]
        P.confusion_matrix(p["y"], p["pred"], test.people, outdir / "confusion_matrix.png")
        plt = P.pyplot()
        fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(confused), 3) + 1))
        ax.barh([f"{c['true']} -> {c['predicted']}" for c in confused][::-1], [c["count"] for c in confused][::-1])
        ax.set(xlabel="test photos", title="the most confused people (identification test split)")
        P.save(fig, outdir / "most_confused.png")
        if curves := evaluation.protocols.get("verification", {}).get("curves"):
            _verify.roc_plot(curves, outdir / "verification_roc.png")

    # use ------------------------------------------------------------------------------------
    def form(self, state):
        return {"options": [{"name": "top", "type": "integer", "default": 5, "help": "how many best matches to list"}],
                "help": "a photo with one face; it is compared with the people in the run's gallery",
                "example": lfw.example_photo()}

    def predict(self, model, request) -> list[dict]:
        return _gallery.match(model, request.items, request.options.get("top", 5))

    def format(self, predictions) -> str:
        return _gallery.describe(predictions)

    def explore(self, cfg, outdir=None) -> dict:
        return lfw.summary(cfg.data.size, cfg.data.crop)
