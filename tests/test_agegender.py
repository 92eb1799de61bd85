"""The agegender lab: UTKFace file names, the committed split, the two-head loss, predict and the web app."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dlabs import api
from dlabs.errors import DlabsError, InputError
from dlabs.data.images import channel_stats
from dlabs.data.utkface import AGE_BANDS, SPLIT_FILE, band_of, load_faces, make_split, parse_name, split_text
from dlabs.models.agegender import TwoHeadLoss, decode

from conftest import needs_data

pytestmark = needs_data("utkface")


def test_parse_name_reads_labels_caps_age_and_rejects_malformed_names():
    assert parse_name("UTKFace/26_1_2_20170116174525125.jpg.chip.jpg") == (26, 1, 2)
    assert parse_name("116_0_0_20170120134921760.jpg.chip.jpg") == (100, 0, 0)  # capped as in the manual
    # the date part is not a label: a missing dot there keeps the face
    assert parse_name("55_0_0_20170116232725357jpg.chip.jpg") == (55, 0, 0)
    for bad in ("39_1_20170116174525125.jpg.chip.jpg", "61_1_20170109142408075.jpg.chip.jpg",  # no race field
                "26_2_0_2017.jpg", "26_1_5_2017.jpg", "x_1_0_2017.jpg", "", "26_1_0.jpg", "1234_0_0_2017.jpg"):
        assert parse_name(bad) is None, bad


@pytest.fixture(scope="module")
def utk():
    return load_faces(32)


def test_malformed_names_are_skipped_and_counted(utk):
    assert len(utk["skipped"]) == 3 and len(utk["stems"]) == 23_705
    assert utk["age"].max() == 100 and utk["x"].shape == (23_705, 32, 32, 3)


def test_split_file_is_what_make_split_gives_and_is_stratified(utk):
    split = make_split(utk["stems"], utk["age"], utk["gender"], seed=0)
    assert split_text(split) == SPLIT_FILE.read_text()  # regenerating gives the committed file, byte for byte
    where = {s: i for i, s in enumerate(utk["stems"])}
    val, test = (np.array([where[s] for s in split[k]]) for k in ("val", "test"))
    assert not set(val) & set(test) and split["counts"] == {"train": 18_967, "val": 2_369, "test": 2_369}
    strata = utk["gender"] * len(AGE_BANDS) + band_of(utk["age"])
    for s in np.unique(strata):
        n = (strata == s).sum()
        for part in (val, test):  # every gender x age band holds its tenth, to rounding
            assert abs((strata[part] == s).sum() - 0.1 * n) <= 1
    assert make_split(utk["stems"], utk["age"], utk["gender"], seed=1)["test"] != split["test"]


def test_two_head_loss_adds_gender_and_age_terms():
    target = torch.tensor([[1.0, 30.0]])
    bce = float(np.log(2))
    assert TwoHeadLoss("mse", 1.0, 3.0)(torch.tensor([[0.0, 30.0]]), target).item() == pytest.approx(bce)
    # 20 years off is one unit of AGE_SCALE: MSE 1, weighted 2
    assert TwoHeadLoss("mse", 2.0, 3.0)(torch.tensor([[0.0, 50.0]]), target).item() == pytest.approx(bce + 2)
    assert TwoHeadLoss("l1", 1.0, 3.0)(torch.tensor([[0.0, 20.0]]), target).item() == pytest.approx(bce + 0.5)
    dldl = TwoHeadLoss("dldl", 1.0, 3.0)
    ages = torch.arange(101.0)
    near, far = (torch.cat([torch.zeros(1), -0.5 * (ages - a) ** 2 / 9])[None] for a in (30.0, 60.0))
    assert dldl(near, target) < dldl(far, target)
    assert decode(near)[1].item() == pytest.approx(30.0, abs=0.1)
    out = torch.zeros(4, 102, requires_grad=True)
    dldl(out, torch.tensor([[0, 5.0], [1, 40.0], [0, 90.0], [1, 100.0]])).backward()
    assert out.grad[:, 0].abs().sum() > 0 and out.grad[:, 1:].abs().sum() > 0  # both heads learn
    with pytest.raises(DlabsError, match="age_loss=huber"):
        TwoHeadLoss("huber", 1.0, 3.0)


def test_channel_stats_are_exact_on_many_pixels():
    x = np.zeros((5000, 64, 64, 3), dtype=np.uint8)  # 61 million values: float32 sums stall at 2**24
    x[..., 0], x[..., 1], x[:2500, :, :, 2] = 255, 51, 255
    mean, std = channel_stats(x)
    assert mean == pytest.approx([1.0, 0.2, 0.5]) and std == pytest.approx([0.0, 0.0, 0.5])


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    return api.train("agegender", "smoke", runs=tmp_path_factory.mktemp("runs"), progress=False)


def _png(path, rgb):
    from PIL import Image

    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path)
    return str(path)


def test_predict_a_face_gives_gender_and_an_age_range(smoke_run, tmp_path):
    state = api.load(smoke_run).state
    assert set(state["framing"]) == {"dx", "dy", "scale"} and len(state["age_interval"]["low"]) == len(AGE_BANDS) - 1
    photo = _png(tmp_path / "face.png", state["example"])
    (p,) = api.predict("agegender", [photo], run=smoke_run)
    assert p["gender"] in ("male", "female") and 0.5 <= p["probability"] <= 1
    assert p["age_range"][0] <= p["age"] <= p["age_range"][1]
    assert "age" in api._lab("agegender").format([p])
    (q,) = api.predict("agegender", [open(photo, "rb").read()], run=smoke_run)  # the bytes of the same photo
    assert (q["gender"], q["age"], q["age_range"]) == (p["gender"], p["age"], p["age_range"])


def test_predict_bad_inputs_are_one_line_errors(smoke_run, tmp_path):
    example = np.asarray(smoke_run.load_state()["example"])
    big = example.repeat(3, 0).repeat(3, 1)  # the smoke preset's faces are 32 pixels: too small to see two
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    cases = {"not an image": str(text),
             "no face": _png(tmp_path / "grey.png", np.full((200, 200, 3), 128)),
             "too small": _png(tmp_path / "tiny.png", example[::8, ::8]),
             "faces found": _png(tmp_path / "two.png", np.concatenate([big, big], 1)),
             "no such file": str(tmp_path / "missing.jpg")}
    for message, path in cases.items():
        with pytest.raises(InputError, match=message):
            api.predict("agegender", [path], run=smoke_run)
    with pytest.raises(InputError, match="no input"):
        api.predict("agegender", [], run=smoke_run)
    with pytest.raises(InputError, match="unknown option --days"):
        api.predict("agegender", [cases["no face"]], run=smoke_run, options={"days": "3"})


def test_cli_predict_bad_photo_exits_2(smoke_run, tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "x.png"
    bad.write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "dlabs", "predict", "agegender", str(bad), "--run", str(smoke_run.path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "empty file" in proc.stderr and "Traceback" not in proc.stderr


def test_web_app_predicts_from_an_uploaded_photo(smoke_run, tmp_path):
    from fastapi.testclient import TestClient

    from dlabs.serve import create_app
    from dlabs.serve.samples import good_request

    with TestClient(create_app(smoke_run.path.parent.parent)) as client:
        form = client.get("/api/labs/agegender").json()["form"]
        r = client.post("/api/agegender/predict", **good_request(form))
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["gender"] in ("male", "female")
        grey = open(_png(tmp_path / "grey.png", np.full((120, 120, 3), 90)), "rb").read()
        r = client.post("/api/agegender/predict", files={"file": ("grey.png", grey, "image/png")})
        assert r.status_code == 422 and "no face" in r.json()["detail"]


def test_evaluate_reports_fairness_and_age_bands(smoke_run):
    m = api.evaluate(smoke_run, protocols=False)
    assert {"gender_accuracy", "age_mae", "age_within_5"} <= set(m["model"])
    assert set(m["baselines"]) == {"majority_median"}
    assert len(m["info"]["fairness_test"]) == 10 and sum(g["n"] for g in m["info"]["fairness_test"].values()) == 2_369
    saved = json.loads((smoke_run.path / "metrics.json").read_text())
    assert saved["info"]["fairness_test"] == m["info"]["fairness_test"] and not (smoke_run.path / "fairness.json").exists()
    assert len(saved["info"]["age_mae_by_band_test"]) == len(AGE_BANDS) - 1
    for name in ("gallery", "fairness", "age_error_by_band", "age_scatter"):
        assert (smoke_run.path / "plots" / f"{name}.png").is_file()
