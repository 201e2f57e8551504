"""Calendar periods: months, quarters and years, as dates and as ``YYYY-MM`` labels.

Every piece of month arithmetic in tokenbooks is here (the close, the lock, the reports,
the contracts' periods). A month is written ``2026-01``; a report period may also be a
quarter (``2026-Q1``) or a year (``2026``). Periods are closed on the left and open on
the right in ``parse_period`` (``[first day, day after the last)``) and closed on both
ends in ``month_bounds``:

    >>> parse_period("2026-Q1")
    (datetime.date(2026, 1, 1), datetime.date(2026, 4, 1))
    >>> month_bounds("2026-02")
    (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    >>> next_month("2026-12"), previous_month("2026-01")
    ('2027-01', '2025-12')
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Iterator
from functools import lru_cache

ONE_DAY = datetime.timedelta(days=1)
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_YEAR = re.compile(r"(\d{4})")


def period_start(day: datetime.date, period: str) -> datetime.date:
    """The first day of the calendar ``period`` (``month`` or ``year``) holding ``day``."""
    return day.replace(day=1) if period == "month" else day.replace(month=1, day=1)


@lru_cache(maxsize=8192)  # asked for every day of every contract by the engine
def period_end(day: datetime.date, period: str) -> datetime.date:
    """The last day of the calendar ``period`` (``month`` or ``year``) holding ``day``."""
    if period == "month":
        return day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return day.replace(month=12, day=31)


def next_period_start(day: datetime.date, period: str) -> datetime.date:
    return period_end(day, period) + ONE_DAY


def period_key(day: datetime.date, period: str) -> str:
    """``2026-01`` for a month, ``2026`` for a year."""
    return f"{day:%Y-%m}" if period == "month" else f"{day:%Y}"


def clip(start: datetime.date, end: datetime.date, first: datetime.date,
         last: datetime.date | None) -> tuple[datetime.date, datetime.date]:
    """The period [start, end] clipped to the term [first, last]."""
    return max(start, first), min(end, last) if last is not None else end


def month_of(day: datetime.date) -> str:
    """The month label of ``day``: ``2026-01``."""
    return f"{day.year:04d}-{day.month:02d}"


def month_end(day: datetime.date) -> datetime.date:
    return period_end(day, "month")


def parse_month(text: str) -> tuple[int, int]:
    """``2026-01`` -> (2026, 1); ValueError otherwise."""
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"period: expected a month YYYY-MM, got {text!r}")
    return int(match[1]), int(match[2])


def month_bounds(period: str) -> tuple[datetime.date, datetime.date]:
    """``2026-01`` -> (2026-01-01, 2026-01-31); ValueError otherwise."""
    year, month = parse_month(period)
    first = datetime.date(year, month, 1)
    return first, month_end(first)


def next_month(period: str) -> str:
    year, month = parse_month(period)
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def previous_month(period: str) -> str:
    year, month = parse_month(period)
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def previous_months(period: str, n: int) -> list[str]:
    """The ``n`` months before ``period``, the nearest first."""
    out = []
    for _ in range(n):
        period = previous_month(period)
        out.append(period)
    return out


def months(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last``, both included."""
    out = []
    period = first
    while period <= last:
        out.append(period)
        period = next_month(period)
    return out


def month_ends(first: datetime.date, last: datetime.date) -> Iterator[datetime.date]:
    """The last day of every month from ``first``'s to ``last``'s, in order."""
    day = month_end(first)
    while day <= month_end(last):
        yield day
        day = month_end(day + ONE_DAY)


def months_after(day: datetime.date, end: datetime.date, period: str) -> int:
    """Whole calendar periods (``month`` or ``year``) after ``day``'s up to ``end``'s."""
    if period == "year":
        return max(0, end.year - day.year)
    return max(0, (end.year - day.year) * 12 + end.month - day.month)


def parse_period(text: str) -> tuple[datetime.date, datetime.date]:
    """``2026-01``, ``2026-Q1`` or ``2026`` -> (first day, day after the last)."""
    text = text.strip()
    if (m := _MONTH.fullmatch(text)) and 1 <= int(m[2]) <= 12:
        first, last = month_bounds(text)
        return first, last + ONE_DAY
    if m := _QUARTER.fullmatch(text):
        year, quarter = int(m[1]), int(m[2])
        start = datetime.date(year, 3 * quarter - 2, 1)
        end = (datetime.date(year + 1, 1, 1) if quarter == 4
               else datetime.date(year, 3 * quarter + 1, 1))
        return start, end
    if m := _YEAR.fullmatch(text):
        return datetime.date(int(m[1]), 1, 1), datetime.date(int(m[1]) + 1, 1, 1)
    raise ValueError(f"period: expected YYYY-MM, YYYY-Qn or YYYY, got {text!r}")


def posting_period(day: datetime.date, grain: str) -> tuple[str, datetime.date, datetime.date]:
    """(label, first day, last day) of the posting period (``month`` or ``day``) of ``day``."""
    if grain == "day":
        return day.isoformat(), day, day
    first = day.replace(day=1)
    return month_of(day), first, month_end(day)
