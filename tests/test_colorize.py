"""colorize: the Lab conversion, the measures, the fixed split, full-resolution recombination and predict's inputs.

All of it on photos made in the test and on untrained (or stub) networks: no data, seconds each.
"""

from __future__ import annotations

import json
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image

from dlabs import api
from dlabs.data import colour as C
from dlabs.data import images
from dlabs.data.colorize_sets import SPLIT_FILE, held_out, load_split
from dlabs.errors import InputError
from dlabs.labs import Model, Output, Request, get_lab
from dlabs.models.colorizer import (ColorLoss, ManualColorizer, UNet, bin_centres, bin_index, colorize, colour_photo,
                                    rebalance, to_lab)

LAB = get_lab("colorize")
# sha256 of the flowers/LFW/UTKFace parts of splits/colorize.json (sorted-key JSON), as committed before the scenes
OLD_SETS_SHA256 = "314d68204fe4452d1e2099b502cd85104a20c34b459d4678d9fc1ad879face72"


class StubColorizer(torch.nn.Module):
    """ab = a fixed colour everywhere, at the network's size."""

    def ab(self, x):
        return torch.tensor([12.0, 25.0]).view(1, 2, 1, 1).expand(len(x), 2, *x.shape[-2:])


def photo(h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3)) * 200 + 30).astype(np.uint8)


def test_lab_round_trip_and_reference_values():
    rgb = torch.rand(4, 3, 16, 16, dtype=torch.float64)
    assert torch.allclose(C.lab_to_rgb(C.rgb_to_lab(rgb)), rgb, atol=1e-9)
    white, red = C.rgb_to_lab(torch.tensor([[1.0, 1, 1], [1, 0, 0]]).view(2, 3, 1, 1)).flatten(1)
    assert torch.allclose(white, torch.tensor([100.0, 0, 0]), atol=1e-3)
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.05)  # the published D65 value
    cv2 = pytest.importorskip("cv2")
    im = rgb[0].permute(1, 2, 0).float().numpy()
    assert np.abs(cv2.cvtColor(im, cv2.COLOR_RGB2Lab) - C.rgb_to_lab(rgb[:1].float())[0].permute(1, 2, 0).numpy()).max() < 0.5


def test_measures_on_known_cases():
    x = torch.from_numpy(photo()).permute(2, 0, 1)[None]
    assert C.psnr(x, x).item() > 90 and C.ssim(x, x).item() == pytest.approx(1.0)
    noisy = (x.int() + 8).clamp(0, 255).to(torch.uint8)
    assert 25 < C.psnr(x, noisy).item() < 35 and C.ssim(x, noisy).item() < 1
    grey = x[:, :1].expand(1, 3, *x.shape[-2:])
    assert C.colourfulness(grey).item() == 0 and C.colourfulness(x).item() > 10


def test_full_resolution_recombination_keeps_size_and_lightness():
    rgb = photo(41, 67)
    out = colour_photo(StubColorizer(), rgb, 16)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    L_in, L_out = to_lab(rgb)[0, 0], to_lab(out)[0, 0]
    assert (L_in - L_out).abs().mean() < 0.5  # only 8-bit rounding (and rare gamut clipping) moves L
    assert C.colourfulness(torch.from_numpy(out).permute(2, 0, 1)[None]).item() > 5  # and it has colour


def test_grey_and_colour_inputs_give_the_same_output():
    rgb = photo()
    grey = np.repeat(C.to_uint8(C.lab_to_rgb(torch.nn.functional.pad(to_lab(rgb)[:, :1], (0, 0, 0, 0, 0, 2))))[0]
                     .permute(1, 2, 0).numpy()[..., :1], 3, axis=2)
    net = UNet((8, 16), bins=484, out_stride=2).eval()
    a, b = colour_photo(net, rgb, 32), colour_photo(net, grey, 32)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2


@pytest.mark.parametrize("net", [ManualColorizer(), UNet((8, 16, 32)), UNet((8, 16, 32), bins=484, out_stride=4)])
def test_networks_give_ab_at_the_input_size_and_a_finite_loss(net):
    L = torch.rand(2, 1, 32, 32) * 100
    assert net.ab(L).shape == (2, 2, 32, 32)
    target = torch.cat([torch.randn(2, 2, 32, 32) * 30, torch.ones(2, 1, 32, 32)], 1)
    loss = ColorLoss("ce" if getattr(net, "bins", 0) else "mse")(net(L), target)
    assert torch.isfinite(loss) and loss.requires_grad


