"""Scoring a run folder on its lab's test split, beside the baselines and extra protocols."""

from __future__ import annotations

import logging

from dlabs import config as config_
from dlabs.api._data import _run, load
from dlabs.api._train import _setup, train
from dlabs.engine.metrics import verdict
from dlabs.errors import DlabsError

log = logging.getLogger("dlabs.api")


def evaluate(run, device: str = "auto", runs=None, protocols: bool = True) -> dict:
    """Test-split metrics of a run beside the lab's baselines (and extra protocols); writes
    metrics.json and plots. The model is scored with the state saved in the run folder: only
    the test split is read (and what the baselines and extra protocols declare)."""
    from dlabs.report.plots import learning_curves

    run = _run(run, runs=runs)
    model = load(run)
    lab, cfg, seed = model.lab, model.cfg, model.seed
    preset = run.read_json("config.json")["preset"]
    dev = _setup(cfg, seed, device)
    log.info("evaluating %s/%s on the test split", lab.name, run.id)
    test = lab.test_data(cfg, model.state)
    model.net.to(dev)
    ev = lab.evaluate(model, test, dev)
    baselines = {}
    for name, b in lab.baselines(cfg, seed, test).items():
        log.info("baseline %s: %s", name, _short(b.metrics))
        baselines[name] = {"metrics": b.metrics, "train_seconds": b.train_seconds}
    if preset == "best" and lab.compare_manual:
        baselines["manual"] = _manual_baseline(lab, run, seed, device)
    result = {"lab": lab.name, "run": run.id, "preset": preset, "protocol": ev.protocol or lab.protocol,
              "split": "test", "device": str(dev), "train_seconds": run.read_json("env.json").get("train_seconds"),
              "model": ev.metrics, "baselines": baselines, "info": ev.info}
    if protocols:
        result["protocols"] = lab.protocols(cfg, seed, dev)
    result["verdict"] = verdict(lab.headline, ev.metrics, baselines)
    for pname, p in result.get("protocols", {}).items():  # the same sentences for each extra protocol
        result["verdict"] += [f"{pname}: {v}" for v in verdict(
            lab.headline, p.get("model", {}), {b: {"metrics": bm} for b, bm in p.get("baselines", {}).items()})]
    run.write_json("metrics.json", result)
    ev.protocols = result.get("protocols", {})
    log.info("plots")
    learning_curves(run.history(), run.plots_dir() / "learning_curves.png")
    lab.plots(model, test, ev, run.plots_dir())
    return result


def _short(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:4] if isinstance(v, (int, float)))


def _manual_baseline(lab, run, seed: int, device: str) -> dict:
    """The `manual` preset as a baseline of a `best` run: the newest evaluated run of the preset's own
    config and the same seed in the same runs folder, or else one trained and evaluated now."""
    from dlabs.engine.runfolder import runs_of

    root, want = run.path.parent.parent, lab.config("manual")

    def same(r) -> bool:  # compared as resolved configs: an option added since the run has its default there
        meta = r.read_json("config.json")
        if not r.exists("metrics.json") or (meta["preset"], meta["seed"]) != ("manual", seed):
            return False
        try:
            return config_.from_dict(lab.Config, meta["config"]) == want
        except DlabsError:  # an option the lab no longer has
            return False

    found = [r for r in runs_of(lab.name, root) if same(r)]
    if found:
        manual = found[-1]
        m = manual.read_json("metrics.json")
    else:
        log.info("training the manual preset to compare with")
        manual = train(lab.name, "manual", device=device, seed=seed, runs=root, progress=False)
        m = evaluate(manual, device, protocols=False)
    return {"metrics": m["model"], "train_seconds": m["train_seconds"], "run": manual.id}
