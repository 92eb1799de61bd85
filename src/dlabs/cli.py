"""The command line: a thin table from verb to a function in `dlabs.api`.

Heavy libraries (torch, matplotlib, pandas) are imported inside the verbs, so ``dlabs --help``
starts at once. A `DlabsError` prints one line on standard error and exits with status 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

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
def _main(verbose: bool = typer.Option(False, "-v", "--verbose", help="log every epoch"),
          quiet: bool = typer.Option(False, "-q", "--quiet", help="warnings and errors only")):
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for noisy in ("matplotlib", "PIL", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command("list")
def list_(runs: Optional[Path] = RUNS, as_json: bool = typer.Option(False, "--json")):
    """Labs, whether their data is present, and the best run so far."""
    from dlabs import api

    rows = api.list_labs(runs)
    if as_json:
        return _echo_json(rows)
    for r in rows:
        best = f"{r['headline']} {r['best']:.4g} ({r['best_run']})" if r["best_run"] else "no run yet"
        typer.echo(f"{r['lab']:<10} data {r['data']:<8} {best:<40} {r['title']}")


@data_app.command("fetch")
def data_fetch(name: str = typer.Argument(..., help="a lab, a data set, or 'all'")):
    """Get and verify (sha256) every file; prints where each one lives."""
    from dlabs import api

    for ds, files in api.data_fetch(name).items():
        for role, path in files.items():
            typer.echo(f"{ds}/{role}: ok  {path}")


@data_app.command("path")
def data_path(name: str = typer.Argument(..., help="a lab, a data set, or 'all'")):
    """Where each verified file lives."""
    from dlabs import api

    for files in api.data_path(name).values():
        for path in files.values():
            typer.echo(path)


@data_app.command("info")
def data_info(lab: str, plots: Optional[Path] = typer.Option(None, "--plots", help="write exploration plots here"),
              as_json: bool = typer.Option(False, "--json")):
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
           set_: List[str] = typer.Option([], "--set", help="key=value override (repeatable)")):
    """Every config key of a lab's preset with its value and meaning (what --set takes)."""
    from dlabs import api

    for key, value, help_ in api.show_config(lab, preset, set_):
        typer.echo(f"{key:<28} {value!s:<14} {help_}")


@app.command()
def train(lab: Optional[str] = typer.Argument(None, help="lab name (omit with --resume)"),
          preset: str = typer.Option("best", "--preset", "-p", help="manual | best | smoke (see `dlabs config`)"),
          set_: List[str] = typer.Option([], "--set", help="dotted key=value override, e.g. train.lr=3e-4"),
          device: str = DEVICE, seed: int = typer.Option(0, "--seed"), runs: Optional[Path] = RUNS,
          resume: Optional[Path] = typer.Option(None, "--resume", help="a run folder to resume from its last checkpoint")):
    """Train a lab's model into a new run folder."""
    from dlabs import api

    if lab is None and resume is None:
        raise DlabsError("give a lab to train, or --resume RUN")
    run = api.train(lab or "", preset, set_, device, seed, runs, resume=str(resume) if resume else None)
    typer.echo(str(run.path))


@app.command()
def evaluate(run: Path = typer.Argument(..., help="a run folder"), device: str = DEVICE,
             as_json: bool = typer.Option(False, "--json")):
    """Metrics on the protocol's test split, beside the baselines."""
    from dlabs import api

    m = api.evaluate(str(run), device)
    if as_json:
        return _echo_json(m)
    _print_metrics(m)


def _print_metrics(m: dict) -> None:
    rows = [(f"{m['preset']} (this run)", m["model"])] + [(n, b["metrics"]) for n, b in m["baselines"].items()]
    keys = list(dict.fromkeys(k for _, r in rows for k in r))
    typer.echo(f"{m['lab']}: {m['protocol']}, {m['split']} split")
    typer.echo(f"{'model':<26}" + "".join(f"{k:>12}" for k in keys))
    for name, r in rows:
        typer.echo(f"{name:<26}" + "".join(f"{r.get(k, float('nan')):>12.4g}" for k in keys))
    for p in m.get("protocols", {}).values():
        typer.echo(f"{p.get('protocol', '')}: " + ", ".join(f"{k} {v:.4g}" for k, v in p.get("model", {}).items()))
    for line in m.get("verdict", []):
        typer.echo(f"- {line}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def predict(lab: str, inputs: List[str] = typer.Argument(None, help="inputs: files, text, JSON, or --feature value pairs"),
            run: str = typer.Option("latest", "--run", help="run folder or id (default: the lab's latest)"),
            runs: Optional[Path] = RUNS, as_json: bool = typer.Option(False, "--json")):
    """Use a trained model on your own input."""
    from dlabs import api
    from dlabs.labs import get_lab

    items, fields, tokens, i = [], {}, list(inputs or []), 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            key, eq, value = tok[2:].partition("=")
            if not eq:
                if i + 1 >= len(tokens):
                    raise DlabsError(f"{tok}: missing value")
                value, i = tokens[i + 1], i + 1
            fields[key] = value
        else:
            items.append(tok)
        i += 1
    if not items and not fields and not sys.stdin.isatty():
        items = ["-"]
    preds = api.predict(lab, items, run, fields, runs)
    typer.echo(json.dumps(preds, indent=2) if as_json else get_lab(lab).format(preds))


