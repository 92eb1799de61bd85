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

The gallery (`gallery.json` in the run folder, written atomically) holds embeddings, not photos:
it starts with the 62 people's mean training embeddings; `dlabs faces enroll/list/remove` edit it
and `dlabs predict faces PHOTO` finds the face (OpenCV's cascade, framed like the training crops)
and names the nearest person, or "unknown" beyond the threshold.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dlabs.config import option
from dlabs.data import faces, lfw, store, tabular
from dlabs.data.augment import AugmentConfig, ImageAugment
from dlabs.engine import metrics as M
from dlabs.engine.trainer import TensorBatcher, TrainConfig
from dlabs.errors import DlabsError, InputError
from dlabs.labs import Lab, Prepared, _gallery, register
from dlabs.labs._classify import accuracy
from dlabs.models.cnn import from_nhwc
from dlabs.models.face import CosFaceLoss, FaceEnsemble, FaceResNet, JointBayesian, ManualFaceCNN, embed, unit

VERIFICATION = ("LFW View 2, 10 folds of 300 matched + 300 mismatched pairs, unrestricted, labeled outside data: none; "
                "{models} models, each trained without the people of {folds}, score {them} by a "
                "joint Bayesian likelihood ratio of their embeddings' first {dims} principal components (an ensemble: "
                "of each network's, the networks' ratios added up), fitted on their own training people "
                "(joint_bayesian_all_dims: of all the joined embedding's dimensions; embedding_cosine: the same "
                "embeddings' cosine distance); each fold's threshold chosen on the other nine folds; mean and sd of "
                "the fold accuracies")
# Joint Bayesian ridge and dimensions; the comparison chosen by accuracy on the calibration people's pairs
# (one 36-epoch `best` model): cosine distance 0.881, joint Bayesian with ridge 0.1 0.891, 0.3 0.889, 1 0.891,
# 3 0.890; with ridge 0.1 on the embeddings' first 16 principal components 0.873, 24 0.885, 32 0.899, 48 0.898,
# 64 0.895 (AUC: cosine 0.950, all 128 dimensions 0.957, 32 0.961; the manual's 512-d features: all 0.760, 32 0.798).
# An ensemble's networks get one comparison each, on 32 components of their own embedding, their ratios added up:
# on four ensembles this beat 32 components of the joined embedding every time (0.929 against 0.922, 0.926 / 0.913,
# 0.928 / 0.918, 0.926 / 0.924: each gap within two standard errors, but all four the same way)
JB_RIDGE, JB_DIMS = 0.1, 32
ROWS = ("model", "joint_bayesian_all_dims", "embedding_cosine", "eigenfaces_svm")  # verification's pair scores


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


# Chosen by the accuracy on pairs of the calibration people (held out of training, in no test):
#   64 px, margin 0.35, 10 epochs, peak lr 0.1                                  0.795
#   48 px, margin 0.2, the same                                                 0.813
#   48 px, margin 0.2, 24 epochs, peak lr 0.05, gradient norm clipped at 5     0.865
#   the same, 36 epochs                                                          0.881 (chosen)
# (12 epochs at lr 0.1 without clipping diverged; unit-norm class centres stayed at chance; on the 36-epoch
# model, cutout of 16 px gave 0.877, training on the people with one photo too 0.871, and rotations and zooms
# of up to 10 degrees and 10% (augment.rotate, augment.scale) 0.888, with the same 0.899 by joint Bayesian;
# cosine / joint Bayesian: crop 0.7 0.890 / 0.909, crop 0.6 0.888 / 0.897, margin 0.35 0.886 / 0.903, crop 0.7
# with margin 0.35 0.899 / 0.906, against 0.881 / 0.899: each within about one standard error, 0.009).
# The budget is 30 CPU minutes a model: the 36 epochs take 17 min on one core. Ensembles were the one
# lever clear of the noise: two such models' embeddings joined, crop 0.8 and 0.7, 0.917 by joint Bayesian
# (any two of the five models above 0.913 to 0.919, all five 0.924). So `best` trains that pair side by
# side as one model on two threads (20 min): a 55-px crop-0.8 input, one network on it resized to 48 px and
# one on its central 48 px (crop 0.7); the gradient is clipped at 7 for the two (5 each). Trained together
# the pair scores 0.904 / 0.914. Each ensemble takes both cores, so verification trains 5, not 10 (for one
# network, one model a fold scored 0.877 on the test folds against five models' 0.873).
# On a later, faster machine (the pair in 599 s: 0.908 / 0.918 there) a third network fitted the budget: a 64-px
# crop-0.8 input, its whole, central 56 px and central 48 px (crops 0.8, 0.7, 0.6) each seen at 48 px, 0.914 /
# 0.922 in 935 s (on the slower machine about 1900 s: max_seconds would stop it an epoch or two early).
# bfloat16 autocast (train.amp, on CPUs with AVX512-BF16 or AMX) trains it 1.7 times as fast, 544 s, at the same
# figures: 0.912 / 0.924 (joint Bayesian a network, above: 0.926 against 0.929). 48 epochs with it, in 748 s, gave
# no more: 0.913 / 0.913 (0.926).
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
    augment=AugmentConfig(shift=2, flip=True),
)


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
    notes = __doc__.split("\n\n", 1)[1]

    def prepare(self, cfg, seed, exclude: frozenset = frozenset(), calibrate: bool = True) -> Prepared:
        ids, people, x = lfw.load_lfw(cfg.data.size, cfg.data.crop)
        split = lfw.identity_split()
        id_people, test_ids = split["people"], set(split["test"])
        is_test = np.isin(ids, list(test_ids))
        # verification models may learn from the identification test photos (they never score that protocol)
        allowed = (~is_test if not exclude else np.ones(len(ids), bool)) & ~np.isin(people, list(exclude))
        calib = np.array([], dtype=str)
        if not exclude and cfg.data.calibration_people:  # verification models need no threshold of their own
            names, counts = np.unique(people[allowed], return_counts=True)
            pool = [p for p, c in zip(names, counts) if c >= 2 and p not in id_people]
            calib = np.random.default_rng(seed).choice(pool, cfg.data.calibration_people, replace=False)
            allowed &= ~np.isin(people, calib)
        names, counts = np.unique(people[allowed], return_counts=True)
        classes = [str(p) for p, c in zip(names, counts) if c >= cfg.data.min_images
                   and (cfg.data.classes == "all" or p in id_people)]
        rows = np.flatnonzero(allowed & np.isin(people, classes))
        fit, val = (np.sort(r) for r in tabular.holdout(rows, cfg.data.val_fraction, seed))
        pixels = x[fit[::4]].astype(np.float32) / 255.0
        state = {"classes": classes, "pixel_mean": float(pixels.mean()), "pixel_std": float(pixels.std()),
                 "size": cfg.data.size}
        if calibrate:
            state["framing"] = faces.Framing.calibrate(x[fit]).state()
        label = {p: i for i, p in enumerate(classes)}
        y = np.array([label.get(p, -1) for p in people])
        test = np.flatnonzero(is_test)
        id_label = {p: i for i, p in enumerate(id_people)}
        batcher = lambda r, t: TensorBatcher(from_nhwc(x[r]), torch.as_tensor(t, dtype=torch.int64))  # noqa: E731
        info = {"people": len(classes), "train": len(fit), "validation": len(val), "test": len(test),
                "identification_people": len(id_people), "calibration_people": len(calib), "excluded_people": len(exclude)}
        id_train = np.flatnonzero(~is_test & np.isin(people, id_people))
        raw = {"ids": ids, "people": people, "x": x, "train": rows, "test": test, "calib": np.flatnonzero(np.isin(people, calib)),
               "id_people": id_people, "id_train": id_train, "id_y": np.array([id_label[p] for p in people[id_train]])}
        return Prepared(batcher(fit, y[fit]), batcher(val, y[val]) if len(val) else None,
                        batcher(test, [id_label[p] for p in people[test]]), state, info, raw)

    def build_model(self, cfg, state):
        from dlabs.models.cnn import channels_last

        m, args = cfg.model, (state["pixel_mean"], state["pixel_std"], state["size"], len(state["classes"]))
        if m.kind == "resnet":
            side = m.side or state["size"]
            if tuple(m.views) == (1.0,) and side == state["size"]:  # one network (and the runs saved before views)
                return channels_last(FaceResNet(*args, tuple(m.widths), m.dim, m.dropout))
            if not m.views or not all(0 < v <= 1 for v in m.views):
                raise DlabsError(f"model.views={m.views}: expected shares of the crop in (0, 1]")
            members = [FaceResNet(*args[:2], side, args[3], tuple(m.widths), m.dim, m.dropout) for _ in m.views]
            return channels_last(FaceEnsemble(members, m.views, side))
        if m.kind == "manual":
            return channels_last(ManualFaceCNN(*args, m.dropout))
        raise DlabsError(f"model.kind={m.kind}: expected resnet or manual")

    def loss_fn(self, cfg):
        return CosFaceLoss(cfg.loss.scale, cfg.loss.margin)

    def metrics_fn(self, cfg):
        return accuracy

    def augment(self, cfg):
        aug = ImageAugment(cfg.augment)
        return aug if aug else None

    def after_fit(self, model, data, cfg, trainer, run) -> dict:
        """The gallery's distance threshold and confidence, from pairs of the held-out calibration
        people; and the gallery itself, seeded with the 62 people's mean training embeddings."""
        from sklearn.linear_model import LogisticRegression

        raw = data.raw
        emb = embed(model, raw["x"][raw["calib"]])
        who = raw["people"][raw["calib"]]
        i, j = np.triu_indices(len(who), 1)
        same = who[i] == who[j]
        rng = np.random.default_rng(0)
        neg = rng.choice(np.flatnonzero(~same), min(int((~same).sum()), max(int(same.sum()), 1)), replace=False)
        pick = np.concatenate([np.flatnonzero(same), neg])
        d = np.linalg.norm(emb[i[pick]] - emb[j[pick]], axis=1)
        threshold = M.best_threshold(d, same[pick])
        calibration_accuracy = float(((d <= threshold) == same[pick]).mean())
        platt = LogisticRegression().fit(d[:, None], same[pick])
        gallery = _gallery.of_means(embed(model, raw["x"][raw["id_train"]]), raw["people"][raw["id_train"]],
                                    raw["id_people"], "LFW training photos")
        _gallery.write_gallery(run.path, gallery)
        return {"threshold": threshold, "confidence": [float(platt.coef_[0, 0]), float(platt.intercept_[0])],
                "calibration_pairs": int(len(pick)), "calibration_accuracy": calibration_accuracy}

    # evaluation -------------------------------------------------------------------------------
    def evaluate(self, model, data, cfg, trainer) -> dict:
        """Identification: a logistic regression on the embeddings of the 62 people's training photos
        (5-fold CV on those photos, one `best` run: nearest mean embedding 75.4%, logistic C=1 77.4%,
        C=10 78.7%, C=100 78.6%, linear SVM 78.5%)."""
        from sklearn.linear_model import LogisticRegression

        raw = data.raw
        clf = LogisticRegression(C=10, max_iter=2000, class_weight="balanced")
        clf.fit(embed(model, raw["x"][raw["id_train"]]), raw["id_y"])
        scores = clf.decision_function(embed(model, raw["x"][raw["test"]]))
        data.raw["test_scores"] = scores
        return M.identification(data.test.tensors[1].numpy(), scores)

    def baselines(self, data, cfg, seed) -> dict:
        from sklearn.model_selection import GridSearchCV
        from sklearn.svm import SVC

        t0 = time.perf_counter()
        raw = data.raw
        train = grey(raw["x"][raw["id_train"]])
        pca = _pca(seed).fit(train)
        svm = GridSearchCV(SVC(kernel="rbf", class_weight="balanced"),
                           {"C": [1e3, 1e4], "gamma": [1e-3, 5e-3]}, cv=3)
        svm.fit(pca.transform(train), raw["id_y"])
        scores = svm.decision_function(pca.transform(grey(raw["x"][raw["test"]])))
        return {"eigenfaces_svm": {"metrics": M.identification(data.test.tensors[1].numpy(), scores),
                                   "train_seconds": time.perf_counter() - t0, "params": svm.best_params_}}

    def protocols(self, cfg, seed, device) -> dict:
        if not cfg.verification:
            return {}
        folds = lfw.read_pairs(store.fetch("lfw", "pairs.txt"))
        groups = lfw.fold_groups(len(folds), cfg.verification_models)
        jobs = [(cfg, seed + h, group, str(device)) for h, group in enumerate(groups)]
        # one-thread CPU models train side by side, one a core; each is seeded, so the result is the same
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = min(len(jobs), cores // cfg.train.threads) if cfg.train.threads and str(device) == "cpu" else 1
        if workers > 1:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                results = list(pool.map(_verification_model, jobs))
        else:
            results = [_verification_model(job) for job in jobs]
        dist = {name: [d for r in results for d in r[name]] for name in ROWS}
        same = [np.array([s for _, _, s in f]) for f in folds]
        scores = {name: M.fold_accuracies(d, same) for name, d in dist.items()}
        per_fold = {key: {name: s.pop(key) for name, s in scores.items()} for key in ("folds", "thresholds", "roc")}
        scores["model"]["train_seconds"] = float(sum(r["seconds"] for r in results))
        share = len(jobs[0][2])
        protocol = VERIFICATION.format(models=len(jobs), dims=JB_DIMS,
                                       folds="its fold's pairs" if share == 1 else f"{share} folds' pairs",
                                       them="that fold" if share == 1 else "those folds")
        return {"verification": {"protocol": protocol, "model": scores["model"],
                                 "baselines": {b: scores[b] for b in ROWS[1:]},
                                 "fold_accuracy": per_fold["folds"], "fold_threshold": per_fold["thresholds"],
                                 "curves": per_fold["roc"]}}

    def plots(self, run, model, data, cfg, trainer) -> None:
        from dlabs.report import plots as P

        raw = data.raw
        scores = raw.get("test_scores")
        if scores is None:
            return
        y = data.test.tensors[1].numpy()
        pred = scores.argmax(1)
        P.confusion_matrix(y, pred, raw["id_people"], run.plots_dir() / "confusion_matrix.png")
        confused = M.most_confused(y, pred, raw["id_people"])
        run.write_json("most_confused.json", confused)
        plt = P.pyplot()
        fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(confused), 3) + 1))
        ax.barh([f"{c['true']} -> {c['predicted']}" for c in confused][::-1], [c["count"] for c in confused][::-1])
        ax.set(xlabel="test photos", title="the most confused people (identification test split)")
        P.save(fig, run.plots_dir() / "most_confused.png")
        metrics = run.read_json("metrics.json") if run.exists("metrics.json") else {}
        curves = metrics.get("protocols", {}).get("verification", {}).get("curves")
        if curves:
            plt = P.pyplot()
            fig, ax = plt.subplots(figsize=(5, 5))
            for name, c in curves.items():
                ax.plot(c["fpr"], c["tpr"], label=f"{name} (AUC {c['auc']:.3f})")
            ax.plot([0, 1], [0, 1], ":", color="grey")
            ax.set(xlabel="false accept rate", ylabel="true accept rate", title="LFW View 2 verification ROC (6,000 pairs)")
            ax.legend(loc="lower right")
            P.save(fig, run.plots_dir() / "verification_roc.png")

    # use ------------------------------------------------------------------------------------
    def form(self, state):
        return {"options": [{"name": "top", "type": "integer", "default": 5, "help": "how many best matches to list"}],
                "help": "a photo with one face; it is compared with the people in the run's gallery",
                "example": lfw.example_photo()}

    def predict(self, model, state, cfg, inputs, fields) -> list[dict]:
        if set(fields) - {"top"}:
            raise InputError(f"faces takes photos and --top K, not --{next(iter(set(fields) - {'top'}))}")
        try:
            k = max(1, int(fields.get("top", 5)))
        except ValueError:
            raise InputError(f"--top {fields['top']}: expected a whole number") from None
        if not inputs:
            raise InputError("no input: give one or more photos with one face each")
        people = _gallery.read_gallery(Path(state["run"]))["people"]
        if not people:
            raise InputError("the gallery is empty: add people with dlabs faces enroll NAME PHOTO...")
        names = list(people)
        centres = np.stack([unit(np.mean(people[n]["embeddings"], 0)) for n in names])
        emb = embed(model, faces.crop_photos(inputs, faces.Framing(**state["framing"]), state["size"]))
        a, b = state["confidence"]
        out = []
        for path, e in zip(inputs, emb):
            d = np.linalg.norm(centres - e, axis=1)
            # probability: the same-person confidence (Platt-scaled distance), not a share over the gallery
            top = [{"label": names[i], "distance": round(float(d[i]), 4),
                    "probability": round(float(1 / (1 + np.exp(-(a * d[i] + b)))), 4)} for i in np.argsort(d)[:k]]
            known = top[0]["distance"] <= state["threshold"]
            out.append({"input": str(path), "match": top[0]["label"] if known else "unknown",
                        "distance": top[0]["distance"], "confidence": top[0]["probability"],
                        "threshold": round(state["threshold"], 4), "top": top})
        return out

    def format(self, predictions) -> str:
        return "\n".join(f"{p['input']}: {p['match']} (distance {p['distance']:.3f}, threshold {p['threshold']:.3f}, "
                         f"same-person confidence {p['confidence']:.0%}); nearest: "
                         + ", ".join(f"{t['label']} {t['distance']:.3f}" for t in p["top"]) for p in predictions)

    def explore(self, cfg, outdir=None) -> dict:
        ids, people, x = lfw.load_lfw(cfg.data.size, cfg.data.crop)
        _, counts = np.unique(people, return_counts=True)
        split = lfw.identity_split()
        return {"photos": len(ids), "people": len(counts), "people_with_2_or_more": int((counts >= 2).sum()),
                "people_with_20_or_more": int((counts >= 20).sum()), "crop": list(x.shape[1:]),
                "identification_test_photos": len(split["test"]), "pairs_folds": 10}


