"""The verbs that use a trained model: predict, and the faces gallery."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from dlabs.cli._app import JSON, RUNS, _echo_json, app, faces_app


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def predict(lab: str, inputs: List[str] = typer.Argument(None, help="inputs: files, text, JSON, - for standard "
                                                                     "input, or --option value pairs"),
            run: str = typer.Option("latest", "--run", help="run folder or id (default: the lab's latest)"),
            file: List[Path] = typer.Option([], "--file", help="read input from this file (text labs: one a line)"),
            out: Path = typer.Option(Path("."), "--out", help="folder for files a prediction makes (a plot, a photo)"),
            onnx: Optional[Path] = typer.Option(None, "--onnx", help="predict with this export folder (dlabs export) "
                                                                     "through ONNX Runtime, instead of a run"),
            runs: Optional[Path] = RUNS, as_json: bool = JSON):
    """Use a trained model on your own input.

    A lab's own options follow the inputs as --name value (an option with no value is a switch):
    mnist, fashion and agegender take --explain, a saliency map of each photo written into --out.
    """
    from dlabs import api

    items, options = api.split_options(inputs or [])
    if not items and not options and not file and not sys.stdin.isatty():
        items = ["-"]
    preds = api.save_outputs(api.predict(lab, items, run, options, runs, files=file, onnx=onnx), out)
    typer.echo(json.dumps(preds, indent=2) if as_json else api.format_predictions(lab, preds))


@faces_app.command("enroll")
def faces_enroll(name: str = typer.Argument(..., help="the person's name"),
                 photos: List[Path] = typer.Argument(..., help="photos with the person's face, one face each"),
                 run: str = typer.Option("latest", "--run", help="run folder or id (default: the latest faces run)"),
                 runs: Optional[Path] = RUNS, as_json: bool = JSON):
    """Add a person (or more photos of one) to the gallery; stores embeddings, not photos."""
    from dlabs import api

    r = api.gallery_enroll(name, photos, run, runs)
    if as_json:
        return _echo_json(r)
    typer.echo(f"{r['name']}: {r['photos']} photo(s) in {r['gallery']}")


@faces_app.command("list")
def faces_list(run: str = typer.Option("latest", "--run", help="run folder or id (default: the latest faces run)"),
               runs: Optional[Path] = RUNS, as_json: bool = JSON):
    """The people in the gallery."""
    from dlabs import api

    people = api.gallery_people(run, runs)
    if as_json:
        return _echo_json(people)
    for p in people:
        typer.echo(f"{p['name']:<32} {p['photos']:>4} photo(s)  {p['source']}")


@faces_app.command("remove")
def faces_remove(name: str, run: str = typer.Option("latest", "--run", help="run folder or id"),
                 runs: Optional[Path] = RUNS, as_json: bool = JSON):
    """Remove a person from the gallery."""
    from dlabs import api

    r = api.gallery_remove(name, run, runs)
    if as_json:
        return _echo_json(r)
    typer.echo(f"removed {r['removed']}; {r['left']} people left")
