"""`faces`: face recognition on Labeled Faces in the Wild: identify, verify, and enroll people.

`best` is a small ResNet whose 128-d L2-normalised embedding is trained with a CosFace margin over
the training identities (flips and shifts as augmentation, mirror test-time augmentation);
`manual` is the manual's CNN (conv 32-64-128-128, dropout .5, Dense 512) trained as a closed-set
classifier of the 62 people with at least 20 photos, its Dense-512 layer serving as embedding.

Two protocols. Closed-set identification: the 62 people with >= 20 photos, a fixed seeded
stratified split (`splits/lfw_identities.json`, a quarter of each person's photos for test); a
test photo gets the person whose mean training embedding is nearest, beside eigenfaces (PCA 150
whitened) + RBF SVM. The model is trained on every person's photos except these test photos and
except `calibration_people` people held out to choose the "unknown" distance threshold (and a
Platt-scaled confidence) of the gallery. Verification, LFW View 2 (10 folds of 300 matched and 300
mismatched pairs; the folds are disjoint in people): one model is trained without the people of
folds 1-5 and scores those folds, another without the people of folds 6-10 scores those; each
fold's threshold is chosen on the other nine folds' scores. So no test fold's person is ever
trained on: "unrestricted, labeled outside data: none".

The gallery (`gallery.json` in the run folder, written atomically) holds embeddings, not photos:
it starts with the 62 people's mean training embeddings; `dlabs faces enroll/list/remove` edit it
and `dlabs predict faces PHOTO` finds the face (OpenCV's cascade, framed like the training crops)
and names the nearest person, or "unknown" beyond the threshold.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from dlabs import paths
from dlabs.config import option
from dlabs.data import faces, images, store, tabular
from dlabs.data.augment import AugmentConfig, ImageAugment
from dlabs.engine.runfolder import Run
from dlabs.engine.trainer import TensorBatcher, TrainConfig
from dlabs.errors import DataError, DlabsError, InputError
from dlabs.labs import Lab, Prepared, register
from dlabs.labs._classify import accuracy
from dlabs.models.face import CosFaceLoss, FaceResNet, ManualFaceCNN

MIRROR_SIDE = 150  # the mirror's photos are the central 150x150 of LFW's 250x250 originals
SPLIT = "lfw_identities.json"
GALLERY = "gallery.json"
VERIFICATION = ("LFW View 2, 10 folds of 300 matched + 300 mismatched pairs, unrestricted, labeled outside data: none; "
                "folds 1-5 scored by a model trained without their people, folds 6-10 likewise; each fold's "
                "threshold chosen on the other nine folds; mean and sd of the fold accuracies")


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
    verification: bool = option(True, "run LFW View 2 verification in evaluate (trains two more models)")


BEST = FacesConfig(
    data=DataConfig(size=48),
    loss=LossConfig(margin=0.2),
    train=TrainConfig(epochs=10, batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4,
                      schedule="onecycle", restore_best=False, max_seconds=600, threads=1),
    augment=AugmentConfig(shift=4, flip=True),
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


# data ---------------------------------------------------------------------------------------
def _source_side(path: Path) -> int:
    """Width of the archive's first photo: 150 for the mirror's crops, 250 for upstream lfw.tgz."""
    import tarfile

    from PIL import Image

    try:
        with tarfile.open(path, mode="r:*") as tar:
            for m in tar:
                if m.isfile() and m.name.lower().endswith(".jpg"):
                    with Image.open(tar.extractfile(m)) as im:
                        return im.width
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable LFW archive ({e})") from None
    raise DataError(f"{path}: no photos in the archive")


def load_lfw(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo ids like 'Aaron_Eckhart_0001', person names, RGB uint8 crops (N, size, size, 3))."""
    path = store.fetch("lfw", "images")
    crop = cfg.crop * MIRROR_SIDE / _source_side(path)  # the same framing from either form of the archive
    names, x = images.load_image_archive(path, cfg.size, crop)
    ids = np.array([Path(n).stem for n in names])
    people = np.array([Path(n).parent.name for n in names])
    return ids, people, x


