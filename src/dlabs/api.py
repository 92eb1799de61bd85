"""The verbs of dlabs as plain Python functions; the CLI is a thin table over these.

    from dlabs import api
    run = api.train("boston", preset="smoke")
    api.evaluate(run)
    api.predict("boston", ['{"CRIM": 0.1, ...}'], run=run)
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from dlabs import config as config_
from dlabs.errors import DlabsError

log = logging.getLogger(__name__)

LOWER_IS_BETTER = {"rmse", "mae", "mape", "loss", "age_mae", "backtest_rmse", "eer"}


def better(metric: str, a: float, b: float) -> bool:
    """Whether `a` is a better value of `metric` than `b`."""
    return a < b if metric in LOWER_IS_BETTER or metric.endswith(("_rmse", "_mae")) else a > b


def _lab(name: str):
    from dlabs.labs import get_lab

    return get_lab(name)


def _run(ref, lab: str | None = None, runs=None):
    from dlabs.engine.runfolder import Run

    return ref if isinstance(ref, Run) else Run.open(ref, lab=lab, runs=runs)


def list_labs(runs=None) -> list[dict]:
    """Every lab with whether its data is present and its best finished run so far."""
    from dlabs.data import store
    from dlabs.engine.runfolder import runs_of
    from dlabs.labs import labs

    out = []
    for name, lab in labs().items():
        try:
            for ds in lab.datasets:
                for role in store.dataset(ds).roles():
                    _present(ds, role)
            data = "present"
        except DlabsError:
            data = "missing"
        best = None
        for r in runs_of(name, runs):
            if not r.exists("metrics.json"):
                continue
            value = r.read_json("metrics.json")["model"].get(lab.headline)
            if value is not None and (best is None or better(lab.headline, value, best[1])):
                best = (r.id, value)
        out.append({"lab": name, "title": lab.title, "data": data, "headline": lab.headline,
                    "best_run": best[0] if best else None, "best": best[1] if best else None})
    return out


def _present(ds: str, role: str) -> Path:
    """A data file's local path without downloading (list must be quick and offline)."""
    from dlabs import paths
    from dlabs.data import store

    spec_names = [f.name for f in store.dataset(ds).files if f.key == role]
    for name in spec_names:
        for base in filter(None, [paths.home() / "data", paths.mirror()]):
            if (base / ds / name).is_file():
                return base / ds / name
    raise DlabsError(f"{ds}/{role} not present")


def _datasets_of(name: str) -> list[str]:
    from dlabs.data import datasets
    from dlabs.labs import labs

    if name == "all":
        return list(datasets())
    if name in labs():
        return list(labs()[name].datasets)
    if name in datasets():
        return [name]
    raise DlabsError(f"unknown lab or data set '{name}' (labs: {', '.join(labs())}; "
                     f"data sets: {', '.join(datasets())})")


def data_fetch(name: str) -> dict[str, dict[str, str]]:
    """Get and verify every file of a lab's data sets (or of `all`)."""
    from dlabs.data import fetch_all

    return {ds: {role: str(p) for role, p in fetch_all(ds).items()} for ds in _datasets_of(name)}


def data_path(name: str) -> dict[str, dict[str, str]]:
    return data_fetch(name)


def data_info(lab: str, preset: str = "best", outdir: Path | None = None) -> dict:
    """Summary statistics of a lab's data (and exploration plots into `outdir`)."""
    lab_ = _lab(lab)
    return lab_.explore(lab_.config(preset), outdir)


def show_config(lab: str, preset: str = "best", overrides=()) -> list[tuple[str, Any, str]]:
    return config_.keys(_lab(lab).config(preset, overrides))


def _setup(lab, cfg, seed: int, device: str):
    from dlabs.engine.device import pick_device, set_seed

    dev = pick_device(device)
    if cfg.train.threads > 0:
        import torch

        torch.set_num_threads(cfg.train.threads)
    set_seed(seed)
    data = lab.prepare(cfg, seed)
    return dev, data


