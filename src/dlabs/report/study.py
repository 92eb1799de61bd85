"""A tuning study in pictures and words: its trials table, optimisation history, each trial's
validation curve and the parameter importances (Optuna's matplotlib plots) as PNGs, and the
terminal summary of `dlabs tune`."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)
TABLE_ROWS = 40  # a larger study's table shows its best trials


def study_plots(study, outdir: Path, monitor: str) -> list[Path]:
    """Write study_trials, study_history, study_curves and study_importances PNGs into `outdir`."""
    import optuna

    from dlabs.report.plots import pyplot, save

    pyplot()  # the Agg backend, before Optuna's plots import pyplot
    from optuna.visualization import matplotlib as ovm

    outdir.mkdir(parents=True, exist_ok=True)
    out = [_trials_table(study, outdir / "study_trials.png", monitor)]
    drawers = {"study_history": (ovm.plot_optimization_history, f"optimisation history: {monitor} on validation"),
               "study_curves": (ovm.plot_intermediate_values, f"{monitor} per epoch of each trial (pruned ones stop)"),
               "study_importances": (ovm.plot_param_importances, f"parameter importances for {monitor}")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, (draw, title) in drawers.items():
            try:
                ax = draw(study)
            except (ValueError, RuntimeError) as e:  # importances need two finished trials that differ
                log.info("%s not drawn: %s", name, e)
                continue
            for loc in ("left", "right"):  # Optuna's own titles sit left
                ax.set_title("", loc=loc)
            ax.set_title(title)
            if name == "study_curves":
                ax.set(xlabel="epoch", ylabel=monitor)
            elif name == "study_history":
                ax.set(ylabel=f"validation {monitor}")
            ax.figure.set_size_inches(8, 4.5)
            if name == "study_curves" and ax.get_legend() is not None:
                ax.get_legend().remove()  # one entry a trial: the legend would cover the curves
            out.append(save(ax.figure, outdir / f"{name}.png"))
    return out


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _trials_table(study, path: Path, monitor: str) -> Path:
    from dlabs.report.plots import pyplot, save

    plt = pyplot()
    trials = study.trials
    keys = list(dict.fromkeys(k for t in trials for k in t.params))
    done = [t for t in trials if t.value is not None]
    sign = 1 if study.direction.name == "MINIMIZE" else -1
    shown = sorted(done, key=lambda t: sign * t.value)[:TABLE_ROWS] if len(trials) > TABLE_ROWS else trials
    rows = [[str(t.number), t.state.name.lower(), _cell(t.value), str(len(t.intermediate_values)),
             *(_cell(t.params.get(k)) for k in keys)] for t in shown]
    fig, ax = plt.subplots(figsize=(min(20, 3 + 1.4 * (4 + len(keys))), 0.6 + 0.2 * (len(rows) + 1)))
    ax.axis("off")
    if rows:
        table = ax.table(cellText=rows, colLabels=["trial", "state", monitor, "epochs", *keys], loc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        best = study.best_trial.number if done else None
        for i, t in enumerate(shown, 1):
            if t.number == best:
                for j in range(4 + len(keys)):
                    table[i, j].set_facecolor("#d8f0d8")
    what = f"best {len(rows)} of {len(trials)}" if len(rows) < len(trials) else f"all {len(trials)}"
    ax.set_title(f"study {study.study_name}: {what} trials (validation {monitor}; best in green)")
    return save(fig, path)


def tune_text(result: dict) -> str:
    """A `dlabs tune` result for the terminal: the trials, the best one, its test metrics and command."""
    keys = list(dict.fromkeys(k for t in result["trials"] for k in t["params"]))
    monitor, counts = result["monitor"], result["counts"]
    widths = [max(12, len(k) + 2) for k in keys]
    lines = [f"{result['lab']}/{result['preset']}: study {result['study']} ({result['storage']}), "
             f"{len(result['trials'])} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
             f"{'trial':>6} {'state':<9} {monitor:>12} {'epochs':>6}" + "".join(f"{k:>{w}}" for k, w in zip(keys, widths))]
    for t in result["trials"]:
        mark = "*" if t["number"] == result["best"]["trial"] else " "
        lines.append(f"{t['number']:>5}{mark} {t['state']:<9} {_cell(t['value']):>12} {t['epochs']:>6}"
                     + "".join(f"{_cell(t['params'].get(k)):>{w}}" for k, w in zip(keys, widths)))
    best = result["best"]
    lines.append(f"best: trial {best['trial']}, validation {monitor} {best['value']:.4g} ({result['direction']})")
    if result.get("run"):
        lines.append(f"trained again and tested: {result['run']}")
        lines.append("test: " + ", ".join(f"{k} {v:.4g}" for k, v in result["test"].items()
                                          if isinstance(v, (int, float))))
    lines.append(f"command: {result['command']}")
    return "\n".join(lines)
