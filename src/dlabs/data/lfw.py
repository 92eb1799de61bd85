"""Labeled Faces in the Wild: the photo archive, View 2's pairs file and the committed
closed-set identification split.

The mirror holds the central 150x150 of LFW's 250x250 originals; `load_lfw` reads either that or
upstream `lfw.tgz` (`lfw/<Name>/<Name>_0001.jpg`) into the same framing. `pairs.txt` holds View 2:
10 folds of 300 matched and 300 mismatched pairs, disjoint in people.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from dlabs.data import faces, images, store
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