def read_pairs(path: Path) -> list[list[tuple[str, str, bool]]]:
    """LFW's pairs.txt: folds of (photo id, photo id, same person), e.g. ('Abel_Pacheco_0001', ...)."""
    lines = Path(path).read_text().splitlines()
    try:
        n_folds, n = (int(v) for v in lines[0].split())
        folds = []
        for k in range(n_folds):
            rows = [ln.split("\t") for ln in lines[1 + 2 * n * k:1 + 2 * n * (k + 1)]]
            fold = []
            for r in rows:
                if len(r) == 3:
                    fold.append((f"{r[0]}_{int(r[1]):04d}", f"{r[0]}_{int(r[2]):04d}", True))
                elif len(r) == 4:
                    fold.append((f"{r[0]}_{int(r[1]):04d}", f"{r[2]}_{int(r[3]):04d}", False))
                else:
                    raise ValueError(f"line {r!r}")
            if len(fold) != 2 * n:
                raise ValueError(f"fold {k + 1} has {len(fold)} pairs, expected {2 * n}")
            folds.append(fold)
    except (ValueError, IndexError) as e:
        raise DataError(f"{path}: not an LFW pairs file ({e})") from None
    return folds


def person_of(photo_id: str) -> str:
    return photo_id.rsplit("_", 1)[0]


HALVES = (range(0, 5), range(5, 10))  # View 2's folds, scored by two models: each trained without its half's people


def held_out_people(folds, half) -> frozenset:
    """Everyone in the pairs of the folds `half`: the people its verification model must never see."""
    return frozenset(person_of(i) for k in half for a, b, _ in folds[k] for i in (a, b))


def make_identity_split(ids, people, min_images: int = 20, test_fraction: float = 0.25, seed: int = 0) -> dict:
    """The closed-set identification split: each person with >= `min_images` photos gives a seeded
    random `test_fraction` of them (rounded) to test."""
    rng = np.random.default_rng(seed)
    names, counts = np.unique(people, return_counts=True)
    chosen = [str(p) for p, c in zip(names, counts) if c >= min_images]
    test = []
    for p in chosen:
        own = np.sort(ids[people == p])
        test += sorted(str(i) for i in own[rng.permutation(len(own))[:round(test_fraction * len(own))]])
    return {"protocol": f"people with >= {min_images} LFW photos; a seeded ({seed}) random {test_fraction:.0%} of "
                        "each person's photos for test", "people": chosen, "test": test}


