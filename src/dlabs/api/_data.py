"""The lab registry, data sets, configs and run folders as plain functions (quick: no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlabs import config as config_
from dlabs.engine.metrics import better
from dlabs.errors import DlabsError


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


def data_verify(name: str) -> dict[str, dict[str, str]]:
    """Hash every present file of a lab's data sets (or of `all`) again, whatever was remembered."""
    from dlabs.data.store import verify_all

    return {ds: {role: str(p) for role, p in verify_all(ds).items()} for ds in _datasets_of(name)}


def data_path(name: str) -> dict[str, dict[str, str]]:
    return data_fetch(name)


def data_info(lab: str, preset: str = "best", outdir: Path | None = None) -> dict:
    """Summary statistics of a lab's data (and exploration plots into `outdir`)."""
    lab_ = _lab(lab)
    return lab_.explore(lab_.config(preset), outdir)


def show_config(lab: str, preset: str = "best", overrides=()) -> list[tuple[str, Any, str]]:
    return config_.keys(_lab(lab).config(preset, overrides))


def open_run(ref, lab: str | None = None, runs=None):
    """A run folder by path, id or ``latest`` (see `Run.open`)."""
    return _run(ref, lab, runs)


def latest_run(lab: str, runs=None):
    from dlabs.engine.runfolder import latest

    return latest(lab, runs)


def lab_names() -> list[str]:
    from dlabs.labs import labs

    return list(labs())


def load(run, runs=None, expect: str | None = None):
    """The trained `Model` of a run folder (lab, config, preprocessing state, network on the CPU in
    eval mode); with `expect`, a run of any other lab is an error."""
    from dlabs.labs.base import Model

    run = _run(run, runs=runs)
    meta = run.read_json("config.json")
    if not isinstance(meta, dict) or not {"lab", "config", "seed"} <= set(meta):
        raise DlabsError(f"{run.path / 'config.json'}: not a run's config (it names the lab, config and seed)")
    if expect is not None and meta["lab"] != expect:
        raise DlabsError(f"{run.path} is a run of '{meta['lab']}', not '{expect}'")
    lab = _lab(meta["lab"])
    cfg = config_.from_dict(lab.Config, meta["config"])
    state = run.load_state()
    net = lab.build_model(cfg, state)
    run.load_weights(net)
    return Model(lab, cfg, state, net.eval(), run.path, meta["seed"])