def test_bins_and_rebalancing():
    centres = bin_centres()
    assert torch.equal(bin_index(centres.T.reshape(1, 2, 22, 22)).flatten(), torch.arange(484))
    ab = torch.cat([torch.zeros(1, 2, 8, 8), torch.full((1, 2, 1, 1), 40.0).expand(1, 2, 8, 1)], 3)
    w = rebalance(ab, 0.5)
    common, rare = w[bin_index(torch.zeros(1, 2, 1, 1))], w[bin_index(torch.full((1, 2, 1, 1), 40.0))]
    assert rare > common and w[w > 0].numel() == 2  # rare colours weigh more; unseen cells get nothing


def test_the_fixed_split_holds_out_people_and_never_overlaps():
    split = load_split()
    assert split == json.loads(SPLIT_FILE.read_text())
    for name in ("flowers", "lfw", "utkface"):
        assert len(split[name]["test"]) >= 300 and len(split[name]["val"]) >= 100
        assert not set(split[name]["test"]) & set(split[name]["val"])
    person = lambda n: n.split("/")[-2]  # noqa: E731
    assert not {person(n) for n in split["lfw"]["test"]} & {person(n) for n in split["lfw"]["val"]}
    names = ["lfw/A/A_1.jpg", "lfw/A/A_2.jpg", "lfw/B/B_1.jpg", "lfw/C/C_1.jpg", "lfw/C/C_2.jpg"]
    held, train = held_out(names, {"test": ["lfw/A/A_1.jpg"], "val": ["lfw/B/B_1.jpg"]}, by_person=True)
    assert held == {"test": [0], "val": [2]} and train.tolist() == [3, 4]  # A's second photo is not trained on
    assert held_out(names, {"test": ["lfw/A/A_1.jpg"], "val": []}, by_person=False)[1].tolist() == [1, 2, 3, 4]


def test_colorize_batches_images_of_any_size():
    L = torch.rand(3, 1, 20, 30) * 100
    out = colorize(UNet((8, 16)).eval(), L, 16, batch=2)
    assert out.shape == (3, 3, 20, 30) and out.dtype == torch.uint8


# predict on what a person may hand in ------------------------------------------------------------

def _predict(items, **options):
    """`Lab.predict` as `api.predict` drives it: options checked first, then the lab on (name, bytes) items."""
    net = UNet((8, 16), bins=484, out_stride=2).eval()
    state, request = {"size": 32}, Request(list(items), options)
    LAB.check_options(state, request.options)
    return LAB.predict(Model(LAB, LAB.config("smoke"), state, net, None), request)


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def test_predict_returns_the_coloured_photo_and_writes_nothing(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    [p] = _predict([("scans/old.png", _png(Image.fromarray(photo(45, 70)[..., 0], mode="L")))])
    out = p["output"]
    assert isinstance(out, Output) and out.name == "old_colorized.png" and out.media_type == "image/png"
    with Image.open(BytesIO(out.data)) as im:
        assert im.size == (70, 45) and im.mode == "RGB"
    assert p["input_was"] == "grey" and p["size"] == [70, 45] and not any(cwd.iterdir())
    # the command line writes it into --out, never over a file there
    first, second = (api.save_outputs([p], tmp_path / "o")[0]["output"] for _ in range(2))
    assert (first, second) == (str(tmp_path / "o" / "old_colorized.png"), str(tmp_path / "o" / "old_colorized-1.png"))
    assert LAB.format([{**p, "output": first}]) == f"scans/old.png (70x45, grey) -> {first}"


def test_predict_handles_colour_cmyk_and_16_bit_inputs():
    out = _predict([("colour.jpg", _png(Image.fromarray(photo()), "JPEG")),
                    ("cmyk.jpg", _png(Image.fromarray(photo()).convert("CMYK"), "JPEG")),
                    ("deep.png", _png(Image.fromarray((np.arange(40 * 30).reshape(30, 40) * 50).astype(np.uint16))))])
    assert [o["size"] for o in out] == [[53, 37], [53, 37], [40, 30]]
    assert out[0]["input_was"].startswith("colour")
    assert all(Image.open(BytesIO(o["output"].data)).mode == "RGB" for o in out)


def test_predict_refuses_bad_inputs_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    for name, data, message in [("empty.png", b"", "empty file"), ("notes.png", b"not an image", "not an image"),
                                ("big.png", _png(Image.fromarray(photo(60, 60))), "too large")]:
        with pytest.raises(InputError, match=f"^{name}: .*{message}") as e:
            _predict([(name, data)])
        assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="no such file"):
        api.read_inputs(LAB.input_kind, [tmp_path / "missing.png"])
    with pytest.raises(InputError, match="unknown option --days"):
        _predict([("big.png", b"")], days="3")
    with pytest.raises(InputError, match="no input"):
        _predict([])


