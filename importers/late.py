"""What arrives after its month was closed: a prior-period adjustment.

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

The same holds for everything else the importers produce: a purchase, a refund, a
processor fee, a payout (the purchase importers' transactions) and a provider bill line
(``custom "provider-bill"``) dated in a closed month is dated on the first day of the
first open month, with ``original_date`` and ``prior_period``:

    2026-02-01 * "Tenant Co" "Refund: pack-10k" ^tenant-2025
      rule: "refund"
      refund_of: "ch_3QhM9c..."
      original_date: 2026-01-04        ; the charge's day (the export has no refund date)
      prior_period: "2026-01"
      ...

Open directives and documents are never moved (the importers date an open directive
in an open month themselves).
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
PROVIDER_BILL = "provider-bill"
MOVED_CUSTOM = (USAGE, PROVIDER_BILL)  # the custom entries the importers write


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


def movable(entry: data.Directive) -> bool:
    """Whether ``entry`` is what an importer writes and ``redate`` may move: a usage or
    provider-bill entry, or a transaction (purchase, refund, fee, payout)."""
    if entry.__class__ is data.Custom:
        return entry.type in MOVED_CUSTOM
    return entry.__class__ is data.Transaction


def redate(entries: list[data.Directive], until: datetime.date | None) -> int:
    """Date the entries of a closed month (on or before ``until``) that an importer wrote
    (``movable``) on the first day after it, with ``original_date`` and ``prior_period``;
    returns how many (in place). An entry already moved keeps its ``original_date``."""
    if until is None:
        return 0
    first_open = until + datetime.timedelta(days=1)
    moved = 0
    for i, entry in enumerate(entries):
        if entry.date <= until and movable(entry):
            meta = dict(entry.meta)
            original = meta.get("original_date")
            if not isinstance(original, datetime.date):
                original = entry.date
            meta["original_date"] = original
            meta["prior_period"] = month_of(original)
            entries[i] = entry._replace(date=first_open, meta=meta)
            moved += 1
    return moved