def train(lab: str = "", preset: str = "best", overrides=(), device: str = "auto", seed: int = 0,
          runs=None, resume=None, progress: bool | None = None, callbacks: dict | None = None):
    """Train a lab's model into a new run folder (or resume an interrupted one); returns the Run.

    `callbacks` maps a trainer event (``on_epoch_end``) to a list of functions ``fn(trainer, row)``.
    """
    from dlabs.engine.device import environment
    from dlabs.engine.runfolder import Run
    from dlabs.engine.trainer import Trainer

    if resume is not None:
        run = _run(resume, lab, runs)
        meta = run.read_json("config.json")
        lab_ = _lab(meta["lab"])
        if run.exists("model.safetensors") and not run.exists("checkpoint.pt"):
            raise DlabsError(f"{run.path}: this run already finished; nothing to resume")
        cfg = config_.from_dict(lab_.Config, meta["config"])
        seed, preset = meta["seed"], meta["preset"]
    else:
        lab_ = _lab(lab)
        cfg = lab_.config(preset, overrides)
        run = Run.create(lab_.name, preset, runs)
        run.write_json("config.json", {"lab": lab_.name, "preset": preset, "seed": seed,
                                       "overrides": list(overrides), "config": config_.to_dict(cfg)})
    dev, data = _setup(lab_, cfg, seed, device)
    run.write_json("env.json", environment(dev, seed) | {"started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    run.save_state(data.state)
    model = lab_.build_model(cfg, data.state)
    trainer = Trainer(cfg.train, dev, seed=seed, transform=lab_.augment(cfg),
                      checkpoint=run.file("checkpoint.pt"), progress=progress)
    for event, fns in (callbacks or {}).items():
        for fn in fns:
            trainer.add_callback(event, fn)
    log.info("training %s/%s on %s (%d train, %d val examples)", lab_.name, run.id, dev,
             len(data.train), len(data.val) if data.val is not None else 0)
    history = trainer.fit(model, data.train, data.val, loss_fn=lab_.loss_fn(cfg),
                          metrics_fn=lab_.metrics_fn(cfg), resume=resume is not None)
    fitted = lab_.after_fit(model, data, cfg, trainer, run)
    if fitted:
        run.save_state(data.state | fitted)
    run.save_weights(model.cpu())
    run.save_history(history)
    env = run.read_json("env.json")
    trained = (history[-1]["seconds"] if history else 0.0) + data.info.get("fit_seconds", 0.0)
    env.update(train_seconds=trained, epochs_run=len(history), finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    run.write_json("env.json", env)
    run.file("checkpoint.pt").unlink(missing_ok=True)
    log.info("trained %s in %.1fs: %s", run.id, env["train_seconds"], run.path)
    return run


def load(run, runs=None, expect: str | None = None):
    """(lab, config, preprocessing state, model on CPU in eval mode) from a run folder; with
    `expect`, a run of any other lab is an error."""
    run = _run(run, runs=runs)
    meta = run.read_json("config.json")
    if expect is not None and meta["lab"] != expect:
        raise DlabsError(f"{run.path} is a run of '{meta['lab']}', not '{expect}'")
    lab = _lab(meta["lab"])
    cfg = config_.from_dict(lab.Config, meta["config"])
    state = run.load_state()
    state["run"] = str(run.path)  # for labs that keep files beside the model (the faces gallery)
    model = lab.build_model(cfg, state)
    run.load_weights(model)
    return lab, cfg, state, model.eval()


def evaluate(run, device: str = "auto", runs=None, protocols: bool = True) -> dict:
    """Test-split metrics of a run beside the lab's baselines (and extra protocols); writes metrics.json and plots."""
    from dlabs.engine.trainer import Trainer

    run = _run(run, runs=runs)
    lab, cfg, _, model = load(run)
    seed = run.read_json("config.json")["seed"]
    dev, data = _setup(lab, cfg, seed, device)
    trainer = Trainer(cfg.train, dev, seed=seed, progress=False)
    model.to(dev)
    metrics = lab.evaluate(model, data, cfg, trainer)
    baselines = lab.baselines(data, cfg, seed)
    preset = run.read_json("config.json")["preset"]
    if preset == "best" and lab.compare_manual:
        baselines["manual"] = _manual_baseline(lab, run, seed, device)
    result = {"lab": lab.name, "run": run.id, "preset": preset,
              "protocol": data.info.get("protocol", lab.protocol), "split": "test", "device": str(dev),
              "train_seconds": run.read_json("env.json").get("train_seconds"),
              "model": metrics, "baselines": baselines, "info": data.info}
    if protocols:
        result["protocols"] = lab.protocols(cfg, seed, dev)
    result["verdict"] = verdict(lab.headline, metrics, baselines)
    for pname, p in result.get("protocols", {}).items():  # the same sentences for each extra protocol
        result["verdict"] += [f"{pname}: {v}" for v in verdict(
            lab.headline, p.get("model", {}), {b: {"metrics": bm} for b, bm in p.get("baselines", {}).items()})]
    run.write_json("metrics.json", result)
    _learning_curves(run)
    lab.plots(run, model, data, cfg, trainer)
    return result


def _manual_baseline(lab, run, seed: int, device: str) -> dict:
    """The `manual` preset as a baseline of a `best` run: the newest evaluated run of the preset's own
    config and the same seed in the same runs folder, or else one trained and evaluated now."""
    from dlabs.engine.runfolder import runs_of

    root, want = run.path.parent.parent, json.loads(config_.dumps(lab.config("manual")))

    def same(r) -> bool:
        meta = r.read_json("config.json")
        return r.exists("metrics.json") and (meta["preset"], meta["seed"], meta["config"]) == ("manual", seed, want)

    found = [r for r in runs_of(lab.name, root) if same(r)]
    if found:
        manual = found[-1]
        m = manual.read_json("metrics.json")
    else:
        manual = train(lab.name, "manual", device=device, seed=seed, runs=root, progress=False)
        m = evaluate(manual, device, protocols=False)
    return {"metrics": m["model"], "train_seconds": m["train_seconds"], "run": manual.id}


def verdict(metric: str, model: dict, baselines: dict) -> list[str]:
    """Plain sentences: does the model beat each baseline on the headline metric?"""
    out = []
    if metric not in model:
        return out
    for name, b in baselines.items():
        other = b["metrics"].get(metric)
        if other is None:
            continue
        wins = better(metric, model[metric], other)
        word = "beats" if wins else "does NOT beat"
        by = f", {abs(model[metric] - other) / abs(other):.1%} {'better' if wins else 'worse'}" if other else ""
        out.append(f"the model {word} {name} on {metric} ({model[metric]:.4g} vs {other:.4g}{by})")
    return out


def _learning_curves(run) -> None:
    from dlabs.report.plots import pyplot, save

    hist = run.history()
    if hist.empty:
        return
    plt = pyplot()
    cols = [c for c in hist.columns if c.endswith("loss")]
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in cols:
        ax.plot(hist["epoch"], hist[c], label=c)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title("learning curves")
    ax.legend()
    save(fig, run.plots_dir() / "learning_curves.png")


def predict(lab: str, inputs: list[str], run="latest", fields: dict[str, str] | None = None, runs=None) -> list[dict]:
    """Predictions of a trained run on new input (see each lab's `predict` for the forms)."""
    lab_ = _lab(lab)
    _, cfg, state, model = load(_run(run, lab_.name, runs), expect=lab_.name)
    return lab_.predict(model, state, cfg, list(inputs), dict(fields or {}))


def report(target: str, runs=None) -> Path:
    """HTML report of a run (path or id), of a lab's latest run, or of `all` labs (an index page)."""
    from dlabs.engine.runfolder import Run, latest
    from dlabs.labs import labs
    from dlabs.report.html import write_index, write_report

    if target == "all":
        done = {}
        for name in labs():
            run = latest(name, runs)
            if run is not None:
                done[name] = report(str(run.path))
        return write_index(done, runs)
    if target in labs():
        run = latest(target, runs)
        if run is None:
            raise DlabsError(f"no trained run of '{target}'; train one with: dlabs run {target}")
    else:
        run = Run.open(target)
    if not run.exists("metrics.json"):
        evaluate(run)
    return write_report(run)


def run(lab: str, preset: str = "best", overrides=(), device: str = "auto", seed: int = 0, runs=None,
        progress: bool | None = None):
    """Fetch, train, evaluate and report in one go; returns the Run."""
    data_fetch(lab)
    r = train(lab, preset, overrides, device, seed, runs, progress=progress)
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


def serve(host: str = "127.0.0.1", port: int = 8000, runs=None, chosen: dict[str, str] | None = None) -> None:
    """Serve the web app (pages and JSON API) for every lab's latest (or chosen) run until stopped."""
    import uvicorn

    from dlabs.serve import create_app

    app = create_app(runs, chosen)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding to %s: anyone who can reach this machine on port %d can use the app", host, port)
    log.info("serving %s on http://%s:%d (API docs at /docs)", app.state.runs.root, host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")
