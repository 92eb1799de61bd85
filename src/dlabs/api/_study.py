"""Running a study (`dlabs.api._studies`): its variants trained through `api.train`, each measured,
and the study's figures (``study.json``) and plot (``study.png``) kept under
``runs/studies/<name>/`` (the smoke form under ``runs/studies/<name>/smoke/``), with the run
folder of every variant beside them in ``runs/``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from dlabs import paths
from dlabs.jsonable import jsonable
from dlabs.api._data import load
from dlabs.api._studies import STUDIES, get
from dlabs.api._train import _setup, train

log = logging.getLogger("dlabs.api")


def study_dir(name: str, runs=None, smoke: bool = False) -> Path:
    root = paths.runs_dir(runs) / "studies" / name
    return root / "smoke" if smoke else root


def questions_of(name: str) -> list[str]:
    """The course questions a study answers, as ``lab: question``."""
    from dlabs.report.course import COURSE

    return [f"{c.lab}: {q.text}" for c in COURSE for q in c.questions if name in q.studies]


def list_studies(runs=None) -> list[dict]:
    """Every study with the questions it answers and its latest finding, if it has been run."""
    out = []
    for s in STUDIES:
        found = read_study(s.name, runs)
        out.append({"name": s.name, "lab": s.lab, "title": s.title, "questions": questions_of(s.name),
                    "expectation": s.expectation, "variants": [v.label for v in s.variants],
                    "done": found is not None and not found["smoke"], "finding": found["finding"] if found else None,
                    "holds": found["holds"] if found else None})
    return out


def read_study(name: str, runs=None) -> dict | None:
    """A study's saved figures (the real form's, else the smoke form's), with the path of its plot."""
    for smoke in (False, True):
        folder = study_dir(name, runs, smoke)
        if (folder / "study.json").is_file():
            result = json.loads((folder / "study.json").read_text())
            result["plot"] = str(folder / "study.png") if (folder / "study.png").is_file() else None
            return result
    return None


def run_study(name: str, smoke: bool = False, runs=None, device: str = "auto", seed: int = 0) -> dict:
    """Train and measure every variant of a study, judge the result, and save its figures and plot."""
    from dlabs.report.studyplot import draw

    study, folder = get(name), study_dir(name, runs, smoke)
    t0, rows = time.perf_counter(), []
    for i, v in enumerate(study.variants, 1):
        overrides = (*study.settings, *(study.smoke if smoke else ()), *v.overrides)
        log.info("study %s: variant %d/%d, %s", name, i, len(study.variants), v.label)
        run = train(study.lab, study.preset, overrides, device, seed, folder / "runs", progress=False)
        env = run.read_json("env.json")
        scores = _measure(load(run), study.measure, device)
        scores["seconds_per_epoch"] = env["train_seconds"] / max(1, env["epochs_run"])
        rows.append({"label": v.label, "overrides": list(overrides), "run": str(run.path.relative_to(folder)),
                     "command": " ".join([f"dlabs train {study.lab} --preset {study.preset}",
                                          *(f"--set {o}" for o in overrides)]),
                     "train_seconds": env["train_seconds"], "epochs": env["epochs_run"],
                     "history": run.history().to_dict("records"), "scores": scores})
    judged = study.judge(rows)
    result = {"name": name, "lab": study.lab, "title": study.title, "questions": questions_of(name),
              "expectation": study.expectation, "preset": study.preset, "smoke": smoke, "seed": seed,
              "device": env.get("device", device), "seconds": round(time.perf_counter() - t0, 1),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "holds": bool(judged["holds"]),
              "finding": judged["finding"], "marks": judged.get("marks", []),
              "curves": [list(c) for c in study.curves], "bars": [list(b) for b in study.bars], "variants": rows}
    if smoke:
        result["finding"] = "Smoke form (tiny settings, for tests): these numbers show nothing. " + result["finding"]
    result = jsonable(result)
    paths.atomic_write(folder / "study.json", json.dumps(result, indent=2) + "\n")
    draw(result, folder / "study.png")
    log.info("study %s: %s", name, result["finding"])
    return result | {"plot": str(folder / "study.png")}


def _measure(model, what: tuple[str, ...], device: str) -> dict:
    """Scores of a trained variant: `fit` (eval-mode loss and metrics on the fitting and validation rows,
    re-read with the run's seed) and `test` (the lab's own evaluation on its test split)."""
    from dlabs.engine.trainer import predict

    lab, cfg = model.lab, model.cfg
    dev = _setup(cfg, model.seed, device)
    net = model.net.to(dev)
    out = {"parameters": sum(p.numel() for p in net.parameters()),
           "target_scale": float(model.state.get("y_scale", [1.0])[0])}  # a regression target's saved scaler
    if "fit" in what:
        data, loss_fn, metrics_fn = lab.train_data(cfg, model.seed), lab.loss_fn(cfg), lab.metrics_fn(cfg)
        for part, batcher in (("train", data.train), ("val", data.val)):
            if batcher is None:
                continue
            y_hat, y = predict(net, batcher, dev)
            out[f"{part}_loss"] = float(loss_fn(y_hat, y))
            out.update({f"{part}_{k}": float(v) for k, v in (metrics_fn(y_hat, y) if metrics_fn else {}).items()})
    if "test" in what:
        ev = lab.evaluate(model, lab.test_data(cfg, model.state), dev)
        out.update({f"test_{k}": v for k, v in ev.metrics.items() if isinstance(v, (int, float))})
    return out