def _verification_model(job) -> dict:
    """Train one verification model without the people of the folds `group`; its distances on
    those folds' pairs, and the eigenfaces' (PCA of photos of everyone else, unlabelled)."""
    from dlabs.engine.device import set_seed
    from dlabs.engine.trainer import Trainer

    cfg, seed, group, device = job
    if cfg.train.threads:  # a fresh worker process starts with one thread a core
        torch.set_num_threads(cfg.train.threads)
    lab, folds = Faces(), lfw.read_pairs(store.fetch("lfw", "pairs.txt"))
    held_out = lfw.held_out_people(folds, group)
    set_seed(seed)
    data = lab.prepare(cfg, seed, exclude=held_out, calibrate=False)
    model = lab.build_model(cfg, data.state)
    t0 = time.perf_counter()
    Trainer(cfg.train, torch.device(device), seed=seed, transform=lab.augment(cfg), progress=False).fit(
        model, data.train, data.val, loss_fn=lab.loss_fn(cfg), metrics_fn=lab.metrics_fn(cfg))
    seconds = time.perf_counter() - t0
    model.cpu()
    raw = data.raw
    if set(raw["people"][raw["train"]]) & held_out:  # the protocol's promise, checked
        raise DlabsError("verification: a held-out person reached a training set")
    where = {i: n for n, i in enumerate(raw["ids"])}
    outside = np.flatnonzero(~np.isin(raw["people"], list(held_out)))
    pca = _pca(seed).fit(grey(raw["x"][np.random.default_rng(seed).permutation(outside)[:5000]]))
    train = embed(model, raw["x"][raw["train"]]), raw["people"][raw["train"]]
    members = len(model.members) if isinstance(model, FaceEnsemble) else 1
    jb = {"model": JointBayesian(JB_RIDGE, JB_DIMS, members).fit(*train),
          "joint_bayesian_all_dims": JointBayesian(JB_RIDGE).fit(*train)}
    out = {name: [] for name in ROWS} | {"seconds": seconds}
    for k in group:
        a, b = ([where[p[i]] for p in folds[k]] for i in (0, 1))
        ea, eb = embed(model, raw["x"][a]), embed(model, raw["x"][b])
        for name, j in jb.items():
            out[name].append(-j.score(ea, eb))  # a distance: smaller is the same person
        out["embedding_cosine"].append(np.linalg.norm(ea - eb, axis=1))
        ea, eb = (pca.transform(grey(raw["x"][r])) for r in (a, b))
        out["eigenfaces_svm"].append(np.linalg.norm(unit(ea) - unit(eb), axis=1))
    return out


def grey(x: np.ndarray) -> np.ndarray:
    """Flat grey pixels in [0, 1] (eigenfaces' input)."""
    return (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).reshape(len(x), -1) / 255.0


def _pca(seed: int):
    from sklearn.decomposition import PCA

    return PCA(n_components=150, whiten=True, svd_solver="randomized", random_state=seed)
