"""`imdb`: review sentiment from raw text on the official 25k/25k split of the Large Movie
Review Dataset.

The manual's model is a multi-hot vector of the 10,000 most frequent training words into a
small MLP. `best` is NBSVM-style: binarized word 1-3-grams seen in at least two training
reviews, scaled by their naive-Bayes log-count ratio, into a logistic-regression head trained
by the engine. Vocabulary and ratios are fitted on the training reviews not held out for
validation, saved in the run folder, and reused as they are for every prediction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlabs.config import option
from dlabs.data import store, tabular, text
from dlabs.engine import metrics as M
from dlabs.engine.trainer import TrainConfig
from dlabs.errors import DlabsError
from dlabs.labs import Lab, Prepared, register
from dlabs.models import MLP
from dlabs.models.sparse import ScaledBagLinear

MAX_CHARS = 50_000  # ~4x the longest training review (13,704); longer input is cut with a warning
LABELS = ("negative", "positive")


@dataclass(frozen=True)
class DataConfig:
    val_fraction: float = option(0.1, "share of the training reviews held out for early stopping")
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


@dataclass(frozen=True)
class ImdbConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=500, patience=2))
    baseline_c: float = option(1.0, "inverse L2 strength of the logistic-regression baselines")


MANUAL = ImdbConfig()
BEST = ImdbConfig(
    data=DataConfig(ngram_max=3, max_terms=0, min_df=2, weighting="nb"),
    model=ModelConfig(kind="linear"),
    train=TrainConfig(epochs=20, batch_size=256, lr=3e-3, patience=3),
)
SMOKE = ImdbConfig(data=DataConfig(ngram_max=2, max_terms=0, weighting="nb", subsample=2000, val_fraction=0.2),
                   model=ModelConfig(kind="linear"), train=TrainConfig(epochs=4, batch_size=128, lr=1e-2))


def _reviews() -> text.Reviews:
    path = store.fetch("imdb", "archive")
    spec = next(f for f in store.dataset("imdb").files if f.name == path.name)
    return text.load_reviews(path, spec.checksum)


def _take(reviews: text.Reviews, split: str, n: int) -> tuple[list[str], np.ndarray]:
    texts, y = reviews.take(split)
    if n and n < len(texts):  # a seeded random sample, kept in file order
        keep = np.sort(np.random.RandomState(0).permutation(len(texts))[:n])
        texts, y = [texts[i] for i in keep], y[keep]
    return texts, y


def _form(cfg: ImdbConfig) -> str:
    return "bag" if cfg.model.kind == "linear" else "dense"


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
    notes = ("The manual trains on Keras' pre-tokenised reviews and reports accuracy on its own random 80/20 "
             "split of all 50,000; here everything starts from the raw text and is measured on the official "
             "test set, which reviews different movies from the training set. The vocabulary and the "
             "naive-Bayes ratios are fitted on the training reviews only (not on the validation part used "
             "for early stopping) and saved with the model.")

    def prepare(self, cfg: ImdbConfig, seed: int) -> Prepared:
        reviews = _reviews()
        train_text, y_train = _take(reviews, "train", cfg.data.subsample)
        test_text, y_test = _take(reviews, "test", cfg.data.subsample)
        docs_train = [text.tokenize(t) for t in train_text]
        docs_test = [text.tokenize(t) for t in test_text]
        fit, val = tabular.holdout(np.arange(len(docs_train)), cfg.data.val_fraction, seed)
        vocab = text.NgramVocabulary.fit([docs_train[i] for i in fit], cfg.data.ngram_max,
                                         cfg.data.max_terms or None, cfg.data.min_df)
        state = {**vocab.state(), "labels": list(LABELS)}
        x_train, x_test = vocab.transform(docs_train), vocab.transform(docs_test)
        if cfg.data.weighting == "nb":
            state["scale"] = text.nb_ratio(x_train[fit], y_train[fit], cfg.data.nb_alpha)
        elif cfg.data.weighting == "none":
            state["scale"] = np.ones(len(vocab), dtype=np.float32)
        else:
            raise DlabsError(f"data.weighting={cfg.data.weighting}: expected none or nb")
        if cfg.model.kind == "mlp" and cfg.data.weighting != "none":
            raise DlabsError("model.kind=mlp takes the plain multi-hot input: set data.weighting=none")

        def batcher(x, y):
            return text.SparseBatcher(x, y, _form(cfg))

        info = {"train": len(fit), "validation": len(val), "test": len(y_test), "terms": len(vocab),
                "ngram_max": cfg.data.ngram_max, "positive_share_test": float(y_test.mean())}
        raw = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, "fit": fit,
               "test_text": test_text, "len_train": np.array([len(d) for d in docs_train])}
        return Prepared(batcher(x_train[fit], y_train[fit]), batcher(x_train[val], y_train[val]) if len(val) else None,
                        batcher(x_test, y_test), state, info, raw)

    def build_model(self, cfg: ImdbConfig, state: dict):
        n = len(state["scale"])  # one weight per vocabulary term, without rebuilding the vocabulary
        if cfg.model.kind == "mlp":
            return MLP(n, tuple(cfg.model.hidden), 1, tuple(cfg.model.dropout))
        if cfg.model.kind == "linear":
            model = ScaledBagLinear(n, cfg.model.beta)
            model.scale.copy_(torch.as_tensor(np.asarray(state["scale"], dtype=np.float32)))
            return model
        raise DlabsError(f"model.kind={cfg.model.kind}: expected mlp or linear")

    def loss_fn(self, cfg):
        return nn.BCEWithLogitsLoss()

    def metrics_fn(self, cfg):
        return lambda out, y: {"accuracy": ((out > 0).float() == y).float().mean()}

    def _proba(self, model, batcher, trainer) -> np.ndarray:
        out, _ = trainer.predict(model, batcher)
        return torch.sigmoid(out).numpy().ravel()

    def evaluate(self, model, data: Prepared, cfg, trainer) -> dict:
        p, y = self._proba(model, data.test, trainer), data.raw["y_test"]
        data.raw["proba"] = p
        wrong = np.flatnonzero((p >= 0.5) != y)
        worst = wrong[np.argsort(-np.abs(p[wrong] - 0.5))][:8]
        data.info["most_confidently_wrong"] = [
            {"true": LABELS[y[i]], "probability_positive": round(float(p[i]), 4),
             "text": text.strip_tags(data.raw["test_text"][i])[:300]} for i in worst]
        return M.classification(y, p)

    def baselines(self, data: Prepared, cfg, seed: int) -> dict:
        from sklearn.linear_model import LogisticRegression

        x, y, xt, yt = (data.raw[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        fit, scale = data.raw["fit"], data.state["scale"]
        variants = {"logistic_regression": (x, xt, y)}  # the same features, the whole training split
        if cfg.data.weighting == "nb":  # NBSVM's logistic twin on the same scaled features and fitting rows
            variants["nb_logistic_regression"] = (x[fit].multiply(scale).tocsr(), xt.multiply(scale).tocsr(), y[fit])
        out, data.raw["baseline_proba"] = {}, {}
        for name, (a, at, ya) in variants.items():
            t0 = time.perf_counter()
            est = LogisticRegression(C=cfg.baseline_c, solver="liblinear", dual=True, max_iter=1000).fit(a, ya)
            seconds = time.perf_counter() - t0
            p = est.predict_proba(at)[:, 1]
            data.raw["baseline_proba"][name] = p
            out[name] = {"metrics": M.classification(yt, p), "train_seconds": seconds}
        return out

    def plots(self, run, model, data: Prepared, cfg, trainer) -> None:
        from dlabs.report import plots

        y, p = data.raw["y_test"], data.raw.get("proba")
        if p is None:
            p = self._proba(model, data.test, trainer)
        plots.roc_curve(y, p, run.plots_dir() / "roc_curve.png", data.raw.get("baseline_proba"))
        plots.confusion_matrix(y, (p >= 0.5).astype(int), list(LABELS), run.plots_dir() / "confusion_matrix.png")
        self._length_plot(data.raw["len_train"], data.raw["y_train"], run.plots_dir())

    @staticmethod
    def _length_plot(lengths: np.ndarray, y: np.ndarray, outdir: Path) -> None:
        from dlabs.report.plots import pyplot, save

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 4))
        bins = np.linspace(0, np.percentile(lengths, 99), 60)
        for label in (0, 1):
            ax.hist(lengths[y == label], bins=bins, alpha=0.55, label=LABELS[label])
        ax.set(xlabel="tokens per review", ylabel="reviews", title="review length by class (training split)")
        ax.legend()
        save(fig, Path(outdir) / "review_length_by_class.png")

    def explore(self, cfg: ImdbConfig, outdir=None) -> dict:
        reviews = _reviews()
        lengths = np.array([len(text.tokenize(t)) for t in reviews.texts])
        info = {"reviews": len(reviews.texts)}
        for s, split in enumerate(text.SPLITS):
            for c, label in enumerate(LABELS):
                mask = (reviews.split == s) & (reviews.labels == c)
                info[f"{split}_{label}"] = int(mask.sum())
                info[f"{split}_{label}_ratings"] = {int(k): int(v) for k, v in zip(*np.unique(reviews.rating[mask], return_counts=True))}
        info.update(tokens_median=float(np.median(lengths)), tokens_max=int(lengths.max()),
                    with_html_breaks=int(sum("<br" in t for t in reviews.texts)))
        if outdir is not None:
            Path(outdir).mkdir(parents=True, exist_ok=True)
            train = reviews.split == 0
            self._length_plot(lengths[train], reviews.labels[train], outdir)
        return info

    # predict --------------------------------------------------------------------------------
    def predict(self, model, state, cfg, inputs, fields) -> list[dict]:
        from scipy import sparse

        model.eval()
        vocab, out = text.NgramVocabulary.from_state(state), []
        for review, warnings in text.read_inputs(inputs, fields, MAX_CHARS):
            x = vocab.transform([text.tokenize(review)])
            terms = x.indices[:2000]
            if len(terms) == 0:
                warnings.append("no word of this text is in the training vocabulary: the probability is the model's prior")
            # evidence by occlusion: how much the logit falls when one term is taken out (exact for the linear head)
            rows = sparse.vstack([x] + [_without(x, j) for j in terms]).tocsr()
            with torch.inference_mode():
                batch = text.SparseBatcher(rows, np.zeros(rows.shape[0]), _form(cfg)).batch(np.arange(rows.shape[0]))
                logits = model(*batch[:-1]).numpy().ravel().astype(np.float64)
            prob = float(1 / (1 + np.exp(-logits[0])))
            push = logits[0] - logits[1:]
            order = np.argsort(push)
            evidence = {"positive": [[vocab.term(terms[i]), round(float(push[i]), 4)] for i in order[::-1][:8] if push[i] > 0],
                        "negative": [[vocab.term(terms[i]), round(float(push[i]), 4)] for i in order[:8] if push[i] < 0]}
            out.append({"text": review[:80], "probability_positive": round(prob, 4), "label": LABELS[int(prob >= 0.5)],
                        "top": [{"label": "positive", "probability": round(prob, 4)},
                                {"label": "negative", "probability": round(1 - prob, 4)}],
                        "evidence": evidence, "known_terms": int(x.nnz), **({"warnings": warnings} if warnings else {})})
        return out

    def format(self, predictions: list[dict]) -> str:
        lines = []
        for p in predictions:
            lines.append(f"{p['label']:<8} P(positive)={p['probability_positive']:.3f}  {p['text']!r}")
            for side in ("positive", "negative"):
                if p["evidence"][side]:
                    lines.append(f"  {side}: " + ", ".join(f"{t} ({w:+.2f})" for t, w in p["evidence"][side][:5]))
            lines += [f"  warning: {w}" for w in p.get("warnings", [])]
        return "\n".join(lines)


def _without(x, j: int):
    """A one-row CSR matrix `x` with term `j` removed."""
    keep = x.indices != j
    from scipy import sparse

    return sparse.csr_matrix((x.data[keep], x.indices[keep], [0, int(keep.sum())]), shape=x.shape)
