"""Usage that arrives after its month was closed: a prior-period adjustment.

A closed month (``custom "close" "2026-01"``, written by ``tokenbooks close``) cannot
change (``tokenbooks.plugins.lock``). When ``tokenbooks import`` reads events of a closed
month that the book does not hold yet, it books their aggregates on the first day of the
first open month instead, linked to the day they happened:

    2026-02-01 custom "usage" "acme" "gpt-4o" "chat" ""
      input_tokens: 1200
      events: 2
      ...
      original_date: 2026-01-15        ; the UTC day of the events
      prior_period: "2026-01"          ; the closed month they belong to

They are priced and recognized in the open month (at the price-book version and with
the credits of that day), and the close of that month lists them. The entries are
written to the import file of the events' own month (``imports/2026-01.<source>...``),
whose event-id index holds their ids, so a later import still finds them duplicates
(``importers.index`` files a sidecar under ``original_date``'s month).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from beancount.core import data

from tokenbooks.plugins.entries.usage import booked_month
from tokenbooks.plugins.rules.periods import month_bounds, month_of

__all__ = ["booked_month", "closed_until", "redate"]

CLOSE = "close"
USAGE = "usage"


def closed_until(entries: Iterable[data.Directive]) -> datetime.date | None:
    """The last day of the latest closed month of the book, or None."""
    last = None
    for entry in entries:
        if isinstance(entry, data.Custom) and entry.type == CLOSE and entry.values:
            period = str(entry.values[0].value)
            try:
                _, day = month_bounds(period)
            except ValueError:
                continue
            last = day if last is None or day > last else last
    return last


def redate(entries: list[data.Directive], until: datetime.date | None) -> int:
    """Date the usage entries of a closed month (on or before ``until``) on the first day
    after it, with ``original_date`` and ``prior_period``; returns how many (in place)."""
    if until is None:
        return 0
    first_open = until + datetime.timedelta(days=1)
    moved = 0
    for i, entry in enumerate(entries):
        if isinstance(entry, data.Custom) and entry.type == USAGE and entry.date <= until:
            meta = dict(entry.meta)
            meta["original_date"] = entry.date
            meta["prior_period"] = month_of(entry.date)
            entries[i] = entry._replace(date=first_open, meta=meta)
            moved += 1
    return moved


