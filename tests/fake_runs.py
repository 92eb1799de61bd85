"""Run folders made in a second, without training: a lab's `smoke` config, a preprocessing state
made here, and its network as built (seeded, untrained). For tests of what surrounds a model
(input checks, limits, faults), where what the model has learnt does not matter.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from conftest import MIRROR

from dlabs import config as config_
from dlabs.engine.runfolder import Run
from dlabs.labs import get_lab

BW = MIRROR / "colorize" / "bw_samples"


def fake_run(lab: str, state: dict, runs: Path, preset: str = "smoke") -> Run:
    import torch

    lab_ = get_lab(lab)
    cfg = lab_.config(preset)
    run = Run.create(lab, preset, runs)
    run.write_json("config.json", {"lab": lab, "preset": preset, "seed": 0, "overrides": [],
                                   "config": config_.to_dict(cfg)})
    run.write_json("env.json", {"seed": 0, "train_seconds": 0.0, "epochs_run": 0})
    run.save_state(state)
    torch.manual_seed(0)
    run.save_weights(lab_.build_model(cfg, state))
    return run


def imdb_run(runs: Path) -> Run:
    from dlabs.data import text

    docs = [text.tokenize(t) for t in ("a good film", "a bad film", "good acting and a good story",
                                       "bad acting, a bad story", "i loved it", "i hated it")]
    vocab = text.NgramVocabulary.fit(docs, 2)
    scale = np.linspace(-1, 1, len(vocab)).astype(np.float32)
    return fake_run("imdb", {**vocab.state(), "labels": ["negative", "positive"], "scale": scale}, runs)


def letters_run(runs: Path) -> Run:
    from dlabs.data import tabular
    from dlabs.labs.letters import FEATURES

    x = np.random.default_rng(0).integers(0, 16, (200, len(FEATURES))).astype(np.float32)
    return fake_run("letters", {"features": list(FEATURES), **tabular.Scaler.fit(x).state("x")}, runs)


def price_frame(days: int = 80, end: str = "2016-12-30", level: float = 800.0):
    """Daily prices on the exchange's trading days up to `end`."""
    import datetime as dt

    import pandas as pd

    from dlabs.data import trading_days

    day, dates = dt.date.fromisoformat(end), []
    while len(dates) < days:
        if trading_days.is_trading_day(day):
            dates.append(day)
        day -= dt.timedelta(days=1)
    rng = np.random.default_rng(0)
    close = level * np.exp(np.cumsum(rng.normal(0, 0.01, days)))
    open_ = close * (1 + rng.normal(0, 0.003, days))
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.005,
                         "low": np.minimum(open_, close) * 0.995, "close": close,
                         "volume": rng.integers(1e6, 3e6, days).astype(float)},
                        index=pd.DatetimeIndex(sorted(dates), name="date"))


def prices_csv(frame) -> bytes:
    lines = ["Date,Open,High,Low,Close,Volume"] + [
        f"{d.date()},{float(r.open)!r},{float(r.high)!r},{float(r.low)!r},{float(r.close)!r},{int(r.volume)}"
        for d, r in frame.iterrows()]
    return ("\n".join(lines) + "\n").encode()


def stocks_run(runs: Path) -> Run:
    from dlabs.data import nextday

    frame = price_frame(300)
    return fake_run("stocks", nextday.fit_state(frame, "return", 10, 0, len(frame)), runs)


def colorize_run(runs: Path) -> Run:
    from dlabs.models.colorizer import N_BINS

    return fake_run("colorize", {"size": 32, "bin_weights": [1.0] * N_BINS, "temperature": 0.38}, runs)


def faces_run(runs: Path) -> Run:
    """A faces run whose gallery holds two people (random embeddings of the model's length)."""
    from dlabs.labs import _gallery

    dim = get_lab("faces").config("smoke").model.dim
    state = {"classes": ["a", "b"], "pixel_mean": 0.45, "pixel_std": 0.25, "size": 64,
             "framing": {"dx": 0.0, "dy": 0.05, "scale": 1.6}, "threshold": 1.0, "confidence": [-5.0, 5.0]}
    run = fake_run("faces", state, runs)
    means = np.random.default_rng(0).normal(size=(2, dim))
    _gallery.write_gallery(run.path, _gallery.of_means(["Ada", "Bob"], means / np.linalg.norm(means, axis=1)[:, None],
                                                       [1, 1], "test"))
    return run


def png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()
