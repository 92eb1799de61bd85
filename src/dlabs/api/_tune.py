"""Hyper-parameter search with Optuna: `tune` a lab's preset on its validation split.

Each trial draws values from the lab's `search_space` and applies them as ``--set`` overrides of
the preset (after the lab's `tune_set`, e.g. a validation share for a preset without one, and the
caller's own overrides, which also take their keys out of the search). It
trains through the lab's `train_model`, so through the engine's one `fit`, and is scored by the
validation column the trainer monitors (`train.monitor`, in the direction of `train.mode`): the
best epoch's value when training keeps the best weights, else the last epoch's. An
`on_epoch_end` callback reports that column to Optuna every epoch, and the median pruner stops
trials that fall behind the others at the same epoch. TPE draws the values. Only the training
split is read during a study; the best trial is then trained and evaluated once as a normal run,
and the study's plots go into that run's plots folder (so into its report).

A study lives in a database: by default a SQLite file, ``runs/<lab>/tune/study.db``; with
`storage`, any SQLAlchemy URL, such as a PostgreSQL or MySQL server that several ``dlabs tune``
processes on several machines share. Running the same command again adds trials to the study.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shlex
import time

from dlabs import config as config_
from dlabs import paths
from dlabs.api._data import _lab
from dlabs.api._evaluate import evaluate
from dlabs.api._train import _setup, train
from dlabs.errors import DlabsError

log = logging.getLogger("dlabs.api")

PRUNE_AFTER = 5  # finished trials before the pruner compares a trial with them
WARMUP_EPOCHS = 2  # epochs every trial runs before it can be pruned


def tune(lab: str, preset: str = "best", trials: int = 20, timeout: float | None = None, study: str | None = None,
         storage: str | None = None, overrides=(), device: str = "auto", seed: int = 0, runs=None) -> dict:
    """Add `trials` trials (or as many as start within `timeout` seconds) to the study of a lab's
    preset, then train and evaluate its best trial as a run. Every trial trains with `seed`;
    `overrides` (``key=value``) apply to every trial, and a key they set is not searched."""
    optuna = _optuna()
    lab_ = _lab(lab)
    if trials < 0:
        raise DlabsError(f"--trials {trials}: expected 0 or more")
    fixed = list(lab_.tune_set) + list(overrides)
    pinned = {o.split("=", 1)[0].strip() for o in overrides}
    space = {k: spec for k, spec in lab_.search_space.items() if k not in pinned}
    if not space:
        raise DlabsError(f"lab '{lab_.name}' has nothing left to search (its search space: "
                         f"{', '.join(lab_.search_space) or 'none'})")
    cfg = lab_.config(preset, fixed)
    for key, spec in space.items():  # a bad key or value fails now, not in every trial
        for v in _ends(key, spec):
            lab_.config(preset, fixed + [f"{key}={_text(v)}"])
    url = storage
    if url is None:
        folder = paths.runs_dir(runs) / lab_.name / "tune"
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / 'study.db'}"
    name = study or f"{lab_.name}-{preset}"
    direction = {"min": "minimize", "max": "maximize"}.get(cfg.train.mode)
    if direction is None:
        raise DlabsError(f"train.mode={cfg.train.mode}: expected min or max")
    st = _study(optuna, name, url, direction, {"lab": lab_.name, "preset": preset, "monitor": cfg.train.monitor,
                                               "fixed": fixed})
    log.info("study %s (%s): %d trials so far; %d more%s", name, _shown(url), len(st.trials), trials,
             f" within {timeout:.0f}s" if timeout else "")
    st.optimize(_objective(optuna, lab_, preset, fixed, space, seed, device), n_trials=trials, timeout=timeout,
                callbacks=[_log_trial])
    result = _summary(st, url)
    if result["counts"].get("complete", 0) == 0:
        raise DlabsError(f"study {name}: no trial has finished yet ({_counts_text(result['counts'])})")
    best = st.best_trial
    chosen = best.user_attrs.get("overrides") or fixed + [f"{k}={_text(v)}" for k, v in best.params.items()]
    result["command"] = shlex.join(["dlabs", "train", lab_.name, "--preset", preset,
                                    *(a for o in chosen for a in ("--set", o)), *(["--seed", str(seed)] if seed else [])])
    log.info("best: trial %d, %s %.4g; training it as a run: %s", best.number, result["monitor"], best.value,
             result["command"])
    run = train(lab_.name, preset, chosen, device, seed, runs, progress=False)
    metrics = evaluate(run, device)
    from dlabs.report.html import write_report
    from dlabs.report.study import study_plots

    plotted = study_plots(st, run.plots_dir(), result["monitor"])
    # the run's own validation score: the trial's again when training is deterministic (CPU)
    kept = _value([r.get(result["monitor"]) for r in _history(run)], lab_.config(preset, chosen).train)
    result.update(run=str(run.path), run_value=kept, test=metrics["model"], plots=[p.name for p in plotted])
    run.write_json("tune.json", {k: result[k] for k in ("study", "storage", "monitor", "direction", "best", "command")})
    result["report"] = str(write_report(run, lab_.title, lab_.notes))
    return result


def _summary(st, url: str) -> dict:
    """A study as JSON values: its trials (every process's), their counts by state and the best."""
    trials, counts = [], {}
    for t in st.trials:
        state = t.state.name.lower()
        counts[state] = counts.get(state, 0) + 1
        row = {"number": t.number, "state": state, "value": t.value, "params": t.params,
               "epochs": len(t.intermediate_values),
               "seconds": round(t.duration.total_seconds(), 2) if t.duration else None}
        if "error" in t.user_attrs:
            row["error"] = t.user_attrs["error"]
        trials.append(row)
    attrs = st.user_attrs.get("dlabs", {})
    done = [t for t in st.trials if t.value is not None and t.state.name == "COMPLETE"]
    best = st.best_trial if done else None
    return {"lab": attrs.get("lab"), "preset": attrs.get("preset"), "study": st.study_name, "storage": _shown(url),
            "monitor": attrs.get("monitor"), "direction": st.direction.name.lower(), "counts": counts,
            "best": {"trial": best.number, "value": best.value, "params": best.params,
                     "overrides": best.user_attrs.get("overrides", [])} if best else None,
            "trials": trials}


def _optuna():
    try:
        import optuna
    except ImportError:
        raise DlabsError("dlabs tune needs Optuna: pip install 'dlabs[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # dlabs logs a line a trial (with its error) itself
    return optuna


def _shown(url: str) -> str:
    """The storage URL without its password, for logs and results."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported when it is opened
        return url


def _study(optuna, name: str, url: str, direction: str, attrs: dict):
    """Create the study, or load it when another call (or process) made it; it must be for the same lab,
    preset, monitor and fixed settings (kept as one study attribute, `dlabs`, written once)."""
    import sqlalchemy

    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(8):  # processes starting together race to create the tables, the study, its attribute
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine)
            st = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True,
                                     sampler=optuna.samplers.TPESampler(),  # unseeded: processes must not repeat
                                     pruner=optuna.pruners.MedianPruner(PRUNE_AFTER, WARMUP_EPOCHS + 1))
            if "dlabs" not in st.user_attrs:
                st.set_user_attr("dlabs", attrs)
            have = st.user_attrs["dlabs"]
            break
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as e:
            if attempt == 7:  # not a race: a database that cannot be opened or written
                raise DlabsError(f"--storage {_shown(url)}: {getattr(e, 'orig', None) or e}") from None
            time.sleep(0.2 + random.random())
        except (ImportError, sqlalchemy.exc.ArgumentError) as e:
            raise DlabsError(f"--storage {_shown(url)}: {e}") from None
    if have != attrs or st.direction.name.lower() != direction:
        raise DlabsError(f"study {name} in {_shown(url)} tunes {have} ({st.direction.name.lower()}), not {attrs} "
                         f"({direction}): give another --study name")
    return st


def _ends(key: str, spec) -> list:
    """The values at the ends of a search dimension (to check them before a study starts)."""
    kind = spec[0] if isinstance(spec, (tuple, list)) and spec else None
    if kind in ("log", "float", "int") and len(spec) == 3 and spec[1] < spec[2] and (kind != "log" or spec[1] > 0):
        return list(spec[1:])
    if kind == "choice" and len(spec) == 2 and len(spec[1]) > 0:
        return list(spec[1])
    raise DlabsError(f"search space {key}: {spec!r} is not (log|float|int, low, high) or (choice, [values])")


def _suggest(trial, key: str, spec):
    kind = spec[0]
    if kind == "log":
        return trial.suggest_float(key, spec[1], spec[2], log=True)
    if kind == "float":
        return trial.suggest_float(key, spec[1], spec[2])
    if kind == "int":
        return trial.suggest_int(key, spec[1], spec[2])
    return trial.suggest_categorical(key, list(spec[1]))


def _text(value) -> str:
    """A drawn value as `--set` takes it (floats to 4 significant digits, so commands stay readable)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _value(values: list, train_cfg):
    """A trial's score: the best epoch's value when training ends on the best weights, else the last."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    if train_cfg.restore_best:
        return min(values) if train_cfg.mode == "min" else max(values)
    return values[-1]


def _history(run) -> list[dict]:
    frame = run.history()
    return frame.to_dict("records") if len(frame) else []


def _objective(optuna, lab, preset: str, fixed: list[str], space: dict, seed: int, device: str):
    cache: dict = {}

    def objective(trial) -> float:
        params = {key: _suggest(trial, key, spec) for key, spec in space.items()}
        overrides = fixed + [f"{k}={_text(v)}" for k, v in params.items()]
        trial.set_user_attr("overrides", overrides)
        cfg = lab.config(preset, overrides)
        dev = _setup(cfg, seed, device)
        data = _train_data(lab, cfg, seed, cache)
        monitor = cfg.train.monitor
        if data.val is None:
            raise DlabsError(f"{lab.name}/{preset} has no validation split to tune on (train.monitor={monitor}): "
                             "give it one, e.g. --set data.val_fraction=0.1")

        def report(row: dict) -> None:
            if monitor in row:
                trial.report(row[monitor], row["epoch"])  # steps are epochs from 1
                if row["epoch"] < cfg.train.epochs and trial.should_prune():  # the last epoch is a finished trial
                    raise optuna.TrialPruned(f"pruned at epoch {row['epoch']}")

        try:
            _, history = lab.train_model(cfg, data, seed, dev, callbacks={"on_epoch_end": [report]},
                                         desc=f"trial {trial.number}")
        except optuna.TrialPruned:
            raise
        except Exception as e:  # noqa: BLE001 - a diverging learning rate, a model too large: a failed trial
            trial.set_user_attr("error", f"{type(e).__name__}: {e}"[:500])
            return math.nan
        value = _value([r.get(monitor) for r in history], cfg.train)
        if value is None:
            raise DlabsError(f"{lab.name}: the training history has no column {monitor} (train.monitor) to tune on")
        return value

    return objective


def _train_data(lab, cfg, seed: int, cache: dict):
    """The lab's training split for `cfg`, kept between trials whose configs differ only in `train`, with
    the random state reading it left behind, so that every trial trains as `dlabs train` would."""
    import random as random_

    import numpy as np
    import torch

    key = json.dumps({k: v for k, v in config_.to_dict(cfg).items() if k != "train"}, sort_keys=True, default=str)
    if cache.get("key") == key:
        py, npy, th = cache["rng"]
        random_.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(th)
        return cache["data"]
    cache.clear()
    data = lab.train_data(cfg, seed)
    cache.update(key=key, data=data, rng=(random_.getstate(), np.random.get_state(), torch.get_rng_state()))
    return data


def _log_trial(st, t) -> None:
    value = f"{t.value:.4g}" if t.value is not None else t.user_attrs.get("error", "")
    log.info("trial %d %s after %d epochs: %s (%s)", t.number, t.state.name.lower(), len(t.intermediate_values),
             value, ", ".join(f"{k}={_text(v)}" for k, v in t.params.items()))


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials"
