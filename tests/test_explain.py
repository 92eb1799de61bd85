"""`--explain`: a saliency map over each photo, a PNG of the photo's own size, for mnist, fashion
and agegender, on the command line (written into --out) and through the API; nothing for a plain
predict, and a clear error for a bad value or a lab that takes no such option."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from dlabs import api
from dlabs.cli import app
from dlabs.errors import InputError

from serving import servable_labs, smoke_runs

pytest.importorskip("captum", reason="captum not installed (pip install 'dlabs[explain]')")
LABS = [lab for lab in ("mnist", "fashion", "agegender") if lab in servable_labs()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return smoke_runs(tmp_path_factory)


def photo(lab: str, runs) -> bytes:
    """A photo as a person would give one, at a size other than the network's input."""
    if lab == "agegender":  # its own example: a training face on a canvas twice its size
        form = api.load(api.latest_run(lab, runs)).lab.form(api.load(api.latest_run(lab, runs)).state)
        return base64.b64decode(form["example"].split(",", 1)[1])
    im = Image.new("RGB", (240, 180) if lab == "mnist" else (150, 170), (235, 230, 220))
    draw = ImageDraw.Draw(im)
    if lab == "mnist":  # a 7 in dark ink, off centre
        draw.line([(60, 30), (140, 30), (90, 150)], fill=(20, 20, 40), width=12)
    else:  # a T-shirt
        draw.polygon([(45, 20), (105, 20), (140, 60), (115, 75), (110, 150), (40, 150), (35, 75), (10, 60)],
                     fill=(40, 60, 120))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("lab", LABS)
def test_the_cli_writes_a_map_of_the_photo_size(lab, runs, tmp_path):
    path = tmp_path / "my photo.png"
    path.write_bytes(photo(lab, runs))
    out = CliRunner().invoke(app, ["predict", lab, str(path), "--explain", "--runs", str(runs), "--out",
                                   str(tmp_path / "out"), "--json"])
    assert out.exit_code == 0, out.output
    (pred,) = json.loads(out.stdout)
    keys = ["saliency_gender", "saliency_age"] if lab == "agegender" else ["saliency"]
    for key in keys:
        with Image.open(pred[key]) as im:
            assert pred[key].startswith(str(tmp_path / "out")) and im.size == Image.open(path).size
            pixels = np.asarray(im.convert("RGB"), dtype=float)
            assert pixels.std() > 5  # a map, not a blank picture
    text = CliRunner().invoke(app, ["predict", lab, str(path), "--explain", "--runs", str(runs), "--out",
                                    str(tmp_path / "out")]).stdout
    assert "saliency map" in text and str(tmp_path / "out") in text


def test_a_map_follows_the_evidence(runs):
    """On the 7, the map lights up the ink and leaves the empty paper grey."""
    if "mnist" not in LABS:
        pytest.skip("no MNIST data")
    (pred,) = api.predict("mnist", [photo("mnist", runs)], runs=runs, options={"explain": "true"})
    rgb = np.asarray(Image.open(io.BytesIO(pred["saliency"].data)).convert("RGB"), dtype=float)
    warmth = rgb[..., 0] - rgb[..., 2]  # the map's colours are warm; the dimmed photo under it is grey
    ink = np.zeros(warmth.shape, dtype=bool)
    ink[24:37, 55:145] = True  # the 7's top bar
    assert warmth[ink].mean() > warmth[~ink].mean() + 10 and abs(warmth[:20, :40]).max() < 3


def test_no_map_unless_asked_and_clear_errors(runs):
    if "mnist" not in LABS:
        pytest.skip("no MNIST data")
    image = photo("mnist", runs)
    (plain,) = api.predict("mnist", [image], runs=runs)
    assert not any(k.startswith("saliency") for k in plain)
    (off,) = api.predict("mnist", [image], runs=runs, options={"explain": "False"})  # the web form's default
    assert "saliency" not in off
    with pytest.raises(InputError, match="expected true or false"):
        api.predict("mnist", [image], runs=runs, options={"explain": "maybe"})
    if "letters" in servable_labs():
        with pytest.raises(InputError, match="unknown option --explain"):
            api.predict("letters", ['{"x-box": 1}'], runs=runs, options={"explain": "true"})
