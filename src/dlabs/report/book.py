"""The lab book: every lab of the course in one self-contained HTML file.

One chapter per lab in the order of the course (`dlabs.report.course`): the task and the data at a
glance (the lab's exploration plots), the manual's model beside `best` and the baselines (the
latest evaluated run of each preset), learning curves and the lab's key plots, the traps the course
material falls into and how dlabs avoids each, and the course's questions answered, with the
studies that measure them. Every image is inlined as a data URL and the page loads nothing else,
so the file can be mailed, opened offline, served (``dlabs serve`` at ``/book``) or printed to
PDF (each chapter starts a page; figures and tables are not split). `api` gathers what it shows:
this module reads no lab registry.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from dlabs.paths import atomic_write
from dlabs.report.course import COURSE, Chapter
from dlabs.report.html import protocols_tables

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1080px;margin:2em auto;padding:0 1.2em;
color:#1d1d1f;line-height:1.45}
h1{font-size:2em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2.2em}
h3{margin-top:1.6em}.part{color:#666;font-size:.95em;margin-top:-.6em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}td,th{border:1px solid #d6d6d6;padding:.25em .55em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
tr.model td{font-weight:600;background:#f7fbff}.best{color:#06612a}
img{max-width:100%;border:1px solid #eee}.figs{display:flex;flex-wrap:wrap;gap:.8em;align-items:flex-start}
figure{margin:0;flex:1 1 46%;min-width:300px;break-inside:avoid;page-break-inside:avoid}
figure.wide{flex-basis:100%}.figs.small figure{flex:0 1 31%;min-width:230px}figcaption{font-size:.8em;color:#555;text-align:center}
code{background:#f4f4f4;padding:0 .25em;border-radius:3px;font-size:.9em}
.trap{margin:.5em 0 .9em;break-inside:avoid}.trap b{color:#8a1c1c}.trap .fix{color:#215a2a}
.q{margin:1em 0;break-inside:avoid}.q .text{font-weight:600}.study{border:1px solid #ddd;border-radius:6px;
padding:.6em .9em;margin:1em 0;break-inside:avoid;page-break-inside:avoid}
.badge{display:inline-block;font-size:.75em;padding:.05em .5em;border-radius:1em;margin-left:.4em;vertical-align:middle}
.holds{background:#dff3e2;color:#15602a}.differs{background:#fde8d7;color:#8a4300}.pending{background:#eee;color:#555}
.norun{background:#fff7e0;border:1px solid #f0d890;padding:.5em .8em;border-radius:5px}
.verdict li.bad{color:#a00}.verdict li.good{color:#06612a}.muted{color:#666;font-size:.9em}
nav.toc ol{columns:2;font-size:.95em}
@media print{body{max-width:none;margin:0;font-size:10.5pt}section.chapter{page-break-before:always;break-before:page}
nav.toc{page-break-after:always}a{color:inherit;text-decoration:none}h2,h3{page-break-after:avoid;break-after:avoid}}
"""


def _e(v) -> str:
    return html.escape(str(v))