# hue agreement, the lightness baseline and the scene photos ---------------------------------------

def _lab_photo(hues_deg, chroma: float = 30.0, L: float = 60.0, rows: int = 12) -> torch.Tensor:
    """uint8 RGB (1, 3, rows, 2 x len(hues)): two columns per hue, all at lightness L and the given chroma."""
    h = torch.tensor(hues_deg, dtype=torch.float64).deg2rad().repeat_interleave(2)
    ab = torch.stack([chroma * h.cos(), chroma * h.sin()]).view(2, 1, -1).expand(2, rows, len(h))
    lab = torch.cat([torch.full((1, rows, len(h)), L, dtype=torch.float64), ab])[None]
    return C.to_uint8(C.lab_to_rgb(lab))


def test_hue_agreement_on_constructed_photos():
    hues = list(range(0, 360, 30))
    original = _lab_photo(hues)
    assert C.hue_agreement(original, original) == 1.0
    assert C.hue_agreement(_lab_photo([h + 30 for h in hues]), original) == 1.0  # within 45 degrees
    assert C.hue_agreement(_lab_photo([h + 90 for h in hues]), original) == 0.0  # rotated 90 degrees
    assert C.hue_agreement(_lab_photo([h - 90 for h in hues]), original) == 0.0
    assert C.hue_agreement(_lab_photo(hues, chroma=0.0), original) == 0.0  # a grey prediction
    assert C.hue_agreement(_lab_photo(hues, chroma=3.0), original) == 0.0  # the right hue, but too faint to see
    # pixels of the original at chroma <= 15 are not counted: a grey original has nothing to agree with
    hits, chromatic = C.hue_hits(original, _lab_photo(hues, chroma=10.0))
    assert chromatic.sum() == 0 and hits.sum() == 0
    # summarised per set and over all, pooled over pixels
    m = C.summarise({"a": C.scores(original, original), "b": C.scores(_lab_photo([h + 90 for h in hues]), original)})
    assert (m["hue_agreement_a"], m["hue_agreement_b"], m["hue_agreement"]) == (1.0, 0.0, 0.5)


def _solid(lab_colour, n: int = 2, side: int = 12) -> np.ndarray:
    rgb = C.to_uint8(C.lab_to_rgb(torch.tensor(lab_colour, dtype=torch.float64).view(1, 3, 1, 1)))
    return np.ascontiguousarray(rgb.permute(0, 2, 3, 1).numpy().repeat(side, 1).repeat(side, 2).repeat(n, 0))


def test_the_lightness_baseline_is_fitted_on_the_training_photos_only(monkeypatch):
    from dlabs.data import colorize_sets
    from dlabs.labs import _colorize_metrics

    dark_red, light_yellow, dark_blue = _solid([30, 40, 20]), _solid([80, 0, 60]), _solid([30, 0, -45])
    table = C.fit_lightness_table([dark_red, light_yellow])
    assert torch.allclose(table[30], torch.tensor([40.0, 20.0]), atol=2) and torch.allclose(table[80], torch.tensor(
        [0.0, 60.0]), atol=2)
    assert torch.equal(table[0], table[30]) and torch.equal(table[100], table[80])  # unseen: the nearest level's
    # the baselines see the training photos of the run's sets, never their validation photos or the test set
    monkeypatch.setattr(colorize_sets, "training_photos",
                        lambda sets, faces, limit, seed: {"flowers": (np.concatenate([dark_red, light_yellow]), dark_blue)})
    base = _colorize_metrics.baselines(LAB.config("smoke"), 0, {"flowers": dark_blue})
    assert base["grey"].metrics["hue_agreement"] == 0.0 and base["grey"].metrics["colorfulness_ratio"] < 0.01
    assert base["lightness"].metrics["hue_agreement"] == 0.0  # dark pixels coloured red, as in training
    assert _colorize_metrics.baselines(LAB.config("smoke"), 0, {"flowers": dark_red})["lightness"].metrics[
        "hue_agreement"] == 1.0


