"""The New York Stock Exchange's trading days: weekdays less its holidays, by its own rules.

A forecast of the next days' prices is dated by the days the exchange trades, not by weekdays
(pandas' US federal calendar is not the NYSE's: it has Columbus and Veterans Day, which the
exchange trades on, and lacks Good Friday, which it does not). The rules (NYSE Rule 7.2):
New Year's Day, Martin Luther King Jr. Day (third Monday of January, from 1998), Washington's
Birthday (third Monday of February), Good Friday, Memorial Day (last Monday of May), Juneteenth
(from 2022), Independence Day, Labor Day (first Monday of September), Thanksgiving (fourth
Thursday of November) and Christmas; a holiday on a Saturday is observed the Friday before
(except New Year's Day, which is then not observed), one on a Sunday the Monday after. Beside
them, the unscheduled closings since 2001. Early closes (half days) are trading days.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

# whole days the exchange closed outside its rules (September 11, Hurricane Sandy, national days of mourning)
CLOSINGS = ("2001-09-11", "2001-09-12", "2001-09-13", "2001-09-14", "2004-06-11", "2007-01-02", "2012-10-29",
            "2012-10-30", "2018-12-05", "2025-01-09")


def _nth(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th `weekday` (Monday 0) of a month; n = -1 is the last."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=1) if day.weekday() == 5 else day + dt.timedelta(days=1) if day.weekday() == 6 else day


@cache
def holidays(year: int) -> frozenset[dt.date]:
    from dateutil.easter import easter

    new_year = dt.date(year, 1, 1)
    days = {_observed(dt.date(year, 7, 4)), _observed(dt.date(year, 12, 25)), easter(year) - dt.timedelta(days=2),
            _nth(year, 2, 0, 3), _nth(year, 5, 0, -1), _nth(year, 9, 0, 1), _nth(year, 11, 3, 4)}
    if new_year.weekday() != 5:  # a Saturday New Year's Day is not observed on the Friday before
        days.add(_observed(new_year))
    if year >= 1998:
        days.add(_nth(year, 1, 0, 3))
    if year >= 2022:
        days.add(_observed(dt.date(year, 6, 19)))
    days |= {dt.date.fromisoformat(d) for d in CLOSINGS if d.startswith(str(year))}
    return frozenset(days)


def is_trading_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in holidays(day.year)


def after(day, count: int) -> list[dt.date]:
    """The `count` trading days after `day` (a date or a pandas Timestamp)."""
    day = day.date() if isinstance(day, dt.datetime) else day
    out = []
    while len(out) < count:
        day += dt.timedelta(days=1)
        if is_trading_day(day):
            out.append(day)
    return out
