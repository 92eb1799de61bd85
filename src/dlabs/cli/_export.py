"""The `export` verb: a run's predictor as an ONNX graph with preprocessing.json and a model card."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dlabs.cli._app import JSON, RUNS, _echo_json, app


@app.command("export")
def export(run: str = typer.Argument(..., help="a run folder"),
           fmt: str = typer.Option("onnx", "--format", help="onnx (the only format)"),
           out: Optional[Path] = typer.Option(None, "--out", help="the export folder (default: RUN/onnx)"),
           runs: Optional[Path] = RUNS, as_json: bool = JSON):
    """Export a run's whole predictor as ONNX, checked with ONNX Runtime against PyTorch on test examples."""
    from dlabs import api

    r = api.export(run, fmt, out, runs)
    if as_json:
        return _echo_json(r)
    c = r["check"]
    agreement = "" if c["class_agreement"] is None else f", class agreement {c['class_agreement']:.2%}"
    typer.echo(f"{r['export']}\nchecked with ONNX Runtime against PyTorch on {c['examples']} test examples: "
               f"largest absolute difference {c['max_abs_diff']:.2g}{agreement}")
