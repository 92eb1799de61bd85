"""The `tune` verb: a hyper-parameter search with Optuna (`dlabs.api.tune`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dlabs.cli._app import DEVICE, JSON, RUNS, _echo_json, app


@app.command()
def tune(lab: str, preset: str = typer.Option("best", "--preset", "-p", help="the preset whose settings are searched"),
         trials: int = typer.Option(..., "--trials", help="trials to add to the study"),
         timeout: Optional[float] = typer.Option(None, "--timeout", help="start no trial after S seconds"),
         study: Optional[str] = typer.Option(None, "--study", help="study name (default LAB-PRESET)"),
         storage: Optional[str] = typer.Option(None, "--storage", help="SQLAlchemy URL of the study database, shared "
                                               "by every process that tunes it (default: sqlite under runs/LAB/tune/)"),
         set_: List[str] = typer.Option([], "--set", help="key=value for every trial (that key is then not searched)"),
         device: str = DEVICE, seed: int = typer.Option(0, "--seed"), runs: Optional[Path] = RUNS,
         as_json: bool = JSON):
    """Search a preset's settings on the validation split (Optuna, TPE, median pruning), then train and
    test the best trial as a run; the same command again adds trials to the same study."""
    from dlabs import api

    result = api.tune(lab, preset, trials, timeout, study, storage, set_, device, seed, runs)
    if as_json:
        return _echo_json(result)
    typer.echo(api.tune_text(result))
