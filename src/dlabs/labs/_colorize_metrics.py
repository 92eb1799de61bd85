"""colorize's choices and baselines around its network: the read-out temperature chosen on the
validation photos, the grey and "colour by brightness" baselines, and the report's photos.

Torch is imported inside the functions, so that the lab registry stays quick to read.
"""

from __future__ import annotations

import logging
import time
from io import BytesIO
from pathlib import Path

import numpy as np

from dlabs.labs.base import Baseline

log = logging.getLogger(__name__)

# `best` picks the read-out temperature after training, on the validation photos: the highest PSNR
# whose colourfulness stays at least MIN_COLOURFUL of the originals' on every set (docs/experiments/colorize.md)
TEMPERATURES = (0.38, 0.5, 0.6, 0.7, 0.8, 1.0)
MIN_COLOURFUL = 0.8
GALLERY_SIDE = 800  # pixels: the old photos' panels in the gallery figure (the full-size files are beside it)
GALLERY = 3  # held-out photos per set in the report's gallery
SCENE_GALLERY = 2  # held-out scene photos per class in the scenes' gallery


def _least_colourful(m: dict, sets) -> float:
    return min(m[f"colorfulness_ratio_{name}"] for name in sets)


def choose_temperature(net, val_photos: dict[str, np.ndarray], size: int) -> dict:
    """Set `net`'s read-out temperature to the one of TEMPERATURES with the highest validation PSNR
    among those whose colourfulness ratio is at least MIN_COLOURFUL on every set (else the most
    colourful): the state to save, with every temperature's validation measures."""
    from dlabs.data.colour import score_sets
    from dlabs.models.colorizer import colour_sets

    net, scored = net.eval(), {}
    for t in TEMPERATURES:
        net.temperature = t
        scored[t] = score_sets(colour_sets(net, val_photos, size), val_photos)
    colourful = [t for t in TEMPERATURES if _least_colourful(scored[t], val_photos) >= MIN_COLOURFUL]
    best = max(colourful, key=lambda t: scored[t]["psnr"]) if colourful else max(
        TEMPERATURES, key=lambda t: _least_colourful(scored[t], val_photos))
    net.temperature = best
    log.info("read-out temperature %s chosen on validation (PSNR, least colourful set, hue agreement): %s", best,
             {t: (m["psnr"], _least_colourful(m, val_photos), m["hue_agreement"]) for t, m in scored.items()})
    return {"temperature": best, "temperature_validation": {str(t): m for t, m in scored.items()}}


def baselines(cfg, seed: int, test: dict[str, np.ndarray]) -> dict[str, Baseline]:
    """The grey image itself, and each pixel coloured with the mean ab of the training pixels of its
    lightness (a table fitted on the training photos of the run's sets, at their stored size)."""
    from dlabs.data.colorize_sets import training_photos
    from dlabs.data.colour import colour_by_lightness, fit_lightness_table, score_sets
    from dlabs.models.colorizer import colour_sets

    grey = Baseline(score_sets(colour_sets(None, test, 0), test), 0.0)
    t0 = time.perf_counter()
    train = training_photos(cfg.data.sets, cfg.data.faces, cfg.data.limit, seed)
    table = fit_lightness_table(photos[i:i + 256] for photos, _ in train.values() for i in range(0, len(photos), 256))
    seconds = time.perf_counter() - t0
    coloured = {name: colour_by_lightness(table, photos) for name, photos in test.items()}
    return {"grey": grey, "lightness": Baseline(score_sets(coloured, test), round(seconds, 2))}


def old_photos(net, size: int, outdir: Path, full: bool = True) -> dict[str, np.ndarray]:
    """The old black-and-white photos of the data mirror coloured at full resolution, each written
    to ``outdir/old_photos/<name>_colorized.jpg``; returns them shrunk to about GALLERY_SIDE for a
    figure. Not `full` (a quick run): only shrunk, and no files."""
    from PIL import Image

    from dlabs.data.catalog import BW_SAMPLES
    from dlabs.data.images import load_rgb
    from dlabs.data.store import fetch
    from dlabs.models.colorizer import colour_photo
    from dlabs.paths import atomic_write

    small = {}
    for name in sorted(BW_SAMPLES, key=str.lower):
        rgb = load_rgb(fetch("colorize", f"bw_samples/{name}"))
        step = max(1, max(rgb.shape[:2]) // GALLERY_SIDE)
        if not full:
            small[name] = colour_photo(net, rgb[::step, ::step], size)
            continue
        rgb = colour_photo(net, rgb, size)
        buf = BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=92)
        atomic_write(outdir / "old_photos" / f"{Path(name).stem}_colorized.jpg", buf.getvalue())
        small[name] = rgb[::step, ::step]
    return small


def heldout_rows(test: dict[str, np.ndarray], coloured: dict) -> tuple[list, list]:
    """(original, coloured) pairs for the report: GALLERY of each set but the scenes, and
    SCENE_GALLERY of each scene class."""
    from dlabs.data.colorize_sets import load_split, scene_class

    def pair(name, i):
        return test[name][i], coloured[name][i].permute(1, 2, 0).numpy()

    sets = [pair(name, i) for name in test if name != "scenes" for i in range(min(GALLERY, len(test[name])))]
    scenes = []
    if "scenes" in test:
        classes = [scene_class(n) for n in load_split()["scenes"]["test"][:len(test["scenes"])]]
        for c in sorted(set(classes)):
            scenes += [pair("scenes", i) for i in [j for j, k in enumerate(classes) if k == c][:SCENE_GALLERY]]
    return sets, scenes
