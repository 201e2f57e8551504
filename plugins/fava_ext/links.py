"""Fava journal filters for the figures of the contract-liability rollforward.

Each movement figure (additions, revenue by kind, refunds, other) of a customer and month
is the sum of what some transactions did to ``Liabilities:Deferred-Revenue:<C>``. The
entries behind a figure are found with the rollforward's own classification: every
transaction of the month is classified alone (``reports.rows.movements``,
``rules.rollforward``), and belongs to each column where it moves the liability.

The link is a Fava advanced filter that selects exactly those entries:

    date:"^2026-01-" any(account:"^Liabilities:Deferred-Revenue:Acme$") rule:"^(usage)$"

When rules alone would also select entries that are not behind the figure (one rule in
two columns, an entry without ``rule``), the filter names the entries one by one by
their source position: ``(filename:"^...$" lineno:"^12$"),(...)``. The month's
transactions are indexed once, by customer and rule, so that deciding which filter a
figure gets costs what the figure's entries cost, not a pass over the book.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from beancount.core import data

from tokenbooks.plugins.entries.build import number
from tokenbooks.plugins.reports.rows import (
    liability_legs,
    liability_lots,
    movements,
    rule_of,
)
from tokenbooks.plugins.rules import accounts, rollforward

DEFERRED = accounts.DEFERRED_REVENUE
TOTAL = rollforward.TOTAL
MOVEMENTS = ("additions", "revenue", "refunds", "other")  # plus revenue_<kind> columns


@dataclass(frozen=True)
class Link:
    """A Fava journal filter and the entries it selects."""

    filter: str
    entries: int


def account_pattern(customer: str) -> str:
    if customer == TOTAL:
        return f"^{DEFERRED}:"
    return f"^{_escape(DEFERRED + ':' + accounts.component(customer))}$"


def _escape(text: str) -> str:
    """A regex matching ``text`` literally (a hyphen needs no escape outside a class)."""
    return re.escape(text).replace("\\-", "-")


def _quote(text: str) -> str:
    return '"' + text.replace('"', ".") + '"'


def _is_movement(column: str) -> bool:
    return column in MOVEMENTS or column.startswith("revenue_") and column != (
        "revenue_from_opening_50_8b")


def month_links(transactions: Sequence[data.Transaction], ids: Mapping[str, str],
                period: str, currency: str, foreign: Collection[str] = ()
                ) -> dict[tuple[str, str], Link]:
    """(customer or TOTAL, column) -> the filter of the figure, for the month's
    ``transactions``; ``foreign``: customers of another currency, whose entries are in
    no figure of the page (docs/currency.md) but are told apart from the total's."""
    behind: dict[tuple[str, str], list[data.Transaction]] = defaultdict(list)
    # customer (and TOTAL) -> rule -> the ids of the month's transactions that move it
    touching: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    known = liability_lots(transactions, ids)
    for entry in transactions:
        legs = liability_legs(entry, ids, known)
        if not legs:
            continue
        rule = rule_of(entry)
        touching[TOTAL][rule].add(id(entry))
        if foreign and entry.meta.get("customer") in foreign:
            continue
        moves = []
        for customer, (deferred, lots) in legs.items():
            touching[customer][rule].add(id(entry))
            change = -sum((number(p) for p in deferred), rollforward.ZERO)
            moves += movements(entry, customer, deferred, change, lots)
        if not moves:
            continue
        report = rollforward.rollforward(period, currency, {}, moves, {}, [])
        cols = [c for c in rollforward.columns(report) if _is_movement(c)]
        for row in rollforward.rows(report):
            for col in cols:
                if row.get(col):
                    behind[(str(row["customer"]), col)].append(entry)
    return {key: link(period, key[0], chosen, touching[key[0]])
            for key, chosen in behind.items()}


def link(period: str, customer: str, chosen: list[data.Transaction],
         touching: Mapping[str, set[int]]) -> Link:
    """The filter that selects exactly ``chosen`` among the month's entries that move
    the customer's liability (``touching``: by rule)."""
    rules = {rule_of(e) for e in chosen}
    mine = {id(e) for e in chosen}
    exact = "" not in rules and all(touching.get(r, set()) <= mine for r in rules)
    if exact:
        alternatives = "|".join(_escape(r) for r in sorted(rules))
        text = (f"date:{_quote('^' + period + '-')} any(account:"
                f"{_quote(account_pattern(customer))}) "
                f"rule:{_quote('^(' + alternatives + ')$')}")
    else:
        terms = [f"(filename:{_quote('^' + _escape(str(e.meta['filename'])) + '$')} "
                 f"lineno:{_quote('^' + str(e.meta['lineno']) + '$')})" for e in chosen]
        text = "(" + ",".join(terms) + ")"
    return Link(text, len(chosen))
