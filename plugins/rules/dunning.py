"""Dunning: receivables by age, and invoices that jumped against the trailing average.

Pure computation over plain rows (no Beancount import). ``Charge`` rows are debits to
``Assets:Receivable:<C>`` (invoices, automatic top-ups, purchases not yet paid), each
with its due date; ``Payment`` rows are credits to it, applied to the oldest charges
first. What is left is aged at the period's last day by days past due:

    customer  current  1-30  31-60  61-90  90+   total
    globex     589.77  0.00   0.00   0.00  0.00  589.77

A customer's invoice of the period "jumped" when it is at least ``ratio`` times the
average of its invoices of the three months before (months it had none count as none
billed, so a new customer has no average and is not flagged); the report gives the
ratio and the amount above the average, so collections can warn the customer.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .periods import previous_months

ZERO = Decimal("0.00")
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
JUMP_RATIO = Decimal("1.20")


@dataclass(frozen=True)
class Charge:
    customer: str
    ref: str  # invoice id, or what the charge was
    date: datetime.date
    due: datetime.date
    amount: Decimal


@dataclass(frozen=True)
class Payment:
    customer: str
    date: datetime.date
    amount: Decimal  # positive


@dataclass(frozen=True)
class Open:
    customer: str
    ref: str
    date: datetime.date
    due: datetime.date
    amount: Decimal  # left to pay
    days_past_due: int
    bucket: str


def bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "90+"


def open_items(charges: Iterable[Charge], payments: Iterable[Payment],
               as_of: datetime.date) -> list[Open]:
    """Charges left unpaid at ``as_of`` (payments applied oldest charge first)."""
    by_customer: dict[str, list[Charge]] = defaultdict(list)
    for c in charges:
        if c.date <= as_of:
            by_customer[c.customer].append(c)
    paid: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for p in payments:
        if p.date <= as_of:
            paid[p.customer] += p.amount
    out = []
    for customer in sorted(by_customer):
        left = paid.get(customer, ZERO)
        for c in sorted(by_customer[customer], key=lambda c: (c.date, c.due, c.ref)):
            take = min(left, c.amount)
            left -= take
            rest = c.amount - take
            if rest > 0:
                days = (as_of - c.due).days
                out.append(Open(customer, c.ref, c.date, c.due, rest, days, bucket(days)))
    return out


def aging(items: Iterable[Open]) -> list[dict[str, object]]:
    """Per customer: the open amount in each age bucket, and the total."""
    table: dict[str, dict[str, Decimal]] = defaultdict(lambda: {b: ZERO for b in BUCKETS})
    for item in items:
        table[item.customer][item.bucket] += item.amount
    rows = []
    for customer in sorted(table):
        row: dict[str, object] = {"customer": customer, **table[customer]}
        row["total"] = sum(table[customer].values(), ZERO)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class Jump:
    customer: str
    amount: Decimal  # this period's invoice (or accrued unbilled, before invoicing)
    average: Decimal | None  # of the trailing three months, None without history
    months: int  # months of history found (0-3)
    ratio: Decimal | None
    increase: Decimal | None
    flagged: bool


def jumps(period: str, current: Mapping[str, Decimal],
          history: Mapping[tuple[str, str], Decimal], ratio: Decimal = JUMP_RATIO,
          first_period: str | None = None) -> list[Jump]:
    """``current[customer]`` against the average of ``history[(customer, month)]`` over the
    three months before ``period`` that the book covers (from ``first_period`` on)."""
    months = [m for m in previous_months(period, 3) if first_period is None or m >= first_period]
    out = []
    for customer in sorted(current):
        amount = current[customer]
        seen = [history.get((customer, m), ZERO) for m in months]
        had = any(history.get((customer, m)) for m in months)
        if not months or not had:
            out.append(Jump(customer, amount, None, 0, None, None, False))
            continue
        average = (sum(seen, ZERO) / len(months)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        r = (amount / average).quantize(Decimal("0.01"), ROUND_HALF_UP) if average else None
        increase = amount - average
        flagged = bool(average and amount >= average * ratio and increase > 0)
        out.append(Jump(customer, amount, average, len(months), r, increase, flagged))
    return out
