"""Deep tests of the boston lab: real data, predict with good and bad input, CLI round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dlabs import api
from dlabs.errors import DlabsError, InputError

from conftest import needs_data

pytestmark = needs_data("boston")

FIRST_ROW = {"CRIM": 0.00632, "ZN": 18, "INDUS": 2.31, "CHAS": 0, "NOX": 0.538, "RM": 6.575, "AGE": 65.2,
             "DIS": 4.09, "RAD": 1, "TAX": 296, "PTRATIO": 15.3, "B": 396.9, "LSTAT": 4.98}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    r = api.train("boston", "smoke", ["train.epochs=40", "cv_folds=0"], "cpu", runs=runs, progress=False)
    return r


def test_trained_smoke_model_beats_the_mean(run):
    m = api.evaluate(run, protocols=False)
    assert m["model"]["rmse"] < m["baselines"]["mean"]["metrics"]["rmse"]
    # the Keras split reproduces the published linear-regression anchor (RMSE 4.82 / MAE 3.46)
    lin = m["baselines"]["linear_regression"]["metrics"]
    assert abs(lin["rmse"] - 4.82) < 0.01 and abs(lin["mae"] - 3.46) < 0.01


def test_predict_forms_agree(run, tmp_path):
    by_flags = api.predict("boston", [], run, {k: str(v) for k, v in FIRST_ROW.items()})
    by_json = api.predict("boston", [json.dumps(FIRST_ROW)], run)
    csv = tmp_path / "houses.csv"
    csv.write_text(",".join(FIRST_ROW) + "\n" + ",".join(map(str, FIRST_ROW.values())) + "\n"
                   + ",".join(map(str, FIRST_ROW.values())).replace("6.575", "8.0") + "\n")
    by_csv = api.predict("boston", [str(csv)], run)
    assert by_flags == by_json == by_csv[:1] and len(by_csv) == 2
    assert by_csv[0]["MEDV"] != by_csv[1]["MEDV"]  # the saved scaler keeps single rows apart


def test_single_sample_is_not_rescaled_to_zero(run):
    """The manual's bug: a scaler refitted on one row maps every input to the same price."""
    rich = dict(FIRST_ROW, RM=8.5, LSTAT=2.0)
    poor = dict(FIRST_ROW, RM=4.5, LSTAT=30.0)
    p_rich = api.predict("boston", [json.dumps(rich)], run)[0]["MEDV"]
    p_poor = api.predict("boston", [json.dumps(poor)], run)[0]["MEDV"]
    assert p_rich > p_poor + 5


@pytest.mark.parametrize("row, message", [
    ({k: v for k, v in FIRST_ROW.items() if k != "RM"}, "missing feature.*RM"),
    (dict(FIRST_ROW, POOL=1), "unknown feature 'POOL'"),
    (dict(FIRST_ROW, TAX="cheap"), "feature TAX is not a number"),
    (dict(FIRST_ROW, NOX="NaN"), "feature NOX is 'NaN'"),
])
def test_predict_bad_features_name_the_feature(run, row, message):
    with pytest.raises(InputError, match=message):
        api.predict("boston", [json.dumps(row)], run)


def test_predict_bad_json_and_missing_file(run):
    with pytest.raises(InputError, match="not valid JSON"):
        api.predict("boston", ["{'CRIM': 1"], run)
    with pytest.raises(InputError, match="no such file"):
        api.predict("boston", ["nope.csv"], run)


def test_cli_predict_and_bad_input_exit_code(run):
    args = [sys.executable, "-m", "dlabs", "predict", "boston", "--run", str(run.path), "--json"]
    ok = subprocess.run(args + [f"--{k}={v}" for k, v in FIRST_ROW.items()], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "MEDV" in json.loads(ok.stdout)[0]
    bad = subprocess.run(args + ["--CRIM", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


def test_cli_train_rejects_unknown_override():
    proc = subprocess.run([sys.executable, "-m", "dlabs", "train", "boston", "--preset", "smoke",
                           "--set", "model.widths=3"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown config key 'model.widths'" in proc.stderr


def test_interrupted_run_resumes_to_the_same_metrics(tmp_path):
    overrides = ["train.epochs=6", "cv_folds=0"]
    full = api.train("boston", "smoke", overrides, "cpu", runs=tmp_path, progress=False)

    def interrupt(row):
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.train("boston", "smoke", overrides, "cpu", runs=tmp_path, progress=False,
                  callbacks={"on_epoch_end": [interrupt]})
    broken = max((tmp_path / "boston").iterdir(), key=lambda p: p.stat().st_mtime)
    assert (broken / "checkpoint.pt").is_file() and not (broken / "model.safetensors").exists()
    with pytest.raises(DlabsError, match="training did not finish"):
        api.predict("boston", [json.dumps(FIRST_ROW)], run=broken)
    resumed = api.train(resume=str(broken), progress=False)
    assert resumed.path == broken
    a = api.evaluate(full, protocols=False)["model"]
    b = api.evaluate(resumed, protocols=False)["model"]
    assert a == b
    with pytest.raises(DlabsError, match="already finished"):
        api.train(resume=str(broken))


def test_data_info_summary():
    info = api.data_info("boston")
    assert info["rows"] == 506 and "LSTAT" in info["correlation_with_target"]


def test_packed_trees_predict_exactly_like_scikit_learn():
    import numpy as np
    from sklearn.ensemble import GradientBoostingRegressor

    from dlabs.data import tabular
    from dlabs.models.trees import pack_boosting, predict_boosting

    x, y, _, _ = tabular.load_boston()
    est = GradientBoostingRegressor(n_estimators=50, max_depth=3, subsample=0.8, random_state=0).fit(x[:400], y[:400])
    np.testing.assert_allclose(predict_boosting(pack_boosting(est), x[400:]), est.predict(x[400:]), atol=1e-9)


def test_packed_gp_predicts_like_scikit_learn():
    import numpy as np
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    from dlabs.data import tabular
    from dlabs.models.gp import pack_gp, predict_gp

    x, y, _, _ = tabular.load_boston()
    x = tabular.Scaler.fit(x[:300]).transform(x)
    kernel = ConstantKernel(2.0) * Matern(np.linspace(1, 5, 13), nu=1.5) + WhiteKernel(0.1)
    gp = GaussianProcessRegressor(kernel, optimizer=None).fit(x[:300], (y[:300] - 22) / 9)
    np.testing.assert_allclose(predict_gp(pack_gp(gp, 22, 9), x[400:]), gp.predict(x[400:]) * 9 + 22, atol=1e-8)


def test_blend_run_round_trips_through_the_run_folder(tmp_path):
    run = api.train("boston", "smoke", ["model.blend_trees=0.3", "model.blend_gp=0.3", "cv_folds=0"], "cpu",
                    runs=tmp_path, progress=False)
    m = api.evaluate(run, protocols=False)
    again = api.predict("boston", [json.dumps(FIRST_ROW)], run)
    # the trees and the GP carry a weak network past linear regression (4.82)
    assert m["model"]["rmse"] < 4.5 and again[0]["MEDV"] > 0
    assert m["train_seconds"] > run.history()["seconds"].iloc[-1]  # the blend's fits are counted


def test_blend_weights_must_add_up_to_at_most_one(tmp_path):
    with pytest.raises(DlabsError, match="add up to at most 1"):
        api.train("boston", "smoke", ["model.blend_trees=0.6", "model.blend_gp=0.6"], "cpu", runs=tmp_path,
                  progress=False)
