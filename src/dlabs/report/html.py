"""Write a run's HTML report from its run folder alone.

The page shows the protocol, a metrics table with the model beside every baseline (and the
extra protocols a lab adds, such as k-fold CV), a plain-words verdict, the lab's notes, every
PNG in ``plots/``, the data summary, the resolved config and the environment. Images are linked
relatively, so the folder can be moved or served as it is.
"""

from __future__ import annotations

import html
from pathlib import Path

from dlabs.engine.runfolder import Run
from dlabs.paths import atomic_write

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.bad{color:#a00;font-weight:bold}.good{color:#070}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.plots{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0;flex:1 1 45%;min-width:320px}
pre{background:#f8f8f8;padding:1em;overflow:auto;font-size:.85em}
"""


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def metrics_table(m: dict) -> str:
    rows = [("model (" + m.get("preset", "") + ")", m["model"], m.get("train_seconds"))]
    rows += [(name + (f" (run {b['run']})" if "run" in b else ""), b["metrics"], b.get("train_seconds"))
             for name, b in m.get("baselines", {}).items()]
    keys = list(dict.fromkeys(k for _, metrics, _ in rows for k in metrics))
    out = ["<table><tr><th>model</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys)
           + "<th>train seconds</th></tr>"]
    for name, metrics, secs in rows:
        out.append(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_fmt(metrics.get(k, ''))}</td>" for k in keys)
                   + f"<td>{_fmt(secs) if secs is not None else ''}</td></tr>")
    return "\n".join(out) + "</table>"


def _mean_sd(metrics: dict) -> dict:
    """Fold results as 'mean ± sd' cells."""
    return {k: (f"{v:.4g} ± {metrics[k + '_sd']:.2g}" if k + "_sd" in metrics else v)
            for k, v in metrics.items() if not k.endswith("_sd")}


def protocols_tables(m: dict) -> str:
    out = []
    for name, p in m.get("protocols", {}).items():
        out.append(f"<h3>{html.escape(p.get('protocol', name))}</h3>")
        out.append(metrics_table({"preset": m.get("preset", ""), "model": _mean_sd(p.get("model", {})),
                                  "baselines": {k: {"metrics": _mean_sd(v)} for k, v in p.get("baselines", {}).items()}}))
    return "\n".join(out)


def write_report(run: Run, title: str, notes: str = "") -> Path:
    """The run's report.html, from its folder alone (the lab's `title` and `notes` given)."""
    m = run.read_json("metrics.json")
    meta = run.read_json("config.json")
    env = run.read_json("env.json")
    verdict = "".join(
        f"<li class='{'bad' if 'NOT' in v else 'good'}'>{html.escape(v)}</li>" for v in m.get("verdict", []))
    def figures(folder: Path) -> str:
        return "<div class='plots'>" + "".join(
            f"<figure><img src='{p.relative_to(run.path).as_posix()}' alt='{html.escape(p.stem)}'>"
            f"<figcaption>{html.escape(p.stem.replace('_', ' '))}</figcaption></figure>"
            for p in sorted(folder.glob("*.png"))) + "</div>"

    import json

    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>dlabs {meta['lab']} {run.id}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Run <code>{html.escape(run.id)}</code>, preset <b>{html.escape(meta['preset'])}</b>, seed {meta['seed']},
device {html.escape(env.get('device', ''))}, trained in {_fmt(env.get('train_seconds', 0.0))} s
over {env.get('epochs_run', '?')} epochs.</p>
<h2>Results</h2>
<p>Protocol: {html.escape(m.get('protocol', ''))}; split: <b>{html.escape(m.get('split', 'test'))}</b>.
The test split was used for nothing but this table.</p>
{metrics_table(m)}
<ul>{verdict}</ul>
{protocols_tables(m)}
{f"<h2>Notes</h2><p>{html.escape(notes)}</p>" if notes else ""}
<h2>Plots</h2>{figures(run.plots_dir())}
<h2>Data</h2><pre>{html.escape(json.dumps(m.get('info', {}), indent=2))}</pre>
{figures(run.plots_dir() / "data")}
<h2>Config</h2><pre>{html.escape(json.dumps(meta, indent=2))}</pre>
<h2>Environment</h2><pre>{html.escape(json.dumps(env, indent=2))}</pre>
</body></html>"""
    path = run.file("report.html")
    atomic_write(path, body)
    return path

