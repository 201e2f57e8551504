"""All of tokenbooks' plugins as one plugin line: contracts, revenue, cogs, invariants, lock.

    plugin "tokenbooks.plugins.book" "{'contracts': 'contracts', 'posting': 'month'}"

is the same book as

    plugin "tokenbooks.plugins.contracts"  "{'contracts': 'contracts'}"
    plugin "tokenbooks.plugins.revenue"    "{'contracts': 'contracts', 'posting': 'month'}"
    plugin "tokenbooks.plugins.cogs"       "{'contracts': 'contracts'}"
    plugin "tokenbooks.plugins.invariants" "{'contracts': 'contracts'}"
    plugin "tokenbooks.plugins.lock"

(the same entries and errors), only faster to load: Beancount sorts the whole book
again after every plugin line, with a Python sort key (about 0.3 s a line at 400,000
entries), and one line is sorted once. The plugins run in that order on one list:
the few entries each adds go at the end, and what a later plugin needs of the order is
given to it (the book's last date; the lock plugin gets a sorted book when a month is
closed). Put it after any plugin of your own that adds usage or purchases, and last.

Config (a dict literal, every key optional): ``contracts`` (all of them), ``posting``,
``as_of`` and ``hard_stop`` (the revenue plugin's), ``period`` (the cogs plugin's).
"""

from __future__ import annotations

import datetime
from typing import Any, NamedTuple

from beancount.core import data

from . import cogs, common, contracts, invariants, lock, revenue

__plugins__ = ("book",)

PLUGIN = "tokenbooks.plugins.book"
KEYS = {
    "contracts": ("contracts",),
    "revenue": ("contracts", "posting", "as_of", "hard_stop"),
    "cogs": ("contracts", "period"),
    "invariants": ("contracts",),
}


class BookConfigError(NamedTuple):
    source: data.Meta
    message: str
    entry: data.Directive | None


def _config(settings: dict[str, Any], plugin: str) -> str:
    return repr({key: settings[key] for key in KEYS[plugin] if key in settings})


def _last(day: datetime.date, added: data.Directives) -> datetime.date:
    """The book's last date once ``added`` are in it (they go at the end, unsorted)."""
    return max([day, *(entry.date for entry in added)]) if added else day


def book(entries: data.Directives, options_map: dict[str, Any],
         config: str | None = None) -> tuple[data.Directives, list]:
    settings, errors = common.parse_config(config, PLUGIN)
    errors = list(errors)
    known = {key for keys in KEYS.values() for key in keys}
    unknown = sorted(set(settings) - known)
    if unknown:
        errors.append(BookConfigError(
            data.new_metadata(f"<{PLUGIN}>", 0),
            f"{PLUGIN}: unknown config key {unknown[0]!r}; expected one of: "
            f"{', '.join(sorted(known))}", None))
    if not entries:
        return entries, errors
    last = entries[-1].date  # Beancount hands the plugin a sorted book

    def run(function, name: str, *args, **kwargs) -> None:
        nonlocal entries, last
        before = len(entries)
        entries, found = function(entries, options_map, _config(settings, name), *args,
                                  **kwargs)
        errors.extend(found)
        last = _last(last, entries[before:])

    run(contracts.contracts, "contracts")
    run(revenue.revenue, "revenue", last=last)
    run(cogs.cogs, "cogs", quiet=True)
    run(invariants.check_invariants, "invariants", last=last)
    if lock.closed_periods(entries):  # a closed month is compared entry by entry, in order
        entries.sort(key=data.entry_sortkey)
    entries, found = lock.lock(entries, options_map)
    errors.extend(found)
    return entries, errors
