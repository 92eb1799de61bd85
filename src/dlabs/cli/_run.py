"""The verbs that train, evaluate, report and serve."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from dlabs.cli._app import DEVICE, JSON, RUNS, _echo_json, app, data_app
from dlabs.errors import DlabsError


@app.command("list")
def list_(runs: Optional[Path] = RUNS, as_json: bool = JSON):
    """Labs, whether their data is present, and the best run so far."""
    from dlabs import api

    rows = api.list_labs(runs)
    if as_json:
        return _echo_json(rows)
    for r in rows:
        best = f"{r['headline']} {r['best']:.4g} ({r['best_run']})" if r["best_run"] else "no run yet"
        typer.echo(f"{r['lab']:<10} data {r['data']:<8} {best:<40} {r['title']}")


@data_app.command("fetch")
def data_fetch(name: str = typer.Argument(..., help="a lab, a data set, or 'all'"), as_json: bool = JSON):
    """Get and verify (sha256) every file; prints where each one lives."""
    from dlabs import api

    found = api.data_fetch(name)
    _echo_files(found, as_json)


@data_app.command("verify")
def data_verify(name: str = typer.Argument(..., help="a lab, a data set, or 'all'"), as_json: bool = JSON):
    """Hash every file that is present again (sha256), whatever was remembered about it."""
    from dlabs import api

    found = api.data_verify(name)
    _echo_files(found, as_json)


def _echo_files(found: dict, as_json: bool) -> None:
    """Verified files, by data set and role: JSON, or a line each."""
    if as_json:
        return _echo_json(found)
    for ds, files in found.items():
        for role, path in files.items():
            typer.echo(f"{ds}/{role}: ok  {path}")


@data_app.command("path")
def data_path(name: str = typer.Argument(..., help="a lab, a data set, or 'all'"), as_json: bool = JSON):
    """Where each verified file lives."""
    from dlabs import api

    found = api.data_path(name)
    if as_json:
        return _echo_json(found)
    for files in found.values():
        for path in files.values():
            typer.echo(path)


@data_app.command("info")
def data_info(lab: str, plots: Optional[Path] = typer.Option(None, "--plots", help="write exploration plots here"),
              as_json: bool = JSON):
    """Summary statistics of a lab's data."""
    from dlabs import api

    info = api.data_info(lab, outdir=plots)
    if as_json:
        return _echo_json(info)
    for key, value in info.items():
        if isinstance(value, str) and "\n" in value:
            typer.echo(f"{key}:\n{value}")
        else:
            typer.echo(f"{key}: {value}")


@app.command("config")
def config(lab: str, preset: str = typer.Option("best", "--preset", "-p"),
           set_: List[str] = typer.Option([], "--set", help="key=value override (repeatable)"), as_json: bool = JSON):
    """Every config key of a lab's preset with its value and meaning (what --set takes)."""
    from dlabs import api

    keys = api.show_config(lab, preset, set_)
    if as_json:
        return _echo_json([{"key": k, "value": v, "help": h} for k, v, h in keys])
    for key, value, help_ in keys:
        typer.echo(f"{key:<28} {value!s:<14} {help_}")


@app.command()
def train(lab: Optional[str] = typer.Argument(None, help="lab name (omit with --resume)"),
          preset: str = typer.Option("best", "--preset", "-p", help="manual | best | smoke (see `dlabs config`)"),
          set_: List[str] = typer.Option([], "--set", help="dotted key=value override, e.g. train.lr=3e-4"),
          device: str = DEVICE, seed: int = typer.Option(0, "--seed"), runs: Optional[Path] = RUNS,
          resume: Optional[Path] = typer.Option(None, "--resume", help="a run folder to resume from its last checkpoint"),
          nproc: int = typer.Option(1, "--nproc", help="train with N processes on this machine (torchrun, DDP)"),
          as_json: bool = JSON):
    """Train a lab's model into a new run folder; prints its path."""
    from dlabs import api

    if lab is None and resume is None:
        raise DlabsError("give a lab to train, or --resume RUN")
    if nproc > 1:  # the same command under PyTorch's own launcher, one process a rank
        raise SystemExit(api.launch(nproc, sys.argv[1:]))
    run = api.train(lab or "", preset, set_, device, seed, runs, resume=str(resume) if resume else None)
    if not api.is_main_process():
        return
    if as_json:
        return _echo_json({"run": str(run.path), **run.read_json("env.json")})
    typer.echo(str(run.path))


@app.command()
def evaluate(run: Path = typer.Argument(..., help="a run folder"), device: str = DEVICE, as_json: bool = JSON):
    """Metrics on the protocol's test split, beside the baselines."""
    from dlabs import api

    m = api.evaluate(str(run), device)
    if as_json:
        return _echo_json(m)
    typer.echo(api.metrics_text(m))


@app.command()
def report(target: str = typer.Argument(..., help="a lab, a run folder, or 'all' (the lab book of every lab)"),
           runs: Optional[Path] = RUNS, as_json: bool = JSON):
    """Write the HTML report with plots (all: the lab book, one self-contained file); prints its path."""
    from dlabs import api

    path = api.report(target, runs)
    if as_json:
        return _echo_json({"report": str(path)})
    typer.echo(str(path))


@app.command("run")
def run_(lab: str, preset: str = typer.Option("best", "--preset", "-p"),
         set_: List[str] = typer.Option([], "--set", help="dotted key=value override"),
         device: str = DEVICE, seed: int = typer.Option(0, "--seed"), runs: Optional[Path] = RUNS,
         as_json: bool = JSON):
    """Fetch, train, evaluate and report in one go."""
    from dlabs import api

    r = api.run(lab, preset, set_, device, seed, runs)
    if as_json:
        return _echo_json({"run": str(r.path), "report": str(r.file("report.html")), **r.read_json("metrics.json")})
    typer.echo(api.metrics_text(r.read_json("metrics.json")))
    typer.echo(f"report: {r.file('report.html')}")


@app.command()
def bench(lab: Optional[str] = typer.Argument(None, help="a lab (default: every lab)"), as_json: bool = JSON,
          device: str = DEVICE, seed: int = typer.Option(0, "--seed"), runs: Optional[Path] = RUNS,
          preset: List[str] = typer.Option([], "--preset", "-p", help="presets to bench (default: best, manual)")):
    """Train the presets afresh and print a results table against the baselines."""
    from dlabs import api

    results = [api.bench(name, device, seed, runs, preset or None) for name in ([lab] if lab else api.lab_names())]
    if as_json:
        return typer.echo(json.dumps(results[0] if lab else results, indent=2))
    for result in results:
        typer.echo(api.bench_text(result))


@app.command()
def serve(host: str = typer.Option("127.0.0.1", "--host", help="address to bind (default: this machine only)"),
          port: int = typer.Option(8000, "--port"), runs: Optional[Path] = RUNS,
          run: List[str] = typer.Option([], "--run", help="LAB=RUN: serve this run instead of the lab's latest")):
    """The web app: try every trained lab on your own input and read its report."""
    from dlabs.serve import serve_forever

    chosen = {}
    for item in run:
        lab, eq, ref = item.partition("=")
        if not eq or not lab or not ref:
            raise DlabsError(f"--run {item}: expected LAB=RUN, e.g. --run boston=20250101-120000-best")
        chosen[lab] = ref
    serve_forever(host, port, runs, chosen)
