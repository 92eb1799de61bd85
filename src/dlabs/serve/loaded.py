"""The served runs: each lab's latest (or chosen) run, loaded once and kept in memory.

A lab whose run folder is not there yet is looked for again on the next request, so a run
trained while the server is up appears without a restart; once loaded, a run stays. What the
pages show about a run (its headline metric, metrics against baselines, plots, form) is read
from the run folder alone.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlabs import api, paths
from dlabs.errors import DlabsError
from dlabs.labs import Lab, Model, Request, labs


@dataclass
class Loaded:
    """One lab's run in memory: the trained `Model`, and what the pages show."""

    run: Any
    model: Model
    form: dict
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state(self) -> dict:
        return self.model.state

    def predict(self, request: Request) -> list[dict]:
        # one prediction at a time per lab: a lab's predict may draw with pyplot or keep other
        # state that is not thread-safe, and on a CPU torch already uses every core for one call
        with self.lock:
            return api.predict_model(self.model, request)


class Runs:
    """The runs the app serves, by lab name."""

    def __init__(self, runs_dir: str | Path | None = None, chosen: dict[str, str] | None = None):
        self.root = paths.runs_dir(runs_dir)
        self.chosen = dict(chosen or {})
        for name in self.chosen:
            if name not in labs():
                raise DlabsError(f"--run {name}=...: unknown lab (labs: {', '.join(labs())})")
        self._loaded: dict[str, Loaded] = {}
        self._lock = threading.Lock()
        for name in self.chosen:
            self.find(name)  # a chosen run that is not there is an error at start, not on every page

    def find(self, name: str):
        """The run folder to serve for a lab, without loading it (None: no finished run)."""
        if name in self.chosen:
            return api.open_run(self.chosen[name], name, self.root)
        return api.latest_run(name, self.root)

    def get(self, name: str) -> Loaded:
        """The lab's run in memory, loaded on first use; a `NoRun` error when there is none."""
        if name in self._loaded:
            return self._loaded[name]
        with self._lock:
            if name not in self._loaded:
                run = self.find(name)
                if run is None:
                    raise NoRun(name, self.root)
                model = api.load(run, expect=name)
                self._loaded[name] = Loaded(run, model, build_form(model.lab, model.state))
        return self._loaded[name]

    def state_of(self, name: str) -> tuple[Any, dict] | None:
        """A lab's run and its preprocessing state (for the form) without loading the model."""
        if name in self._loaded:
            return self._loaded[name].run, self._loaded[name].state
        run = self.find(name)
        return (run, run.load_state()) if run is not None else None

    def summary(self, name: str) -> dict:
        """What the home page shows for a lab: its latest run's headline metric, or how to train one."""
        lab = labs()[name]
        out = {"lab": name, "title": lab.title, "task": lab.task, "input_kind": lab.input_kind,
               "headline": lab.headline, "protocol": lab.protocol, "run": None, "value": None,
               "train_command": train_command(name)}
        run = self.find(name)
        if run is None:
            return out
        meta = run.read_json("config.json")
        out.update(run=run.id, preset=meta.get("preset"))
        if run.exists("metrics.json"):
            m = run.read_json("metrics.json")
            out["value"] = _finite(m.get("model", {}).get(lab.headline))
            out["verdict"] = m.get("verdict", [])
        return out

    def details(self, name: str) -> dict:
        """Everything the lab page shows: summary, form, metrics beside baselines, plots, report link."""
        out = self.summary(name)
        lab = labs()[name]
        out["notes"] = lab.notes
        found = self.state_of(name)
        out["form"] = build_form(lab, found[1] if found else {})
        if found is None:
            return out
        run = found[0]
        out["env"] = _pick(run.read_json("env.json"), ("device", "train_seconds", "epochs_run", "finished", "seed"))
        if run.exists("metrics.json"):
            m = run.read_json("metrics.json")
            out["metrics"] = {k: m.get(k) for k in ("protocol", "split", "model", "baselines", "protocols", "verdict")}
            keys = {k for r in [m.get("model", {})] + [b.get("metrics", {}) for b in m.get("baselines", {}).values()]
                    for k in r}
            out["lower_is_better"] = sorted(k for k in keys if api.better(k, 0.0, 1.0))
        base = f"/runs/{name}/{run.id}"
        out["plots"] = [f"{base}/plots/{p.name}" for p in sorted((run.path / "plots").glob("*.png"))]
        out["data_plots"] = [f"{base}/plots/data/{p.name}" for p in sorted((run.path / "plots" / "data").glob("*.png"))]
        out["report"] = f"{base}/report.html" if run.exists("report.html") else None
        return out


class NoRun(DlabsError):
    """A lab has no finished run to serve."""

    def __init__(self, name: str, root: Path):
        super().__init__(f"no trained run of '{name}' in {root / name}; train one with: {train_command(name)}")


def train_command(name: str) -> str:
    return f"dlabs run {name} --preset smoke   (seconds; or --preset best for the real model)"


def build_form(lab: Lab, state: dict) -> dict:
    """The input form for a lab: the default for its input kind, updated by its `form` hook."""
    form: dict[str, Any] = {"kind": lab.input_kind, "options": [], "example": "", "help": "", "draw": False}
    if lab.input_kind == "tabular":
        names = [str(n) for n in state.get("features", [])]
        means = state.get("x_mean")
        examples = [float(v) for v in means] if means is not None and len(means) == len(names) else [None] * len(names)
        form["fields"] = [{"name": n, "example": _round(e), "help": ""} for n, e in zip(names, examples)]
        form["help"] = "Prefilled with the training rows' means; change any value." if means is not None else ""
    elif lab.input_kind == "image":
        form["accept"] = "image/png,image/jpeg,image/gif,image/bmp,image/webp"
    elif lab.input_kind == "csv":
        form["accept"] = ".csv,text/csv,text/plain"
    form.update(lab.form(state) if state else {})
    return form


def _round(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.4g}")


def _finite(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def _pick(d: dict, keys) -> dict:
    return {k: d[k] for k in keys if k in d}