def identity_split() -> dict:
    return json.loads(resources.files("dlabs.labs").joinpath("splits", SPLIT).read_text())


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
        ids, people, x = load_lfw(cfg.data)
        split = identity_split()
        id_people, test_ids = split["people"], set(split["test"])
        is_test = np.isin(ids, list(test_ids))
        allowed = ~is_test & ~np.isin(people, list(exclude))
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
        batcher = lambda r, t: TensorBatcher(to_tensor(x[r]), torch.as_tensor(t, dtype=torch.int64))  # noqa: E731
        info = {"people": len(classes), "train": len(fit), "validation": len(val), "test": len(test),
                "identification_people": len(id_people), "calibration_people": len(calib), "excluded_people": len(exclude)}
        raw = {"ids": ids, "people": people, "x": x, "train": rows, "test": test, "calib": np.flatnonzero(np.isin(people, calib)),
               "id_people": id_people, "id_train": np.flatnonzero(~is_test & np.isin(people, id_people))}
        return Prepared(batcher(fit, y[fit]), batcher(val, y[val]) if len(val) else None,
                        batcher(test, [id_label[p] for p in people[test]]), state, info, raw)

    def build_model(self, cfg, state):
        from dlabs.models.cnn import channels_last

        m, args = cfg.model, (state["pixel_mean"], state["pixel_std"], state["size"], len(state["classes"]))
        if m.kind == "resnet":
            return channels_last(FaceResNet(*args, tuple(m.widths), m.dim, m.dropout))
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
        raw = data.raw
        emb = embed(model, raw["x"][raw["calib"]])
        who = raw["people"][raw["calib"]]
        i, j = np.triu_indices(len(who), 1)
        same = who[i] == who[j]
        rng = np.random.default_rng(0)
        neg = rng.choice(np.flatnonzero(~same), min(int((~same).sum()), max(int(same.sum()), 1)), replace=False)
        pick = np.concatenate([np.flatnonzero(same), neg])
        d = np.linalg.norm(emb[i[pick]] - emb[j[pick]], axis=1)
        threshold = best_threshold(d, same[pick])
        calibration_accuracy = float(((d <= threshold) == same[pick]).mean())
        from sklearn.linear_model import LogisticRegression

        platt = LogisticRegression().fit(d[:, None], same[pick])
        id_emb = embed(model, raw["x"][raw["id_train"]])
        id_who = raw["people"][raw["id_train"]]
        gallery = {"people": {p: {"embeddings": [_round(id_emb[id_who == p].mean(0))], "photos": int((id_who == p).sum()),
                                  "source": "LFW training photos"} for p in raw["id_people"]}}
        write_gallery(run.path, gallery)
        return {"threshold": threshold, "confidence": [float(platt.coef_[0, 0]), float(platt.intercept_[0])],
                "calibration_pairs": int(len(pick)), "calibration_accuracy": calibration_accuracy}

    # evaluation -------------------------------------------------------------------------------
    def evaluate(self, model, data, cfg, trainer) -> dict:
        raw = data.raw
        centres = class_means(embed(model, raw["x"][raw["id_train"]]), raw["people"][raw["id_train"]], raw["id_people"])
        scores = embed(model, raw["x"][raw["test"]]) @ centres.T
        data.raw["test_scores"] = scores
        return identification(data.test.tensors[1].numpy(), scores)

    def baselines(self, data, cfg, seed) -> dict:
        from sklearn.model_selection import GridSearchCV
        from sklearn.svm import SVC

        t0 = time.perf_counter()
        raw = data.raw
        y_tr = np.array([raw["id_people"].index(p) for p in raw["people"][raw["id_train"]]])
        pca = _pca(seed).fit(grey(raw["x"][raw["id_train"]]))
        svm = GridSearchCV(SVC(kernel="rbf", class_weight="balanced"),
                           {"C": [1e3, 1e4], "gamma": [1e-3, 5e-3]}, cv=3)
        svm.fit(pca.transform(grey(raw["x"][raw["id_train"]])), y_tr)
        scores = svm.decision_function(pca.transform(grey(raw["x"][raw["test"]])))
        return {"eigenfaces_svm": {"metrics": identification(data.test.tensors[1].numpy(), scores),
                                   "train_seconds": time.perf_counter() - t0, "params": svm.best_params_}}

    def protocols(self, cfg, seed, device) -> dict:
        if not cfg.verification:
            return {}
        from dlabs.engine.device import set_seed
        from dlabs.engine.trainer import Trainer

        folds = read_pairs(store.fetch("lfw", "pairs.txt"))
        dist = {"model": [None] * len(folds), "eigenfaces_svm": [None] * len(folds)}
        seconds = []
        for h, half in enumerate(HALVES):
            held_out = held_out_people(folds, half)
            set_seed(seed + h)
            data = self.prepare(cfg, seed + h, exclude=held_out, calibrate=False)
            model = self.build_model(cfg, data.state)
            t0 = time.perf_counter()
            Trainer(cfg.train, device, seed=seed + h, transform=self.augment(cfg), progress=False).fit(
                model, data.train, data.val, loss_fn=self.loss_fn(cfg), metrics_fn=self.metrics_fn(cfg))
            seconds.append(time.perf_counter() - t0)
            model.cpu()
            raw = data.raw
            if set(raw["people"][raw["train"]]) & held_out:  # the protocol's promise, checked
                raise DlabsError("verification: a held-out person reached a training set")
            where = {i: n for n, i in enumerate(raw["ids"])}
            # eigenfaces need no labels: PCA on (up to 5,000) photos of everyone outside this half's pairs
            outside = np.flatnonzero(~np.isin(raw["people"], list(held_out)))
            pca = _pca(seed).fit(grey(raw["x"][np.random.default_rng(seed).permutation(outside)[:5000]]))
            for k in half:
                a = [where[p[0]] for p in folds[k]]
                b = [where[p[1]] for p in folds[k]]
                dist["model"][k] = pair_distances(embed(model, raw["x"][a]), embed(model, raw["x"][b]))
                ea, eb = (pca.transform(grey(raw["x"][r])) for r in (a, b))
                dist["eigenfaces_svm"][k] = pair_distances(_unit(ea), _unit(eb))
        same = [np.array([s for _, _, s in f]) for f in folds]
        scores = {name: fold_accuracies(d, same) for name, d in dist.items()}
        per_fold = {key: {name: s.pop(key) for name, s in scores.items()} for key in ("folds", "thresholds", "roc")}
        scores["model"]["train_seconds"] = float(sum(seconds))
        return {"verification": {"protocol": VERIFICATION, "model": scores["model"],
                                 "baselines": {"eigenfaces_svm": scores["eigenfaces_svm"]},
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
        confused = most_confused(y, pred, raw["id_people"])
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
                "example": example_photo()}

    def predict(self, model, state, cfg, inputs, fields) -> list[dict]:
        if set(fields) - {"top"}:
            raise InputError(f"faces takes photos and --top K, not --{next(iter(set(fields) - {'top'}))}")
        try:
            k = max(1, int(fields.get("top", 5)))
        except ValueError:
            raise InputError(f"--top {fields['top']}: expected a whole number") from None
        if not inputs:
            raise InputError("no input: give one or more photos with one face each")
        people = read_gallery(Path(state["run"]))["people"]
        if not people:
            raise InputError("the gallery is empty: add people with dlabs faces enroll NAME PHOTO...")
        names = list(people)
        centres = np.stack([_unit(np.mean(people[n]["embeddings"], 0)) for n in names])
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
        ids, people, x = load_lfw(cfg.data)
        _, counts = np.unique(people, return_counts=True)
        split = identity_split()
        return {"photos": len(ids), "people": len(counts), "people_with_2_or_more": int((counts >= 2).sum()),
                "people_with_20_or_more": int((counts >= 20).sum()), "crop": list(x.shape[1:]),
                "identification_test_photos": len(split["test"]), "pairs_folds": 10}


# embeddings, distances, thresholds ------------------------------------------------------------
def to_tensor(x: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) uint8, a channels-last view (no copy)."""
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)


def embed(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """L2-normalised embeddings of RGB crops, averaged with their mirror images."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for s in range(0, len(x), batch_size):
            xb = to_tensor(x[s:s + batch_size]).to(device)
            out.append((model.embed(xb) + model.embed(xb.flip(3))).float().cpu().numpy())
    return _unit(np.concatenate(out)) if out else np.zeros((0, 1), np.float32)


def _unit(e: np.ndarray) -> np.ndarray:
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


def _round(e: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in e]


def class_means(emb: np.ndarray, who: np.ndarray, classes: list[str]) -> np.ndarray:
    return _unit(np.stack([emb[who == c].mean(0) for c in classes]))


def pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=1)


