"""The data of the tokenbooks pages in Fava, from the same functions as ``tokenbooks report``.

One computation, two views: every table here is built by the function that builds the
report of the same name (``tokenbooks.scripts.month_reports.REPORTS``,
``close_reports``, ``close_checks``), on the same loaded book, month by month. Nothing
here knows Fava: ``Pages.compute`` takes the loaded entries and options, and the Fava
adapter (``tokenbooks.plugins.fava_ext``) calls it once per load and renders the result.

    pages = Pages.compute(entries, options, months=12)
    pages.months["2026-01"].rollforward    # the rollforward Table of the month
    pages.months["2026-01"].links          # (customer, column) -> journal filter
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from beancount.core import data

from tokenbooks.plugins import lock
from tokenbooks.plugins.rules import breakage_rates, rollforward
from tokenbooks.plugins.rules import profitability as prof
from tokenbooks.plugins.rules.model import customer_component
from tokenbooks.scripts import close_checks, close_reports
from tokenbooks.scripts.month_reports import REPORTS
from tokenbooks.scripts.tables import Table

from . import links

ZERO = Decimal("0.00")
DAY = datetime.timedelta(days=1)
EXPIRY_WINDOWS = ("30", "60", "90")


@dataclass
class Month:
    period: str
    start: datetime.date
    end: datetime.date
    rollforward: Table
    links: dict[tuple[str, str], links.Link]
    revenue: Table
    profitability: prof.Report
    credits: Table
    breakage: Table
    modifications: Table
    dunning: Table
    checks: Table
    closing: dict[str, Decimal]  # contract liability at the month's end, per customer
    breakage_rates: list[breakage_rates.Estimate]


@dataclass
class Pages:
    currency: str
    first: str | None  # the book's first month
    months: dict[str, Month] = field(default_factory=dict)
    closed: dict[str, dict[str, Any]] = field(default_factory=dict)  # period -> close meta

    @property
    def periods(self) -> list[str]:
        return list(self.months)

    @property
    def last(self) -> str | None:
        return self.periods[-1] if self.months else None

    def month(self, period: str | None) -> Month | None:
        if period in self.months:
            return self.months[period]
        return self.months[self.last] if self.last else None

    @classmethod
    def compute(cls, entries: Sequence[data.Directive], options: dict[str, Any],
                months: int | None = None) -> Pages:
        every = book_months(entries)
        periods = every[-months:] if months is not None else every
        pages = cls((options.get("operating_currency") or ["USD"])[0],
                    every[0] if every else None)
        entries = list(entries)
        for period in periods:
            pages.months[period] = compute_month(entries, options, period)
        for period, close in sorted(lock.closed_periods(entries).items()):
            meta = close.meta or {}
            pages.closed[period] = {"date": close.date,
                                    "entries": int(meta.get("entries") or 0),
                                    "fingerprint": str(meta.get("fingerprint") or ""),
                                    "manifest": str(meta.get("manifest") or "")}
        return pages


def book_months(entries: Sequence[data.Directive]) -> list[str]:
    """Every month from the first to the last transaction or custom entry of the book."""
    days = [e.date for e in entries if isinstance(e, (data.Transaction, data.Custom))
            and not (isinstance(e, data.Custom) and e.type.startswith("fava-"))]
    if not days:
        return []
    first, last = min(days), max(days)
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def compute_month(entries: list[data.Directive], options: dict[str, Any],
                  period: str) -> Month:
    book = close_reports.Book(entries, options, period)
    report = close_checks.rollforward_report(book)
    table = close_reports.rollforward_table(report)
    behind = links.behind(entries, book.ids, period, book.start, book.end, book.currency)
    figures = {key: links.link(entries, period, book.start, book.end, key[0], chosen)
               for key, chosen in behind.items()}
    closing = {line.customer: line.gl_closing for line in report.lines[:-1]}
    lots = [lot for _, lot in book.lots]
    return Month(
        period, book.start, book.end, table, figures,
        REPORTS["revenue"][0](book), close_reports.profitability_report(book),
        REPORTS["credits"][0](book), REPORTS["breakage"][0](book),
        REPORTS["modifications"][0](book), REPORTS["dunning"][0](book),
        REPORTS["checks"][0](book), closing,
        breakage_rates.estimates(book.contracts, lots, book.end))


# --- what the pages show, derived from the tables --------------------------------------


def cell(value: object) -> str:
    """A figure as the text tables print it (money to the cent with separators)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}" if value.as_tuple().exponent >= -2 else f"{value:,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def used_columns(table: Table, rows: Sequence[dict[str, object]] | None = None) -> list[str]:
    rows = table.rows if rows is None else rows
    return [c for c in table.columns if c != "section"
            and any(row.get(c) not in (None, "") for row in rows)]


def sections(table: Table) -> list[tuple[str, list[str], list[dict[str, object]]]]:
    """(section, columns used, rows) of a table, in order; one untitled block otherwise."""
    if "section" not in table.columns:
        return [("", used_columns(table), table.rows)]
    out = []
    for name in dict.fromkeys(str(r.get("section")) for r in table.rows):
        rows = [r for r in table.rows if str(r.get("section")) == name]
        out.append((name, used_columns(table, rows), rows))
    return out


def revenue_matrix(pages: Pages, section: str) -> tuple[list[str], list[list[object]]]:
    """Names of ``section`` (stream, customer, model) by month: the ``total`` column of
    each month's revenue table, and a total over the months."""
    names: dict[str, None] = {}
    values: dict[tuple[str, str], Decimal] = {}
    for period, month in pages.months.items():
        for row in month.revenue.rows:
            if row.get("section") == section:
                name = str(row["name"])
                names[name] = None
                values[(name, period)] = row.get("total") or ZERO
    rows = []
    for name in sorted(names) if section != "stream" else names:
        figures = [values.get((name, p), ZERO) for p in pages.periods]
        rows.append([name, *figures, sum(figures, ZERO)])
    return pages.periods, rows


def expiring(month: Month) -> list[dict[str, object]]:
    """Credits expiring within 30, 60 and 90 days of the month's end (cumulative)."""
    out = []
    for window in EXPIRY_WINDOWS:
        rows = [r for r in month.credits.rows
                if r.get("days_to_expiry") is not None and int(r["days_to_expiry"]) <= int(
                    window)]
        out.append({"within_days": window, "lots": len(rows),
                    "remaining_credits": sum((r["remaining_credits"] for r in rows), ZERO),
                    "liability": sum((r["liability"] for r in rows), ZERO)})
    return out


def pending_first(table: Table) -> list[dict[str, object]]:
    """The modifications' rows, pending approvals first, then by date."""
    def key(row: dict[str, object]) -> tuple[int, str, str]:
        pending = str(row.get("approved") or "").upper() == "PENDING"
        return (0 if pending else 1, str(row.get("date") or ""), str(row.get("modification")))
    return sorted(table.rows, key=key)


def audit_trail(pages: Pages) -> Table | None:
    """Every month's modification entries and the contracts' modifications at the last
    month's end, pending approvals first."""
    if not pages.months:
        return None
    last = pages.months[pages.last]
    rows = [r for m in pages.months.values() for r in m.modifications.rows
            if r.get("section") == "entry"]
    rows += [r for r in last.modifications.rows if r.get("section") != "entry"]
    table = Table(last.modifications.name, f"Contract modifications to {last.end}",
                  last.modifications.columns, rows,
                  [n for m in pages.months.values() for n in m.modifications.notes])
    table.rows = pending_first(table)
    return table


def liability_series(pages: Pages) -> list[tuple[datetime.date, dict[str, Decimal]]]:
    """Contract liability at each month's end, per customer (the rollforward's ledger
    closing balance)."""
    return [(m.end, dict(m.closing)) for m in pages.months.values()]


def revenue_series(pages: Pages, section: str
                   ) -> list[tuple[datetime.date, dict[str, Decimal]]]:
    out = []
    for month in pages.months.values():
        out.append((month.end, {str(r["name"]): r.get("total") or ZERO
                                for r in month.revenue.rows
                                if r.get("section") == section and r.get("total")}))
    return out


def margin_series(pages: Pages) -> list[tuple[datetime.date, dict[str, Decimal]]]:
    return [(m.end, {line.name: line.margin for line in m.profitability.customers})
            for m in pages.months.values()]


LABELS = {"revenue_from_opening_50_8b": "50-8(b) memo: revenue from opening",
          "gl_closing": "ledger closing", "subledger_closing": "lots closing"}


def label(column: str) -> str:
    """A column's header on the page (the report's column name, made readable)."""
    if column in LABELS:
        return LABELS[column]
    if column.startswith("revenue_"):
        return "revenue: " + column[len("revenue_"):].replace("_", " ")
    return column.replace("_", " ")


def rollforward_columns(table: Table) -> list[str]:
    """The rollforward's columns in the order the page shows them."""
    return [c for c in table.columns if c != "customer"]


def journal_filter(month: Month, customer: str, column: str) -> links.Link | None:
    if column == "revenue_from_opening_50_8b":
        column = "revenue"
    return month.links.get((customer, column))


def account_of(customer: str) -> str:
    if customer == rollforward.TOTAL:
        return links.DEFERRED
    return f"{links.DEFERRED}:{customer_component(customer)}"
