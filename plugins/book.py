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
entries), and one line is sorted once. The stages run in that order on one list, with
one ``Load`` (``tokenbooks.plugins.load``) handed from each to the next: the few
entries each adds go at the end, the book's last date is carried along, and the lock
sorts only the entries of the closed months it compares. Put it after any plugin of your
own that adds usage or purchases, and last.

Config (a dict literal, every key optional): the keys of the five
(``tokenbooks.plugins.config``): ``contracts``, ``posting``, ``as_of``, ``hard_stop``,
``grain``, ``period``.
"""

from __future__ import annotations

import datetime
from typing import Any

from beancount.core import data

from . import cogs, contracts, invariants, lock, revenue
from . import config as settings
from .errors import PluginError
from .load import Load, frozen_book

__plugins__ = ("book",)

PLUGIN = settings.BOOK


def _last(day: datetime.date, added: list[data.Directive]) -> datetime.date:
    """The book's last date once ``added`` are in it (they go at the end, unsorted)."""
    return max([day, *(entry.date for entry in added)]) if added else day


def book(entries: data.Directives, options_map: dict[str, Any],
         config: str | None = None) -> tuple[data.Directives, list[PluginError]]:
    with frozen_book():
        return _book(entries, options_map, config)


def _book(entries: data.Directives, options_map: dict[str, Any],
          config: str | None) -> tuple[data.Directives, list[PluginError]]:
    parsed, bad_config = settings.parse(config, PLUGIN)
    load, more = Load.attach(options_map, parsed)
    errors: list[PluginError] = [*bad_config, *more]
    added, found = contracts.stage(load, entries, options_map)
    errors += found
    out = entries + added
    if not entries:
        return out, errors
    last = _last(entries[-1].date, added)  # Beancount hands the plugin a sorted book
    before = len(out)
    out, found = revenue.stage(load, out, parsed, last)
    errors += found
    last = _last(last, out[before:])
    if "period" not in parsed.invalid:
        added, found = cogs.stage(load, out, parsed, quiet=True)
        errors += found
        out += added
        last = _last(last, added)
    errors += invariants.stage(load, out, last)
    errors += lock.stage(out, load.root)  # (it sorts what it compares: not the book)
    return out, errors
