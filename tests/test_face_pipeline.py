"""The shared face pipeline (dlabs.data.faces) and the photo-archive reader, on real photos."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from conftest import MIRROR, needs_data
from dlabs.data import faces, images
from dlabs.errors import DataError, InputError

BW = MIRROR / "colorize" / "bw_samples"
pytestmark = needs_data("colorize")


def test_one_face_is_found_and_cropped_to_the_framing():
    rgb = images.load_rgb(BW / "abe.jpg")
    boxes = faces.detect(rgb)
    assert len(boxes) == 1
    out = faces.crop_face(rgb, faces.Framing(scale=1.5), 64, "abe.jpg")
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8


def test_no_face_and_several_faces_are_clear_errors():
    with pytest.raises(InputError, match="no face found"):
        faces.crop_face(images.load_rgb(BW / "1890CliffHouseSF.jpg"), faces.Framing(), 64, "street")
    with pytest.raises(InputError, match="2 faces found"):
        faces.crop_face(images.load_rgb(BW / "EasterNyc1911.jpg"), faces.Framing(), 64, "easter")
    with pytest.raises(InputError, match="too small"):
        faces.crop_face(np.zeros((20, 200, 3), np.uint8), faces.Framing(), 64, "tiny")


def test_photos_as_predict_receives_them_are_bytes_with_a_name():
    data = (BW / "abe.jpg").read_bytes()
    x = faces.crop_photos([("abe.jpg", data), BW / "abe.jpg"], faces.Framing(scale=1.5), 32)
    assert x.shape == (2, 32, 32, 3) and np.array_equal(x[0], x[1])
    with pytest.raises(InputError, match="^typed: not an image"):  # text is no photo, and never a path
        faces.crop_photos([("typed", str(BW / "abe.jpg"))], faces.Framing(), 32)


def test_framing_calibrated_on_training_crops_cuts_a_photo_the_same_way():
    # training crops: the portrait, cropped around its face; the "photo": the same crop, enlarged
    # and placed in a wider frame. The pipeline must cut out (nearly) the training crop again.
    rgb = images.load_rgb(BW / "abe.jpg")
    x, y, w, _ = faces.detect(rgb)[0]
    train = np.stack([faces.crop(rgb, (x, y, w, w), faces.Framing(scale=1.4), 96)] * 30)
    framing = faces.Framing.calibrate(train, sample=30)
    big = np.asarray(Image.fromarray(train[0]).resize((192, 192)))
    photo = np.full((400, 500, 3), 120, np.uint8)
    photo[100:292, 150:342] = big
    again = faces.crop_face(photo, framing, 96)
    assert np.abs(again.astype(float) - train[0]).mean() < 20


def test_rgb_loader_handles_grey_16_bit_and_cmyk(tmp_path):
    a = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    Image.fromarray(a).save(tmp_path / "deep.png")  # uint16 grey: a 16-bit PNG
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(tmp_path / "print.jpg")
    deep, cmyk = images.load_rgb(tmp_path / "deep.png"), images.load_rgb(tmp_path / "print.jpg")
    assert deep.shape == (64, 64, 3) and deep.max() == 255 and deep.min() == 0
    assert cmyk.shape == (30, 40, 3) and cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 60  # red
    (tmp_path / "fake.jpg").write_text("not a photo")
    with pytest.raises(InputError, match="not an image"):
        images.load_rgb(tmp_path / "fake.jpg")


def test_photo_archive_reader_sorts_resizes_and_names_a_bad_member(tmp_path):
    def archive(members):
        path = tmp_path / "photos.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    def jpeg(colour):
        buf = io.BytesIO()
        Image.new("RGB", (50, 40), colour).save(buf, "JPEG")
        return buf.getvalue()

    path = archive([("d/b.jpg", jpeg((0, 0, 255))), ("d/a.jpg", jpeg((255, 0, 0))), ("d/README", b"x")])
    names, x = images.read_image_archive(path, 16)
    assert names == ["d/a.jpg", "d/b.jpg"] and x.shape == (2, 16, 16, 3)
    assert x[0, ..., 0].mean() > 200 and x[1, ..., 2].mean() > 200
    path = archive([("d/a.jpg", jpeg((255, 0, 0))), ("d/c.jpg", b"garbage")])
    with pytest.raises(DataError, match="d/c.jpg"):
        images.read_image_archive(path, 16)
