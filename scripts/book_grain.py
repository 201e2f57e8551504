"""The grain of a book's usage sub-ledger, as the commands that write it read it.

    plugin "tokenbooks.plugins.book" "{'contracts': 'contracts', 'grain': 'month'}"

``book_grain`` reads the ``grain`` option of the book's plugin line (``day`` when the
line has none), ``book_spans`` makes the spans the importers aggregate by
(``rules.grain``) from the book's contracts and purchases and those of the import run.

    >>> book_grain({"plugin": [("tokenbooks.plugins.book", "{'grain': 'month'}")]})
    BookGrain(grain='month', posting='month', period='month', as_of=None)
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import click
from beancount.core import data

from tokenbooks.plugins import config
from tokenbooks.plugins.entries.purchases import parse_purchases
from tokenbooks.plugins.rules.grain import Spans, spans_for
from tokenbooks.plugins.rules.model import ContractSet


@dataclass(frozen=True)
class BookGrain:
    grain: str = "day"
    posting: str = "month"
    period: str = "month"  # of inference cost (cogs)
    as_of: datetime.date | None = None


def book_grain(options: Mapping[str, Any]) -> BookGrain:
    """The book's grain and the options its spans depend on, from its plugin lines; a
    ClickException naming the line's option if one is not valid."""
    found = BookGrain()
    for name, text in options.get("plugin", ()):
        if name not in (config.BOOK, config.REVENUE, config.COGS):
            continue
        parsed, errors = config.parse(text, name)
        for error in errors:
            if "grain" in error.message:
                raise click.ClickException(f"the book's plugin line {name}: "
                                           f"{error.message}; nothing was written")
        if name in (config.BOOK, config.REVENUE):
            found = BookGrain(parsed.grain, parsed.posting, found.period, parsed.as_of)
        if name in (config.BOOK, config.COGS):
            found = BookGrain(found.grain, found.posting, parsed.period, found.as_of)
    return found


def book_spans(settings: BookGrain, contracts: ContractSet,
               entries: Iterable[data.Directive]) -> Spans:
    """The spans of the book's customers: ``entries``, the book's and the import run's
    (their purchases, refunds and grants cut the months)."""
    purchases = [purchase for purchase, _ in parse_purchases(entries)[0]]
    return spans_for(contracts, purchases, settings.as_of, settings.posting, settings.period)
