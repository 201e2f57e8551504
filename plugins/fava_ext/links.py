"""Fava journal filters for the figures of the contract-liability rollforward.

Each movement figure (additions, revenue by kind, refunds, other) of a customer and month
is the sum of what some transactions did to ``Liabilities:Deferred-Revenue:<C>``. The
entries behind a figure are found with the rollforward's own classification: every
transaction of the month is passed alone through ``close_rows.liability_rows`` and
``rules.rollforward``, and belongs to each column where it moves the liability.

The link is a Fava advanced filter that selects exactly those entries:

    date:"^2026-01-" any(account:"^Liabilities:Deferred-Revenue:Acme$") rule:"^(usage)$"

When rules alone would also select entries that are not behind the figure (one rule in
two columns, an entry without ``rule``), the filter names the entries one by one by
their source position: ``(filename:"^...$" lineno:"^12$"),(...)``.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from beancount.core import data

from tokenbooks.plugins import close_rows
from tokenbooks.plugins.rules import rollforward
from tokenbooks.plugins.rules.model import customer_component

DEFERRED = "Liabilities:Deferred-Revenue"
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
    return f"^{_escape(DEFERRED + ':' + customer_component(customer))}$"


def _escape(text: str) -> str:
    """A regex matching ``text`` literally (a hyphen needs no escape outside a class)."""
    return re.escape(text).replace("\\-", "-")


def _quote(text: str) -> str:
    return '"' + text.replace('"', ".") + '"'


def _is_movement(column: str) -> bool:
    return column in MOVEMENTS or column.startswith("revenue_") and column != (
        "revenue_from_opening_50_8b")


def behind(entries: Sequence[data.Directive], ids: dict[str, str], period: str,
           start: datetime.date, end: datetime.date, currency: str) -> dict[tuple[str, str], list[data.Transaction]]:
    """(customer or TOTAL, column) -> the transactions of the month behind that figure."""
    out: dict[tuple[str, str], list[data.Transaction]] = defaultdict(list)
    for entry in entries:
        if not isinstance(entry, data.Transaction) or not start <= entry.date <= end:
            continue
        _, moves, _ = close_rows.liability_rows([entry], ids, start, end)
        if not moves:
            continue
        report = rollforward.rollforward(period, currency, {}, moves, {}, [])
        cols = [c for c in rollforward.columns(report) if _is_movement(c)]
        for row in rollforward.rows(report):
            for col in cols:
                if row.get(col):
                    out[(str(row["customer"]), col)].append(entry)
    return dict(out)


def link(entries: Sequence[data.Directive], period: str, start: datetime.date,
         end: datetime.date, customer: str, chosen: list[data.Transaction]) -> Link:
    """The filter that selects exactly ``chosen`` among the month's ``entries``."""
    pattern = account_pattern(customer)
    match = re.compile(pattern, re.IGNORECASE).search
    rules = {str((e.meta or {}).get("rule") or "") for e in chosen}
    ids = {id(e) for e in chosen}
    exact = "" not in rules
    if exact:
        for entry in entries:
            if (isinstance(entry, data.Transaction) and start <= entry.date <= end
                    and id(entry) not in ids
                    and str((entry.meta or {}).get("rule") or "") in rules
                    and any(match(p.account) for p in entry.postings)):
                exact = False
                break
    if exact:
        alternatives = "|".join(_escape(r) for r in sorted(rules))
        text = (f"date:{_quote('^' + period + '-')} any(account:{_quote(pattern)}) "
                f"rule:{_quote('^(' + alternatives + ')$')}")
    else:
        terms = [f"(filename:{_quote('^' + _escape(str(e.meta['filename'])) + '$')} "
                 f"lineno:{_quote('^' + str(e.meta['lineno']) + '$')})" for e in chosen]
        text = "(" + ",".join(terms) + ")"
    return Link(text, len(chosen))