def _scene_archive(path, classes=("forest", "sea", "street"), per_class: int = 3) -> None:
    import tarfile

    colours = {"forest": (40, 140, 50), "sea": (30, 80, 170), "street": (120, 110, 100)}
    with tarfile.open(path, "w:gz") as tar:
        for c in classes:
            for i in range(per_class):
                data = _png(Image.fromarray(np.full((30, 24, 3), colours[c], np.uint8)), "JPEG")
                info = tarfile.TarInfo(f"scenes/{c}/{100 + i}.jpg")
                info.size = len(data)
                tar.addfile(info, BytesIO(data))
        info = tarfile.TarInfo("scenes/SOURCE.txt")  # not a photo: skipped
        info.size = 2
        tar.addfile(info, BytesIO(b"hi"))


def test_the_scene_reader_reads_the_archive_in_memory_and_holds_out_each_class(tmp_path, monkeypatch):
    from dlabs.data import colorize_sets
    from dlabs.errors import DataError

    path = tmp_path / "data" / "scenes_160.tar.gz"
    path.parent.mkdir()
    _scene_archive(path)
    monkeypatch.setattr(colorize_sets, "fetch", lambda ds, role: path if (ds, role) == (
        "colorize_scenes", "scenes_160.tar.gz") else pytest.fail(f"read {ds}/{role}"))
    names, photos = colorize_sets.archive("scenes")
    assert names == sorted(names) and len(names) == 9 and names[0] == "scenes/forest/100.jpg"
    assert photos.shape == (9, 160, 160, 3) and photos.dtype == np.uint8  # the stored side, 160
    assert photos[0].mean((0, 1)).argmax() == 1 and photos[3].mean((0, 1)).argmax() == 2  # forest green, sea blue
    assert not list(tmp_path.rglob("*.jpg"))  # nothing extracted to disk

    split = colorize_sets.stratified(names, 7, n_test=1, n_val=1)
    assert split == colorize_sets.stratified(names, 7, n_test=1, n_val=1)  # seeded
    for part in ("test", "val"):
        assert sorted(colorize_sets.scene_class(n) for n in split[part]) == ["forest", "sea", "street"]
    assert not set(split["test"]) & set(split["val"])
    monkeypatch.setattr(colorize_sets, "load_split", lambda: {"scenes": split})
    [(train, val)] = colorize_sets.training_photos(("scenes",), faces=0, limit=0, seed=0).values()
    assert len(train) == 3 and len(val) == 3  # one photo of each class left for training
    assert len(colorize_sets.test_photos(("scenes",), limit=0)["scenes"]) == 3

    path.write_bytes(path.read_bytes()[:300])  # truncated: a one-line error naming the file
    monkeypatch.setenv("DLABS_HOME", str(tmp_path / "other"))
    with pytest.raises(DataError, match="scenes_160.tar.gz"):
        colorize_sets.archive("scenes")


def test_the_scene_split_is_stratified_and_the_other_sets_are_unchanged():
    import hashlib

    split = load_split()
    classes = [n.split("/")[1] for n in split["scenes"]["test"]]
    assert sorted(set(classes)) == ["buildings", "forest", "glacier", "mountain", "sea", "street"]
    assert all(classes.count(c) == 50 for c in set(classes)) and len(split["scenes"]["val"]) == 120
    assert not set(split["scenes"]["test"]) & set(split["scenes"]["val"])
    # the flowers/LFW/UTKFace held-out and validation photos of the figures before the scenes were added
    before = json.dumps({k: split[k] for k in ("flowers", "lfw", "utkface")}, sort_keys=True)
    assert hashlib.sha256(before.encode()).hexdigest() == OLD_SETS_SHA256
