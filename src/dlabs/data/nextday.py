"""Next-day Open forecasting from daily prices: the pieces a forecasting lab and its backtest share.

`fit_state` fits the preprocessing on one training period (rows ``start..stop-1``) and nothing
else; `series` turns a price table into scaled inputs and targets with it; `split` and `batcher`
cut them into windows for the engine; `forecast_rows` and `to_price` turn a model's outputs back
into Open prices; `baselines_on` gives the forecasts any model must beat; `year_folds` cuts a
long history into walk-forward backtest folds; `ahead` forecasts the days after a price table,
with a band. Two modes: ``level`` (a window of Open scaled to [0, 1] on the training period,
target the next Open: the course's design) and ``return`` (a window of daily returns, target
``log(next open / last close)``). Torch is imported where a model or batcher needs it.
"""

from __future__ import annotations

import time

import numpy as np

from dlabs.data import prices, trading_days
from dlabs.errors import DlabsError, InputError

AR_WINDOW = 20  # the linear AR baseline's window (best's), fixed so every preset is judged against the same rows


def fit_state(frame, mode: str, window: int, start: int, stop: int) -> dict:
    """Preprocessing fitted on rows start..stop-1 only (a training period): scalers and volatilities."""
    rows = slice(max(start, 1), stop)
    gap, close = prices.next_open_gap(frame)[rows], frame["close"].to_numpy()
    ret = np.log(close[1:] / close[:-1])[max(start, 1) - 1:stop - 1]
    state = {"mode": mode, "window": window, "drift": float(gap.mean()), "gap_sd": float(gap.std()),
             "ret_sd": float(ret.std()), "trained_until": str(frame.index[stop - 1].date())}
    if mode == "level":
        o = frame["open"].to_numpy()[start:stop]
        return state | {"features": ["open"], "x_min": float(o.min()), "x_max": float(o.max())}
    if mode != "return":
        raise DlabsError(f"data.mode={mode}: expected level or return")
    f = prices.return_features(frame)[rows]
    sd = f.std(0)
    return state | {"features": list(prices.RETURN_FEATURES), "x_mean": f.mean(0), "x_scale": np.where(sd > 0, sd, 1.0),
                    "y_mean": float(gap.mean()), "y_scale": float(gap.std())}


def series(frame, state: dict) -> tuple[np.ndarray, np.ndarray]:
    """Scaled inputs (T, F) and scaled targets (T,): target t is what day t's forecast aims at."""
    if state["mode"] == "level":
        o = (frame["open"].to_numpy() - state["x_min"]) / (state["x_max"] - state["x_min"])
        return o[:, None].astype(np.float32), o.astype(np.float32)
    x = np.clip((prices.return_features(frame) - state["x_mean"]) / state["x_scale"], -5, 5)
    y = (prices.next_open_gap(frame) - state["y_mean"]) / state["y_scale"]
    return x.astype(np.float32), y.astype(np.float32)


def to_price(z: np.ndarray, state: dict, prev_close: np.ndarray) -> np.ndarray:
    """Scaled model outputs back to Open prices."""
    if state["mode"] == "level":
        return z * (state["x_max"] - state["x_min"]) + state["x_min"]
    return prev_close * np.exp(z * state["y_scale"] + state["y_mean"])


def batcher(x, y, window: int, start: int, stop: int):
    import torch

    from dlabs.engine.trainer import TensorBatcher

    return TensorBatcher(torch.from_numpy(prices.windows(x, window, start, stop)), torch.from_numpy(y[start:stop])[:, None])


def split(frame, state: dict, start: int, stop: int, val_fraction: float):
    """(fit, validation or None) batchers over training targets start..stop-1, validation last."""
    x, y = series(frame, state)
    start = max(start, state["window"] + 1)
    n_val = int(round((stop - start) * val_fraction))
    val = batcher(x, y, state["window"], stop - n_val, stop) if n_val else None
    return batcher(x, y, state["window"], start, stop - n_val), val


def forecast_rows(model, state: dict, frame, start: int, stop: int, members: bool = False) -> np.ndarray:
    """Open forecasts for rows start..stop-1, each from the `window` rows before it ((K, n) per member)."""
    import torch

    x, _ = series(frame, state)
    inputs = torch.from_numpy(prices.windows(x, state["window"], start, stop)).to(next(model.parameters()).device)
    model.eval()
    with torch.inference_mode():
        z = (model.forward_members(inputs) if members else model(inputs)).float().cpu().numpy()[..., 0]
    return to_price(z, state, frame["close"].to_numpy()[start - 1:stop - 1])


