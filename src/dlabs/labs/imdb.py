"""`imdb`: review sentiment from raw text on the official 25k/25k split of the Large Movie Review Dataset.

The manual's model is a multi-hot vector of the 10,000 most frequent training words into a small
MLP. `best` is NBSVM-style: binarized word 1-3-grams seen in at least two training reviews, scaled
by their naive-Bayes log-count ratio, into a logistic-regression head trained by the engine.
Vocabulary and ratios are fitted on the training reviews not held out for validation, saved in the
run folder, and reused as they are for every prediction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlabs.config import option
from dlabs.data import aclimdb, store, text
from dlabs.engine import metrics as M
from dlabs.engine.train_config import TrainConfig
from dlabs.errors import DlabsError
from dlabs.labs import Baseline, Evaluation, Lab, TrainData, _export, register
from dlabs.labs._keras import VAL_SPLIT_HELP, validation_rows
from dlabs.labs._sentiment import EXPLAIN, score_reviews

MAX_CHARS = 50_000  # ~4x the longest training review (13,704); longer input is cut with a warning
LABELS = ("negative", "positive")


@dataclass(frozen=True)
class DataConfig:
    val_fraction: float = option(0.1, "share of the training reviews held out for early stopping")
    val_split: str = option("seeded", VAL_SPLIT_HELP)
    ngram_max: int = option(1, "terms are word 1..ngram_max-grams")
    max_terms: int = option(10_000, "keep the terms in most training reviews (document frequency); 0 = all")
    min_df: int = option(1, "keep terms seen in at least this many training reviews")
    weighting: str = option("none", "none (multi-hot) | nb (naive-Bayes log-count ratio per term)")
    nb_alpha: float = option(1.0, "smoothing of the naive-Bayes ratio")
    subsample: int = option(0, "use only this many reviews of each split (for tests); 0 = all")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = option("mlp", "mlp (dense multi-hot into an MLP) | linear (sparse scaled bag into a logistic head)")
    hidden: tuple[int, ...] = option((50, 50, 50), "MLP hidden widths (ReLU)")
    dropout: tuple[float, ...] = option((0.3, 0.2, 0.0), "MLP dropout after each hidden layer")
    beta: float = option(0.0, "linear: weight offset interpolating towards pure naive Bayes")
    init: str = option("torch", "mlp: torch (PyTorch's default) | keras (Glorot-uniform kernels, zero biases)")


@dataclass(frozen=True)
class ImdbConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=500, patience=2))
    baseline_c: float = option(1.0, "inverse L2 strength of the logistic-regression baselines")


MANUAL = ImdbConfig(data=DataConfig(val_fraction=0.0), model=ModelConfig(init="keras"), train=TrainConfig(
    epochs=2, batch_size=500, eps=1e-7, restore_best=False, fused=True, threads=-1, amp=True))
"""The manual's IMDB network (lab-manual.txt lines 1240-1390), as its Keras code trains it.

