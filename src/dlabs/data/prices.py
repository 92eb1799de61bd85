"""Daily price tables (OHLCV) read robustly, and the windows a sequence model learns from.

`read_ohlcv` reads any ordinary daily OHLCV CSV (the course's Google files, Yahoo downloads,
re-saved copies) into one frame with a sorted date index and float columns ``open high low
close volume``. It copes with the traps of the course files and says what it did in
``frame.attrs["notes"]``: mixed date formats, thousands separators, CRLF, a reversed
(newest-first) file, and prices that are not split-adjusted: a ``Close`` column on another scale
than Open/High/Low before some date (the course's train file: Close doubled before the 2014
split), or all prices jumping by a split ratio overnight. Both are detected from the data, never
from a hard-coded date. Anything else that is wrong is a one-line error naming the row.

`windows` cuts a (T, F) series into (N, window, F) inputs whose rows all come strictly before
the day they predict, so no window can see its own target.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from dlabs.errors import DataError

COLUMNS = ("open", "high", "low", "close", "volume")
_ALIASES = {"date": "date", "datetime": "date", "timestamp": "date", "time": "date", "day": "date",
            "open": "open", "high": "high", "low": "low", "close": "close", "close/last": "close",
            "volume": "volume", "vol": "volume", "adj close": "adj_close", "adj_close": "adj_close",
            "adjclose": "adj_close", "adjusted close": "adj_close"}
_MISSING = {"", "null", "nan", "na", "n/a", "-", "none"}
SPLIT_RATIOS = (2.0, 3.0, 4.0, 5.0, 1.5, 10.0, 20.0)  # the ratios a split or reverse split snaps to


def _snap(ratio: float, tol: float = 0.05) -> float | None:
    """A ratio near a usual split ratio (or its inverse), else None."""
    for r in SPLIT_RATIOS:
        for cand in (r, 1 / r):
            if abs(math.log(ratio / cand)) < tol:
                return cand
    return None


def read_ohlcv(source: Path | bytes | str, error: type[Exception] = DataError, name: str | None = None):
    """A pandas frame indexed by date with float columns open, high, low, close, volume.

    `source` is a file's path, a file's bytes, or the CSV text itself (a `str` is always text,
    never a path); `name` names it in messages; `error` is the exception type raised (DataError
    for declared data, InputError for a file a user hands to predict).
    """
    import pandas as pd

    where = name or (str(source) if isinstance(source, Path) else "input")
    if isinstance(source, Path):
        if not source.is_file():
            raise error(f"{where}: no such file")
        source = source.read_bytes()
    text = source.decode("utf-8-sig", errors="replace") if isinstance(source, bytes) else source.lstrip("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise error(f"{where}: empty file")
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True, keep_default_na=False)
    except Exception as e:  # pandas raises several parser error types
        raise error(f"{where}: not a CSV table ({e.__class__.__name__}: {str(e).splitlines()[0]})") from None
    cols = {}
    for c in raw.columns:
        key = _ALIASES.get(str(c).strip().lower().replace("*", ""))
        if key and key not in cols:
            cols[key] = c
    missing = [c for c in ("date", *COLUMNS) if c not in cols]
    if missing:
        raise error(f"{where}: not a daily OHLCV table: no column {', '.join(missing)} "
                    f"(expected Date, Open, High, Low, Close, Volume; found {', '.join(map(str, raw.columns))})")
    notes: list[str] = []
    frame = pd.DataFrame({k: raw[cols[k]].astype(str).str.strip() for k in ("date", *COLUMNS)})
    empty = frame[list(COLUMNS[:4])].apply(lambda s: s.str.lower().isin(_MISSING)).all(axis=1)
    if empty.any():
        notes.append(f"dropped {int(empty.sum())} row(s) with no prices (e.g. 'null' rows)")
        frame = frame[~empty]
    if frame.empty:
        raise error(f"{where}: no rows with prices")
    for c in COLUMNS:
        cleaned = frame[c].str.replace(r"[,\s$_']", "", regex=True)
        values = pd.to_numeric(cleaned.where(~cleaned.str.lower().isin(_MISSING)), errors="coerce")
        bad = values.isna() | ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise error(f"{where}: row {frame.index[i] + 2}: {c} is not a number ({frame[c].iloc[i]!r})")
        frame[c] = values.astype(float)
    try:
        dates = pd.to_datetime(frame["date"], format="mixed", errors="coerce")
    except (ValueError, TypeError):  # mixed UTC offsets (+01:00 and -05:00): each row's own calendar day
        dates = pd.to_datetime(frame["date"].map(_wall_clock), format="mixed", errors="coerce")
        notes.append("the dates carry different UTC offsets; each row is read on its own calendar day")
    if dates.isna().any():
        i = int(np.argmax(dates.isna().to_numpy()))
        raise error(f"{where}: row {frame.index[i] + 2}: cannot read the date {frame['date'].iloc[i]!r}")
    frame = frame.drop(columns="date").set_index(pd.DatetimeIndex(dates.dt.tz_localize(None) if dates.dt.tz else dates,
                                                                  name="date"))
    frame = _check_order(frame, where, error, notes)
    if (frame[list(COLUMNS[:4])] <= 0).any().any():
        raise error(f"{where}: prices must be positive (row dated {frame[(frame[list(COLUMNS[:4])] <= 0).any(axis=1)].index[0].date()})")
    if (frame["volume"] < 0).any():
        raise error(f"{where}: negative volume")
    frame = _adjust_close_scale(frame, where, error, notes)
    frame = _adjust_splits(frame, notes)
    frame.attrs["notes"] = notes
    return frame


def _wall_clock(text: str):
    """A date as written, without its UTC offset (NaT if it is not a date)."""
    import pandas as pd

    t = pd.to_datetime(text, errors="coerce")
    return t.tz_localize(None) if t is not pd.NaT and t.tzinfo is not None else t


def _check_order(frame, where: str, error, notes: list[str]):
    idx = frame.index
    if idx.has_duplicates:
        raise error(f"{where}: the date {idx[idx.duplicated()][0].date()} appears twice")
    if idx.is_monotonic_increasing:
        return frame
    if idx.is_monotonic_decreasing:
        notes.append("rows were newest-first; sorted oldest-first")
        return frame.iloc[::-1]
    i = int(np.argmax(np.diff(idx.asi8) < 0)) + 1
    raise error(f"{where}: dates are not in order ({idx[i].date()} comes after {idx[i - 1].date()}); "
                "sort the file by date")


def _adjust_close_scale(frame, where: str, error, notes: list[str]):
    """Close on another scale than Open/High/Low before some day: detect the cut and rescale Close.

    On a consistent table ``|log(close/open)|`` is a day's move (well under log 1.5). Rows where
    it is near the log of a split ratio, forming one contiguous run at the start, are a Close
    column left unadjusted before a split; they are divided by the ratio (snapped to the usual
    ratios when close to one, as the course file's 2.0).
    """
    lr = np.log(frame["close"].to_numpy() / frame["open"].to_numpy())
    off = np.abs(lr) > math.log(1.5)
    if not off.any():
        return frame
    cut = int(np.flatnonzero(off)[-1]) + 1  # first row after the last off-scale row
    if off[:cut].mean() < 0.95:
        raise error(f"{where}: Close is on another scale than Open in {int(off.sum())} scattered row(s) "
                    f"(first dated {frame.index[np.argmax(off)].date()}); not a consistent OHLC table")
    ratio = float(np.exp(np.median(lr[:cut][off[:cut]])))
    ratio = _snap(ratio) or ratio
    frame = frame.copy()
    frame.iloc[:cut, frame.columns.get_loc("close")] /= ratio
    notes.append(f"Close was not split-adjusted before {frame.index[cut].date() if cut < len(frame) else 'the end'}: "
                 f"the data show Close/Open near {ratio:g} on {cut} rows, so that Close was divided by {ratio:g}")
    return frame


def _adjust_splits(frame, notes: list[str]):
    """All prices jumping overnight by a split ratio (an unadjusted file): scale the earlier rows."""
    prev_close = frame["close"].to_numpy()[:-1]
    gap = frame["open"].to_numpy()[1:] / prev_close
    frame = frame.copy()
    for i in np.flatnonzero((gap > 1.8) | (gap < 1 / 1.8)):
        ratio = _snap(float(gap[i]), tol=0.1)
        if ratio is None:
            continue
        frame.iloc[:i + 1, [frame.columns.get_loc(c) for c in ("open", "high", "low", "close")]] *= ratio
        frame.iloc[:i + 1, frame.columns.get_loc("volume")] /= ratio
        notes.append(f"prices jump by a factor {1 / ratio:g} overnight into {frame.index[i + 1].date()}: "
                     f"treated as a split, earlier prices multiplied by {ratio:g}")
    return frame


def gaps(frame, days: int = 7) -> list[tuple[str, str]]:
    """(from, to) date pairs more than `days` calendar days apart: missing stretches of trading."""
    idx = frame.index
    jumps = np.flatnonzero(np.diff(idx.values) > np.timedelta64(days, "D"))
    return [(str(idx[i].date()), str(idx[i + 1].date())) for i in jumps]


def windows(series: np.ndarray, window: int, start: int, stop: int) -> np.ndarray:
    """Inputs for predicting rows ``start..stop-1``: window ``k`` holds rows ``t-window..t-1`` for t = start + k.

    Every window ends the day before the one it predicts, so a window never contains its own
    target; rows before `start` (history) may be used as inputs but are never predicted here.
    """
    if start < window:
        raise ValueError(f"the first predicted row ({start}) needs {window} rows of history")
    idx = np.arange(start, stop)[:, None] + np.arange(-window, 0)[None, :]
    return series[idx]


RETURN_FEATURES = ("close_return", "overnight_gap", "high_over_close", "low_over_close", "volume_change")


def return_features(frame) -> np.ndarray:
    """(T, 5) stationary features of each day, all known at its close: log returns close-to-close
    and open-over-previous-close, log high and low over close, log volume change. Row 0, which
    has no previous day, is zeros."""
    o, h, l, c, v = (frame[k].to_numpy(dtype=float) for k in COLUMNS)
    out = np.zeros((len(frame), len(RETURN_FEATURES)))
    out[1:, 0] = np.log(c[1:] / c[:-1])
    out[1:, 1] = np.log(o[1:] / c[:-1])
    out[:, 2] = np.log(h / c)
    out[:, 3] = np.log(l / c)
    out[1:, 4] = np.log1p(v[1:]) - np.log1p(v[:-1])
    return out


def next_open_gap(frame) -> np.ndarray:
    """(T,) log(open_t / close_{t-1}): how day t opens relative to the close before it (row 0: NaN)."""
    o, c = frame["open"].to_numpy(dtype=float), frame["close"].to_numpy(dtype=float)
    return np.concatenate([[np.nan], np.log(o[1:] / c[:-1])])
