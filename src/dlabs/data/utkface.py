"""UTKFace: labels from the file names, the committed seeded split, and the labelled faces.

Labels come from the file names, ``[age]_[gender]_[race]_[date&time].jpg.chip.jpg``; names
without the three label fields are skipped and counted, and ages are capped at 100 as the manual
does. UTKFace has no official split, so a seeded 80/10/10 split stratified by gender and age
band is committed as ``dlabs/data/splits/utkface.json`` (`make_split` regenerates it byte for byte).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from dlabs.data import faces, images, store
from dlabs.errors import DataError

SPLIT_FILE = Path(__file__).with_name("splits") / "utkface.json"
NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_\d")  # age_gender_race_ (the date part is not a label)
MAX_AGE = 100  # the manual's cap: 101..116-year-olds (a few dozen faces) count as 100
AGE_BANDS = (0, 3, 10, 20, 30, 40, 50, 60, 70, 80, 101)  # the split's strata and the report's bands
GENDERS = ("male", "female")
RACES = ("White", "Black", "Asian", "Indian", "Others")


def parse_name(name: str) -> tuple[int, int, int] | None:
    """(age capped at 100, gender 0 male / 1 female, race 0..4) from a UTKFace file name, or None."""
    m = NAME.match(Path(name).name)
    return None if m is None else (min(int(m[1]), MAX_AGE), int(m[2]), int(m[3]))


def band_of(age) -> np.ndarray:
    return np.searchsorted(AGE_BANDS, np.asarray(age), side="right") - 1


def age_range(age: float, interval: dict) -> list[int]:
    """The validation band around a predicted age, widened where needed to hold the estimate itself
    (the model over-ages babies, so their band can lie wholly below it)."""
    b = int(band_of(age))
    return [round(float(max(0.0, age + min(interval["low"][b], 0)))),
            round(float(min(MAX_AGE, age + max(interval["high"][b], 0))))]


def band_names() -> list[str]:
    return [f"{lo}-{hi - 1}" for lo, hi in zip(AGE_BANDS[:-1], AGE_BANDS[1:])]


def make_split(stems: list[str], age: np.ndarray, gender: np.ndarray, seed: int = 0) -> dict:
    """A seeded 80/10/10 split stratified by gender x age band: the face names of val and test."""
    rng = np.random.default_rng(seed)
    stems = np.asarray(stems)
    strata = gender * len(AGE_BANDS) + band_of(age)
    val, test = [], []
    for s in np.unique(strata):
        idx = rng.permutation(np.nonzero(strata == s)[0])
        k = int(round(0.1 * len(idx)))
        test += stems[idx[:k]].tolist()
        val += stems[idx[k:2 * k]].tolist()
    return {"dataset": "utkface", "seed": seed, "rule": "80/10/10 within each gender x age band "
            f"(bands {band_names()}); train is every other labelled face",
            "counts": {"train": len(stems) - len(val) - len(test), "val": len(val), "test": len(test)},
            "val": sorted(val), "test": sorted(test)}


def split_text(split: dict) -> str:
    return json.dumps(split, indent=0) + "\n"


def load_faces(size: int) -> dict:
    """Every labelled UTKFace face at `size` pixels, with its labels; malformed names counted."""
    path = store.fetch("utkface", "images")
    names, x = images.load_image_archive(path, size)
    parsed = [parse_name(n) for n in names]
    keep = np.array([p is not None for p in parsed])
    labels = np.array([p for p in parsed if p is not None], dtype=np.int64).reshape(-1, 3)
    return {"stems": [Path(n).name.split(".", 1)[0] for n, k in zip(names, keep) if k], "x": x[keep],
            "age": labels[:, 0], "gender": labels[:, 1], "race": labels[:, 2],
            "skipped": [Path(n).name for n, k in zip(names, keep) if not k]}


def split_indices(d: dict) -> dict[str, np.ndarray]:
    """Row indices of train, val and test from the committed split file."""
    split = json.loads(SPLIT_FILE.read_text())
    where = {s: i for i, s in enumerate(d["stems"])}
    out = {}
    for part in ("val", "test"):
        missing = [s for s in split[part] if s not in where]
        if missing:
            raise DataError(f"{SPLIT_FILE.name}: {len(missing)} faces of the {part} split are not in the data "
                            f"(first: {missing[0]}); the archive differs from the one the split was made for")
        out[part] = np.array(sorted(where[s] for s in split[part]))
    out["train"] = np.setdiff1d(np.arange(len(d["stems"])), np.concatenate([out["val"], out["test"]]))
    return out


def load_parts(size: int, limit: int = 0) -> tuple[dict, dict[str, np.ndarray]]:
    """Every labelled face (`load_faces`) and the rows of train, val and test; with `limit`, train is
    a seeded sample of that many faces."""
    d = load_faces(size)
    idx = split_indices(d)
    if limit:  # a seeded sample: the names sort by age, so the first N would be the ages 1, 10-19, 100
        idx["train"] = np.sort(np.random.default_rng(0).permutation(idx["train"])[:limit])
    return d, idx


def example_photo(x: np.ndarray) -> np.ndarray:
    """A training face on a canvas twice its size (as a face sits in a photo) that the detector finds."""
    for img in x[:200]:
        canvas = faces.on_canvas(img)
        if len(faces.detect(canvas)) == 1:
            return canvas
    raise DataError("the face detector finds none of the first 200 training faces")