layers: 10000-50-50-50-1 (a multi-hot of 10,000 words in, ReLU, sigmoid out; lines 993, 1257-1287)
dropout: 0.3-0.2 (after the first two dense layers; lines 1267, 1275)
loss: binary cross-entropy (line 1360)
optimizer: adam (line 1356; Keras' defaults)
lr: 0.001
eps: 1e-7
epochs: 2 (line 1377; the EarlyStopping on training loss, patience 3, of line 1339 never acts in 2)
batch: 500 (line 1378)
validation: none (the manual validates on its test set, line 1379: dlabs does not, and fits on all training rows)
init: keras (Glorot-uniform kernels, zero biases)
Differs: the data (raw text, the official 25k/25k split); bfloat16 products where the CPU has them natively.
"""
# chosen on the validation reviews only (docs/experiments/imdb.md)
BEST = ImdbConfig(data=DataConfig(ngram_max=3, max_terms=0, min_df=2, weighting="nb"), model=ModelConfig(kind="linear"),
                  train=TrainConfig(epochs=20, batch_size=256, lr=3e-3, patience=3))
SMOKE = ImdbConfig(data=DataConfig(ngram_max=2, max_terms=0, weighting="nb", subsample=2000, val_fraction=0.2),
                   model=ModelConfig(kind="linear"), train=TrainConfig(epochs=4, batch_size=128, lr=1e-2))


def _reviews() -> aclimdb.Reviews:
    path = store.fetch("imdb", "archive")
    spec = next(f for f in store.dataset("imdb").files if f.name == path.name)
    return aclimdb.load_reviews(path, spec.checksum)


def _form(cfg: ImdbConfig) -> str:
    return "bag" if cfg.model.kind == "linear" else "dense"


@dataclass
class TestSplit:
    """The test reviews, their labels, and their document-term matrix made with the saved vocabulary."""

    texts: list[str]
    y: np.ndarray
    x: object  # CSR, documents x terms
    lengths: np.ndarray  # tokens per review
    state: dict


@register
class Imdb(Lab):
    name = "imdb"
    title = "IMDB review sentiment from raw text: the manual's multi-hot MLP against NBSVM-style n-grams"
    task = "classification"
    input_kind = "text"
    datasets = ("imdb",)
    protocol = "official aclImdb split: 25,000 train / 25,000 test reviews"
    headline = "accuracy"
    Config = ImdbConfig
    presets = {"manual": MANUAL, "best": BEST, "smoke": SMOKE}
    search_space = {"train.lr": ("log", 1e-3, 3e-2), "train.weight_decay": ("log", 1e-8, 1e-4),  # best: a linear head
                    "train.batch_size": ("choice", [128, 256, 512]), "train.epochs": ("int", 5, 30)}
    export = _export.imdb  # dlabs export: the whole predictor as one ONNX graph
    notes = ("The manual trains on Keras' pre-tokenised reviews and reports accuracy on its own random 80/20 "
             "split of all 50,000; here everything starts from the raw text and is measured on the official "
             "test set, which reviews different movies from the training set. The vocabulary and the "
             "naive-Bayes ratios are fitted on the training reviews only (not on the validation part used "
             "for early stopping) and saved with the model.")

    def train_data(self, cfg: ImdbConfig, seed: int) -> TrainData:
        if cfg.data.weighting not in ("none", "nb"):
            raise DlabsError(f"data.weighting={cfg.data.weighting}: expected none or nb")
        if cfg.model.kind == "mlp" and cfg.data.weighting != "none":
            raise DlabsError("model.kind=mlp takes the plain multi-hot input: set data.weighting=none")
        texts, y = _reviews().take("train", cfg.data.subsample)
        docs = [text.tokenize(t) for t in texts]
        fit, val = validation_rows(np.arange(len(docs)), cfg.data.val_fraction, cfg.data.val_split, seed)
        vocab = text.NgramVocabulary.fit([docs[i] for i in fit], cfg.data.ngram_max, cfg.data.max_terms or None,
                                         cfg.data.min_df)
        x = vocab.transform(docs)
        scale = (text.nb_ratio(x[fit], y[fit], cfg.data.nb_alpha) if cfg.data.weighting == "nb"
                 else np.ones(len(vocab), dtype=np.float32))
        state = {**vocab.state(), "labels": list(LABELS), "scale": scale}

        def batcher(rows):
            return text.SparseBatcher(x[rows], y[rows], _form(cfg)) if len(rows) else None

        return TrainData(batcher(fit), batcher(val), state, {"train": len(fit), "validation": len(val)})

    def test_data(self, cfg: ImdbConfig, state: dict) -> TestSplit:
        texts, y = _reviews().take("test", cfg.data.subsample)
        docs = [text.tokenize(t) for t in texts]
        x = text.NgramVocabulary.from_state(state).transform(docs)  # the saved vocabulary, never refitted
        return TestSplit(texts, y, x, np.array([len(d) for d in docs]), state)

    def build_model(self, cfg: ImdbConfig, state: dict):
        import torch

        from dlabs.models.mlp import MLP
        from dlabs.models.sparse import ScaledBagLinear

        n = len(state["scale"])  # one weight per vocabulary term, without rebuilding the vocabulary
        if cfg.model.kind == "mlp":
            from dlabs.models.init import initialise

            return initialise(MLP(n, tuple(cfg.model.hidden), 1, tuple(cfg.model.dropout)), cfg.model.init)
        if cfg.model.kind == "linear":
            model = ScaledBagLinear(n, cfg.model.beta)
            model.scale.copy_(torch.as_tensor(np.asarray(state["scale"], dtype=np.float32)))
            return model
        raise DlabsError(f"model.kind={cfg.model.kind}: expected mlp or linear")

    def loss_fn(self, cfg):
        from torch import nn

        return nn.BCEWithLogitsLoss()

    def metrics_fn(self, cfg):
        return lambda out, y: {"accuracy": ((out > 0).float() == y).float().mean()}

    def evaluate(self, model, test: TestSplit, device) -> Evaluation:
        import torch

        from dlabs.engine.trainer import predict, use_amp

        out, _ = predict(model.net, text.SparseBatcher(test.x, test.y, _form(model.cfg)), device,
                         use_amp(model.cfg.train, device))
        p, y = torch.sigmoid(out).numpy().ravel(), test.y
        wrong = np.flatnonzero((p >= 0.5) != y)
        worst = wrong[np.argsort(-np.abs(p[wrong] - 0.5))][:8]
        info = {"test": len(y), "terms": len(model.state["scale"]), "ngram_max": int(model.state["ngram_max"]),
                "positive_share_test": float(y.mean()),
                "most_confidently_wrong": [{"true": LABELS[y[i]], "probability_positive": round(float(p[i]), 4),
                                            "text": text.strip_tags(test.texts[i])[:300]} for i in worst]}
        return Evaluation(M.classification(y, p), {"proba": p}, info)

    def baselines(self, cfg: ImdbConfig, seed: int, test: TestSplit) -> dict:
        from sklearn.linear_model import LogisticRegression

        texts, y = _reviews().take("train", cfg.data.subsample)
        x = text.NgramVocabulary.from_state(test.state).transform([text.tokenize(t) for t in texts])
        fit, _ = validation_rows(np.arange(len(texts)), cfg.data.val_fraction, cfg.data.val_split, seed)  # model's
        scale = np.asarray(test.state["scale"], dtype=np.float32)
        variants = {"logistic_regression": (x, test.x, y)}  # the same features, the whole training split
        if cfg.data.weighting == "nb":  # NBSVM's logistic twin on the same scaled features and fitting rows
            variants["nb_logistic_regression"] = (x[fit].multiply(scale).tocsr(), test.x.multiply(scale).tocsr(), y[fit])
        out = {}
        for name, (a, at, ya) in variants.items():
            t0 = time.perf_counter()
            est = LogisticRegression(C=cfg.baseline_c, solver="liblinear", dual=True, max_iter=1000).fit(a, ya)
            seconds = time.perf_counter() - t0
            out[name] = Baseline(M.classification(test.y, est.predict_proba(at)[:, 1]), seconds)
        return out

    def plots(self, model, test: TestSplit, evaluation: Evaluation, outdir) -> None:
        from dlabs.report import plots
        from dlabs.report.reviews import length_by_class

        p = evaluation.predictions["proba"]
        plots.roc_curve(test.y, p, outdir / "roc_curve.png")  # the baselines' AUCs are in the metrics table
        plots.confusion_matrix(test.y, (p >= 0.5).astype(int), list(LABELS), outdir / "confusion_matrix.png")
        length_by_class(test.lengths, test.y, LABELS, outdir / "review_length_by_class.png", "test split")

    def explore(self, cfg: ImdbConfig, outdir=None) -> dict:
        reviews = _reviews()
        lengths = np.array([len(text.tokenize(t)) for t in reviews.texts])
        info = {"reviews": len(reviews.texts), **reviews.counts(LABELS), "tokens_median": float(np.median(lengths)),
                "tokens_max": int(lengths.max()), "with_html_breaks": int(sum("<br" in t for t in reviews.texts))}
        if outdir is not None:
            from dlabs.report.reviews import length_by_class

            Path(outdir).mkdir(parents=True, exist_ok=True)
            train = reviews.split == 0
            length_by_class(lengths[train], reviews.labels[train], LABELS, Path(outdir) / "review_length_by_class.png",
                            "training split")
        return info

    # predict --------------------------------------------------------------------------------
    def form(self, state: dict) -> dict:
        return {"options": [{"name": "explain", "type": "integer", "default": EXPLAIN,
                             "help": "explain the first N reviews word by word (each costs a model call per term)"}]}

    def predict(self, model, request) -> list[dict]:
        return score_reviews(model, text.read_reviews(request.items, MAX_CHARS), LABELS, _form(model.cfg),
                             request.options.get("explain", ""))

    def format(self, predictions: list[dict]) -> str:
        lines = []
        for p in predictions:
            lines.append(f"{p['label']:<8} P(positive)={p['probability_positive']:.3f}  {p['text']!r}")
            for side in ("positive", "negative"):
                if p.get("evidence", {}).get(side):
                    lines.append(f"  {side}: " + ", ".join(f"{t} ({w:+.2f})" for t, w in p["evidence"][side][:5]))
            lines += [f"  warning: {w}" for w in p.get("warnings", [])]
        return "\n".join(lines)

