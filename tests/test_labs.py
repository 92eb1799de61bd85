"""Every registered lab: registry rules, and a smoke run through the whole run-folder contract.

Parametrised over the registry, so a new lab is covered without writing a test.
"""

from __future__ import annotations

import json

import pytest

from dlabs import api
from dlabs.errors import DlabsError
from dlabs.labs import Lab, get_lab, labs, register

from conftest import MIRROR

RUN_FILES = {"config.json", "env.json", "state.json", "state.safetensors", "model.safetensors", "history.csv",
             "metrics.json", "report.html"}


def test_unknown_lab_lists_valid_names():
    with pytest.raises(DlabsError, match=r"unknown lab 'nope' \(labs: .*boston"):
        get_lab("nope")


def test_duplicate_lab_name_is_an_error():
    class Twin(Lab):
        name = "boston"

    with pytest.raises(ValueError, match="registered twice"):
        register(Twin)


@pytest.mark.parametrize("name", list(labs()))
def test_lab_declares_presets_and_data(name):
    lab = get_lab(name)
    assert {"manual", "best", "smoke"} <= set(lab.presets)
    assert lab.headline and lab.protocol and lab.input_kind in ("tabular", "text", "image", "csv")


@pytest.mark.parametrize("name", list(labs()))
def test_smoke_run_writes_the_run_folder_contract(name):
    lab = get_lab(name)
    if not all((MIRROR / ds).is_dir() for ds in lab.datasets[:1]):
        pytest.skip("data not in mirror")
    run = api.run(name, preset="smoke", progress=False)
    names = {p.name for p in run.path.iterdir()}
    assert RUN_FILES <= names and "checkpoint.pt" not in names
    assert (run.path / "plots" / "learning_curves.png").is_file()
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["model"] and metrics["baselines"]
    assert lab.headline in metrics["model"]
    # evaluate and report need nothing but the run folder
    again = api.evaluate(str(run.path), protocols=False)
    assert again["model"] == metrics["model"]
    assert api.report(str(run.path)).read_text().count("<img") >= 1
    assert api.list_labs()[list(labs()).index(name)]["best_run"] == run.id
