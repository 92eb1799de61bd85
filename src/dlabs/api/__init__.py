"""The verbs of dlabs as plain Python functions; the CLI is a thin table over these.

    from dlabs import api
    run = api.train("boston", preset="smoke")
    api.evaluate(run)
    api.predict("boston", ['{"CRIM": 0.1, ...}'], run=run)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from dlabs.api._data import (_lab, _run, data_fetch, data_info, data_path, data_verify, lab_names, latest_run,
                             list_labs, load, open_run, show_config)
from dlabs.api._evaluate import evaluate
from dlabs.api._export import export
from dlabs.api._io import check_image, predict_model, read_inputs, save_outputs, split_options
from dlabs.api._book import book_html
from dlabs.api._study import list_studies, read_study, run_study
from dlabs.api._train import is_main_process, launch, train
from dlabs.api._tune import tune
from dlabs.engine.metrics import better, verdict
from dlabs.errors import DlabsError
from dlabs.report.study import tune_text
from dlabs.report.text import bench_text, metrics_text

log = logging.getLogger(__name__)

__all__ = ["train", "load", "evaluate", "predict", "report", "run", "bench", "list_labs", "lab_names", "data_fetch",
           "data_path", "data_info", "show_config", "open_run", "latest_run", "read_inputs", "save_outputs",
           "format_predictions", "metrics_text", "bench_text", "better", "verdict", "gallery_enroll", "gallery_people",
           "gallery_remove", "is_main_process", "launch", "split_options", "tune", "tune_text",
           "predict_model", "check_image", "data_verify", "export", "book_html", "list_studies", "read_study", "run_study"]


def predict(lab: str, inputs=(), run="latest", options: dict[str, str] | None = None, runs=None,
            files=(), onnx=None) -> list[dict]:
    """Predictions of a trained run on new input (see each lab's `predict` for the forms).

    `inputs` are text (a review, a JSON object, CSV text), bytes, or, for the image and CSV
    labs and for a tabular lab's CSV or JSON file, file paths; ``-`` is standard input. `files`
    are read as files whatever the lab (a text lab takes one review a line). Files a prediction
    makes are `Output` values: `save_outputs` writes them. With `onnx`, an export folder (`export`)
    predicts instead of the run, through ONNX Runtime and without importing torch.
    """
    from dlabs.api import _onnx
    from dlabs.labs.base import Request

    lab_ = _lab(lab)
    model = _onnx.load(onnx, expect=lab_.name) if onnx else load(_run(run, lab_.name, runs), expect=lab_.name)
    return predict_model(model, Request(read_inputs(lab_.input_kind, inputs, files), dict(options or {})))


def format_predictions(lab: str, predictions: list[dict]) -> str:
    return _lab(lab).format(predictions)


def gallery_enroll(name: str, photos, run="latest", runs=None) -> dict:
    """Add a person (or more photos of one) to a faces run's gallery; keeps embeddings, not photos."""
    from dlabs.labs import _gallery

    return _gallery.enroll(load(_run(run, "faces", runs), expect="faces"), name, read_inputs("image", photos))


def gallery_people(run="latest", runs=None) -> list[dict]:
    from dlabs.labs import _gallery

    return _gallery.people(_run(run, "faces", runs).path)


def gallery_remove(name: str, run="latest", runs=None) -> dict:
    from dlabs.labs import _gallery

    return _gallery.remove(_run(run, "faces", runs).path, name)


def report(target: str, runs=None) -> Path:
    """HTML report of a run (path or id), of a lab's latest run, or of `all` labs: the lab book
    (``runs/book.html``, one self-contained file; see `dlabs.api._book`)."""
    from dlabs.engine.runfolder import Run, latest
    from dlabs.labs import labs
    from dlabs.report.html import write_report

    if target == "all":
        from dlabs.api._book import report_all

        return report_all(runs)
    if target in labs():
        run = latest(target, runs)
        if run is None:
            raise DlabsError(f"no trained run of '{target}'; train one with: dlabs run {target}")
    else:
        run = Run.open(target)
    if not run.exists("metrics.json"):
        evaluate(run)
    lab = _lab(run.lab)
    return write_report(run, lab.title, lab.notes)


def run(lab: str, preset: str = "best", overrides=(), device: str = "auto", seed: int = 0, runs=None,
        progress: bool | None = None):
    """Fetch, train, evaluate and report in one go; returns the Run."""
    from dlabs.engine import distributed

    data_fetch(lab)
    r = train(lab, preset, overrides, device, seed, runs, progress=progress)
    if not distributed.is_main():
        return r
    evaluate(r, device)
    report(str(r.path))
    return r


def bench(lab: str, device: str = "auto", seed: int = 0, runs=None, presets=None, overrides=()) -> dict:
    """Train the lab's presets afresh and measure them beside its baselines on the protocol."""
    lab_ = _lab(lab)
    rows, baselines, protocol_rows = [], {}, {}
    for preset in presets or lab_.bench_presets:
        t0 = time.perf_counter()
        r = train(lab, preset, overrides, device, seed, runs, progress=False)
        m = evaluate(r, device)
        log.info("%s %s: %s (%.1fs)", lab, preset, m["model"], time.perf_counter() - t0)
        row = {"name": preset, "kind": "preset", "metrics": m["model"],
               "train_seconds": round(m["train_seconds"], 2), "run": str(r.path)}
        for pname, p in m.get("protocols", {}).items():
            row[pname] = p.get("model", {})
            row["metrics"].update(_protocol_headline(lab_, pname, p.get("model", {})))
            for bname, bmetrics in p.get("baselines", {}).items():
                protocol_rows.setdefault(bname, {})[pname] = bmetrics
        rows.append(row)
        baselines = baselines or m["baselines"]
        device_used = m["device"]
    for name, b in baselines.items():
        extra = protocol_rows.get(name, {})
        metrics = dict(b["metrics"])
        for pname, pm in extra.items():
            metrics.update(_protocol_headline(lab_, pname, pm))
        rows.append({"name": name, "kind": "baseline", "metrics": metrics,
                     "train_seconds": round(b.get("train_seconds", 0.0), 3), **extra})
    return {"lab": lab, "protocol": lab_.protocol, "device": device_used, "rows": rows}


def _protocol_headline(lab, pname: str, metrics: dict) -> dict:
    """An extra protocol's mean of the headline metric as a bench metric, e.g. ``backtest_rmse``."""
    return {f"{pname}_{lab.headline}": metrics[lab.headline]} if lab.headline in metrics else {}
