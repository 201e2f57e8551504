"""Dunning: receivables by age, and invoices that jumped against the trailing average.

Pure computation over plain rows (no Beancount import). ``Charge`` rows are debits to
``Assets:Receivable:<C>`` (invoices, automatic top-ups, purchases not yet paid), each
with its due date. ``Applied`` rows are credits to it that name what they settle: a
payment or a credit note of an invoice, or an invoice that billed a charge booked
before it (its ``billed`` leg, ``rules.invoicing``). ``Payment`` rows are the credits
that name nothing (and what over-applied a charge): applied to the oldest charges left
open first. ``balances`` gives each charge's amount, paid, credited and open; what is
open is aged at the period's last day by days past due:

    customer  current  1-30  31-60  61-90  90+   total
    globex     589.77  0.00   0.00   0.00  0.00  589.77

    INV-2026-01-GLOBEX  amount 589.77  paid 400.00  credited 50.00  open 139.77

A customer's invoice of the period "jumped" when it is at least ``ratio`` times the
average of its invoices of the three months before (months it had none count as none
billed, so a new customer has no average and is not flagged); the report gives the
ratio and the amount above the average, so collections can warn the customer.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
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
    key: str = ""  # what an ``Applied`` names it by (the invoice id, the charge); ref if ""

    @property
    def name(self) -> str:
        return self.key or self.ref


APPLIED_KINDS = ("payment", "credit-note", "billed")


@dataclass(frozen=True)
class Applied:
    """A credit to the receivable that names the charge it settles (``key``)."""

    customer: str
    key: str
    date: datetime.date
    amount: Decimal  # positive
    kind: str  # payment | credit-note | billed (moved onto an invoice)


@dataclass(frozen=True)
class Balance:
    """A charge at ``as_of``: what it was, what settled it, what is left."""

    customer: str
    ref: str
    key: str
    date: datetime.date
    due: datetime.date
    amount: Decimal
    paid: Decimal  # payments naming it, and its share of the unnamed credits
    credited: Decimal  # credit notes
    billed: Decimal  # moved onto an invoice (a charge billed after it was booked)
    open: Decimal
    days_past_due: int
    bucket: str
    settled: datetime.date | None  # the day the last credit that settles it was booked


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
               as_of: datetime.date, applied: Iterable[Applied] = ()) -> list[Open]:
    """Charges left unpaid at ``as_of`` (``balances``: what names a charge settles it,
    the rest is applied oldest charge first)."""
    return [Open(b.customer, b.ref, b.date, b.due, b.open, b.days_past_due, b.bucket)
            for b in balances(charges, payments, as_of, applied) if b.open > 0]


def balances(charges: Iterable[Charge], payments: Iterable[Payment], as_of: datetime.date,
             applied: Iterable[Applied] = ()) -> list[Balance]:
    """Every charge booked by ``as_of`` with what settled it by then, per customer in date
    order. A credit that names a charge (``applied``) settles that charge; what names no
    charge of the customer (an unknown one, one dated after ``as_of``), what over-applies
    a charge, and the ``payments`` are applied to the oldest charges left open first.

        >>> inv = Charge("g", "INV-1", datetime.date(2026, 1, 31),
        ...              datetime.date(2026, 3, 2), Decimal("100.00"))
        >>> b = balances([inv], [], datetime.date(2026, 3, 31),
        ...              [Applied("g", "INV-1", datetime.date(2026, 2, 5),
        ...                       Decimal("60.00"), "payment")])[0]
        >>> b.paid, b.open, b.days_past_due, b.bucket
        (Decimal('60.00'), Decimal('40.00'), 29, '1-30')
    """
    by_customer: dict[str, list[Charge]] = defaultdict(list)
    for c in charges:
        if c.date <= as_of:
            by_customer[c.customer].append(c)
    pool: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for p in payments:
        if p.date <= as_of:
            pool[p.customer] += p.amount
    named: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: {k: ZERO for k in APPLIED_KINDS})
    last: dict[tuple[str, str], datetime.date] = {}
    for a in applied:
        if a.date <= as_of:
            named[(a.customer, a.key)][a.kind if a.kind in APPLIED_KINDS else "payment"] += (
                a.amount)
            key = (a.customer, a.key)
            last[key] = max(last.get(key, a.date), a.date)
    keys: dict[str, list[str]] = defaultdict(list)
    for cust, name in named:
        keys[cust].append(name)
    out = []
    for customer in sorted(set(by_customer) | set(keys) | set(pool)):
        items = sorted(by_customer.get(customer, ()), key=lambda c: (c.date, c.due, c.ref))
        known = {c.name for c in items}
        left = pool.get(customer, ZERO) + sum(
            (sum(named[(customer, name)].values(), ZERO) for name in keys.get(customer, ())
             if name not in known), ZERO)
        rows: list[tuple[Charge, dict[str, Decimal], Decimal]] = []
        for c in items:
            got = named.get((customer, c.name), {k: ZERO for k in APPLIED_KINDS})
            rest = c.amount - sum(got.values(), ZERO)
            if rest < 0:  # over-applied (an error of the load): the excess is unnamed
                left -= rest
            rows.append((c, got, rest))
        for c, got, rest in rows:
            take = min(left, rest) if rest > 0 and left > 0 else ZERO
            left -= take
            open_ = max(rest, ZERO) - take
            days = (as_of - c.due).days
            settled = last.get((customer, c.name))
            out.append(Balance(customer, c.ref, c.name, c.date, c.due, c.amount,
                               got["payment"] + take, got["credit-note"], got["billed"],
                               open_, days, bucket(days), settled))
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
          first_period: str | None = None,
          in_force: Mapping[str, Collection[str]] | None = None) -> list[Jump]:
    """``current[customer]`` against the average of ``history[(customer, month)]`` over the
    three months before ``period`` that the book covers (from ``first_period`` on) and, when
    ``in_force`` is given, in which the customer had a contract in force (its months): a
    month before the contract is no month of zero billing, so a flat monthly minimum is
    never a jump."""
    covered = [m for m in previous_months(period, 3)
               if first_period is None or m >= first_period]
    out = []
    for customer in sorted(current):
        months = (covered if in_force is None
                  else [m for m in covered if m in in_force.get(customer, ())])
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
