"""Every registered lab: registry rules, and a smoke run through the whole run-folder contract.

Parametrised over the registry, so a new lab is covered without writing a test.
"""

from __future__ import annotations

import json
import shutil

import pytest

from dlabs import api
from dlabs.errors import DlabsError
from dlabs.labs import Lab, get_lab, labs, register

from conftest import MIRROR
from serving import UNEVALUATED, smoke_runs

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
def test_smoke_run_writes_the_run_folder_contract(name, tmp_path, tmp_path_factory):
    """The session's smoke run (`dlabs run`), copied: the files it wrote, and evaluate and report
    from nothing but the run folder."""
    lab = get_lab(name)
    if not all((MIRROR / ds).is_dir() for ds in lab.datasets[:1]):
        pytest.skip("data not in mirror")
    shared = api.latest_run(name, smoke_runs(tmp_path_factory))
    shutil.copytree(shared.path, tmp_path / "runs" / name / shared.id)
    run = api.open_run(str(tmp_path / "runs" / name / shared.id))
    if name == UNEVALUATED:  # the shared set leaves it trained only
        api.evaluate(run)
        api.report(str(run.path))
    names = {p.name for p in run.path.iterdir()}
    assert RUN_FILES <= names and "checkpoint.pt" not in names
    assert (run.path / "plots" / "learning_curves.png").is_file()
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["model"] and metrics["baselines"]
    assert lab.headline in metrics["model"]
    again = api.evaluate(str(run.path), protocols=False)
    assert again["model"] == metrics["model"]
    assert api.report(str(run.path)).read_text().count("<img") >= 1
    assert api.list_labs()[list(labs()).index(name)]["best_run"] == run.id


@pytest.mark.parametrize("name", ["boston", "letters"])
def test_evaluate_and_predict_use_the_state_saved_in_the_run_folder(name, tmp_path):
    """Scaling the saved preprocessing arrays changes predict and evaluate alike: evaluate refits nothing."""
    import numpy as np
    from safetensors.numpy import load, save

    lab = get_lab(name)
    if not (MIRROR / lab.datasets[0]).is_dir():
        pytest.skip("data not in mirror")
    run = api.train(name, "smoke", progress=False)
    before = api.evaluate(run, protocols=False)["model"]
    again = api.evaluate(run, protocols=False)["model"]
    assert again == before  # evaluate of an untouched run is repeatable

    row = _first_row(name)
    p_before = api.predict(name, [json.dumps(row)], run)[0]
    path = run.file("state.safetensors")
    arrays = load(path.read_bytes())
    path.write_bytes(save({k: (v * 3 if v.dtype.kind == "f" else v) for k, v in arrays.items()}))

    after = api.evaluate(run, protocols=False)["model"]
    p_after = api.predict(name, [json.dumps(row)], run)[0]
    assert after != before and p_after != p_before
    # evaluate scores what predict predicts: the test rows through predict give evaluate's figure
    saved = api.load(run)
    test = lab.test_data(saved.cfg, saved.state)
    if name == "boston":
        rows = [dict(zip(saved.state["features"], map(float, x))) for x in test["x"]]
        pred = np.array([p["MEDV"] for p in api.predict(name, [json.dumps(rows)], run)])
        assert np.sqrt(np.mean((pred - test["y"]) ** 2)) == pytest.approx(after["rmse"], abs=2e-3)
    else:
        rows = [dict(zip(saved.state["features"], map(int, x))) for x in test.x]
        pred = [p["top"][0]["label"] for p in api.predict(name, [json.dumps(rows)], run)]
        truth = [lab.labels[y] for y in test.y]
        assert np.mean([a == b for a, b in zip(pred, truth)]) == pytest.approx(after["accuracy"], abs=1e-9)


def _first_row(name: str) -> dict:
    if name == "boston":
        return {"CRIM": 0.00632, "ZN": 18, "INDUS": 2.31, "CHAS": 0, "NOX": 0.538, "RM": 6.575, "AGE": 65.2,
                "DIS": 4.09, "RAD": 1, "TAX": 296, "PTRATIO": 15.3, "B": 396.9, "LSTAT": 4.98}
    from dlabs.labs.letters import FEATURES

    return dict(zip(FEATURES, [2, 8, 3, 5, 1, 8, 13, 0, 6, 6, 10, 8, 0, 8, 0, 8]))
