"""Deep tests of the stocks lab: the CSV traps, windows without look-ahead, baselines on a
hand-made series and on the course split, the backtest's folds, predict on good and bad CSVs
(its plot in memory, nothing left in the temp folder), CLI exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlabs import api
from dlabs.data import prices
from dlabs.data.nextday import baselines_on, fit_state, forecast_rows, series, year_folds
from dlabs.engine import metrics as M
from dlabs.errors import DataError, InputError

from conftest import MIRROR, needs_data

DATA = MIRROR / "google_stock"
HEADER = "Date,Open,High,Low,Close,Volume\n"


def _frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A small random-walk OHLCV table with consistent columns."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100, close[:-1]] * np.exp(rng.normal(0, 0.003, n))
    high, low = np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": rng.integers(1e5, 1e6, n)},
                        index=pd.bdate_range("2020-01-01", periods=n, name="date")).astype(float)


def _csv(frame: pd.DataFrame) -> str:
    return HEADER + "".join(f"{d.date()},{r.open},{r.high},{r.low},{r.close},{int(r.volume)}\n"
                            for d, r in frame.iterrows())


# the reader ---------------------------------------------------------------------------------------
@needs_data("google_stock")
def test_course_train_file_traps_are_handled():
    raw = (DATA / "Google_Stock_Price_Train.csv").read_bytes()
    assert b"\r\n" in raw and b'"7,380,500"' in raw  # CRLF and quoted thousands separators
    f = prices.read_ohlcv(DATA / "Google_Stock_Price_Train.csv")
    assert len(f) == 1258 and f.index.is_monotonic_increasing
    assert f.loc["2012-01-03", "volume"] == 7_380_500
    assert f.loc["2012-01-03", "close"] == pytest.approx(663.59 / 2)  # the unadjusted close, detected and halved
    assert f.loc["2014-03-27", "close"] == pytest.approx(556.93)  # first adjusted day left alone
    assert "before 2014-03-27" in f.attrs["notes"][0]
    ratio = f["close"] / f["open"]
    assert ratio.between(0.9, 1.1).all()


@needs_data("google_stock")
def test_yahoo_file_reads_clean():
    f = prices.read_ohlcv(DATA / "GOOGL_yahoo_2004-08-19_2021-08-30.csv")
    assert len(f) == 4288 and f.attrs["notes"] == [] and list(f.columns) == list(prices.COLUMNS)


def test_mixed_dates_separators_and_reversed_order():
    text = ("date,open,high,low,close,adj close,volume\r\n"
            "01/06/2012,10,11,9,10.5,10.5,\"1,000\"\r\n"
            "2012-01-05,10,11,9,10.5,10.5,2 000\r\n"
            "1/4/2012,10,11,9,10.5,10.5,3000\r\n")
    f = prices.read_ohlcv(text)
    assert [str(d.date()) for d in f.index] == ["2012-01-04", "2012-01-05", "2012-01-06"]
    assert list(f["volume"]) == [3000, 2000, 1000] and "newest-first" in f.attrs["notes"][0]


def test_unadjusted_split_of_all_prices_is_detected():
    f = _frame(30)
    f.iloc[:10, :4] *= 3  # a 3:1 split on day 10 left in the raw prices
    out = prices.read_ohlcv(_csv(f))
    assert np.allclose(out["close"], _frame(30)["close"], rtol=1e-3) and "split" in out.attrs["notes"][0]


@pytest.mark.parametrize("text, message", [
    ("a,b,c\n1,2,3\n", "not a daily OHLCV table: no column date, open"),
    (HEADER + "2020-01-01,1,2,0.5,1.5,100\n2020-01-02,1,x,0.5,1.5,100\n", "row 3: high is not a number"),
    (HEADER + "2020-01-01,1,2,0.5,1.5,100\nyesterday,1,2,0.5,1.5,100\n", "row 3: cannot read the date"),
    (HEADER + "2020-01-02,1,2,0.5,1.5,100\n2020-01-01,1,2,0.5,1.5,100\n2020-01-03,1,2,0.5,1.5,100\n",
     "dates are not in order"),
    (HEADER + "2020-01-01,1,2,0.5,1.5,100\n2020-01-01,1,2,0.5,1.5,100\n", "appears twice"),
    (HEADER + "2020-01-01,1,2,0.5,1.5,100\n2020-01-02,-1,2,0.5,1.5,100\n", "prices must be positive"),
    (HEADER + "2020-01-01,1,2,0.5,1.2,100\n2020-01-02,1,2,0.5,4,100\n2020-01-03,1,2,0.5,1.2,100\n"
              "2020-01-06,1,2,0.5,1.2,100\n", "Close is on another scale than Open"),
])
def test_bad_csv_gives_a_one_line_error(text, message):
    with pytest.raises(InputError, match=message):
        prices.read_ohlcv(text, InputError)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        prices.read_ohlcv(tmp_path / "nope.csv")


# windows and preprocessing without look-ahead -----------------------------------------------------
def test_windows_end_the_day_before_their_target():
    series_ = np.arange(20, dtype=float)[:, None]
    w = prices.windows(series_, 5, 5, 20)
    assert w.shape == (15, 5, 1)
    targets = np.arange(5, 20)
    assert (w[:, -1, 0] == targets - 1).all() and (w.max(axis=(1, 2)) < targets).all()
    with pytest.raises(ValueError):
        prices.windows(series_, 5, 4, 20)


@pytest.mark.parametrize("mode", ["level", "return"])
def test_test_values_reach_neither_the_scaler_nor_training_windows(mode):
    f, n, w = _frame(60), 45, 10
    g = f.copy()
    g.iloc[n:, :4] *= 5  # wildly different test period
    a, b = fit_state(f, mode, w, 0, n), fit_state(g, mode, w, 0, n)
    assert json.dumps({k: np.asarray(v).tolist() for k, v in a.items()}) == \
        json.dumps({k: np.asarray(v).tolist() for k, v in b.items()})
    xa, ya = series(f, a)
    xb, yb = series(g, b)
    assert np.array_equal(prices.windows(xa, w, w + 1, n), prices.windows(xb, w, w + 1, n))
    assert np.array_equal(ya[w + 1:n], yb[w + 1:n])


def test_a_forecast_does_not_change_when_later_days_change():
    import torch

    from dlabs.models.rnn import SequenceEnsemble

    f, n, w = _frame(60), 45, 10
    state = fit_state(f, "return", w, 0, n)
    torch.manual_seed(0)
    model = SequenceEnsemble(2, len(state["features"]), 4, 1, cell="gru")
    before = forecast_rows(model, state, f, n, 60)
    g = f.copy()
    g.iloc[50:] *= 1.3
    after = forecast_rows(model, state, g, n, 60)
    assert np.allclose(before[:6], after[:6]) and not np.allclose(before[6:], after[6:])


# baselines ----------------------------------------------------------------------------------------
def test_baselines_on_a_hand_made_series():
    f = _frame(40)
    out = baselines_on(f, 0, 30, 40, window=5)
    o, c = f["open"].to_numpy(), f["close"].to_numpy()
    assert np.array_equal(out["persistence"][0], o[29:39])
    assert np.array_equal(out["yesterday_close"][0], c[29:39])
    drift = np.log(o[1:30] / c[:29]).mean()
    assert np.allclose(out["close_plus_drift"][0], c[29:39] * np.exp(drift))
    assert out["linear_ar"][0].shape == (10,) and np.isfinite(out["linear_ar"][0]).all()


def test_forecast_metrics_by_hand():
    m = M.forecast([10, 12, 11], [11, 12, 12], [9, 10, 12])
    assert m["rmse"] == pytest.approx(np.sqrt(2 / 3)) and m["mae"] == pytest.approx(2 / 3)
    assert m["mape"] == pytest.approx(100 * (0.1 + 0 + 1 / 11) / 3)
    assert m["direction_accuracy"] == pytest.approx(2 / 3)  # up/up, up/up, flat forecast vs down: wrong


@needs_data("google_stock")
def test_course_split_reproduces_the_published_baselines():
    from dlabs.labs import get_lab

    lab = get_lab("stocks")
    cfg = lab.config("smoke")
    b = lab.baselines(cfg, 0, lab.test_data(cfg, {}))
    assert b["persistence"].metrics["rmse"] == pytest.approx(8.42, abs=0.005)
    assert b["persistence"].metrics["mae"] == pytest.approx(5.94, abs=0.005)
    assert b["yesterday_close"].metrics["rmse"] == pytest.approx(3.52, abs=0.005)
    assert b["yesterday_close"].metrics["mae"] == pytest.approx(2.61, abs=0.01)


def test_year_folds_train_on_the_years_before_and_test_on_one_year():
    f = _frame(800)  # business days from 2020-01-01 into 2023
    folds = year_folds(f, 2, 1)
    years = f.index.year
    assert [y for y, *_ in folds] == [2022, 2023]
    for year, start, stop, end in folds:
        assert set(years[start:stop]) == {year - 1} and set(years[stop:end]) == {year}
        assert end == len(f) or years[end] == year + 1


@needs_data("google_stock")
def test_backtest_trains_each_year_through_the_lab_and_logs_it(caplog):
    import logging

    from dlabs.labs import get_lab

    lab = get_lab("stocks")
    cfg = lab.config("smoke", ["backtest.folds=2"])
    seen = []
    train_model = lab.train_model

    def counted(*args, **kwargs):
        seen.append(kwargs["desc"])
        return train_model(*args, **kwargs)

    lab.train_model = counted  # the lab's own training, counted (instance attribute, removed below)
    try:
        with caplog.at_level(logging.INFO, logger="dlabs"):
            bt = lab.protocols(cfg, 0, "cpu")["backtest"]
    finally:
        del lab.train_model
    assert seen == ["backtest 2020", "backtest 2021"]
    assert [r.getMessage() for r in caplog.records if "backtest year" in r.getMessage()] == \
        ["backtest year 1/2 (2020)", "backtest year 2/2 (2021)"]
    assert [f["label"] for f in bt["folds"]] == [2020, 2021] and bt["model"]["rmse"] > 0
    assert set(bt["baselines"]) == set(bt["dm_pvalue"]) == {"persistence", "yesterday_close", "close_plus_drift",
                                                            "linear_ar"}


# predict ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not DATA.is_dir():
        pytest.skip("google_stock not in mirror")
    return api.train("stocks", "smoke", ["backtest.folds=0"], "cpu", runs=tmp_path_factory.mktemp("runs"),
                     progress=False)


def _dlabs_temp() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("dlabs-*")}


def test_predict_gives_a_banded_recursive_forecast_and_a_plot(run, tmp_path):
    from dlabs.labs import Output

    csv = tmp_path / "prices.csv"
    csv.write_text(_csv(_frame(40)))
    before = _dlabs_temp()
    out = api.predict("stocks", [str(csv)], run, {"days": "4"})
    assert _dlabs_temp() == before  # the plot is made in memory: nothing is left in the temp folder
    next_day = _frame(40).index[-1] + pd.offsets.BDay()
    assert [p["day"] for p in out] == [1, 2, 3, 4] and out[0]["date"] == str(next_day.date())
    assert all(p["low"] < p["forecast"] < p["high"] for p in out)
    widths = [p["high"] - p["low"] for p in out]
    assert widths == sorted(widths)  # the band widens with the horizon
    assert abs(out[0]["forecast"] / out[0]["last_close"] - 1) < 0.1
    plot = out[0]["plot"]
    assert isinstance(plot, Output) and plot.name == "forecast.png" and plot.data.startswith(b"\x89PNG")
    saved = api.save_outputs(out, tmp_path / "fc")
    assert saved[0]["plot"] == str(tmp_path / "fc" / "forecast.png") and (tmp_path / "fc" / "forecast.png").is_file()


def test_predict_takes_csv_bytes_and_text_alike(run, tmp_path):
    from dlabs.labs.base import Request

    text = _csv(_frame(40))
    by_api = api.predict("stocks", [text.encode()], run, {"days": "2"})
    model = api.load(run)
    by_text = model.lab.predict(model, Request([("typed", text)], {"days": "2"}))
    assert [p["forecast"] for p in by_api] == [p["forecast"] for p in by_text]


@pytest.mark.parametrize("rows, options, message", [
    (8, {}, "8 rows; the model needs at least 11"),
    (40, {"days": "x"}, "--days 'x': expected a whole number"),
    (40, {"days": "0"}, "expected 1 to 60"),
    (40, {"horizon": "3"}, "unknown option --horizon"),
    (40, {"out": "somewhere"}, "unknown option --out"),  # --out is the CLI's, never the lab's
])
def test_predict_bad_requests(run, tmp_path, rows, options, message):
    csv = tmp_path / "prices.csv"
    csv.write_text(_csv(_frame(rows)))
    with pytest.raises(InputError, match=message):
        api.predict("stocks", [str(csv)], run, options)


def test_predict_rejects_a_gap_inside_the_window(run, tmp_path):
    f = _frame(40)
    f.index = f.index[:35].append(f.index[35:] + pd.Timedelta(days=30))
    csv = tmp_path / "gap.csv"
    csv.write_text(_csv(f))
    with pytest.raises(InputError, match="gap.csv: trading days are missing between"):
        api.predict("stocks", [str(csv)], run)


def test_cli_predict_and_bad_csv_exit_code(run, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(_csv(_frame(40)))
    bad.write_text("name,price\nfoo,1\n")
    args = [sys.executable, "-m", "dlabs", "predict", "stocks", "--run", str(run.path), "--out", str(tmp_path / "o")]
    ok = subprocess.run(args + [str(good), "--days", "2", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    rows = json.loads(ok.stdout)
    assert len(rows) == 2 and rows[0]["plot"] == str(tmp_path / "o" / "forecast.png")
    text = subprocess.run(args + ["-"], input=good.read_text(), capture_output=True, text=True)
    assert "open forecast" in text.stdout and f"plot: {tmp_path / 'o' / 'forecast-1.png'}" in text.stdout
    no = subprocess.run(args + [str(bad)], capture_output=True, text=True)
    assert no.returncode == 2 and "not a daily OHLCV table" in no.stderr and "Traceback" not in no.stderr


def test_diebold_mariano_tells_a_tie_from_a_difference():
    rng = np.random.default_rng(0)
    e = rng.normal(0, 1, 500)
    assert M.diebold_mariano(e, e) == 1.0
    assert M.diebold_mariano(e, e[::-1]) > 0.05  # same distribution, different days
    assert M.diebold_mariano(e, 2 * e) < 1e-6
