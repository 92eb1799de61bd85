"""The faces lab's gallery: the people a run can name, as embeddings (never photos) in
`gallery.json` beside the run, written atomically; enroll, list and remove edit it, and `match`
names the people in new photos from it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from dlabs import paths
from dlabs.data import faces
from dlabs.errors import DlabsError, InputError

GALLERY = "gallery.json"


def _rounded(e: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in e]


def of_means(names: list[str], means: np.ndarray, photos: list[int], source: str) -> dict:
    """A gallery holding each person's mean embedding (of `photos` photos)."""
    return {"people": {p: {"embeddings": [_rounded(m)], "photos": int(n), "source": source}
                       for p, m, n in zip(names, means, photos)}}


def fit(net, calib_x: np.ndarray, calib_who: np.ndarray, ident) -> dict:
    """What a run keeps for its gallery (merged into its state): the distance threshold within which
    a face is a gallery person and the Platt-scaled same-person confidence, chosen on all pairs of the
    calibration people's photos (and as many other pairs, drawn), and the gallery's first people: the
    62 people's mean embeddings of their training photos (`ident`: `lfw.Identification`)."""
    from sklearn.linear_model import LogisticRegression

    from dlabs.engine.metrics import best_threshold
    from dlabs.models.face import embed

    emb = embed(net, calib_x)
    i, j = np.triu_indices(len(calib_who), 1)
    same = calib_who[i] == calib_who[j]
    rng = np.random.default_rng(0)
    neg = rng.choice(np.flatnonzero(~same), min(int((~same).sum()), max(int(same.sum()), 1)), replace=False)
    pick = np.concatenate([np.flatnonzero(same), neg])
    d = np.linalg.norm(emb[i[pick]] - emb[j[pick]], axis=1)
    threshold = best_threshold(d, same[pick])
    platt = LogisticRegression().fit(d[:, None], same[pick])
    emb, y = embed(net, ident.enrol_x), ident.enrol_y
    return {"threshold": threshold, "confidence": [float(platt.coef_[0, 0]), float(platt.intercept_[0])],
            "calibration_pairs": int(len(pick)), "calibration_accuracy": float(((d <= threshold) == same[pick]).mean()),
            "gallery_people": ident.people, "gallery_photos": np.bincount(y, minlength=len(ident.people)).tolist(),
            "gallery_means": np.stack([emb[y == k].mean(0) for k in range(len(ident.people))])}


def seed(run_path: Path, state: dict) -> None:
    """Write a new run's gallery.json from the means `fit` put in its state."""
    if "gallery_means" in state:
        write_gallery(run_path, of_means(state["gallery_people"], state["gallery_means"], state["gallery_photos"],
                                         "LFW training photos"))


def read_gallery(run_path: Path) -> dict:
    path = Path(run_path) / GALLERY
    if not path.is_file():
        return {"people": {}}
    try:
        gallery = json.loads(path.read_text())
    except (ValueError, RecursionError) as e:
        raise DlabsError(f"{path}: not valid JSON ({e}); remove it to start an empty gallery") from None
    people = gallery.get("people") if isinstance(gallery, dict) else None
    if not isinstance(people, dict):
        raise _not_a_gallery(path, 'expected {"people": {name: {"embeddings": [...], "photos": n}}}')
    for name, p in people.items():  # a hand-edited file: every shape checked once, here
        emb = p.get("embeddings") if isinstance(p, dict) else None
        if not isinstance(emb, list) or not emb or not all(isinstance(e, list) and e and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in e) for e in emb):
            raise _not_a_gallery(path, f"{name!r} has no embeddings (lists of numbers)")
        if not isinstance(p.get("photos"), int) or isinstance(p.get("photos"), bool) or p["photos"] < 0:
            raise _not_a_gallery(path, f"{name!r} has no count of photos")
    if len({len(e) for p in people.values() for e in p["embeddings"]}) > 1:
        raise _not_a_gallery(path, "its embeddings differ in length")
    return gallery


def _not_a_gallery(path: Path, why: str) -> DlabsError:
    return DlabsError(f"{path}: not a gallery of this lab ({why}); restore it, or delete it to start an empty gallery")


def _same_length(gallery: dict, emb: np.ndarray, run_path) -> None:
    found = {len(e) for p in gallery["people"].values() for e in p["embeddings"]}
    if found and found != {emb.shape[1]}:
        raise _not_a_gallery(Path(run_path) / GALLERY, f"embeddings of length {found.pop()}; this run's have "
                                                        f"{emb.shape[1]}: the file comes from another run")


