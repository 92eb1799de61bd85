"""The faces lab's gallery: the people a run can name, as embeddings (never photos) in
`gallery.json` beside the run, written atomically; enroll, list and remove edit it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from dlabs import paths
from dlabs.data import faces
from dlabs.engine.runfolder import Run
from dlabs.errors import DlabsError, InputError
from dlabs.models.face import embed

GALLERY = "gallery.json"


def _rounded(e: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in e]


def of_means(emb: np.ndarray, who: np.ndarray, people: list[str], source: str) -> dict:
    """A gallery holding each person's mean embedding."""
    return {"people": {p: {"embeddings": [_rounded(emb[who == p].mean(0))], "photos": int((who == p).sum()),
                           "source": source} for p in people}}


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
    entry["embeddings"] += [_rounded(e) for e in emb]
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
