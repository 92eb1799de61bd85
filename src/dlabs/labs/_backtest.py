"""The stocks lab's walk-forward backtest: each of the last calendar years of a long price history
predicted by a model trained on the years before it, beside the baselines fitted on the same years.

The first year's model trains from scratch; each later year's fine-tunes the model of the year
before it (with `finetune_epochs`). Every model trains through the lab's `train_model`; the folds
come from `dlabs.data.nextday.year_folds`.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from dlabs.data import nextday
from dlabs.engine import metrics as M
from dlabs.labs.base import TrainData

log = logging.getLogger(__name__)


def walk_forward(lab, cfg, seed: int, device, frame, name: str) -> dict:
    """The backtest protocol's entry for `evaluate` (`frame`: the long history, `name`: its data set)."""
    from dlabs.engine.device import set_seed

    bt = cfg.backtest
    o = frame["open"].to_numpy()
    folds = nextday.year_folds(frame, bt.folds, bt.train_years)
    model, rows, model_rows, base_rows, errors = None, [], [], {}, {}
    for k, (year, start, stop, end) in enumerate(folds):
        log.info("backtest year %d/%d (%d)", k + 1, len(folds), year)
        state = nextday.fit_state(frame, cfg.data.mode, cfg.data.window, start, stop)
        fit, val = nextday.split(frame, state, start, stop, cfg.data.val_fraction)
        set_seed(seed + k)
        epochs = bt.epochs if k == 0 else bt.finetune_epochs
        fold_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs))
        # later years fine-tune the year before's model
        model, _ = lab.train_model(fold_cfg, TrainData(fit, val, state), seed + k, device, desc=f"backtest {year}",
                                   model=model)
        actual, prev = o[stop:end], o[stop - 1:end - 1]
        forecasts = {"model": nextday.forecast_rows(model, state, frame, stop, end)}
        forecasts |= {b: f for b, (f, _) in nextday.baselines_on(frame, start, stop, end).items()}
        row = {"label": year, "test_days": end - stop}
        for b, f in forecasts.items():
            scores = M.forecast(actual, f, prev)
            (model_rows if b == "model" else base_rows.setdefault(b, [])).append(scores)
            errors.setdefault(b, []).append(f - actual)
            row[b] = scores["rmse"]
        rows.append(row)
        model.cpu()
    model_err = np.concatenate(errors.pop("model"))
    dm = {b: M.diebold_mariano(model_err, np.concatenate(e)) for b, e in errors.items()}
    return {"protocol": (f"walk-forward backtest on {name} {frame.index[0].year}-{frame.index[-1].year}: each of the "
                         f"last {bt.folds} calendar years predicted by a model trained on the {bt.train_years} years "
                         f"before it ({bt.epochs} epochs for the first fold, then {bt.finetune_epochs} epochs of "
                         f"fine-tuning per fold); mean and sd over folds. Diebold-Mariano p-value, model against each "
                         f"baseline over all {len(model_err)} days (small = a real difference): "
                         + ", ".join(f"{b} {p:.2g}" for b, p in dm.items())),
            "model": M.mean_sd(model_rows), "baselines": {b: M.mean_sd(v) for b, v in base_rows.items()},
            "folds": rows, "dm_pvalue": dm}
