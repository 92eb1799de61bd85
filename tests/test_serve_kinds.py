"""The web app with every input kind, before any real lab of that kind exists.

Three stub labs (text, image, csv) are put in the registry for this module only, each with a
hand-made run folder (a one-weight model), so the app's form building, upload handling, limits
and image artifacts are tested for every kind the Lab interface declares. The real labs are
tested the same way in `test_serve.py`, parametrised over the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from dlabs import config as config_  # noqa: E402
from dlabs.engine.runfolder import Run  # noqa: E402
from dlabs.errors import InputError  # noqa: E402
from dlabs.labs import Lab, labs  # noqa: E402
from dlabs.serve import create_app  # noqa: E402
from dlabs.serve.samples import bad_requests, good_request  # noqa: E402


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

    def predict(self, model, state, cfg, inputs, fields):
        p = min(1.0, len(inputs[0]) / 100)
        return [{"label": "positive" if p >= float(fields.get("threshold", 0.5)) else "negative",
                 "probability_positive": p, "evidence": [{"word": w, "weight": 0.1} for w in inputs[0].split()[:3]]}]


class StubImage(Stub):
    name, title, input_kind = "stubimage", "stub image lab", "image"

    def predict(self, model, state, cfg, inputs, fields):
        import numpy as np
        from PIL import Image

        with Image.open(inputs[0]) as im:
            bright = float(np.asarray(im.convert("L")).mean()) / 255
        return [{"label": "bright" if bright > 0.5 else "dark",
                 "top": [{"label": "dark", "probability": 1 - bright}, {"label": "bright", "probability": bright}]}]


class StubCsv(Stub):
    name, title, input_kind = "stubcsv", "stub csv lab", "csv"

    def form(self, state):
        return {"options": [{"name": "days", "type": "integer", "default": 3, "help": "days ahead"}]}

    def predict(self, model, state, cfg, inputs, fields):
        import pandas as pd

        from dlabs.serve.samples import digit_png

        frame = pd.read_csv(inputs[0])
        if "Open" not in frame:
            raise InputError(f"{Path(inputs[0]).name}: no 'Open' column")
        days = int(fields.get("days", 1))
        plot = Path(inputs[0]).with_name("forecast.png")  # beside the upload, as a lab might
        plot.write_bytes(digit_png(56))
        return [{"days": days, "forecast": [float(frame["Open"].iloc[-1])] * days, "plot": str(plot)}]


STUBS = [StubText(), StubImage(), StubCsv()]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import dlabs.labs as registry

    root = tmp_path_factory.mktemp("stub-runs")
    labs()  # discover the real labs first
    with pytest.MonkeyPatch.context() as mp:
        for stub in STUBS:
            mp.setitem(registry._LABS, stub.name, stub)
            run = Run.create(stub.name, "smoke", root)
            run.write_json("config.json", {"lab": stub.name, "preset": "smoke", "seed": 0, "overrides": [],
                                           "config": config_.to_dict(StubConfig())})
            run.write_json("env.json", {"device": "cpu", "train_seconds": 0.0})
            run.save_state({"classes": ["a", "b"]})
            run.save_weights(stub.build_model(None, {}))
        with TestClient(create_app(root)) as c:
            yield c


def _form(client, name):
    return client.get(f"/api/labs/{name}").json()["form"]


@pytest.mark.parametrize("name", [s.name for s in STUBS])
def test_form_follows_the_input_kind_and_the_lab_hook(client, name):
    form = _form(client, name)
    assert form["kind"] == name.removeprefix("stub")
    if name == "stubcsv":
        assert form["options"][0]["name"] == "days"
    spec = client.get("/openapi.json").json()["paths"][f"/api/{name}/predict"]["post"]["requestBody"]["content"]
    assert ("multipart/form-data" in spec) and (("application/json" in spec) == (name == "stubtext"))


@pytest.mark.parametrize("name", [s.name for s in STUBS])
def test_good_input(client, name):
    r = client.post(f"/api/{name}/predict", **good_request(_form(client, name)))
    assert r.status_code == 200, r.text
    assert r.json()["predictions"]


@pytest.mark.parametrize(("name", "case"), [(s.name, i) for s in STUBS
                                            for i in range(len(bad_requests({"kind": s.input_kind})))])
def test_bad_input(client, name, case):
    what, request, status = bad_requests(_form(client, name))[case]
    r = client.post(f"/api/{name}/predict", **request)
    assert r.status_code == status, (what, r.text)
    assert r.json()["detail"] and "Traceback" not in r.json()["detail"]


def test_options_reach_predict_and_plots_come_back_as_images(client):
    req = good_request(_form(client, "stubcsv"))
    req["data"] = {"days": "5"}
    p = client.post("/api/stubcsv/predict", **req).json()["predictions"][0]
    assert p["days"] == 5 and len(p["forecast"]) == 5
    assert p["plot"].startswith("/api/artifacts/") and not p["plot"].startswith("/tmp")
    img = client.get(p["plot"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    t = client.post("/api/stubtext/predict", json={"text": "x" * 80, "threshold": 0.9}).json()["predictions"][0]
    assert t["label"] == "negative"


def test_image_upload_is_read_as_an_image(client):
    from dlabs.serve.samples import digit_png

    r = client.post("/api/stubimage/predict", files={"file": ("d.jpg.exe", digit_png(), "application/octet-stream")})
    assert r.status_code == 200 and r.json()["predictions"][0]["label"] == "dark"
