"""The faces lab's verification protocol, LFW View 2: models trained through the lab, each without
the people of the folds it scores, and every pair scored four ways.

One model a fold (or `verification_models` fewer, sharing out the folds) is trained by
`Lab.train_model` on every photo of everyone but the people of its folds' pairs, then scores those
pairs: by a joint Bayesian likelihood ratio of each network's embedding's first principal
components (the model), of all the joined embedding's dimensions, by the embeddings' cosine
distance, and by eigenfaces (a PCA of photos of everyone else). Each fold's threshold is chosen on
the other nine folds' scores. One-thread CPU models train side by side, one a core; each is seeded,
so the result is the same either way.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from dlabs.data import lfw, store
from dlabs.engine import distributed
from dlabs.engine import metrics as M
from dlabs.errors import DlabsError
from dlabs.models.joint_bayes import DIMS, RIDGE, JointBayesian, eigenfaces, grey, unit

log = logging.getLogger(__name__)

PROTOCOL = ("LFW View 2, 10 folds of 300 matched + 300 mismatched pairs, unrestricted, labeled outside data: none; "
            "{models} models, each trained without the people of {folds}, score {them} by a "
            "joint Bayesian likelihood ratio of their embeddings' first {dims} principal components (an ensemble: "
            "of each network's, the networks' ratios added up), fitted on their own training people "
            "(joint_bayesian_all_dims: of all the joined embedding's dimensions; embedding_cosine: the same "
            "embeddings' cosine distance); each fold's threshold chosen on the other nine folds; mean and sd of "
            "the fold accuracies")
ROWS = ("model", "joint_bayesian_all_dims", "embedding_cosine", "eigenfaces_svm")  # the pair scores, as distances


def verification(lab, cfg, seed: int, device) -> dict:
    """The protocol's result: mean and sd of the fold accuracies, AUC, per-fold figures and ROC curves."""
    folds = lfw.read_pairs(store.fetch("lfw", "pairs.txt"))
    groups = lfw.fold_groups(len(folds), cfg.verification_models)
    jobs = [(lab, cfg, seed + h, group, str(device), f"verification model {h + 1}/{len(groups)}")
            for h, group in enumerate(groups)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    one_a_core = cfg.train.threads and str(device) == "cpu" and not distributed.active()  # torchrun: ranks share
    workers = min(len(jobs), cores // cfg.train.threads) if one_a_core else 1
    results = []
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else _Serial()
    with pool:
        for (*_, group, _, desc), r in zip(jobs, pool.map(_model, jobs)):
            log.info("%s (folds %s): trained in %.0f s", desc, ", ".join(str(k + 1) for k in group), r["seconds"])
            results.append(r)
    dist = {name: [d for r in results for d in r[name]] for name in ROWS}
    same = [np.array([s for _, _, s in f]) for f in folds]
    scores = {name: M.fold_accuracies(d, same) for name, d in dist.items()}
    per_fold = {key: {name: s.pop(key) for name, s in scores.items()} for key in ("folds", "thresholds", "roc")}
    scores["model"]["train_seconds"] = float(sum(r["seconds"] for r in results))
    share = len(groups[0])
    protocol = PROTOCOL.format(models=len(jobs), dims=DIMS,
                               folds="its fold's pairs" if share == 1 else f"{share} folds' pairs",
                               them="that fold" if share == 1 else "those folds")
    return {"protocol": protocol, "model": scores["model"], "baselines": {b: scores[b] for b in ROWS[1:]},
            "fold_accuracy": per_fold["folds"], "fold_threshold": per_fold["thresholds"], "curves": per_fold["roc"]}


class _Serial:
    """`map` in this process, for one model or when models do not train one a core."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, jobs):
        return map(fn, jobs)


def _model(job) -> dict:
    """Train one verification model without the people of the folds `group`; its distances on those
    folds' pairs, beside the other three comparisons'."""
    from dlabs.engine.device import set_seed, set_threads
    from dlabs.models.face import FaceEnsemble, embed

    lab, cfg, seed, group, device, desc = job
    set_threads(cfg.train.threads)  # a fresh worker process starts with one thread a core
    folds = lfw.read_pairs(store.fetch("lfw", "pairs.txt"))
    held_out = lfw.held_out_people(folds, group)
    set_seed(seed)
    data = lab.train_data(cfg, seed, exclude=held_out)
    t0 = time.perf_counter()
    model, _ = lab.train_model(cfg, data, seed, device, desc=desc)
    seconds = time.perf_counter() - t0
    model.cpu()
    (ids, people, x), rows = data.photos, data.rows.rows
    if set(people[rows]) & held_out:  # the protocol's promise, checked
        raise DlabsError("verification: a held-out person reached a training set")
    where = {i: n for n, i in enumerate(ids)}
    outside = np.flatnonzero(~np.isin(people, list(held_out)))
    pca = eigenfaces(seed).fit(grey(x[np.random.default_rng(seed).permutation(outside)[:5000]]))
    train = embed(model, x[rows]), people[rows]
    members = len(model.members) if isinstance(model, FaceEnsemble) else 1
    jb = {"model": JointBayesian(RIDGE, DIMS, members).fit(*train),
          "joint_bayesian_all_dims": JointBayesian(RIDGE).fit(*train)}
    out = {name: [] for name in ROWS} | {"seconds": seconds}
    for k in group:
        a, b = lfw.pair_rows(folds[k], where)
        ea, eb = embed(model, x[a]), embed(model, x[b])
        for name, j in jb.items():
            out[name].append(-j.score(ea, eb))  # a distance: smaller is the same person
        out["embedding_cosine"].append(np.linalg.norm(ea - eb, axis=1))
        ea, eb = (pca.transform(grey(x[r])) for r in (a, b))
        out["eigenfaces_svm"].append(np.linalg.norm(unit(ea) - unit(eb), axis=1))
    return out


def roc_plot(curves: dict, path) -> None:
    """The protocol's pooled ROC curves (`verification(...)["curves"]`) as a PNG."""
    from dlabs.report import plots as P

    plt = P.pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, c in curves.items():
        ax.plot(c["fpr"], c["tpr"], label=f"{name} (AUC {c['auc']:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false accept rate", ylabel="true accept rate", title="LFW View 2 verification ROC (6,000 pairs)")
    ax.legend(loc="lower right")
    P.save(fig, path)
