"""colorize's photo sets and its fixed held-out split.

Four sets: colour flower photos (128x128), LFW faces (150x150 centre crops, split by person),
UTKFace (100x100) and outdoor scenes (160x160: buildings, forest, glacier, mountain, sea, street).
The held-out evaluation photos and the validation photos of each set are fixed in
``splits/colorize.json`` (seeded, made once by `make_split`); no LFW person of either is in
training, and the scenes' are stratified by class (`SCENE_TEST` and `SCENE_VAL` of each). Training
uses every other flower and scene and a seeded subset of each face set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dlabs.data import lfw
from dlabs.data.images import load_image_archive
from dlabs.data.store import fetch
from dlabs.errors import DlabsError

SPLIT_FILE = Path(__file__).with_name("splits") / "colorize.json"
SETS = {"flowers": ("colorize", "photos_160.tar.gz", 128), "lfw": ("lfw", "images", 150),
        "utkface": ("utkface", "images", 100), "scenes": ("colorize_scenes", "scenes_160.tar.gz", 160)}
# data set, file, stored side in pixels; the scenes are read from the archive in memory, as the flowers are
SCENE_TEST, SCENE_VAL = 50, 20  # held-out and validation scene photos of each class


def archive(name: str) -> tuple[list[str], np.ndarray]:
    """(member names, RGB uint8 photos at the set's stored size) of one set."""
    if name not in SETS:
        raise DlabsError(f"data.sets: unknown set '{name}' (sets: {', '.join(SETS)})")
    ds, role, size = SETS[name]
    if name == "lfw":  # the face lab's reader: the mirror's framing from upstream lfw.tgz too
        return lfw.load_photos(size)
    return load_image_archive(fetch(ds, role), size)


def person(name: str) -> str:
    return name.split("/")[-2]


def scene_class(name: str) -> str:
    return name.split("/")[-2]


def stratified(names: list[str], seed: int, n_test: int = SCENE_TEST, n_val: int = SCENE_VAL) -> dict[str, list[str]]:
    """`n_test` held-out and `n_val` validation photos of each class (the member's folder), seeded."""
    rng, picked = np.random.default_rng(seed), {"test": [], "val": []}
    for c in sorted({scene_class(n) for n in names}):
        members = sorted(n for n in names if scene_class(n) == c)
        order = rng.permutation(len(members))
        picked["test"] += [members[i] for i in order[:n_test]]
        picked["val"] += [members[i] for i in order[n_test:n_test + n_val]]
    return {part: sorted(v) for part, v in picked.items()}


def make_split(seed: int = 2016, n_test: int = 300, n_val: int = 100, per_person: int = 3) -> dict:
    """The held-out evaluation and validation photos of each set; LFW by person (at most
    `per_person` photos of each chosen person, the rest of them never used); the scenes
    stratified by class from their own seeded draw, so the other sets' draws are those of the
    split made before the scenes were added."""
    rng = np.random.default_rng(seed)
    split = {"seed": seed, "note": "made by dlabs.labs.colorize.make_split; LFW people of test and val are never trained on"}
    for name in SETS:
        if name == "scenes":
            split[name] = stratified(archive(name)[0], seed)
            continue
        names = archive(name)[0]
        if name == "lfw":
            people: dict[str, list[str]] = {}
            for n in names:
                people.setdefault(person(n), []).append(n)
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
        people = {person(n) for n in out}
        out |= {n for n in names if person(n) in people}
    return held, np.array([i for i, n in enumerate(names) if n not in out], dtype=np.int64)


def load_split() -> dict:
    return json.loads(SPLIT_FILE.read_text())


def training_photos(sets, faces: int, limit: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(training photos, validation photos) of each set at its stored size: every training flower
    and scene, `faces` photos (seeded) of each face set; with `limit`, at most N training and N//4
    validation."""
    split, rng, out = load_split(), np.random.default_rng(seed), {}
    for name in sets:
        names, photos = archive(name)
        held, pool = held_out(names, split[name], by_person=name == "lfw")
        if name in ("lfw", "utkface") and faces < len(pool):
            pool = np.sort(rng.choice(pool, faces, replace=False))
        val = held["val"]
        if limit:
            pool, val = pool[:limit], val[:max(1, limit // 4)]
        out[name] = photos[pool], photos[val]
    return out


def test_photos(sets, limit: int) -> dict[str, np.ndarray]:
    """The held-out evaluation photos of each set at its stored size; with `limit`, at most max(8, N//4)."""
    split, out = load_split(), {}
    for name in sets:
        names, photos = archive(name)
        test = held_out(names, split[name], by_person=False)[0]["test"]
        out[name] = photos[test[:max(8, limit // 4)] if limit else test]
    return out
