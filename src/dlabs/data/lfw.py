"""Labeled Faces in the Wild: the photo archive, View 2's pairs file and the committed
closed-set identification split.

The mirror holds the central 150x150 of LFW's 250x250 originals; `load_lfw` reads either that or
upstream `lfw.tgz` (`lfw/<Name>/<Name>_0001.jpg`) into the same framing. `pairs.txt` holds View 2:
10 folds of 300 matched and 300 mismatched pairs, disjoint in people. `training_rows` says which
photos a model may learn from: never the identification test photos of a run's model, never the
people of the View 2 folds a verification model scores, never the calibration people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from dlabs.data import faces, images, store, tabular
from dlabs.errors import DataError, DlabsError

MIRROR_SIDE = 150  # the mirror's photos are the central 150x150 of LFW's 250x250 originals
SPLIT = "lfw_identities.json"


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


def load_photos(size: int, crop: float = 1.0) -> tuple[list[str], np.ndarray]:
    """(archive member names like 'lfw/Aaron_Eckhart/Aaron_Eckhart_0001.jpg', RGB uint8 photos
    (N, size, size, 3)): the central `crop` share of the mirror's 150x150 crops, resized to `size`,
    framed the same from either form of the archive."""
    path = store.fetch("lfw", "images")
    return images.load_image_archive(path, size, crop * MIRROR_SIDE / _source_side(path))


def load_lfw(size: int, crop: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo ids like 'Aaron_Eckhart_0001', person names, photos) as `load_photos` gives them."""
    names, x = load_photos(size, crop)
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


def fold_groups(n_folds: int, n_models: int) -> list[tuple[int, ...]]:
    """View 2's folds shared out, in order, among `n_models` verification models (each model is
    trained without the people of its folds and scores them): 2 models -> (0..4), (5..9)."""
    if not 1 <= n_models <= n_folds or n_folds % n_models:
        raise DlabsError(f"verification models: {n_models} does not divide the {n_folds} folds evenly")
    k = n_folds // n_models
    return [tuple(range(i, i + k)) for i in range(0, n_folds, k)]


def held_out_people(folds, group) -> frozenset:
    """Everyone in the pairs of the folds `group`: the people its verification model must never see."""
    return frozenset(person_of(i) for k in group for a, b, _ in folds[k] for i in (a, b))


def pair_rows(fold, where: dict[str, int]) -> tuple[list[int], list[int]]:
    """The photo rows (`where`: photo id -> row) of the first and the second photo of each pair of a fold."""
    return [where[a] for a, _, _ in fold], [where[b] for _, b, _ in fold]


@dataclass
class TrainingRows:
    """The photos a model learns from (`rows`, sorted; split into `fit` and `val`), the people it tells
    apart (`classes`) and the rows of the calibration people held out of it."""

    rows: np.ndarray
    fit: np.ndarray
    val: np.ndarray
    classes: list[str]
    calibration: np.ndarray

    @property
    def label(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.classes)}


def training_rows(ids: np.ndarray, people: np.ndarray, *, classes: str = "all", min_images: int = 2,
                  calibration_people: int = 0, val_fraction: float = 0.05, seed: int = 0,
                  exclude: frozenset = frozenset()) -> TrainingRows:
    """Which photos a model trains on. Without `exclude` (a run's model): every photo but the
    identification test photos and the photos of `calibration_people` seeded people (each with two or
    more photos, none of the 62), who choose the gallery's threshold. With `exclude` (a verification
    model): every photo of everyone else, the identification test photos included (such a model never
    scores that protocol), and no calibration people. Then the people with at least `min_images` of
    those photos (`classes`: "identification" keeps the 62 only)."""
    split = identity_split()
    id_people = split["people"]
    is_test = np.isin(ids, split["test"])
    allowed = (~is_test if not exclude else np.ones(len(ids), bool)) & ~np.isin(people, list(exclude))
    calib = np.array([], dtype=str)
    if not exclude and calibration_people:
        names, counts = np.unique(people[allowed], return_counts=True)
        pool = [p for p, c in zip(names, counts) if c >= 2 and p not in id_people]
        calib = np.random.default_rng(seed).choice(pool, calibration_people, replace=False)
        allowed &= ~np.isin(people, calib)
    names, counts = np.unique(people[allowed], return_counts=True)
    chosen = [str(p) for p, c in zip(names, counts) if c >= min_images and (classes == "all" or p in id_people)]
    rows = np.flatnonzero(allowed & np.isin(people, chosen))
    fit, val = (np.sort(r) for r in tabular.holdout(rows, val_fraction, seed))
    return TrainingRows(rows, fit, val, chosen, np.flatnonzero(np.isin(people, calib)))


@dataclass
class Identification:
    """The closed-set identification protocol's photos: the test photos and the enrolment photos (the
    62 people's other photos, which the protocol's classifier and the gallery learn the people from),
    each with its person's index in `people`."""

    people: list[str]
    x: np.ndarray
    y: np.ndarray
    enrol_x: np.ndarray
    enrol_y: np.ndarray


def identification(ids: np.ndarray, people: np.ndarray, x: np.ndarray) -> Identification:
    split = identity_split()
    label = {p: i for i, p in enumerate(split["people"])}
    is_test = np.isin(ids, split["test"])
    test, enrol = np.flatnonzero(is_test), np.flatnonzero(~is_test & np.isin(people, split["people"]))
    return Identification(split["people"], x[test], np.array([label[p] for p in people[test]]),
                          x[enrol], np.array([label[p] for p in people[enrol]]))


def summary(size: int, crop: float) -> dict:
    """What the faces lab's data exploration shows."""
    ids, people, x = load_lfw(size, crop)
    _, counts = np.unique(people, return_counts=True)
    return {"photos": len(ids), "people": len(counts), "people_with_2_or_more": int((counts >= 2).sum()),
            "people_with_20_or_more": int((counts >= 20).sum()), "crop": list(x.shape[1:]),
            "identification_test_photos": len(identity_split()["test"]), "pairs_folds": 10}


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
    return json.loads(resources.files("dlabs.data").joinpath("splits", SPLIT).read_text())


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
