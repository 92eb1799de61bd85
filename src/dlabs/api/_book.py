"""What the lab book shows, gathered from a runs folder: each lab's latest evaluated runs, plots
and data exploration, and the studies' figures; `dlabs.report.book` writes it.

`report_all` (``dlabs report all``) first evaluates and reports each lab's latest run where that
has not been done, and explores each lab's data once (the plots and summary are kept under
``runs/book/data/<lab>/``); `book_html` (the web app's ``/book``) only reads what is there.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from dlabs import config as config_
from dlabs import paths
from dlabs.api._data import _lab
from dlabs.api._study import read_study
from dlabs.api._studies import STUDIES
from dlabs.engine.metrics import better
from dlabs.errors import DlabsError

log = logging.getLogger("dlabs.api")

PRESETS = ("manual", "best")  # the rows of a chapter's table, when evaluated


def report_all(runs=None) -> Path:
    """Evaluate what is missing, then write ``runs/book.html``: the lab book."""
    from dlabs.api._evaluate import evaluate
    from dlabs.engine.runfolder import latest
    from dlabs.labs import labs
    from dlabs.report.book import write_book
    from dlabs.report.html import write_report

    for name, lab in labs().items():
        run = latest(name, runs)
        if run is not None and not run.exists("metrics.json"):
            log.info("book: evaluating %s/%s", name, run.id)
            evaluate(run)
        if run is not None and not run.exists("report.html"):
            write_report(run, lab.title, lab.notes)
    labs_, studies, meta = gather(runs, explore=True)
    return write_book(labs_, studies, meta, paths.runs_dir(runs) / "book.html")


def book_html(runs=None) -> str:
    """The lab book from what the runs folder holds now (nothing trained, evaluated or explored)."""
    from dlabs.report.book import book_html as render

    return render(*gather(runs, explore=False))


def gather(runs=None, explore: bool = False) -> tuple[dict, dict, dict]:
    """(what each lab's chapter shows, each study's figures or declaration, the book's metadata)."""
    import dlabs
    from dlabs.labs import labs

    out = {}
    for name, lab in labs().items():
        shown = _runs(name, runs)
        keys = {k for r in shown for m in [r["metrics"].get("model", {})] + [b.get("metrics", {}) for b in
                                                                           r["metrics"].get("baselines", {}).values()]
                for k in m}
        info, data_plots = _data(name, shown, runs, explore)
        out[name] = {"title": lab.title, "task": lab.task, "protocol": lab.protocol, "headline": lab.headline,
                     "lower_is_better": sorted(k for k in keys if better(k, 0.0, 1.0)), "runs": shown,
                     "data": info, "data_plots": data_plots}
    studies = {s.name: read_study(s.name, runs) or {"name": s.name, "lab": s.lab, "title": s.title,
                                                     "expectation": s.expectation, "pending": True} for s in STUDIES}
    meta = {"written": time.strftime("%Y-%m-%d %H:%M"), "runs": str(paths.runs_dir(runs)), "version": dlabs.__version__}
    return out, studies, meta


def _runs(name: str, runs) -> list[dict]:
    """The latest evaluated run of the manual and best presets (or, with neither, of any preset)."""
    from dlabs.engine.runfolder import runs_of

    evaluated = [r for r in runs_of(name, runs) if r.exists("metrics.json")]
    by_preset = {}
    for r in evaluated:  # oldest first, so the newest of each preset stays
        by_preset[r.read_json("config.json")["preset"]] = r
    chosen = [by_preset[p] for p in PRESETS if p in by_preset] or evaluated[-1:]
    out = []
    for r in chosen:
        plots = sorted(r.plots_dir().glob("*.png"), key=lambda p: (p.stem != "learning_curves", p.stem))
        out.append({"id": r.id, "preset": r.read_json("config.json")["preset"], "metrics": r.read_json("metrics.json"),
                    "env": r.read_json("env.json"), "plots": [str(p) for p in plots], "path": str(r.path)})
    return out


def _data(name: str, shown: list[dict], runs, explore: bool) -> tuple[dict, list[str]]:
    """A lab's data summary and exploration plots: kept under runs/book/data/<lab>/, made there once
    (with `explore`) by the lab's own `explore`, with the config of the run shown (else `best`'s: the
    data as the model saw it, and what its training already cached); a run's own data plots are
    used where it has them."""
    folder = paths.runs_dir(runs) / "book" / "data" / name
    if explore and not (folder / "info.json").is_file():
        lab = _lab(name)
        meta = json.loads(Path(shown[-1]["path"], "config.json").read_text()) if shown else None
        try:
            log.info("book: exploring the %s data", name)
            info = lab.explore(config_.from_dict(lab.Config, meta["config"]) if meta else lab.config("best"), folder)
        except DlabsError as e:  # no data here (yet): said in the book, tried again next time
            return {"data": f"not explored ({e}); get it with: dlabs data fetch {name}"}, []
        folder.mkdir(parents=True, exist_ok=True)
        paths.atomic_write(folder / "info.json", json.dumps(info, indent=2, default=str) + "\n")
    info = json.loads((folder / "info.json").read_text()) if (folder / "info.json").is_file() else {}
    own = next((found for r in shown[::-1] if (found := sorted(Path(r["path"], "plots", "data").glob("*.png")))), [])
    return info, [str(p) for p in own or sorted(folder.glob("*.png"))]