def best_threshold(d: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold (same person at or below it) with the highest accuracy on these pairs."""
    order = np.argsort(d)
    ds, ss = d[order], same[order].astype(int)
    accepted_same = np.cumsum(ss)
    rejected_other = (len(ss) - ss.sum()) - (np.arange(1, len(ss) + 1) - accepted_same)
    best = int(np.argmax(accepted_same + rejected_other))  # accept the best+1 smallest distances
    return float((ds[best] + ds[min(best + 1, len(ds) - 1)]) / 2)


def fold_accuracies(dist: list[np.ndarray], same: list[np.ndarray]) -> dict:
    """Each fold's accuracy at the threshold chosen on the other folds; pooled ROC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    accs, thresholds = [], []
    for k in range(len(dist)):
        others = [i for i in range(len(dist)) if i != k]
        t = best_threshold(np.concatenate([dist[i] for i in others]), np.concatenate([same[i] for i in others]))
        accs.append(float(((dist[k] <= t) == same[k]).mean()))
        thresholds.append(t)
    d, s = np.concatenate(dist), np.concatenate(same)
    auc = float(roc_auc_score(s, -d))
    fpr, tpr, _ = roc_curve(s, -d)
    keep = np.unique(np.linspace(0, len(fpr) - 1, 100).round().astype(int))
    return {"accuracy": float(np.mean(accs)), "accuracy_sd": float(np.std(accs, ddof=1)), "auc": auc,
            "folds": [round(a, 4) for a in accs], "thresholds": [round(t, 4) for t in thresholds],
            "roc": {"fpr": fpr[keep].round(4).tolist(), "tpr": tpr[keep].round(4).tolist(), "auc": auc}}


def identification(y: np.ndarray, scores: np.ndarray) -> dict:
    from sklearn.metrics import f1_score

    rank = np.argsort(-scores, axis=1)
    top1 = float((rank[:, 0] == y).mean())
    return {"accuracy": top1, "identification_top1": top1,
            "identification_top5": float((rank[:, :5] == y[:, None]).any(1).mean()),
            "f1": float(f1_score(y, rank[:, 0], average="macro"))}


def most_confused(y: np.ndarray, pred: np.ndarray, labels: list[str], n: int = 10) -> list[dict]:
    pairs, counts = np.unique(np.stack([y, pred], 1)[y != pred], axis=0, return_counts=True)
    order = np.argsort(-counts)[:n]
    return [{"true": labels[pairs[i, 0]], "predicted": labels[pairs[i, 1]], "count": int(counts[i])} for i in order]


def grey(x: np.ndarray) -> np.ndarray:
    """Flat grey pixels in [0, 1] (eigenfaces' input)."""
    return (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).reshape(len(x), -1) / 255.0


def _pca(seed: int):
    from sklearn.decomposition import PCA

    return PCA(n_components=150, whiten=True, svd_solver="randomized", random_state=seed)


# predict input and the gallery ----------------------------------------------------------------
@lru_cache(maxsize=1)
def example_photo() -> str:
    """An LFW photo in which the detector finds one face, as a data URL ("" without the data)."""
    import base64
    import tarfile

    try:
        with tarfile.open(store.fetch("lfw", "images"), mode="r:*") as tar:
            for m in tar:
                if m.isfile() and m.name.lower().endswith(".jpg"):
                    raw = tar.extractfile(m).read()
                    if len(faces.detect(_rgb(raw))) == 1:
                        return "data:image/jpeg;base64," + base64.b64encode(raw).decode()
    except (DlabsError, tarfile.TarError, OSError):
        pass
    return ""


def _rgb(raw: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(raw)) as im:
        return np.asarray(im.convert("RGB"))


def read_gallery(run_path: Path) -> dict:
    path = Path(run_path) / GALLERY
    if not path.is_file():
        return {"people": {}}
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise DlabsError(f"{path}: not valid JSON ({e}); remove it to start an empty gallery") from None


def write_gallery(run_path: Path, gallery: dict) -> None:
    paths.atomic_write(Path(run_path) / GALLERY, json.dumps(gallery, indent=1))


def _loaded(run, runs):
    from dlabs import api

    run_ = Run.open(run, lab="faces", runs=runs)
    _, _, state, model = api.load(run_, expect="faces")
    return run_, state, model


def enroll(name: str, photos: list[str], run="latest", runs=None) -> dict:
    """Add a person (or more photos of one) to a run's gallery; nothing is written if a photo fails."""
    name = name.strip()
    if not name or len(name) > 100 or re.search(r"[\x00-\x1f]", name):
        raise InputError(f"{name!r}: a name is 1-100 printable characters")
    if not photos:
        raise InputError("no photos: give one or more photos of the person")
    run_, state, model = _loaded(run, runs)
    emb = embed(model, faces.crop_photos(photos, faces.Framing(**state["framing"]), state["size"]))
    gallery = read_gallery(run_.path)
    entry = gallery["people"].setdefault(name, {"embeddings": [], "photos": 0, "source": "enrolled"})
    entry["embeddings"] += [_round(e) for e in emb]
    entry["photos"] += len(photos)
    write_gallery(run_.path, gallery)
    return {"name": name, "photos": entry["photos"], "gallery": str(run_.path / GALLERY)}


def remove(name: str, run="latest", runs=None) -> dict:
    run_ = Run.open(run, lab="faces", runs=runs)
    gallery = read_gallery(run_.path)
    if name not in gallery["people"]:
        close = [n for n in gallery["people"] if name.lower() in n.lower()][:5]
        raise InputError(f"{name!r} is not in the gallery" + (f" (did you mean: {', '.join(close)}?)" if close else ""))
    del gallery["people"][name]
    write_gallery(run_.path, gallery)
    return {"removed": name, "left": len(gallery["people"])}


def gallery_people(run="latest", runs=None) -> list[dict]:
    people = read_gallery(Run.open(run, lab="faces", runs=runs).path)["people"]
    return [{"name": n, "photos": p["photos"], "source": p.get("source", "")} for n, p in sorted(people.items())]


__all__ = ["enroll", "remove", "gallery_people", "read_pairs", "make_identity_split"]
