"""`dlabs tune`: a study stored in SQLite under runs/<lab>/tune/, continued by a second call,
shared by two processes at once without losing a trial, and blind to the test split. Letters'
smoke preset with two epochs a trial keeps each trial about a second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from dlabs.errors import DlabsError

from conftest import needs_data

pytestmark = needs_data("letter")

PIN = ["train.epochs=2", "model.hidden=32", "train.threads=1"]  # every trial; lr, weight decay, dropout searched


def _study(runs: Path, name: str = "letters-smoke"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{runs / 'letters' / 'tune' / 'study.db'}")


def test_a_study_is_stored_then_continued_and_its_best_trial_becomes_a_run(isolated):
    from dlabs import api

    first = api.tune("letters", "smoke", 3, overrides=PIN, device="cpu")
    assert (isolated / "runs" / "letters" / "tune" / "study.db").is_file()
    assert first["study"] == "letters-smoke" and len(first["trials"]) == 3
    assert all(set(t["params"]) == {"train.lr", "train.weight_decay", "model.dropout"} for t in first["trials"])
    done = [t["value"] for t in first["trials"] if t["state"] == "complete"]
    assert first["best"]["value"] == min(done) and set(first["best"]["params"]) == set(first["trials"][0]["params"])
    # the best trial, trained again as a normal run, gets the trial's validation score back (CPU is deterministic)
    assert first["run_value"] == pytest.approx(first["best"]["value"], rel=1e-6)
    run = Path(first["run"])
    assert json.loads((run / "metrics.json").read_text())["model"] == first["test"]
    assert first["best"]["overrides"][:3] == PIN
    assert first["command"] == "dlabs train letters --preset smoke " + " ".join(
        f"--set {o}" for o in first["best"]["overrides"])
    assert json.loads((run / "config.json").read_text())["overrides"] == first["best"]["overrides"]
    for name in ("study_trials", "study_history", "study_curves", "study_importances"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 1000
        assert f"plots/{name}.png" in (run / "report.html").read_text()
    assert "command: dlabs train letters --preset smoke" in api.tune_text(first)

    again = api.tune("letters", "smoke", 3, overrides=PIN, device="cpu")  # the same study, 3 more trials
    assert [t["number"] for t in again["trials"]] == list(range(6))
    assert again["trials"][:3] == first["trials"]
    assert len(_study(isolated / "runs").trials) == 6
    with pytest.raises(DlabsError, match="another --study name"):  # other settings: not the same experiment
        api.tune("letters", "smoke", 1, overrides=["train.epochs=3", *PIN[1:]])


def test_a_study_never_reads_the_test_split(isolated, monkeypatch):
    from dlabs import api
    from dlabs.labs import get_lab

    lab = get_lab("letters")
    calls = []

    def test_data(cfg, state):
        calls.append(len(_study(isolated / "runs").trials))
        raise RuntimeError("the test split was read")

    monkeypatch.setattr(lab, "test_data", test_data)
    with pytest.raises(RuntimeError, match="test split was read"):
        api.tune("letters", "smoke", 3, overrides=PIN, device="cpu")
    # the study ran to the end without it; only the final evaluation of the best trial asked for it
    assert calls == [3]
    assert [t.state.name for t in _study(isolated / "runs").trials] == ["COMPLETE"] * 3


def test_two_processes_share_one_study_without_losing_a_trial(isolated):
    env = {**os.environ, "DLABS_RUNS": str(isolated / "runs")}
    cmd = [sys.executable, "-m", "dlabs", "-q", "tune", "letters", "--preset", "smoke", "--trials", "3",
           "--device", "cpu", "--json", *(a for p in PIN for a in ("--set", p))]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    results = [json.loads(out) for out, _ in outs]
    trials = _study(isolated / "runs").trials
    assert sorted(t.number for t in trials) == list(range(6))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert max(len(r["trials"]) for r in results) == 6 and min(len(r["trials"]) for r in results) >= 3
    assert all(Path(r["run"]).is_dir() for r in results)


def test_a_search_that_cannot_run_fails_before_its_first_trial(isolated, monkeypatch):
    from dlabs import api
    from dlabs.labs import get_lab

    with pytest.raises(DlabsError, match="nothing left to search"):
        api.tune("letters", "smoke", 1, overrides=[f"{k}=1" for k in ("train.lr", "train.weight_decay", "model.dropout",
                                                                        "model.hidden", "train.epochs")])
    with pytest.raises(DlabsError, match="model.hidden"):
        api.tune("letters", "smoke", 0, overrides=["model.hidden=0.5"])
    monkeypatch.setattr(get_lab("letters"), "search_space", {"train.lr": ("log", 0, 1)})
    with pytest.raises(DlabsError, match="search space train.lr"):
        api.tune("letters", "smoke", 1, overrides=PIN, device="cpu")
    assert not (isolated / "runs" / "letters").exists()


def test_every_lab_declares_a_search_space_its_presets_take():
    from dlabs.api._tune import _ends, _text
    from dlabs.labs import labs

    for name, lab in labs().items():
        assert lab.search_space, f"{name} declares no search space"
        assert {"train.lr", "train.epochs"} <= set(lab.search_space), name
        for preset in lab.presets:
            for key, spec in lab.search_space.items():
                for value in _ends(key, spec):
                    cfg = lab.config(preset, [*lab.tune_set, f"{key}={_text(value)}"])
                    assert cfg.train.mode in ("min", "max")
