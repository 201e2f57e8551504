"""A loaded book as the reports read it, and a month of it.

    ledger = Ledger(entries, options)       # after the plugins ran, without errors
    month = ledger.month("2026-01")
    month.lots                              # (LotState, Lot) of the engine's lots
    reports.build("rollforward", month)     # a Table

``Ledger`` takes what the load computed (``tokenbooks.plugins.load.Load``: contracts, the
engine's lots month by month, the value of the usage) and indexes the final entries
once: the transactions in date order (the few thousand entries every report reads,
against the hundreds of thousands of usage entries), the usage records, the closes.
Everything derived is kept on the object for its lifetime, which is that of one load:
a new load of the book is a new ``Ledger``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from beancount.core import data

from ..entries.bills import bill_lines
from ..entries.usage import UsageTable, parse_usage
from ..load import Load, Revenue
from ..lock import closed_periods
from ..rules.bills import BillLine
from ..rules.lots import Lot
from ..rules.model import ContractSet
from ..rules.periods import month_bounds, month_of, months, parse_period
from ..rules.profitability import Weight
from ..rules.records import Usage
from ..rules.rollforward import LotState


class NotComputed(Exception):
    """The book was not loaded with the tokenbooks plugins (or came from a cache)."""


class Ledger:
    """A loaded book, after the plugins (see the module doc)."""

    def __init__(self, entries: Sequence[data.Directive], options: dict[str, Any],
                 require_revenue: bool = True) -> None:
        load = Load.of(options)
        if load is None:
            raise NotComputed(
                "the book was loaded without the tokenbooks plugins (no plugin line "
                "tokenbooks.plugins.book, or read from Beancount's pickle cache); "
                "expected a load with them")
        if load.revenue is None and require_revenue:
            raise NotComputed("the book does not run tokenbooks.plugins.revenue (or "
                              "tokenbooks.plugins.book): the month-end reports need the "
                              "contract engine's lots")
        self.entries = entries
        self.load = load
        # Without the revenue stage (a book of hand-written revenue): no lots, no values.
        self.revenue: Revenue = load.revenue or Revenue({}, datetime.date.min, "month")
        self.root: Path = load.root
        self.contracts: ContractSet = load.contracts
        self.currency: str = (options.get("operating_currency") or ["USD"])[0]
        self.ids = {c.component: cid for cid, c in self.contracts.customers.items()}
        transaction = data.Transaction
        self.transactions: list[data.Transaction] = [
            e for e in entries if e.__class__ is transaction]
        self._months: dict[str, Month] = {}

    @cached_property
    def usage(self) -> UsageTable:
        """The book's usage entries and records (the load's parse, when it kept one)."""
        return self.load.usage if self.load.usage is not None else parse_usage(self.entries)

    @cached_property
    def actions(self) -> list[Usage]:
        """The action aggregates of the usage sub-ledger (what action counts read)."""
        return self.usage.actions()

    @cached_property
    def bills(self) -> list[tuple[BillLine, data.Custom]]:
        """The provider bill lines of the book (malformed ones are the plugins' errors)."""
        return bill_lines(self.entries)[0]

    @cached_property
    def closes(self) -> dict[str, data.Custom]:
        """The ``close`` directives by period."""
        return closed_periods(self.entries)

    @cached_property
    def first_period(self) -> str | None:
        """The month of the book's first transaction or custom entry."""
        for entry in self.entries:
            if isinstance(entry, (data.Transaction, data.Custom)):
                return month_of(entry.date)
        return None

    @cached_property
    def periods(self) -> list[str]:
        """Every month from the first to the last transaction or custom entry (``fava-``
        entries aside: they are configuration)."""
        days = [e.date for e in self.entries if isinstance(e, (data.Transaction, data.Custom))
                and not (isinstance(e, data.Custom) and e.type.startswith("fava-"))]
        return months(month_of(min(days)), month_of(max(days))) if days else []

    def month(self, period: str) -> Month:
        """The month ``period`` (YYYY-MM) of the book; ValueError for another text."""
        found = self._months.get(period)
        if found is None:
            found = self._months[period] = Month(self, period)
        return found

    def between(self, start: datetime.date, end: datetime.date) -> list[data.Transaction]:
        """The transactions dated in [start, end)."""
        return [e for e in self.transactions if start <= e.date < end]

    def until(self, end: datetime.date) -> list[data.Transaction]:
        """The transactions dated on or before ``end``."""
        return [e for e in self.transactions if e.date <= end]

    def weights(self, period: str) -> list[Weight]:
        start, end = parse_period(period)
        return self.revenue.weights(start, end)

    @cached_property
    def foreign_customers(self) -> frozenset[str]:
        """The customers with a contract in another currency than the operating one
        (docs/currency.md); empty in a book of one currency."""
        return frozenset(cid for cid, c in self.contracts.customers.items()
                         if any(k.currency != self.currency for k in c.contracts))

    def payees(self) -> dict[str, str]:
        return {cid: c.name for cid, c in self.contracts.customers.items()}


class Month:
    """A month of a loaded book: the period every month-end report is about."""

    def __init__(self, ledger: Ledger, period: str) -> None:
        self.ledger = ledger
        self.period = period
        self.start, self.end = month_bounds(period)
        self.contracts = ledger.contracts
        self.currency = ledger.currency
        self.root = ledger.root
        self.ids = ledger.ids
        self.cache: dict[object, Any] = {}  # what the reports of the month computed

    @cached_property
    def all_lots(self) -> list[tuple[LotState, Lot]]:
        """Each lot's liability before the month and at its end, its revenue in it, and
        the lot at the end (the engine's contract sub-ledger), of every currency."""
        return self.ledger.revenue.lot_states(self.start, self.end)

    @cached_property
    def lots(self) -> list[tuple[LotState, Lot]]:
        """``all_lots`` of the contracts in the operating currency: the figures of the
        month-end reports are in it (a foreign contract's are in its own rollforward,
        docs/currency.md)."""
        foreign = self.ledger.foreign_customers
        if not foreign:
            return self.all_lots
        return [(s, lot) for s, lot in self.all_lots if s.customer not in foreign]

    @cached_property
    def transactions(self) -> list[data.Transaction]:
        """The month's transactions."""
        return [e for e in self.ledger.transactions if self.start <= e.date <= self.end]

    @cached_property
    def to_date(self) -> list[data.Transaction]:
        """The transactions up to the month's end."""
        return self.ledger.until(self.end)

    def terms(self) -> dict[str, int]:
        """Payment terms (days) per customer, of the contract in force at the month's end
        (else the customer's last)."""
        out = {}
        for cid, customer in self.contracts.customers.items():
            contract = customer.contract_on(self.end) or (customer.contracts[-1]
                                                          if customer.contracts else None)
            out[cid] = contract.payment_terms_days if contract else 30
        return out

    def payees(self) -> dict[str, str]:
        return self.ledger.payees()

    def in_month(self, entry: data.Directive) -> bool:
        return self.start <= entry.date <= self.end
