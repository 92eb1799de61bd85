"""The faces lab: the pairs reader, fold separation, the identity split, bad photos, the gallery's
atomic writes, identification on the test split, and an enroll-then-identify round trip with a
small model trained here."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import MIRROR, needs_data
from dlabs import api
from dlabs.data import images, lfw, store
from dlabs.data.faces import detect
from dlabs.errors import DataError, DlabsError, InputError
from dlabs.labs import _gallery, get_lab
from dlabs.models.joint_bayes import JointBayesian, unit

pytestmark = needs_data("lfw")
LAB = get_lab("faces")
PEOPLE = ("Colin_Powell", "Serena_Williams", "Vladimir_Putin")


def test_pairs_reader_reads_view_2_and_refuses_other_files(tmp_path):
    folds = lfw.read_pairs(store.fetch("lfw", "pairs.txt"))
    assert len(folds) == 10 and all(len(f) == 600 for f in folds)
    assert all(s for _, _, s in folds[0][:300]) and not any(s for _, _, s in folds[0][300:])
    assert folds[0][0] == ("Abel_Pacheco_0001", "Abel_Pacheco_0004", True)
    (tmp_path / "pairs.txt").write_text("1\t1\nA\t1\t2\nA\t1\n")
    with pytest.raises(DataError, match="not an LFW pairs file"):
        lfw.read_pairs(tmp_path / "pairs.txt")


def test_view_2_folds_never_train_on_their_people():
    folds = lfw.read_pairs(store.fetch("lfw", "pairs.txt"))
    cfg = LAB.config("smoke", ["data.classes=all", "data.min_images=2"])
    for half in lfw.fold_groups(len(folds), 2):
        held_out = lfw.held_out_people(folds, half)
        data = LAB.train_data(cfg, 0, exclude=held_out)
        people = data.photos[1]
        trained = set(people[data.rows.rows])
        in_pairs = {lfw.person_of(i) for k in half for a, b, _ in folds[k] for i in (a, b)}
        assert trained and not trained & in_pairs
        assert len(data.state["classes"]) > 500  # the rest of LFW is still used
        assert len(data.train) + len(data.val) == len(data.rows.rows) and "framing" not in data.state
        assert data.rows.calibration.size == 0 and data.ident is None  # no gallery for a verification model


def test_folds_are_shared_out_evenly_among_verification_models():
    assert lfw.fold_groups(10, 2) == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]
    assert lfw.fold_groups(10, 10)[3] == (3,)
    with pytest.raises(DlabsError, match="does not divide"):
        lfw.fold_groups(10, 3)


def test_joint_bayesian_learns_which_directions_vary_within_a_person():
    # identities differ along the first 4 of 16 directions; a person's photos vary along all 16,
    # most along the last 12, so plain distance confuses people that the likelihood ratio tells apart
    rng = np.random.default_rng(0)
    scale = np.r_[np.full(4, 1.0), np.full(12, 0.0)]
    noise = np.r_[np.full(4, 0.2), np.full(12, 2.0)]

    def photos(n_people, each):
        who = np.repeat(np.arange(n_people), each)
        return rng.normal(size=(n_people, 16))[who] * scale + rng.normal(size=(len(who), 16)) * noise, who

    jb = JointBayesian().fit(*photos(200, 5))
    x, who = photos(300, 2)
    a, b = x[0::2], x[1::2]  # 300 matched pairs
    c = x[1::2][np.roll(np.arange(300), 1)]  # 300 mismatched pairs
    same = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    jb_scores = np.r_[jb.score(a, b), jb.score(a, c)]
    euclid = -np.linalg.norm(np.r_[a - b, a - c], axis=1)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(same, jb_scores) > 0.95 > 0.7 > roc_auc_score(same, euclid)

    # projected on its first principal components, the comparison keeps the directions that vary most:
    # here where people differ (scale 3), not the 12 of small noise
    scale, noise = np.r_[np.full(4, 3.0), np.full(12, 0.0)], np.r_[np.full(4, 0.5), np.full(12, 0.3)]
    jb = JointBayesian(dims=4).fit(*photos(200, 5))
    x, _ = photos(300, 2)
    a, b, c = x[0::2], x[1::2], x[1::2][np.roll(np.arange(300), 1)]
    assert jb.basis.shape == (16, 4) and np.abs(jb.basis[:4]).sum(0).min() > 0.9
    assert roc_auc_score(same, np.r_[jb.score(a, b), jb.score(a, c)]) > 0.95


def test_joint_bayesian_of_an_ensemble_adds_up_one_comparison_a_member():
    rng = np.random.default_rng(1)
    who = np.repeat(np.arange(50), 4)
    parts = [unit(rng.normal(size=(50, 8))[who] + 0.5 * rng.normal(size=(200, 8))) for _ in range(2)]
    joined = unit(np.hstack(parts))  # as an ensemble's embedding: each member's block a unit vector, made unit again
    jb = JointBayesian(dims=4, blocks=2).fit(joined, who)
    alone = [JointBayesian(dims=4).fit(e, who) for e in parts]
    i, j = np.arange(0, 200, 2), np.arange(1, 200, 2)
    assert np.allclose(jb.score(joined[i], joined[j]), sum(a.score(e[i], e[j]) for a, e in zip(alone, parts)))


def test_verification_trains_one_model_per_fold_group_and_scores_every_pair():
    cfg = LAB.config("smoke", ["verification_models=2"])
    v = LAB.protocols(cfg, 0, "cpu")["verification"]
    assert "2 models" in v["protocol"] and "labeled outside data: none" in v["protocol"]
    for name in ("model", "joint_bayesian_all_dims", "embedding_cosine", "eigenfaces_svm"):
        assert len(v["fold_accuracy"][name]) == 10 and len(v["fold_threshold"][name]) == 10
    assert 0.5 < v["baselines"]["eigenfaces_svm"]["accuracy"] < 0.8  # eigenfaces-era, as the issue expects
    assert 0 < v["model"]["auc"] <= 1 and v["model"]["train_seconds"] > 0


def test_identity_split_file_is_the_seeded_stratified_split():
    ids, people, _ = lfw.load_lfw(LAB.config("smoke").data.size, LAB.config("smoke").data.crop)
    split = lfw.identity_split()
    assert split == json.loads(json.dumps(lfw.make_identity_split(ids, people)))
    assert len(split["people"]) == 62 and len(set(split["test"])) == len(split["test"])
    for p in split["people"]:
        n, n_test = (people == p).sum(), sum(lfw.person_of(t) == p for t in split["test"])
        assert n_test == round(0.25 * n)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small model trained on the 62 people (their identification test photos held out)."""
    runs = tmp_path_factory.mktemp("runs")
    return api.train("faces", "smoke", ["train.epochs=6", "verification=false"], runs=runs, progress=False), runs


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Held-out photos (identification test split) of three people, saved as JPEG files, and a no-face photo."""
    out = tmp_path_factory.mktemp("photos")
    test = set(lfw.identity_split()["test"])
    import tarfile

    with tarfile.open(store.fetch("lfw", "images")) as tar:
        files = {}
        for p in PEOPLE:
            files[p] = []
            for name in sorted(i for i in test if lfw.person_of(i) == p):
                path = out / f"{name}.jpg"
                path.write_bytes(tar.extractfile(tar.getmember(f"lfw/{p}/{name}.jpg")).read())
                if len(detect(images.load_rgb(path))) == 1 and len(files[p]) < 8:  # the detector misses profiles
                    files[p].append(str(path))
    return files


def test_enroll_then_identify_held_out_photos(run, photos):
    run_, runs = run
    state = run_.load_state()
    assert 0 < state["threshold"] < 2 and len(_gallery.people(run_.path)) == 62
    gallery = _gallery.read_gallery(run_.path)["people"]  # written by after_save from the saved state
    assert [g["photos"] for g in gallery.values()] == state["gallery_photos"]
    assert np.allclose(gallery[state["gallery_people"][0]]["embeddings"][0], state["gallery_means"][0], atol=1e-6)
    for p in list(gallery):
        api.gallery_remove(p, str(run_.path))
    for p in PEOPLE:
        api.gallery_enroll(p.replace("_", " "), photos[p][:4], str(run_.path))
    assert [g["name"] for g in api.gallery_people(str(run_.path))] == sorted(p.replace("_", " ") for p in PEOPLE)
    queries = [q for p in PEOPLE for q in photos[p][4:]]
    preds = api.predict("faces", queries, str(run_.path), {"top": "3"})
    right = [pr["top"][0]["label"] == p.replace("_", " ") for p in PEOPLE for pr in preds if p in pr["input"]]
    assert len(right) == len(queries) and np.mean(right) >= 0.75, preds
    assert all(len(pr["top"]) == 3 and 0 <= pr["confidence"] <= 1 for pr in preds)
    assert "nearest:" in LAB.format(preds)


def test_an_ensemble_of_framings_trains_reloads_and_identifies(photos, tmp_path):
    # best's kind of model, small: two networks on different central shares of a 64-px crop, trained as one
    import torch

    from dlabs.models.face import CosFaceLoss, FaceEnsemble

    sets = ["model.views=1.0,0.875", "model.side=48", "train.epochs=6", "verification=false"]
    run_ = api.train("faces", "smoke", sets, runs=tmp_path, progress=False)
    loaded = api.load(str(run_.path))
    model, state = loaded.net, loaded.state
    assert isinstance(model, FaceEnsemble) and len(model.members) == 2
    x = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    out, y, loss = model(x), torch.arange(4), CosFaceLoss(30, 0.1)
    assert out.shape == (2, 4, len(state["classes"])) and model.embed(x).shape == (4, 64)
    assert torch.isclose(loss(out, y), loss(out[0], y) + loss(out[1], y))  # one loss a member, added up
    queries = [q for p in PEOPLE for q in photos[p][4:]]
    preds = api.predict("faces", queries, str(run_.path))  # against the 62 people's mean training embeddings
    right = [pr["top"][0]["label"].replace(" ", "_") == p for p in PEOPLE for pr in preds if p in pr["input"]]
    assert len(right) == len(queries) and np.mean(right) >= 0.5, preds
    with pytest.raises(DlabsError, match="model.views"):
        LAB.build_model(LAB.config("smoke", ["model.views=0,1"]), state)


def test_identification_on_the_test_split_reads_only_saved_state(run, tmp_path):
    run_, _ = run
    model = api.load(run_)
    test = LAB.test_data(model.cfg, model.state)
    assert len(test.people) == 62 and len(test.y) == len(lfw.identity_split()["test"])
    ev = LAB.evaluate(model, test, "cpu")
    assert 0 < ev.metrics["identification_top1"] <= ev.metrics["identification_top5"] <= 1
    confused = ev.info["most_confused"]
    assert confused and all(c["true"] != c["predicted"] and c["count"] >= 1 for c in confused)
    LAB.plots(model, test, ev, tmp_path)
    assert {p.name for p in tmp_path.glob("*.png")} == {"confusion_matrix.png", "most_confused.png"}
    assert not (run_.path / "most_confused.json").exists()


def test_bad_photos_are_one_line_errors(run, tmp_path):
    run_, _ = run
    street = MIRROR / "colorize" / "bw_samples" / "1890CliffHouseSF.jpg"
    if street.is_file():
        with pytest.raises(InputError, match="no face found"):
            api.predict("faces", [str(street)], str(run_.path))
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    with pytest.raises(InputError, match="no face found"):
        api.predict("faces", [str(blank)], str(run_.path))
    (tmp_path / "fake.jpg").write_text("not a photo")
    with pytest.raises(InputError, match="not an image"):
        api.predict("faces", [str(tmp_path / "fake.jpg")], str(run_.path))
    Image.new("RGB", (20, 20)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match="too small"):
        api.predict("faces", [str(tmp_path / "tiny.png")], str(run_.path))
    with pytest.raises(InputError, match="not in the gallery"):
        _gallery.remove(run_.path, "Nobody At All")
    with pytest.raises(InputError, match="unknown option --out"):
        api.predict("faces", [str(blank)], str(run_.path), {"out": "x"})
    with pytest.raises(InputError, match="--top x: expected a whole number"):
        api.predict("faces", [str(blank)], str(run_.path), {"top": "x"})
    with pytest.raises(InputError, match="no input"):
        api.predict("faces", [], str(run_.path))


def test_gallery_is_never_half_written(run, photos, tmp_path, monkeypatch):
    run_, _ = run
    gallery = run_.path / _gallery.GALLERY
    before = gallery.read_bytes()
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (90, 90, 90)).save(blank)
    model = api.load(run_)
    one = api.read_inputs("image", photos[PEOPLE[0]][:1])
    with pytest.raises(InputError, match="no face"):  # one bad photo: nothing is enrolled
        _gallery.enroll(model, "Someone", one + api.read_inputs("image", [str(blank)]))
    assert gallery.read_bytes() == before

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)  # the write dies before the rename
    with pytest.raises(DlabsError, match="disk full"):  # a one-line error: the write failed, nothing changed
        _gallery.enroll(model, "Someone", one)
    monkeypatch.undo()
    assert gallery.read_bytes() == before
    assert [p.name for p in run_.path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_cli_gallery_commands(run, photos):
    from typer.testing import CliRunner

    from dlabs.cli import app

    run_, _ = run
    cli = CliRunner()
    out = cli.invoke(app, ["faces", "enroll", "Ada Lovelace", photos[PEOPLE[1]][0], "--run", str(run_.path)])
    assert out.exit_code == 0 and "Ada Lovelace: 1 photo(s)" in out.output
    assert "Ada Lovelace" in cli.invoke(app, ["faces", "list", "--run", str(run_.path)]).output
    assert cli.invoke(app, ["faces", "remove", "Ada Lovelace", "--run", str(run_.path)]).exit_code == 0
    assert "Ada Lovelace" not in cli.invoke(app, ["faces", "list", "--run", str(run_.path)]).output