def baselines_on(frame, start: int, stop: int, test_stop: int, window: int = AR_WINDOW) -> dict[str, tuple[np.ndarray, float]]:
    """Forecasts of rows stop..test_stop-1 by the baselines fitted on training rows start..stop-1, with fit seconds."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import TimeSeriesSplit

    o, c = frame["open"].to_numpy(), frame["close"].to_numpy()
    prev = slice(stop - 1, test_stop - 1)
    out = {"persistence": (o[prev], 0.0), "yesterday_close": (c[prev], 0.0)}
    t0 = time.perf_counter()
    state = fit_state(frame, "return", window, start, stop)
    out["close_plus_drift"] = (c[prev] * np.exp(state["drift"]), time.perf_counter() - t0)
    # a linear autoregression on the same window: ridge on the flattened window of daily returns,
    # its penalty chosen by time-ordered CV inside the training period
    x, y = series(frame, state)
    first = max(start, window + 1)
    t0 = time.perf_counter()
    ridge = RidgeCV(alphas=np.logspace(-1, 5, 13), cv=TimeSeriesSplit(5)).fit(
        prices.windows(x, window, first, stop).reshape(stop - first, -1), y[first:stop])
    z = ridge.predict(prices.windows(x, window, stop, test_stop).reshape(test_stop - stop, -1))
    out["linear_ar"] = (to_price(z, state, c[prev]), time.perf_counter() - t0)
    return out


def extend_flat(frame, price: float):
    """`frame` with one more business day, a flat day at `price`."""
    import pandas as pd

    row = pd.DataFrame({"open": price, "high": price, "low": price, "close": price, "volume": frame["volume"].iloc[-1]},
                       index=[frame.index[-1] + pd.offsets.BDay()])
    return pd.concat([frame, row])


def graph_inputs(frame, state: dict, start: int, stop: int) -> dict[str, np.ndarray]:
    """What an exported model's graph takes to forecast rows start..stop-1 (it scales them itself): the
    unscaled window before each row (level: Open; return: the return features) and the close before it."""
    raw = frame["open"].to_numpy(dtype=float)[:, None] if state["mode"] == "level" else prices.return_features(frame)
    return {"window": prices.windows(raw, state["window"], start, stop),
            "last_close": frame["close"].to_numpy(dtype=float)[start - 1:stop - 1]}


def recursive_forecast(forecast, frame, days: int) -> np.ndarray:
    """One member's Open forecasts for `days` days, `forecast(frame, start, stop)` giving the member's
    forecasts of rows start..stop-1: each forecast is appended as a flat day (open = high = low =
    close = forecast, volume unchanged) to predict the day after it."""
    out = []
    for _ in range(days):
        placeholder = extend_flat(frame, float(frame["close"].iloc[-1]))  # only rows before it are read
        out.append(float(forecast(placeholder, len(frame), len(frame) + 1)[0]))
        frame = extend_flat(frame, out[-1])
    return np.array(out)


Z90 = 1.645  # the band is a central 90% interval


def ahead(model, state: dict, frame, days: int, members=None):
    """(dates, forecast, low, high) of the Opens of the `days` trading days after `frame`: the mean
    of the ensemble members' recursive forecasts, in a central 90% band whose log-scale spread adds
    up the members' disagreement, the training period's overnight-gap spread and, per day further
    ahead, its daily-return spread. `members` are the members' forecast functions (frame, start, stop)
    (default: `model`'s members in PyTorch; an exported model's run in ONNX Runtime)."""
    from functools import partial

    import pandas as pd

    tail = frame.iloc[-(state["window"] + 1):]
    members = members or [partial(forecast_rows, member, state) for member in model.members]
    paths = np.stack([recursive_forecast(forecast, tail, days) for forecast in members])
    with np.errstate(all="ignore"):  # prices near the float maximum overflow: refused below, not drawn
        center, spread = paths.mean(0), np.log(paths).std(0)
        sd = np.sqrt(spread ** 2 + state["gap_sd"] ** 2 + np.arange(days) * state["ret_sd"] ** 2)
        low, high = center * np.exp(-Z90 * sd), center * np.exp(Z90 * sd)
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (low > 0).all()):
        raise InputError(f"the forecast of these prices (last close {frame['close'].iloc[-1]:.4g}) is not a finite "
                         "positive number: they are far outside any range this model can forecast")
    dates = pd.DatetimeIndex(trading_days.after(frame.index[-1], days))  # the exchange's days, not weekdays
    return dates, center, low, high


def year_folds(frame, folds: int, train_years: int) -> list[tuple[int, int, int, int]]:
    """Walk-forward folds over the last `folds` calendar years of `frame`: (year, start, stop, end),
    training on rows start..stop-1 (the `train_years` calendar years before the year) and testing on
    rows stop..end-1 (the year)."""
    years = frame.index.year.to_numpy()
    out = []
    for year in sorted(set(years))[-folds:]:
        test = np.flatnonzero(years == year)
        out.append((int(year), int(np.argmax(years >= year - train_years)), int(test[0]), int(test[-1]) + 1))
    return out
