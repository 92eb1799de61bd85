"""What the classification labs (`mnist`, `fashion`, `letters`) share: everything but data and model.

`ClassifierLab` prepares the official train/test split (a validation share for early stopping
is taken from the training split only), trains with cross-entropy (optionally label-smoothed;
vectorised ensembles are supported), evaluates accuracy and macro F1 on the test split, fits a
logistic-regression baseline on the same training rows, draws the confusion matrix, per-class
precision/recall/F1 and the most confident mistakes, and turns predictions into top-3 lists.
A lab supplies its arrays (`load`), its preprocessing (`fit_state`, `to_tensor`), its model,
and how it reads predict input (`read_inputs`) and shows one example (`draw`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from dlabs.config import option
from dlabs.engine import metrics as M
from dlabs.labs import _export
from dlabs.labs._keras import VAL_SPLIT_HELP, validation_rows
from dlabs.labs.base import Baseline, Evaluation, Lab, TrainData


@dataclass(frozen=True)
class DataConfig:
    val_fraction: float = option(0.1, "share of the training split held out for validation; 0 = none")
    val_split: str = option("seeded", VAL_SPLIT_HELP)
    limit: int = option(0, "use only the first N training examples (quick runs); 0 = all")


def accuracy(out, target) -> dict:
    return {"accuracy": (out.argmax(-1) == target).float().mean()}


@dataclass
class TestSplit:
    """The raw test examples, their labels, and the model's input made from them with the saved state."""

    x: np.ndarray
    y: np.ndarray
    tensor: object
    state: dict


