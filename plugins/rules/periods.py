"""Calendar periods (month, year) clipped to a contract's term."""

from __future__ import annotations

import calendar
import datetime
from functools import lru_cache


def period_start(day: datetime.date, period: str) -> datetime.date:
    return day.replace(day=1) if period == "month" else day.replace(month=1, day=1)


@lru_cache(maxsize=8192)  # asked for every day of every contract by the engine
def period_end(day: datetime.date, period: str) -> datetime.date:
    if period == "month":
        return day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return day.replace(month=12, day=31)


def next_period_start(day: datetime.date, period: str) -> datetime.date:
    return period_end(day, period) + datetime.timedelta(days=1)


def period_key(day: datetime.date, period: str) -> str:
    return f"{day:%Y-%m}" if period == "month" else f"{day:%Y}"


def clip(start: datetime.date, end: datetime.date, first: datetime.date,
         last: datetime.date | None) -> tuple[datetime.date, datetime.date]:
    """The period [start, end] clipped to the term [first, last]."""
    return max(start, first), min(end, last) if last is not None else end