def write_gallery(run_path: Path, gallery: dict) -> None:
    paths.atomic_write(Path(run_path) / GALLERY, json.dumps(gallery, indent=1))


def _embed(model, photos) -> np.ndarray:
    """Embeddings of the one face in each photo (``(name, bytes)``), cropped as the model's training photos
    (through ONNX Runtime for an exported model, whose graph takes the crops channels first)."""
    state = model.state
    crops = faces.crop_photos(photos, faces.Framing(**state["framing"]), state["size"])
    if model.onnx is not None:
        return model.onnx(image=np.ascontiguousarray(crops.transpose(0, 3, 1, 2)))["embedding"]
    from dlabs.models.face import embed

    return embed(model.net, crops)


def enroll(model, name: str, photos: list[tuple[str, bytes]]) -> dict:
    """Add a person (or more photos of one) to a run's gallery; nothing is written if a photo fails."""
    name = name.strip()
    if not name or len(name) > 100 or re.search(r"[\x00-\x1f\ud800-\udfff]", name):  # no control bytes, no
        raise InputError(f"{name!r}: a name is 1-100 printable characters")  # undecodable ones (lone surrogates)
    if not photos:
        raise InputError("no photos: give one or more photos of the person")
    gallery = read_gallery(model.run)  # a broken gallery is refused before any photo is read
    emb = _embed(model, photos)
    _same_length(gallery, emb, model.run)
    entry = gallery["people"].setdefault(name, {"embeddings": [], "photos": 0, "source": "enrolled"})
    entry["embeddings"] += [_rounded(e) for e in emb]
    entry["photos"] += len(photos)
    write_gallery(model.run, gallery)
    return {"name": name, "photos": entry["photos"], "gallery": str(Path(model.run) / GALLERY)}


def remove(run_path: Path, name: str) -> dict:
    gallery = read_gallery(run_path)
    if name not in gallery["people"]:
        close = [n for n in gallery["people"] if name.lower() in n.lower()][:5]
        raise InputError(f"{name!r} is not in the gallery" + (f" (did you mean: {', '.join(close)}?)" if close else ""))
    del gallery["people"][name]
    write_gallery(run_path, gallery)
    return {"removed": name, "left": len(gallery["people"])}


def people(run_path: Path) -> list[dict]:
    found = read_gallery(run_path)["people"]
    return [{"name": n, "photos": p["photos"], "source": p.get("source", "")} for n, p in sorted(found.items())]


def match(model, photos: list[tuple[str, bytes]], top: str | int = 5) -> list[dict]:
    """The `top` nearest people of the gallery to the face in each photo; the nearest is the match
    when within the run's threshold, else "unknown"."""
    from dlabs.models.joint_bayes import unit

    try:
        top = max(1, int(top))
    except ValueError:
        raise InputError(f"--top {top}: expected a whole number") from None
    if not photos:
        raise InputError("no input: give one or more photos with one face each")
    gallery = read_gallery(model.run)["people"]
    if not gallery:
        raise InputError("the gallery is empty: add people with dlabs faces enroll NAME PHOTO...")
    names = list(gallery)
    centres = np.stack([unit(np.mean(gallery[n]["embeddings"], 0)) for n in names])
    emb = _embed(model, photos)
    _same_length({"people": gallery}, emb, model.run)
    (a, b), threshold = model.state["confidence"], model.state["threshold"]
    out = []
    for (source, _), e in zip(photos, emb):
        d = np.linalg.norm(centres - e, axis=1)
        # probability: the same-person confidence (Platt-scaled distance), not a share over the gallery
        near = [{"label": names[i], "distance": round(float(d[i]), 4),
                 "probability": round(float(1 / (1 + np.exp(-(a * d[i] + b)))), 4)} for i in np.argsort(d)[:top]]
        known = near[0]["distance"] <= threshold
        out.append({"input": source, "match": near[0]["label"] if known else "unknown",
                    "distance": near[0]["distance"], "confidence": near[0]["probability"],
                    "threshold": round(threshold, 4), "top": near})
    return out


def describe(predictions: list[dict]) -> str:
    return "\n".join(f"{p['input']}: {p['match']} (distance {p['distance']:.3f}, threshold {p['threshold']:.3f}, "
                     f"same-person confidence {p['confidence']:.0%}); nearest: "
                     + ", ".join(f"{t['label']} {t['distance']:.3f}" for t in p["top"]) for p in predictions)
