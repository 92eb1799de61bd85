"""The command-line app, its shared options, and `main`."""

from __future__ import annotations

import json
import logging
import os
import sys

import typer

from dlabs.errors import DlabsError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="dlabs: every lab of a deep-learning course, end to end on real data.")
data_app = typer.Typer(no_args_is_help=True, help="Get, verify and describe data sets.")
app.add_typer(data_app, name="data")
faces_app = typer.Typer(no_args_is_help=True, help="The faces lab's gallery: enroll, list and remove people.")
app.add_typer(faces_app, name="faces")

RUNS = typer.Option(None, "--runs", help="runs folder (default $DLABS_RUNS or ./runs)")
DEVICE = typer.Option("auto", "--device", help="auto | cpu | cuda | mps")


@app.callback()
def _main(verbose: bool = typer.Option(False, "-v", "--verbose",
                                       help="log a line per epoch (and per protocol step) to standard error"),
          quiet: bool = typer.Option(False, "-q", "--quiet", help="warnings and errors only")):
    other_rank = os.environ.get("RANK", "0") != "0"  # under torchrun, rank 0 alone reports
    logging.basicConfig(level=logging.WARNING if quiet or other_rank else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    if verbose and not other_rank:
        logging.getLogger("dlabs").setLevel(logging.DEBUG)


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


JSON = typer.Option(False, "--json", help="print the result as JSON on standard output")


def main() -> None:
    try:
        app()
    except DlabsError as e:
        typer.echo(f"error: {e}", err=True)
        raise SystemExit(2)
    except OSError as e:  # the machine's fault, not dlabs' (a full disk, no permission): one line too
        where = e.filename or "a file"
        typer.echo(f"error: {DlabsError(f'{where}: {e.strerror or e}')}", err=True)
        raise SystemExit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted (a training run can be continued with: dlabs train --resume RUN)", err=True)
        raise SystemExit(130)
