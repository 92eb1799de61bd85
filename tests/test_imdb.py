"""Deep tests of the imdb lab: tokenizer, train-only vocabulary, the tar reader on tiny archives
made here, predict on odd input, evaluation with the saved vocabulary, and a smoke bench whose
run folder the predict tests use."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from dlabs import api
from dlabs.data import aclimdb, text
from dlabs.errors import DataError, InputError

from conftest import MIRROR, home_with


def test_tokenizer_drops_html_and_keeps_apostrophes_and_marks():
    assert text.tokenize("Great<br /><br />film!! Don't MISS it?") == \
        ["great", "film", "!", "!", "don't", "miss", "it", "?"]
    assert text.tokenize("<i>x</i>") == ["x"] and text.tokenize("") == []


def test_vocabulary_is_fitted_on_training_documents_only():
    train = [["good", "film"], ["good", "plot"], ["bad", "film"]]
    vocab = text.NgramVocabulary.fit(train, n_max=2)
    terms = {vocab.term(j) for j in range(len(vocab))}
    assert terms == {"good", "film", "plot", "bad", "good film", "good plot", "bad film"}
    x = vocab.transform([["great", "good", "film", "good"], ["unseen", "words"]])
    assert sorted(vocab.term(j) for j in x[0].indices) == ["film", "good", "good film"]
    assert x[0].data.tolist() == [1.0, 1.0, 1.0]  # binary: "good" twice still counts once
    assert x[1].nnz == 0  # words only in the new text are unknown, never added
    again = text.NgramVocabulary.from_state(vocab.state())
    assert (again.transform([["bad", "film"]]) != vocab.transform([["bad", "film"]])).nnz == 0


def test_vocabulary_min_df_and_max_size():
    docs = [["a", "b", "c"], ["a", "b"], ["a"]]
    assert {text.NgramVocabulary.fit(docs, 2, min_df=2).term(j) for j in range(3)} == {"a", "b", "a b"}
    assert len(text.NgramVocabulary.fit(docs, 2, min_df=2)) == 3
    top = text.NgramVocabulary.fit(docs, 1, max_size=2)
    assert [top.term(j) for j in range(len(top))] == ["a", "b"]


def test_nb_ratio_points_to_the_class():
    from scipy import sparse

    x = sparse.csr_matrix(np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32))
    r = text.nb_ratio(x, np.array([1, 1, 0]))
    assert r[0] > 0 > r[1]


def _archive(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


TINY = {"aclImdb/README": b"readme", "aclImdb/train/pos/0_9.txt": b"Loved it<br />great",
        "aclImdb/train/neg/0_2.txt": b"Awful \xff film", "aclImdb/train/unsup/0_0.txt": b"no label",
        "aclImdb/test/pos/1_10.txt": b"superb", "aclImdb/test/neg/1_1.txt": b"dull",
        "aclImdb/train/labeledBow.feat": b"1 0:1", "aclImdb/imdb.vocab": b"the"}


def test_tar_reader_takes_only_labelled_reviews(tmp_path):
    r = aclimdb.read_review_archive(_archive(tmp_path / "a.tar.gz", TINY))
    assert len(r.texts) == 4 and "no label" not in r.texts
    assert r.take("train")[0] == ["Awful \ufffd film", "Loved it<br />great"]  # sorted: neg first
    assert r.take("train")[1].tolist() == [0, 1] and r.rating.tolist() == [1, 10, 2, 9]


@pytest.mark.own_parsed_cache
def test_tar_reader_caches_parsed_reviews_by_checksum(tmp_path):
    path = _archive(tmp_path / "a.tar.gz", TINY)
    first = aclimdb.load_reviews(path, "sha256:abc")
    path.unlink()  # a second load with the same key never opens the archive
    again = aclimdb.load_reviews(path, "sha256:abc")
    assert again.texts == first.texts and (again.labels == first.labels).all()
    with pytest.raises(DataError):
        aclimdb.load_reviews(path, "sha256:other")


def test_truncated_or_foreign_archive_is_a_one_line_error(tmp_path):
    path = _archive(tmp_path / "a.tar.gz", TINY)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="corrupt or truncated") as e:
        aclimdb.read_review_archive(cut)
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="no reviews"):
        aclimdb.read_review_archive(_archive(tmp_path / "b.tar.gz", {"x/README": b"hi"}))


@pytest.fixture(scope="module")
def bench(tmp_path_factory, shared_parsed):
    if not (MIRROR / "imdb").is_dir():
        pytest.skip(f"imdb not in {MIRROR}")
    with pytest.MonkeyPatch.context() as mp:  # module scope: set up before the per-test isolation
        home = home_with(tmp_path_factory.mktemp("home"), shared_parsed)
        mp.setenv("DLABS_HOME", str(home))
        mp.setenv("DLABS_MIRROR", str(MIRROR))
        mp.setenv("DLABS_OFFLINE", "1")
        runs = tmp_path_factory.mktemp("runs")
        out = api.bench("imdb", device="cpu", runs=runs, presets=["smoke"])
        # the manual's dense multi-hot MLP path, tiny
        out["manual_run"] = api.train("imdb", "manual", ["data.subsample=600", "train.epochs=2"], "cpu", runs=runs,
                                      progress=False)
        out["home"] = home  # holds the parsed-review cache
        return out


def test_smoke_bench_form_and_beats_chance(bench):
    rows = {r["name"]: r for r in bench["rows"]}
    assert {"smoke", "logistic_regression"} <= set(rows) and rows["smoke"]["kind"] == "preset"
    for row in rows.values():
        assert {"accuracy", "f1", "auc"} <= set(row["metrics"]) and 0 <= row["metrics"]["accuracy"] <= 1
    assert rows["smoke"]["metrics"]["accuracy"] > 0.65
    json.dumps({k: v for k, v in bench.items() if k not in ("manual_run", "home")})


@pytest.fixture(scope="module")
def run(bench):
    return next(r["run"] for r in bench["rows"] if r["name"] == "smoke")


def test_evaluation_reports_the_worst_mistakes_and_draws_its_plots(run):
    from pathlib import Path

    m = json.loads((Path(run) / "metrics.json").read_text())
    worst = m["info"]["most_confidently_wrong"]
    assert len(worst) == 8 and all(w["true"] in ("positive", "negative") and w["text"] for w in worst)
    assert all((w["probability_positive"] >= 0.5) == (w["true"] == "negative") for w in worst)
    assert m["info"]["terms"] > 0 and m["info"]["test"] == 2000
    assert {"roc_curve.png", "confusion_matrix.png", "review_length_by_class.png"} <= \
        {p.name for p in (Path(run) / "plots").glob("*.png")}


def test_test_data_uses_the_saved_vocabulary(bench, run, monkeypatch):
    monkeypatch.setenv("DLABS_HOME", str(bench["home"]))  # the parsed reviews, not the archive again
    model = api.load(run)
    state = model.state
    # a saved vocabulary of five words gives five columns: nothing is refitted on the test reviews
    small = {**text.NgramVocabulary(state["words"], [state["keys_1"][:5], state["keys_2"][:0]]).state(),
             "scale": state["scale"][:5]}
    test = model.lab.test_data(model.cfg, small)
    assert test.x.shape == (2000, 5) and test.x.nnz > 0 and test.state is small


def test_predict_gives_probability_label_and_evidence(run):
    good, bad = api.predict("imdb", ["A wonderful, brilliant film. Great acting, loved it!",
                                     "Awful, boring and stupid. The worst film, a waste of time."], run)
    assert good["probability_positive"] > bad["probability_positive"]
    assert good["label"] == "positive" and bad["label"] == "negative"
    assert good["top"][0]["probability"] + good["top"][1]["probability"] == pytest.approx(1)
    assert good["evidence"]["positive"] and bad["evidence"]["negative"]
    assert "warnings" not in good


def test_manual_mlp_path_predicts(bench):
    run = bench["manual_run"]
    assert len(text.NgramVocabulary.from_state(run.load_state())) <= 10_000
    p = api.predict("imdb", ["a great film"], run)[0]
    assert 0 < p["probability_positive"] < 1 and p["label"] in ("positive", "negative")


def test_predict_odd_inputs(run, tmp_path):
    with pytest.raises(InputError, match="empty review"):
        api.predict("imdb", ["   "], run)
    with pytest.raises(InputError, match="no review given"):
        api.predict("imdb", [], run)
    unknown = api.predict("imdb", ["zzqxv qqwrt"], run)[0]
    assert "training vocabulary" in unknown["warnings"][0] and 0 < unknown["probability_positive"] < 1
    long = api.predict("imdb", ["great " * 20_000], run)[0]
    assert "cut to its first" in long["warnings"][0]
    bad_bytes = tmp_path / "reviews.txt"
    bad_bytes.write_bytes(b"great film\n\n\xff\xfe terrible film\n")
    out = api.predict("imdb", [], run, files=[bad_bytes])
    assert len(out) == 2 and "not valid UTF-8" in out[0]["warnings"][0] and str(bad_bytes) in out[0]["warnings"][0]
    # bytes are a file's contents: one review a line, beside a typed review
    both = api.predict("imdb", [b"loved it\r\nhated it\n", "a typed review"], run)
    assert [p["text"] for p in both] == ["loved it", "hated it", "a typed review"]
    with pytest.raises(InputError, match="no review in it"):
        api.predict("imdb", [b"\n \n"], run)
    with pytest.raises(InputError, match="no such file"):
        api.predict("imdb", [], run, files=[tmp_path / "nope.txt"])
    with pytest.raises(InputError, match="unknown option --file"):  # --file is the CLI's, never an option
        api.predict("imdb", [], run, {"file": str(bad_bytes)})


def test_cli_predict_stdin_file_and_bad_input_exit_code(run, tmp_path):
    args = [sys.executable, "-m", "dlabs", "predict", "imdb", "--run", str(run), "--json"]
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("a fine film\nboring\n")
    ok = subprocess.run(args + ["-", "--file", str(reviews)], input=b"loved it\nhated it\n", capture_output=True)
    assert ok.returncode == 0, ok.stderr
    assert [p["text"] for p in json.loads(ok.stdout)] == ["loved it", "hated it", "a fine film", "boring"]
    bad = subprocess.run(args + [""], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
