"""k-fold cross-validation of a regression lab over all its rows, reported beside its fixed split.

Per fold, the lab's model is retrained with the run's config through `Lab.train_model` (its
validation share taken from the fold's training rows as ``data.val_split`` says) and the
regression baselines are refitted; each is scored on the held-out fold, and the table gives the
mean and standard deviation over folds.
"""

from __future__ import annotations

import logging

from dlabs.engine import metrics as M
from dlabs.labs._keras import validation_rows
from dlabs.labs.base import TrainData
from dlabs.models.trees import regression_baselines

log = logging.getLogger(__name__)


def regression_cv(lab, cfg, seed: int, device, x, y, fold_state) -> dict:
    """{"cvK": ...} for ``cfg.cv_folds`` folds ({} when below 2). ``fold_state(fit_idx)`` gives the state
    fitted on a fold's fitting rows and a batcher factory; ``lab._predict_raw(model, state, x)`` scores."""
    if cfg.cv_folds < 2:
        return {}
    from sklearn.model_selection import KFold

    from dlabs.engine.device import set_seed

    model_rows, base_rows = [], {}
    for k, (tr, te) in enumerate(KFold(cfg.cv_folds, shuffle=True, random_state=seed).split(x)):
        log.info("cv fold %d/%d", k + 1, cfg.cv_folds)
        set_seed(seed + k)
        fit, val = validation_rows(tr, cfg.data.val_fraction, cfg.data.val_split, seed + k)
        fitted, batcher = fold_state(fit)
        state = {"features": [""] * x.shape[1], **fitted}
        model, _ = lab.train_model(cfg, TrainData(batcher(fit), batcher(val), state), seed + k, device,
                                   desc=f"cv fold {k + 1}")
        model_rows.append(M.regression(y[te], lab._predict_raw(model, state, x[te])))
        for name, est in regression_baselines(seed).items():
            est.fit(x[tr], y[tr])
            base_rows.setdefault(name, []).append(M.regression(y[te], est.predict(x[te])))
    return {f"cv{cfg.cv_folds}": {"protocol": f"{cfg.cv_folds}-fold CV over all {len(x)} rows (mean and sd over folds)",
                                  "model": M.mean_sd(model_rows),
                                  "baselines": {k: M.mean_sd(v) for k, v in base_rows.items()}}}
