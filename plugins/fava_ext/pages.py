"""The data of the tokenbooks pages in Fava, from the reports library.

One computation, two views: every table here is the report of the same name
(``tokenbooks.plugins.reports``), of the same loaded book, the figures the load computed
(``tokenbooks.plugins.load``). Nothing here knows Fava: the extension
(``tokenbooks.plugins.fava_ext``) makes one ``Pages`` per load of the book and renders
what its pages ask for; each month's figures are computed when a page first shows them,
then kept for the load.

    pages = Pages(entries, options, months=12)
    month = pages.month("2026-01")
    month.rollforward        # the rollforward Table of the month
    month.links              # (customer, column) -> journal filter

A ``Scope`` narrows what is shown to Fava's time filter (the months it covers) and filter
bar (the customers of the entries it selects); the totals are those of what is shown.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from beancount.core import data

from tokenbooks.plugins.entries.build import number
from tokenbooks.plugins.reports import REPORTS, Ledger, Month, Table, checks, tables
from tokenbooks.plugins.reports import profitability as month_profitability
from tokenbooks.plugins.reports import rollforward as month_rollforward
from tokenbooks.plugins.reports.tables import money
from tokenbooks.plugins.rules import accounts, breakage_rates, rollforward
from tokenbooks.plugins.rules import profitability as prof
from tokenbooks.plugins.rules.periods import month_bounds

from . import links

ZERO = Decimal("0.00")
EXPIRY_WINDOWS = ("30", "60", "90")
TOTAL = rollforward.TOTAL


@dataclass(frozen=True)
class Scope:
    """What a request shows: the months of Fava's time filter (None: every month) and the
    customers of the entries its filter bar selects (None: every customer)."""

    begin: datetime.date | None = None  # first day shown
    end: datetime.date | None = None  # day after the last
    customers: frozenset[str] | None = None

    def shows(self, period: str) -> bool:
        first, last = month_bounds(period)
        return ((self.begin is None or last >= self.begin)
                and (self.end is None or first < self.end))


EVERYTHING = Scope()


class MonthPage:
    """A month of the pages: its tables, computed when first shown."""

    def __init__(self, pages: Pages, month: Month, customers: frozenset[str] | None) -> None:
        self.pages = pages
        self.data = month
        self.customers = customers
        self.period = month.period
        self.start = month.start
        self.end = month.end

    def _only(self, table: Table) -> Table:
        return only_customers(table, self.customers)

    @cached_property
    def rollforward(self) -> Table:
        return month_rollforward.table(self.data, self.customers)

    @cached_property
    def foreign_rollforwards(self) -> list[Table]:
        """The rollforward of each other contract currency, in it (docs/currency.md):
        the page's figures are the operating currency's; none in a book of one."""
        return [self._only(t) for t in month_rollforward.foreign_tables(self.data)]

    @cached_property
    def links(self) -> dict[tuple[str, str], links.Link]:
        found = self.data.cache.get("links")
        if found is None:
            found = self.data.cache["links"] = links.month_links(
                self.data.transactions, self.data.ids, self.period, self.data.currency,
                self.data.ledger.foreign_customers)  # docs/currency.md
        if self.customers is None:
            return found
        return {key: link for key, link in found.items() if key[0] in self.customers}

    @cached_property
    def revenue(self) -> Table:
        return month_profitability.revenue_table(self.data, self.customers)

    @cached_property
    def profitability(self) -> prof.Report:
        return month_profitability.of_month(self.data, self.customers)

    @cached_property
    def credits(self) -> Table:
        return self._only(REPORTS["credits"][0](self.data))

    @cached_property
    def breakage(self) -> Table:
        return self._only(REPORTS["breakage"][0](self.data))

    @cached_property
    def modifications(self) -> Table:
        return self._only(REPORTS["modifications"][0](self.data))

    @cached_property
    def dunning(self) -> Table:
        return self._only(REPORTS["dunning"][0](self.data))

    @cached_property
    def checks(self) -> Table:
        """The close's record for a closed month; for an open one, the checks the book
        runs by itself (completeness runs at the close)."""
        if self.period in self.pages.closed:
            found = checks.recorded(self.data.root, self.period)
            if found is not None:
                return found
        return REPORTS["checks"][0](self.data)

    @cached_property
    def closing(self) -> dict[str, Decimal]:
        """Contract liability at the month's end, per customer (the ledger's)."""
        report = month_rollforward.report(self.data, self.customers)
        return {line.customer: line.gl_closing for line in report.lines[:-1]}

    @cached_property
    def breakage_rates(self) -> list[breakage_rates.Estimate]:
        estimates = breakage_rates.estimates(self.data.contracts,
                                             [lot for _, lot in self.data.lots], self.end)
        return [e for e in estimates
                if self.customers is None or e.customer in self.customers]


class Pages:
    """The tokenbooks pages of one load of a book (see the module doc)."""

    def __init__(self, entries: Sequence[data.Directive], options: dict[str, Any],
                 months: int | None = None) -> None:
        self.ledger = Ledger(entries, options)
        every = self.ledger.periods
        self.all_periods = every[-months:] if months is not None else every
        self.currency = self.ledger.currency
        self.first = every[0] if every else None
        self.closed: dict[str, dict[str, Any]] = {}
        for period, close in sorted(self.ledger.closes.items()):
            meta = close.meta or {}
            self.closed[period] = {"date": close.date,
                                   "entries": int(meta.get("entries") or 0),
                                   "fingerprint": str(meta.get("fingerprint") or ""),
                                   "manifest": str(meta.get("manifest") or "")}
        self._pages: dict[tuple[str, frozenset[str] | None], MonthPage] = {}
        self.scope = EVERYTHING

    @classmethod
    def compute(cls, entries: Sequence[data.Directive], options: dict[str, Any],
                months: int | None = None) -> Pages:
        return cls(entries, options, months)

    def scoped(self, scope: Scope) -> Pages:
        """These pages as ``scope`` shows them (the same computations, shared)."""
        view = object.__new__(Pages)
        view.__dict__.update(self.__dict__)
        view.scope = scope
        return view

    @property
    def periods(self) -> list[str]:
        return [p for p in self.all_periods if self.scope.shows(p)]

    @property
    def last(self) -> str | None:
        periods = self.periods
        return periods[-1] if periods else None

    @property
    def months(self) -> dict[str, MonthPage]:
        """The months shown, in order (each computed as its figures are asked for)."""
        return {p: self._month(p) for p in self.periods}

    def _month(self, period: str) -> MonthPage:
        key = (period, self.scope.customers)
        found = self._pages.get(key)
        if found is None:
            found = self._pages[key] = MonthPage(self, self.ledger.month(period),
                                                 self.scope.customers)
        return found

    def month(self, period: str | None) -> MonthPage | None:
        """The month ``period`` if shown, else the last month shown."""
        if period is not None and period in self.periods:
            return self._month(period)
        return self._month(self.last) if self.last else None


# --- what the pages show, derived from the tables --------------------------------------


def cell(value: object) -> str:
    """A figure as the text tables print it (money to the cent with separators)."""
    return tables.cell(value)


def only_customers(table: Table, customers: Collection[str] | None) -> Table:
    """``table`` with the rows of ``customers`` only (rows of no customer stay), and its
    ``(total)`` rows summed again over what is left, section by section."""
    if customers is None or "customer" not in table.columns:
        return table
    kept = [dict(r) for r in table.rows  # copies: the table is shared by every scope
            if r.get("customer") in customers or r.get("customer") in (None, "", TOTAL)]
    totals = [r for r in kept if r.get("customer") == TOTAL]
    if totals:
        for total in totals:
            section = total.get("section")
            rows = [r for r in kept if r.get("section") == section
                    and r.get("customer") not in (None, "", TOTAL)]
            for column, value in list(total.items()):
                if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
                    figures = [r.get(column) for r in rows]
                    total[column] = sum((f for f in figures if isinstance(f, (Decimal, int))),
                                        ZERO if isinstance(value, Decimal) else 0)
    return Table(table.name, table.title, table.columns, kept, table.notes)


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
                values[(name, period)] = money(row.get("total"))
    rows = []
    for name in sorted(names) if section != "stream" else names:
        figures = [values.get((name, p), ZERO) for p in pages.periods]
        rows.append([name, *figures, sum(figures, ZERO)])
    return pages.periods, rows


def expiring(month: MonthPage) -> list[dict[str, object]]:
    """Credits expiring within 30, 60 and 90 days of the month's end (cumulative), of
    the operating currency's lots (the credits table lists every currency's, each with
    its ``currency``, in a book of several: a sum is of one, docs/currency.md)."""
    out: list[dict[str, object]] = []
    code = month.data.currency
    for window in EXPIRY_WINDOWS:
        rows = [r for r in month.credits.rows if r.get("currency", code) == code
                and isinstance(days := r.get("days_to_expiry"), int) and days <= int(window)]
        out.append({"within_days": window, "lots": len(rows),
                    "remaining_credits": sum((money(r["remaining_credits"]) for r in rows),
                                             ZERO),
                    "liability": sum((money(r["liability"]) for r in rows), ZERO)})
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
    if not pages.last:
        return None
    months = pages.months
    last = months[pages.last]
    rows = [r for m in months.values() for r in m.modifications.rows
            if r.get("section") == "entry"]
    rows += [r for r in last.modifications.rows if r.get("section") != "entry"]
    table = Table(last.modifications.name, f"Contract modifications to {last.end}",
                  last.modifications.columns, rows,
                  [n for m in months.values() for n in m.modifications.notes])
    table.rows = pending_first(table)
    return table


def liability_series(pages: Pages) -> list[tuple[datetime.date, dict[str, Decimal]]]:
    """Contract liability at each month's end, per customer (the ledger's balances: one
    pass over the transactions for every month shown)."""
    ledger = pages.ledger
    ends = [month_bounds(p)[1] for p in pages.periods]
    customers = pages.scope.customers
    out: list[tuple[datetime.date, dict[str, Decimal]]] = []
    balance: dict[str, Decimal] = defaultdict(lambda: ZERO)
    seen: set[str] = set()
    root = accounts.DEFERRED_REVENUE
    i = 0
    for entry in [*ledger.transactions, None]:
        while i < len(ends) and (entry is None or entry.date > ends[i]):
            out.append((ends[i], {c: balance[c] for c in sorted(seen)}))
            i += 1
        if entry is None or i == len(ends):
            break
        for p in entry.postings:
            if accounts.sub_component(p.account, root) is not None and p.units is not None \
                    and p.units.currency == ledger.currency:  # the page's (currency.md)
                customer = accounts.owner(p.account, root, ledger.ids)
                if customers is None or customer in customers:
                    balance[customer] -= number(p)
                    seen.add(customer)
    return out


def revenue_series(pages: Pages, section: str
                   ) -> list[tuple[datetime.date, dict[str, Decimal]]]:
    out = []
    for month in pages.months.values():
        out.append((month.end, {str(r["name"]): money(r.get("total"))
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


def journal_filter(month: MonthPage, customer: str, column: str) -> links.Link | None:
    if column == "revenue_from_opening_50_8b":
        column = "revenue"
    return month.links.get((customer, column))


def account_of(customer: str) -> str:
    if customer == TOTAL:
        return links.DEFERRED
    return accounts.deferred_revenue(customer)
