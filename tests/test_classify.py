"""Deep tests of the classification labs: the idx reader on broken files, the letters header trap,
image input for predict (inverted, colour, tiny, huge, not an image), augmentation, and a tiny
trained model that beats chance and predicts on image files and on letter features."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from dlabs import api
from dlabs.data import idx, images
from dlabs.data.augment import AugmentConfig, ImageAugment
from dlabs.errors import DataError, DlabsError, InputError

from conftest import MIRROR, needs_data


def _idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


# the idx reader ---------------------------------------------------------------------------------
def test_idx_reads_plain_and_gzipped(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(arr))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
    assert np.array_equal(idx.read_idx(tmp_path / "a.idx"), arr)
    assert np.array_equal(idx.read_idx(tmp_path / "a.idx.gz"), arr)


@pytest.mark.parametrize("mangle, message", [
    (lambda b: gzip.compress(b)[:-30], "corrupt or truncated gzip"),
    (lambda b: b[:-5], "holds 19 bytes"),
    (lambda b: b + b"\0", "holds 25 bytes"),
    (lambda b: b"\x08\x03" + b[2:], "bad magic"),
    (lambda b: b"", "bad magic"),
    (lambda b: b[:9], "truncated idx header"),
])
def test_idx_broken_files_give_one_line_data_errors(tmp_path, mangle, message):
    path = tmp_path / "broken.gz"
    path.write_bytes(mangle(_idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))))
    with pytest.raises(DataError, match=message) as e:
        idx.read_idx(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


@needs_data("mnist")
def test_mnist_official_split_shapes():
    x_tr, y_tr, x_te, y_te = idx.load_images("mnist")
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28) and x_tr.dtype == np.uint8
    assert y_tr.shape == (60000,) and set(np.unique(y_te)) == set(range(10))


# the letters header trap --------------------------------------------------------------------------
@needs_data("letter")
def test_letters_has_no_header_and_keeps_all_20000_rows(tmp_path):
    import pandas as pd

    from dlabs.labs.letters import load_letters

    path = MIRROR / "letter" / "letter-recognition.data"
    assert len(pd.read_csv(path)) == 19999  # the trap: a default header eats the first sample
    x, y = load_letters(path)
    assert x.shape == (20000, 16) and chr(ord("A") + y[0]) == "T" and list(x[0, :3]) == [2, 8, 3]
    with_header = tmp_path / "letters.data"
    with_header.write_text("lettr," + ",".join(f"f{i}" for i in range(16)) + "\n" + path.read_text())
    with pytest.raises(DataError, match="line 1"):
        load_letters(with_header)


# image input ------------------------------------------------------------------------------------
def _digit_one(size=200, ink=0, paper=255) -> np.ndarray:
    a = np.full((size, size), paper, dtype=np.uint8)
    half = max(1, size // 20)
    a[size // 5: 4 * size // 5, size // 2 - half: size // 2 + half] = ink  # a thick vertical bar
    return a


def test_dark_on_light_and_light_on_dark_give_the_same_mnist_input(tmp_path):
    Image.fromarray(_digit_one(ink=0, paper=255)).save(tmp_path / "pen.png")
    Image.fromarray(_digit_one(ink=255, paper=0)).save(tmp_path / "chalk.png")
    pen, chalk = (images.mnist_digit(images.load_grey(tmp_path / f)) for f in ("pen.png", "chalk.png"))
    assert pen.shape == (28, 28) and pen.dtype == np.uint8
    assert np.abs(pen.astype(int) - chalk.astype(int)).max() <= 1
    assert pen[0].max() == 0 and pen[14, 14] > 200  # light digit on a black background
    rows = np.nonzero(pen.any(1))[0]
    assert rows[-1] - rows[0] + 1 <= 20  # fitted in the 20x20 box
    ys, xs = np.indices(pen.shape)
    m = pen.astype(float)
    assert abs((ys * m).sum() / m.sum() - 13.5) < 1 and abs((xs * m).sum() / m.sum() - 13.5) < 1


def test_colour_jpeg_transparent_png_and_tiny_images(tmp_path):
    rgb = np.stack([_digit_one(ink=30, paper=250)] * 3, -1)
    rgb[..., 2] = 200  # a bluish sheet of paper
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=80)
    rgba = np.zeros((60, 60, 4), dtype=np.uint8)
    rgba[10:50, 27:33] = (0, 0, 0, 255)  # black ink on a transparent canvas
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    Image.fromarray(_digit_one(size=6)).save(tmp_path / "tiny.png")
    for name in ("photo.jpg", "clear.png", "tiny.png"):
        out = images.mnist_digit(images.load_grey(tmp_path / name))
        assert out.shape == (28, 28) and out[14, 14] > 100 and out[0].max() == 0, name
    item = images.fashion_item(images.load_grey(tmp_path / "photo.jpg"))
    assert item.shape == (28, 28) and item[14, 14] > 100 and item[:, 0].max() == 0  # longest side 28, centred


def test_bad_image_files_give_input_errors(tmp_path, monkeypatch):
    (tmp_path / "notes.png").write_text("this is not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.fromarray(np.full((10, 10), 255, dtype=np.uint8)).save(tmp_path / "blank.png")
    Image.fromarray(_digit_one(size=100)).save(tmp_path / "big.png")
    png = (tmp_path / "big.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    cases = {"notes.png": "not an image", "empty.png": "empty file", "missing.png": "no such file",
             "cut.png": "unreadable image|not an image"}
    for name, message in cases.items():
        with pytest.raises(InputError, match=message):
            images.load_grey(tmp_path / name)
    with pytest.raises(InputError, match="blank"):
        images.mnist_digit(images.load_grey(tmp_path / "blank.png"))
    monkeypatch.setattr(images, "MAX_PIXELS", 5000)  # 100x100 is 'enormous' under this limit
    with pytest.raises(InputError, match="too large"):
        images.load_grey(tmp_path / "big.png")


# augmentation and models --------------------------------------------------------------------------
def test_augment_shifts_flips_and_erases_whole_batches():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    x[:, :, 10:18, 12:16] = 200
    aug = ImageAugment(AugmentConfig(shift=2, flip=True, erase=4))
    out, y = aug((x, torch.arange(64)))
    assert out.shape == x.shape and out.dtype == torch.uint8 and torch.equal(y, torch.arange(64))
    assert (out.float().sum((1, 2, 3)) <= x.float().sum((1, 2, 3))).all()  # nothing added, content moved or cut
    assert not torch.equal(out, x)
    assert not ImageAugment(AugmentConfig())


def test_augment_rotates_and_zooms_about_the_centre():
    x = torch.zeros(32, 3, 21, 21, dtype=torch.uint8)
    x[:, :, 10, 2:19] = 200  # a horizontal bar through the centre
    still, = ImageAugment(AugmentConfig(rotate=1e-9))((x,))
    assert still.dtype == torch.float32 and torch.allclose(still, x.float(), atol=1e-3)
    torch.manual_seed(0)
    turned, = ImageAugment(AugmentConfig(rotate=60, scale=0.2))((x,))
    assert turned[:, :, 10, 10].min() > 100  # the centre stays put
    assert turned[:, :, 10, 2:19].mean() < 150  # the bar's ends left the row
    assert (turned[:, :, :10].sum((1, 2, 3)) > 0).float().mean() > 0.8  # and one of them went above it


def test_test_time_shifts_move_the_image_and_fill_with_background():
    from dlabs.data.augment import shifted

    x = torch.arange(1, 17, dtype=torch.uint8).reshape(1, 1, 4, 4)
    down, left = shifted(x, 1, 0)[0, 0], shifted(x, 0, -1)[0, 0]
    assert torch.equal(down[1:], x[0, 0, :3]) and not down[0].any()
    assert torch.equal(left[:, :3], x[0, 0, :, 1:]) and not left[:, 3].any()
    assert torch.equal(shifted(x, 0, 0), x)


def test_cnns_take_uint8_images():
    from dlabs.models.cnn import ConvNet, ManualCNN, channels_last

    x = torch.randint(0, 255, (4, 1, 28, 28), dtype=torch.uint8)
    assert channels_last(ManualCNN(0.3, 0.3))(x).shape == (4, 10)
    assert channels_last(ConvNet(0.3, 0.3, (8, 16, 32), (1, 2, 2), 26))(x).shape == (4, 26)
    fashion = api._lab("fashion")
    with pytest.raises(DlabsError, match=r"model.depths=\(2, 2\): give one conv count per stage"):
        fashion.build_model(fashion.config("best", ["model.depths=2,2"]), {"pixel_mean": 0.3, "pixel_std": 0.3})


# a tiny trained model, end to end -------------------------------------------------------------------
@needs_data("mnist")
def test_mnist_smoke_model_beats_chance_and_predicts_on_image_files(tmp_path):
    run = api.train("mnist", "smoke", device="cpu", progress=False)
    m = api.evaluate(run, protocols=False)
    assert m["model"]["accuracy"] > 0.7 and m["baselines"]["logistic_regression"]["metrics"]["accuracy"] > 0.8
    _, _, x_te, y_te = idx.load_images("mnist")
    paths = []
    for i in range(10):  # test digits as a person might hand them in: dark on light, 5x larger
        img = Image.fromarray(255 - x_te[i]).resize((140, 140), Image.Resampling.BILINEAR)
        paths.append(str(tmp_path / f"digit{i}.png"))
        img.save(paths[-1])
    preds = api.predict("mnist", paths, run=run)
    assert [p["input"] for p in preds] == paths
    assert all(len(p["top"]) == 3 and sum(t["probability"] for t in p["top"]) <= 1.0001 for p in preds)
    right = sum(p["top"][0]["label"] == str(y) for p, y in zip(preds, y_te[:10]))
    assert right >= 7
    with pytest.raises(InputError, match="not an image"):
        (tmp_path / "x.txt").write_text("hello")
        api.predict("mnist", [str(tmp_path / "x.txt")], run=run)


@needs_data("letter")
def test_letters_predict_takes_the_16_features():
    run = api.train("letters", "smoke", device="cpu", progress=False)
    row = dict(zip(("x-box", "y-box", "width", "high", "onpix", "x-bar", "y-bar", "x2bar", "y2bar", "xybar",
                    "x2ybr", "xy2br", "x-ege", "xegvy", "y-ege", "yegvx"),
                   [2, 8, 3, 5, 1, 8, 13, 0, 6, 6, 10, 8, 0, 8, 0, 8]))
    (pred,) = api.predict("letters", [], run=run, options={k: str(v) for k, v in row.items()})
    assert pred["input"] == "row 1" and len(pred["top"]) == 3 and pred["top"][0]["label"] in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    with pytest.raises(InputError, match="integers 0 to 15"):
        api.predict("letters", [], run=run, options={**{k: str(v) for k, v in row.items()}, "onpix": "99"})
    with pytest.raises(InputError, match="missing feature"):
        api.predict("letters", [], run=run, options={"x-box": "2"})


@needs_data("letter")
def test_a_best_run_shows_the_manual_preset_beside_it_trained_once(tmp_path, monkeypatch):
    from dlabs.labs.letters import SMOKE, Letters

    for preset in ("best", "manual"):  # real training, kept quick: both presets run the smoke config
        monkeypatch.setitem(Letters.presets, preset, SMOKE)
    run = api.train("letters", "best", device="cpu", runs=tmp_path, progress=False)
    m = api.evaluate(run, protocols=False)
    manual = m["baselines"]["manual"]
    assert 1 / 26 < manual["metrics"]["accuracy"] <= 1 and manual["train_seconds"] > 0
    assert (tmp_path / "letters" / manual["run"] / "metrics.json").is_file()
    assert any(v.startswith("the model ") and " manual " in v for v in m["verdict"])
    assert api.evaluate(run, protocols=False)["baselines"]["manual"]["run"] == manual["run"]  # reused, not retrained
    # a manual run saved before an option was added (its default then) is still the manual preset's
    meta_path = tmp_path / "letters" / manual["run"] / "config.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["train"]["grad_clip"]
    meta_path.write_text(json.dumps(meta))
    assert api.evaluate(run, protocols=False)["baselines"]["manual"]["run"] == manual["run"]
    assert len(list((tmp_path / "letters").iterdir())) == 2