class ClassifierLab(Lab):
    task = "classification"
    headline = "accuracy"
    labels: ClassVar[tuple[str, ...]] = ()
    compare_manual = True
    bench_presets = ("manual", "best")  # so the bench's `best` evaluation reuses the manual run just trained
    export = _export.classifier  # dlabs export: the whole predictor as one ONNX graph

    # what a lab supplies ----------------------------------------------------------------------
    def load(self, cfg) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x_train, y_train, x_test, y_test) of the official split, as NumPy arrays."""
        raise NotImplementedError

    def fit_state(self, cfg, x_fit: np.ndarray) -> dict:
        """Preprocessing fitted on the rows the model is fitted on."""
        return {}

    def to_tensor(self, x: np.ndarray, state: dict):
        """Model input from raw arrays (the form the batcher holds)."""
        raise NotImplementedError

    def baseline_features(self, x: np.ndarray, state: dict) -> np.ndarray:
        """Flat float features for the logistic-regression baseline."""
        raise NotImplementedError

    def read_inputs(self, state: dict, cfg, request) -> tuple[list[str], np.ndarray]:
        """(a name per example, raw arrays like `load`'s) from a predict `Request`."""
        raise NotImplementedError

    def draw(self, ax, x: np.ndarray) -> None:
        """Show one raw example on a matplotlib axis (the mistakes gallery)."""
        ax.text(0.5, 0.5, np.array2string(np.asarray(x).ravel(), max_line_width=24), ha="center", va="center",
                fontsize=6, family="monospace")

    # the Lab interface ------------------------------------------------------------------------
    def train_data(self, cfg, seed: int) -> TrainData:
        import torch

        from dlabs.engine.trainer import TensorBatcher

        x_tr, y_tr, _, _ = self.load(cfg)
        if cfg.data.limit:
            x_tr, y_tr = x_tr[:cfg.data.limit], y_tr[:cfg.data.limit]
        fit_idx, val_idx = (np.sort(i) for i in validation_rows(np.arange(len(x_tr)), cfg.data.val_fraction,
                                                                cfg.data.val_split, seed))
        state = {"labels": list(self.labels), **self.fit_state(cfg, x_tr[fit_idx])}

        def batcher(x, y):
            return TensorBatcher(self.to_tensor(x, state), torch.as_tensor(y, dtype=torch.int64))

        return TrainData(batcher(x_tr[fit_idx], y_tr[fit_idx]),
                         batcher(x_tr[val_idx], y_tr[val_idx]) if len(val_idx) else None, state,
                         {"train": len(fit_idx), "validation": len(val_idx)})

    def test_data(self, cfg, state: dict) -> TestSplit:
        _, _, x_te, y_te = self.load(cfg)
        return TestSplit(x_te, y_te, self.to_tensor(x_te, state), state)

    def loss_fn(self, cfg):
        from dlabs.models.losses import EnsembleCrossEntropy

        return EnsembleCrossEntropy(getattr(cfg, "label_smoothing", 0.0))

    def metrics_fn(self, cfg):
        return accuracy

    def proba(self, model, x, cfg, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities of raw-form inputs, in batches, on the model's device."""
        import torch

        device = next(model.parameters()).device
        model.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                xb = x[start:start + batch_size].to(device)
                out.append(torch.softmax(model(xb).float(), -1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def evaluate(self, model, test: TestSplit, device) -> Evaluation:
        proba = self.proba(model.net, test.tensor, model.cfg)
        per_class = M.per_class(test.y, proba.argmax(1), list(self.labels))
        return Evaluation(M.classification(test.y, proba), {"proba": proba},
                          {"classes": len(self.labels), "test": len(test.y), "per_class": per_class})

    def baselines(self, cfg, seed: int, test: TestSplit) -> dict:
        from dlabs.models.logistic import LogisticRegression

        x_tr, y_tr, _, _ = self.load(cfg)
        if cfg.data.limit:
            x_tr, y_tr = x_tr[:cfg.data.limit], y_tr[:cfg.data.limit]
        t0 = time.perf_counter()  # the same preprocessing as the model: the run's saved state
        est = LogisticRegression().fit(self.baseline_features(x_tr, test.state), y_tr)
        proba = est.predict_proba(self.baseline_features(test.x, test.state))
        return {"logistic_regression": Baseline(M.classification(test.y, proba), time.perf_counter() - t0)}

    def plots(self, model, test: TestSplit, evaluation: Evaluation, outdir) -> None:
        from dlabs.report import plots as P

        proba = evaluation.predictions["proba"]
        y_true, y_pred = test.y, proba.argmax(1)
        labels = list(self.labels)
        P.confusion_matrix(y_true, y_pred, labels, outdir / "confusion_matrix.png")
        self._per_class_plot(evaluation.info["per_class"], outdir / "per_class.png")
        self._mistakes_plot(test.x, y_true, proba, outdir / "most_confident_mistakes.png")

    @staticmethod
    def _per_class_plot(per_class: dict, path) -> None:
        from dlabs.report.plots import pyplot, save

        plt = pyplot()

        names = list(per_class)
        fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names) + 2), 4))
        pos = np.arange(len(names))
        for i, key in enumerate(("precision", "recall", "f1")):
            ax.bar(pos + (i - 1) * 0.27, [per_class[n][key] for n in names], 0.27, label=key)
        lo = min(min(v["precision"], v["recall"]) for v in per_class.values())
        ax.set_ylim(max(0.0, lo - 0.05), 1.0)
        ax.set_xticks(pos, names)
        ax.set(title="per-class precision, recall and F1 (test split)")
        ax.legend(loc="lower right")
        save(fig, path)

    def _mistakes_plot(self, x: np.ndarray, y_true: np.ndarray, proba: np.ndarray, path, count: int = 24) -> None:
        from dlabs.report.plots import pyplot, save

        plt = pyplot()

        wrong = np.nonzero(proba.argmax(1) != y_true)[0]
        wrong = wrong[np.argsort(-proba[wrong].max(1))][:count]
        cols = 8
        rows = max(1, -(-len(wrong) // cols))
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5, rows * 1.8), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for ax, i in zip(axes.ravel(), wrong):
            self.draw(ax, x[i])
            p = proba[i]
            ax.set_title(f"true {self.labels[y_true[i]]}\nsaid {self.labels[p.argmax()]} {p.max():.0%}", fontsize=8)
        fig.suptitle(f"the {len(wrong)} most confident mistakes on the test split")
        save(fig, path)

    def explore(self, cfg, outdir=None) -> dict:
        x_tr, y_tr, x_te, y_te = self.load(cfg)
        info = {"train": len(x_tr), "test": len(x_te), "shape": list(x_tr.shape[1:]), "classes": len(self.labels),
                "train_class_counts": dict(zip(self.labels, np.bincount(y_tr, minlength=len(self.labels)).tolist())),
                "test_class_counts": dict(zip(self.labels, np.bincount(y_te, minlength=len(self.labels)).tolist()))}
        if outdir is not None:
            from dlabs.report.plots import pyplot, save

            plt = pyplot()
            Path(outdir).mkdir(parents=True, exist_ok=True)
            fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(self.labels) + 2), 3.5))
            ax.bar(self.labels, np.bincount(y_tr, minlength=len(self.labels)))
            ax.set(title="training examples per class", ylabel="count")
            save(fig, Path(outdir) / "class_counts.png")
        return info

    def predict(self, model, request) -> list[dict]:
        state = model.state
        names, x = self.read_inputs(state, model.cfg, request)
        proba = _export.proba(self, model, x)  # in PyTorch, or ONNX Runtime for an exported model
        labels = state.get("labels", list(self.labels))
        out = []
        for name, p in zip(names, proba):
            top = np.argsort(-p)[:3]
            out.append({"input": name, "top": [{"label": labels[k], "probability": round(float(p[k]), 4)} for k in top]})
        return out

    def format(self, predictions: list[dict]) -> str:
        return "\n".join(f"{p['input']}: " + ", ".join(f"{t['label']} {t['probability']:.1%}" for t in p["top"])
                         for p in predictions)
