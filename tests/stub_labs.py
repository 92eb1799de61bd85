"""Stub labs of the input kinds no real lab on main has yet (text, image, csv), with run folders.

Each has a one-weight model and a `predict` shaped like the real labs' (labels with ``top``
probabilities, a forecast with a ``plot`` PNG), so the web app's handling of every kind is
tested before a real lab of that kind is merged. `registered` puts them in the registry for
the duration of a ``with`` block only.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from dlabs import config as config_
from dlabs.engine.runfolder import Run
from dlabs.errors import InputError
from dlabs.labs import Lab, Output, labs


@dataclass(frozen=True)
class StubConfig:
    scale: float = 1.0


class Stub(Lab):
    task, headline, protocol, Config = "classification", "accuracy", "stub", StubConfig
    presets = {"manual": StubConfig(), "best": StubConfig(), "smoke": StubConfig()}

    def build_model(self, cfg, state):
        import torch

        return torch.nn.Linear(1, 1)


class StubText(Stub):
    name, title, input_kind = "stubtext", "stub text lab", "text"

    def form(self, state):
        return {"example": "a fine film", "options": [{"name": "threshold", "type": "number", "default": 0.5}]}

    def predict(self, model, request):
        text = request.items[0][1]
        p = min(1.0, len(text) / 100)
        return [{"label": "positive" if p >= float(request.options.get("threshold", 0.5)) else "negative",
                 "probability_positive": p, "evidence": [{"word": w, "weight": 0.1} for w in text.split()[:3]]}]


class StubImage(Stub):
    name, title, input_kind = "stubimage", "stub image lab", "image"

    def form(self, state):
        return {"draw": True}

    def predict(self, model, request):
        import io

        import numpy as np
        from PIL import Image

        name, data = request.items[0]
        with Image.open(io.BytesIO(data)) as im:
            bright = float(np.asarray(im.convert("L")).mean()) / 255
        return [{"input": name, "label": "bright" if bright > 0.5 else "dark",
                 "top": [{"label": "dark", "probability": 1 - bright}, {"label": "bright", "probability": bright}]}]


class StubCsv(Stub):
    name, title, input_kind = "stubcsv", "stub csv lab", "csv"

    def form(self, state):
        return {"options": [{"name": "days", "type": "integer", "default": 3, "help": "days ahead"}]}

    def predict(self, model, request):
        import io

        import pandas as pd

        from dlabs.serve.samples import digit_png

        name, data = request.items[0]
        frame = pd.read_csv(io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data))
        if "Open" not in frame:
            raise InputError(f"{name}: no 'Open' column")
        days = int(request.options.get("days", 1))
        return [{"days": days, "forecast": [float(frame["Open"].iloc[-1])] * days,
                 "plot": Output("forecast.png", digit_png(56))}]


STUBS = [StubText(), StubImage(), StubCsv()]




@contextmanager
def registered(root: Path):
    """The stub labs in the registry, with a run each under `root`; yields {lab: run folder}."""
    import dlabs.labs as registry

    labs()  # discover the real labs first
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        for stub in STUBS:
            mp.setitem(registry._LABS, stub.name, stub)
            run = Run.create(stub.name, "smoke", root)
            run.write_json("config.json", {"lab": stub.name, "preset": "smoke", "seed": 0, "overrides": [],
                                           "config": config_.to_dict(StubConfig())})
            run.write_json("env.json", {"device": "cpu", "train_seconds": 0.0})
            run.save_state({"classes": ["a", "b"]})
            run.save_weights(stub.build_model(None, {}))
            runs[stub.name] = run.path
        yield runs
