"""Profitability and revenue: revenue against inference cost, per customer, model,
feature and action, for a month, a quarter or a year (``rules.profitability``).

Revenue by model, feature and action is what the revenue postings say (the engine
splits each usage posting over the usage that earned it); what they do not say is
allocated over the period's usage by its value at contract rates (the engine's values,
``Load.revenue.weights``). Every figure is a sum of postings, so it ties to the ledger.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Collection
from decimal import Decimal

from beancount.core import data

from ..rules import profitability as prof
from ..rules.periods import ONE_DAY, parse_period
from .ledger import Ledger, Month
from .rows import profitability_rows
from .tables import Table, table

ZERO = Decimal("0.00")


class OtherCurrency(ValueError):
    """Revenue or cost of the period in a currency the report is not in."""


def report(ledger: Ledger, period: str, currency: str | None = None,
           convert: bool = True) -> prof.Report:
    """The profitability of ``period`` (YYYY-MM, YYYY-Qn, YYYY) in ``currency``; raises
    OtherCurrency when the period has revenue or cost in another one (the report would
    not tie to the balances). In the book's operating currency, the postings of foreign
    contracts and providers count at their weight (their ``@`` rate, docs/currency.md);
    in a transaction currency (``--currency EUR``), or with ``convert`` False, the
    postings in it alone."""
    operating = ledger.currency
    currency = currency or operating
    start, end = parse_period(period)
    rows, actions = profitability_rows(ledger.between(start, end), ledger.actions, start,
                                       end, operating if convert and currency == operating
                                       else "")
    if currency != operating or not convert:  # one transaction currency's figures
        rows = [row for row in rows if row.currency == currency]
    others = sorted({row.currency for row in rows} - {currency})
    if others:
        raise OtherCurrency(f"revenue or cost in {', '.join(others)} in {period}; this "
                            f"report is in {currency} (expected one currency; choose with "
                            f"--currency)")
    return prof.profitability(rows, actions, period, currency,
                              ledger.revenue.weights(start, end))


def of_month(month: Month, customers: Collection[str] | None = None) -> prof.Report:
    """The month's profitability, of every customer or of ``customers`` only (computed
    once per month and set of customers), in the book's currency; a figure in another
    currency is left out, as the month-end reports always did."""
    key = ("profitability", None if customers is None else frozenset(customers))
    found = month.cache.get(key)
    if found is None:
        ledger = month.ledger
        after = month.end + ONE_DAY
        inputs = month.cache.get("profitability_rows")
        if inputs is None:
            inputs = month.cache["profitability_rows"] = (
                *profitability_rows(month.transactions, ledger.actions, month.start,
                                    after, month.currency),
                ledger.revenue.weights(month.start, after))
        rows, actions, weights = inputs
        if customers is not None:
            rows = [r for r in rows if r.customer in customers]
            actions = [a for a in actions if a.customer in customers]
            weights = [w for w in weights if w.customer in customers]
        found = month.cache[key] = prof.profitability(rows, actions, month.period,
                                                      month.currency, weights)
    return found


def table_of(month: Month) -> Table:
    result = of_month(month)
    return Table("profitability", f"Profitability {month.period} ({month.currency})",
                 list(prof.CSV_COLUMNS), prof.csv_rows(result))


def revenue_table(month: Month, customers: Collection[str] | None = None) -> Table:
    result = of_month(month, customers)
    streams = list(prof.STREAMS)
    cols = ["section", "name", *[s.lower() for s in streams], "other", "total"]
    rows: list[dict[str, object]] = []

    def add(section: str, line: prof.Line) -> None:
        row: dict[str, object] = {"section": section, "name": line.name}
        for s in streams:
            row[s.lower()] = line.revenue.get(s, ZERO)
        row["other"] = sum((v for k, v in line.revenue.items() if k not in streams), ZERO)
        row["total"] = line.revenue_total
        rows.append(row)

    for s in streams:
        total = result.total.revenue.get(s, ZERO)
        rows.append({"section": "stream", "name": s.lower(), s.lower(): total, "total": total})
    for line in sorted(result.customers, key=lambda x: x.name):
        add("customer", line)
    for line in sorted(result.models, key=lambda x: x.name):
        if line.revenue_total:
            add("model", line)
    add("total", result.total)
    notes = ["Usage and action revenue is split by model as its postings say (the "
             "engine splits each over the usage that earned it, by its value at "
             "contract rates); breakage, commitment and adjustments have no model "
             "((unassigned))."]
    if month.ledger.foreign_customers:  # by transaction currency (docs/currency.md)
        for name, line in by_currency(month, customers):
            add("currency", dataclasses.replace(line, name=name))
        notes.append(f"In {month.currency}: a contract in another currency at its postings' "
                     f"rates. Section currency: the revenue by transaction currency, in it "
                     f"(EUR), and in {month.currency} (EUR in {month.currency}); the "
                     f"{month.currency} rows of all currencies add up to the total.")
    return Table("revenue", f"Revenue {month.period} by stream, customer and model "
                            f"({month.currency})", cols, rows, notes)


def by_currency(month: Month, customers: Collection[str] | None = None
                ) -> list[tuple[str, prof.Line]]:
    """The month's revenue by transaction currency: the operating currency's postings,
    then each other currency's in it and in the operating currency (at its postings'
    rates), as (name, total line): ("USD", ...), ("EUR", ...), ("EUR in USD", ...)."""
    return currency_totals(month.transactions, month.start, month.end + ONE_DAY,
                           month.period, month.currency, customers)


def currency_totals(transactions: list[data.Transaction], start: datetime.date,
                    after: datetime.date, period: str, op: str,
                    customers: Collection[str] | None = None
                    ) -> list[tuple[str, prof.Line]]:
    """``by_currency`` of the transactions dated in [start, after)."""
    own, _ = profitability_rows(transactions, [], start, after)
    converted, _ = profitability_rows(transactions, [], start, after, op)
    if customers is not None:
        pairs = [(a, b) for a, b in zip(own, converted, strict=True) if a.customer in customers]
    else:
        pairs = list(zip(own, converted, strict=True))
    out = []
    for code in [op, *sorted({a.currency for a, _ in pairs} - {op})]:
        mine = [a for a, _ in pairs if a.currency == code]
        out.append((code, prof.profitability(mine, [], period, code).total))
        if code != op:
            out.append((f"{code} in {op}", prof.profitability(
                [b for a, b in pairs if a.currency == code and b.currency == op], [],
                period, op).total))
    return out


# --- the text rendering of ``tokenbooks report profitability`` ---------------------------


def _flag(line: prof.Line) -> str:
    return "NEGATIVE" if line.negative else ""


def _margin_rows(lines: list[prof.Line]) -> list[list[object]]:
    return [[x.name, x.revenue_total, x.cogs, x.non_billable_cogs, x.margin, x.margin_pct,
             x.tokens, x.token_share, x.cost_share, _flag(x)] for x in lines]


MARGIN_HEADERS = ("revenue", "cogs", "non-billable", "margin", "margin %", "tokens",
                  "tokens %", "cost %", "flag")


def text(result: prof.Report) -> str:
    """The report as text tables: customers, concentration, models, features, actions,
    unattributed cost and the total."""
    last = result.end - datetime.timedelta(days=1)
    streams = prof.STREAMS
    parts = [f"Profitability {result.period} ({result.start} to {last}), "
             f"{result.currency}", ""]
    parts += ["Customers (by attributed inference cost)",
              table(("customer", *[s.lower() for s in streams], "revenue", "cogs", "margin",
                     "margin %", "tokens %", "cost %", "flag"),
                    [[x.name, *[x.revenue.get(s, Decimal(0)) for s in streams],
                      x.revenue_total, x.cogs, x.margin, x.margin_pct, x.token_share,
                      x.cost_share, _flag(x)] for x in result.customers]), ""]
    c = result.concentration
    if c.customers:
        def pct(value: Decimal | None) -> str:
            return "n/a" if value is None else f"{value}%"

        parts += [f"Concentration: the top {len(c.top)} of {c.customers} customers (5%: "
                  f"{', '.join(c.top)}) use {pct(c.cost_share)} of inference cost "
                  f"({pct(c.token_share)} of tokens) and pay {pct(c.revenue_share)} "
                  f"of revenue", ""]
    parts += ["By model", table(("model", *MARGIN_HEADERS), _margin_rows(result.models)), ""]
    parts += ["By feature", table(("feature", *MARGIN_HEADERS),
                                  _margin_rows(result.features)), ""]
    if result.actions:
        parts += ["Cost per action type (usage tied to an action by its workflow)",
                  table(("action", "actions", "cogs", "cost/action", "revenue",
                         "revenue/action", "margin", "flag"),
                        [[x.name, x.actions, x.cogs, x.cost_per_action, x.revenue_total,
                          x.revenue_per_action, x.margin, _flag(x)] for x in result.actions]),
                  ""]
    parts += ["Unattributed inference cost (provider bills beyond attributed usage)",
              table(("provider", "cogs"),
                    [[p, v] for p, v in result.unattributed.items()] or [["(none)", None]]),
              ""]
    total = result.total
    parts += ["Total", table(
        ("revenue", "attributed cogs", "unattributed", "total cogs", "gross margin", "margin %"),
        [[total.revenue_total, total.cogs, result.unattributed_total, result.cogs_total,
          result.gross_margin, result.gross_margin_pct]])]
    return "\n".join(parts)