def _fmt(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return _e(v) if v is not None else "–"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 1:
        return f"{int(v):,}"
    return f"{v:.4g}"


def data_url(path) -> str:
    """A PNG as a data URL (the book loads nothing from outside the file)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _figure(path, caption: str = "", wide: bool = False) -> str:
    cap = caption or Path(path).stem.replace("_", " ")
    return (f"<figure{' class=wide' if wide else ''}><img src='{data_url(path)}' alt='{_e(cap)}'>"
            f"<figcaption>{_e(cap)}</figcaption></figure>")


def _figures(paths_: list, limit: int = 8, small: bool = False) -> str:
    figs = "".join(_figure(p) for p in paths_[:limit])
    return f"<div class='figs{' small' if small else ''}'>{figs}</div>" if paths_ else ""


def _results_table(runs: list[dict], headline: str, lower_is_better: set[str]) -> str:
    """The latest evaluated run of each preset, then the baselines of the last of them."""
    rows = [(f"{r['preset']} (run {r['id']})", r["metrics"].get("model", {}), True) for r in runs]
    shown = {r["preset"] for r in runs}
    for name, b in runs[-1]["metrics"].get("baselines", {}).items():
        if name not in shown:
            rows.append((name + (f" (run {b['run']})" if "run" in b else ""), b.get("metrics", {}), False))
    keys = [k for k in dict.fromkeys(k for _, m, _ in rows for k in m) if any(isinstance(m.get(k), (int, float))
                                                                              for _, m, _ in rows)]
    keys = sorted(keys, key=lambda k: k != headline)[:7]
    best = {}
    for k in keys:
        vals = [m[k] for _, m, _ in rows if isinstance(m.get(k), (int, float))]
        best[k] = min(vals) if k in lower_is_better else max(vals)
    out = ["<table><tr><th>model</th>" + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr>"]
    for name, m, mine in rows:
        cells = "".join(f"<td class='{'best' if m.get(k) == best[k] else ''}'>{_fmt(m.get(k))}</td>" for k in keys)
        out.append(f"<tr class='{'model' if mine else ''}'><td>{_e(name)}</td>{cells}</tr>")
    return "\n".join(out) + "</table>"


def _data_summary(info: dict) -> str:
    items = []
    for k, v in info.items():
        if isinstance(v, dict) and 0 < len(v) <= 12 and all(isinstance(x, (int, float, str)) for x in v.values()):
            v = ", ".join(f"{a}: {_fmt(b)}" for a, b in v.items())
        elif isinstance(v, (list, dict)) or (isinstance(v, str) and ("\n" in v or len(v) > 300)):
            continue
        items.append(f"<tr><td>{_e(k.replace('_', ' '))}</td><td style='text-align:left'>{_fmt(v)}</td></tr>")
    return f"<table>{''.join(items[:14])}</table>" if items else ""


def _study_card(name: str, result: dict) -> str:
    anchor = f"id='study-{_e(name)}'"
    if result.get("pending"):
        return (f"<div class='study' {anchor}><b>Study <code>{_e(name)}</code>: {_e(result['title'])}</b><span "
                f"class='badge pending'>not run yet</span><p class='muted'>Expected: {_e(result['expectation'])}. Run "
                f"it with <code>dlabs study run {_e(name)}</code> (a few minutes on a laptop CPU); the lab book shows "
                "what it measured the next time it is written.</p></div>")
    badge = ("<span class='badge holds'>as the textbook expects</span>" if result.get("holds")
             else "<span class='badge differs'>not as the textbook expects</span>")
    if result.get("smoke"):
        badge = "<span class='badge pending'>smoke form only</span>"
    plot = _figure(result["plot"], result["title"], wide=True) if result.get("plot") else ""
    return (f"<div class='study' {anchor}><b>Study <code>{_e(name)}</code>: {_e(result['title'])}</b>{badge}"
            f"<p class='muted'>Expected: {_e(result['expectation'])}. Measured on {_e(result.get('device', ''))} in "
            f"{_fmt(result.get('seconds'))} s, {len(result['variants'])} variants trained through the one fit "
            f"function; reproduce with <code>dlabs study run {_e(name)}</code>.</p>"
            f"<p>{_e(result['finding'])}</p>{plot}</div>")


def _chapter(n: int, ch: Chapter, lab: dict, studies: dict[str, dict]) -> str:
    out = [f"<section class='chapter' id='lab-{_e(ch.lab)}'><h2>{n}. {_e(lab['title'])}</h2>",
           f"<p class='part'>{_e(ch.part)} · lab <code>{_e(ch.lab)}</code> · {_e(lab['task'])}</p>",
           "<h3>The task and the data</h3>", f"<p>Protocol: {_e(lab['protocol'])}.</p>",
           _data_summary(lab.get("data", {})), _figures(lab.get("data_plots", []), 4, small=True)]
    runs = lab.get("runs", [])
    out.append("<h3>The manual's model, best and the baselines</h3>")
    if runs:
        m = runs[-1]["metrics"]
        out.append(f"<p class='muted'>{_e(m.get('protocol', ''))}; {_e(m.get('split', 'test'))} split, used for "
                   "nothing but these tables. Each row is the latest evaluated run of its preset.</p>")
        out.append(_results_table(runs, lab["headline"], set(lab.get("lower_is_better", []))))
        verdict = "".join(f"<li class='{'bad' if 'NOT' in v else 'good'}'>{_e(v)}</li>" for v in m.get("verdict", []))
        out.append(f"<ul class='verdict'>{verdict}</ul>" if verdict else "")
        out.append(protocols_tables(m).replace("<h3>", "<p class='muted'>").replace("</h3>", "</p>"))
        if not {"manual", "best"} <= {r["preset"] for r in runs}:
            missing = [p for p in ("manual", "best") if p not in {r["preset"] for r in runs}]
            out.append("<p class='muted'>No evaluated " + " or ".join(f"<code>{p}</code>" for p in missing) +
                       f" run yet: <code>dlabs run {_e(ch.lab)} --preset {missing[0]}</code> adds it.</p>")
        out.append("<h3>Learning curves and key plots</h3>")
        out.append(f"<p class='muted'>From run <code>{_e(runs[-1]['id'])}</code> ({_e(runs[-1]['preset'])}).</p>")
        out.append(_figures(runs[-1].get("plots", []), 8))
    else:
        out.append(f"<p class='norun'>No run of this lab yet. Make one with <code>dlabs run {_e(ch.lab)} --preset "
                   f"best</code> (or <code>--preset smoke</code> for a run of seconds), then write this book again "
                   "with <code>dlabs report all</code>.</p>")
    if ch.traps:
        out.append("<h3>Traps in the course material, and what dlabs does</h3>")
        out += [f"<div class='trap'><b>Trap.</b> {_e(t.trap)}<br><span class='fix'><b>dlabs.</b> {_e(t.fix)}</span></div>"
                for t in ch.traps]
    if ch.questions:
        out.append("<h3>The course's questions</h3>")
        for q in ch.questions:
            refs = ", ".join(f"<a href='#study-{_e(s)}'>{_e(s)}</a>" for s in q.studies)
            out.append(f"<div class='q'><div class='text'>{_e(q.text)}</div><div>{_e(q.answer)}</div>"
                       + (f"<div class='muted'>Measured in: {refs}</div>" if refs else "") + "</div>")
    own = [name for name, s in studies.items() if s["lab"] == ch.lab]
    if own:
        out.append("<h3>Studies on this lab's data</h3>")
        out += [_study_card(s, studies[s]) for s in own]
    return "\n".join(out) + "</section>"


def book_html(labs: dict[str, dict], studies: dict[str, dict], meta: dict) -> str:
    """The lab book as one HTML string. `labs` maps each lab to what its chapter shows (title,
    task, protocol, headline, data, data_plots, runs); `studies` maps every study to its saved
    figures, or to its declaration (name, lab, title, expectation) and ``pending`` if not run yet."""
    toc = "".join(f"<li><a href='#lab-{_e(c.lab)}'>{_e(labs[c.lab]['title'])}</a></li>" for c in COURSE if c.lab in labs)
    chapters = [_chapter(i, c, labs[c.lab], studies) for i, c in enumerate((c for c in COURSE if c.lab in labs), 1)]
    done = sum(1 for s in studies.values() if not s.get("pending") and not s.get("smoke"))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>dlabs lab book</title>
<style>{CSS}</style></head><body>
<h1>The dlabs lab book</h1>
<p>Every lab of the course, trained and measured by dlabs on real data: its task and data, the manual's model
beside dlabs' <code>best</code> and honest baselines on the lab's fixed test protocol, the traps the course
material falls into, and the course's questions answered in dlabs' words and, where an experiment can show the
idea, by a study on the lab's own data ({done} of {len(studies)} studies run).</p>
<p class="muted">Written {_e(meta.get('written', ''))} from the runs folder <code>{_e(meta.get('runs', ''))}</code>
by dlabs {_e(meta.get('version', ''))}. Print it to PDF from the browser: each chapter starts a page.</p>
<nav class="toc"><b>Chapters</b><ol>{toc}</ol></nav>
{''.join(chapters)}
</body></html>"""


def write_book(labs: dict[str, dict], studies: dict[str, dict], meta: dict, path: Path) -> Path:
    atomic_write(path, book_html(labs, studies, meta))
    return path

