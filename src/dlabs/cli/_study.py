"""The `study` verbs: small experiments that answer the course's questions on the labs' own data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dlabs.cli._app import DEVICE, JSON, RUNS, _echo_json, app

study_app = typer.Typer(no_args_is_help=True,
                        help="Small experiments that answer the course's questions on the labs' own data.")
app.add_typer(study_app, name="study")


@study_app.command("list")
def study_list(runs: Optional[Path] = RUNS, as_json: bool = JSON):
    """Every study, the questions it answers, and whether it has been run."""
    from dlabs import api

    rows = api.list_studies(runs)
    if as_json:
        return _echo_json(rows)
    for r in rows:
        state = ("as expected" if r["holds"] else "not as expected") if r["done"] else "not run"
        typer.echo(f"{r['name']:<20} {r['lab']:<10} {state:<16} {r['title']}")
        for q in r["questions"]:
            typer.echo(f"{'':<20} answers {q}")


@study_app.command("run")
def study_run(name: str = typer.Argument(..., help="a study (see `dlabs study list`), or 'all'"),
              smoke: bool = typer.Option(False, "--smoke", help="the tiny form (seconds; the numbers mean nothing)"),
              device: str = DEVICE, seed: int = typer.Option(0, "--seed"), runs: Optional[Path] = RUNS,
              as_json: bool = JSON):
    """Train and measure a study's variants; prints what it found and where its plot is."""
    from dlabs import api

    names = [r["name"] for r in api.list_studies(runs)] if name == "all" else [name]
    results = [api.run_study(n, smoke, runs, device, seed) for n in names]
    if as_json:
        return _echo_json(results if name == "all" else results[0])
    for r in results:
        typer.echo(f"{r['name']}: {r['finding']}\nplot: {r['plot']}")