@faces_app.command("enroll")
def faces_enroll(name: str = typer.Argument(..., help="the person's name"),
                 photos: List[Path] = typer.Argument(..., help="photos with the person's face, one face each"),
                 run: str = typer.Option("latest", "--run", help="run folder or id (default: the latest faces run)"),
                 runs: Optional[Path] = RUNS):
    """Add a person (or more photos of one) to the gallery; stores embeddings, not photos."""
    from dlabs.labs import _gallery

    r = _gallery.enroll(name, [str(p) for p in photos], run, runs)
    typer.echo(f"{r['name']}: {r['photos']} photo(s) in {r['gallery']}")


@faces_app.command("list")
def faces_list(run: str = typer.Option("latest", "--run", help="run folder or id (default: the latest faces run)"),
               runs: Optional[Path] = RUNS, as_json: bool = typer.Option(False, "--json")):
    """The people in the gallery."""
    from dlabs.labs import _gallery

    people = _gallery.gallery_people(run, runs)
    if as_json:
        return _echo_json(people)
    for p in people:
        typer.echo(f"{p['name']:<32} {p['photos']:>4} photo(s)  {p['source']}")


@faces_app.command("remove")
def faces_remove(name: str, run: str = typer.Option("latest", "--run", help="run folder or id"),
                 runs: Optional[Path] = RUNS):
    """Remove a person from the gallery."""
    from dlabs.labs import _gallery

    r = _gallery.remove(name, run, runs)
    typer.echo(f"removed {r['removed']}; {r['left']} people left")


@app.command()
def report(target: str = typer.Argument(..., help="a lab, a run folder, or 'all'"), runs: Optional[Path] = RUNS):
    """Write the HTML report with plots; prints its path."""
    from dlabs import api

    typer.echo(str(api.report(target, runs)))


@app.command("run")
def run_(lab: str, preset: str = typer.Option("best", "--preset", "-p"),
         set_: List[str] = typer.Option([], "--set", help="dotted key=value override"),
         device: str = DEVICE, seed: int = typer.Option(0, "--seed"), runs: Optional[Path] = RUNS):
    """Fetch, train, evaluate and report in one go."""
    from dlabs import api

    r = api.run(lab, preset, set_, device, seed, runs)
    _print_metrics(r.read_json("metrics.json"))
    typer.echo(f"report: {r.file('report.html')}")


@app.command()
def bench(lab: Optional[str] = typer.Argument(None, help="a lab (default: every lab)"), as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
          device: str = DEVICE, seed: int = typer.Option(0, "--seed"), runs: Optional[Path] = RUNS,
          preset: List[str] = typer.Option([], "--preset", "-p", help="presets to bench (default: best, manual)")):
    """Train the presets afresh and print a results table against the baselines."""
    from dlabs import api

    from dlabs.labs import labs

    results = [api.bench(name, device, seed, runs, preset or None) for name in ([lab] if lab else labs())]
    if as_json:
        return typer.echo(json.dumps(results[0] if lab else results, indent=2))
    for result in results:
        _print_bench(result)


def _print_bench(result: dict) -> None:
    keys = list(dict.fromkeys(k for r in result["rows"] for k in r["metrics"]))
    extra = list(dict.fromkeys(k for r in result["rows"] for k, v in r.items() if isinstance(v, dict) and k != "metrics"))

    def protocol_cell(row: dict, name: str) -> str:
        values = row.get(name) or {}
        first = next((k for k in values if not k.endswith("_sd")), None)
        if first is None:
            return ""
        sd = values.get(f"{first}_sd")
        return f"{first} {values[first]:.4g}" + (f" ± {sd:.2g}" if sd is not None else "")

    typer.echo(f"{result['lab']}: {result['protocol']} ({result['device']})")
    typer.echo(f"| {'model':<20} | {'kind':<8} | " + " | ".join(f"{k:>8}" for k in keys) + " | train s |"
               + "".join(f" {name:<20} |" for name in extra))
    typer.echo("|" + "---|" * (len(keys) + 3 + len(extra)))
    for r in result["rows"]:
        typer.echo(f"| {r['name']:<20} | {r['kind']:<8} | "
                   + " | ".join(f"{r['metrics'].get(k, float('nan')):>8.4g}" for k in keys)
                   + f" | {r['train_seconds']:>7.2f} |" + "".join(f" {protocol_cell(r, n):<20} |" for n in extra))
    typer.echo("")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", "--host", help="address to bind (default: this machine only)"),
          port: int = typer.Option(8000, "--port"), runs: Optional[Path] = RUNS,
          run: List[str] = typer.Option([], "--run", help="LAB=RUN: serve this run instead of the lab's latest")):
    """The web app: try every trained lab on your own input and read its report."""
    from dlabs import api

    chosen = {}
    for item in run:
        lab, eq, ref = item.partition("=")
        if not eq or not lab or not ref:
            raise DlabsError(f"--run {item}: expected LAB=RUN, e.g. --run boston=20250101-120000-best")
        chosen[lab] = ref
    api.serve(host, port, runs, chosen)


def main() -> None:
    # PyTorch's OpenMP threads otherwise busy-wait, which stalls them when anything else shares the
    # CPU (the manual's Fashion CNN ran at 119 img/s without this and 620 img/s with it on a busy
    # 2-core machine). Set before torch is first imported, which happens inside the verbs.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()
    except DlabsError as e:
        typer.echo(f"error: {e}", err=True)
        raise SystemExit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted (a training run can be continued with: dlabs train --resume RUN)", err=True)
        raise SystemExit(130)
