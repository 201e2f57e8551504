"""Invariants of the books, checked from the journal at every load (no Beancount import).

Per lot (a purchase, a top-up, an allowance period), from the postings that carry its
``lot`` and the consideration booked for it:

* the contract liability of the lot is never negative at the end of any day;
* nothing is drawn from the lot on or after its expiry date (the expiry instant is the
  start of that day, docs/expiry.md; the expiry is the lot's as the engine left it);
* revenue recognized + unclaimed property owed + liability left = consideration, to the
  cent (and the liability left is zero once the lot has expired);
* a lot of free credits (a ``concession`` or ``promotional`` grant, docs/grants.md) has
  no consideration and never produces revenue: its income postings add up to zero on
  every day (a concession's usage revenue and its contra line cancel out) and its
  liability never moves;

and per customer: every usage entry is priced exactly once (the ``usage_entries`` of
the generated usage transactions add up to the usage entries of the book).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal("0.00")
FREE = ("concession", "promotional")  # rules.model.FREE_KINDS


@dataclass
class LotFacts:
    lot: str
    customer: str
    expires: datetime.date | None = None
    consideration: list[tuple[datetime.date, Decimal]] = field(default_factory=list)
    drawn: list[tuple[datetime.date, Decimal]] = field(default_factory=list)  # liability
    recognized: list[tuple[datetime.date, Decimal]] = field(default_factory=list)  # income
    used_on: list[datetime.date] = field(default_factory=list)  # usage postings' dates
    kind: str = ""  # a grant's kind (``grant`` metadata), "" for a paid lot
    # breakage owed to a state (Liabilities:Unclaimed-Property:<J>): out of the contract
    # liability like revenue, never revenue (docs/variable-consideration.md)
    unclaimed: list[tuple[datetime.date, Decimal]] = field(default_factory=list)


@dataclass(frozen=True)
class Violation:
    date: datetime.date | None
    customer: str
    lot: str
    message: str


def check_lots(lots: dict[str, LotFacts], as_of: datetime.date) -> list[Violation]:
    out: list[Violation] = []
    for lot_id in sorted(lots):
        facts = lots[lot_id]
        if not facts.consideration:
            out.append(Violation(None, facts.customer, lot_id,
                                 f"lot {lot_id}: postings but no purchase or consideration"))
            continue
        moves: dict[datetime.date, Decimal] = defaultdict(lambda: ZERO)
        for day, amount in facts.consideration:
            moves[day] += amount
        for day, amount in facts.drawn:
            moves[day] -= amount
        balance = ZERO
        for day in sorted(moves):
            balance += moves[day]
            if balance < 0:
                out.append(Violation(day, facts.customer, lot_id,
                                     f"lot {lot_id}: contract liability negative "
                                     f"({balance}) on {day}"))
                break
        if facts.kind in FREE:
            out += _free_violations(facts, lot_id)
        if facts.expires is not None:
            late = sorted(d for d in facts.used_on if d >= facts.expires)
            if late:
                out.append(Violation(late[0], facts.customer, lot_id,
                                     f"lot {lot_id}: drawn on {late[0]}, on or after its "
                                     f"expiry {facts.expires} (credits are usable up to "
                                     f"the start of their expiry date)"))
        consideration = sum((a for _, a in facts.consideration), ZERO)
        recognized = sum((a for _, a in facts.recognized), ZERO)
        unclaimed = sum((a for _, a in facts.unclaimed), ZERO)
        remaining = consideration - sum((a for _, a in facts.drawn), ZERO)
        if recognized + unclaimed + remaining != consideration:
            owed = f" + unclaimed property {unclaimed}" if unclaimed else ""
            out.append(Violation(None, facts.customer, lot_id,
                                 f"lot {lot_id}: revenue recognized {recognized}{owed} + "
                                 f"liability left {remaining} != consideration "
                                 f"{consideration}"))
        if facts.expires is not None and facts.expires <= as_of and remaining != 0:
            out.append(Violation(facts.expires, facts.customer, lot_id,
                                 f"lot {lot_id}: expired on {facts.expires} with liability "
                                 f"{remaining} left (expected it recognized)"))
    return out


def _free_violations(facts: LotFacts, lot_id: str) -> list[Violation]:
    """Free credits: no consideration, no liability moved, no revenue on any day."""
    out = []
    consideration = sum((a for _, a in facts.consideration), ZERO)
    moved = sum((a for _, a in facts.drawn), ZERO)
    if consideration or moved:
        out.append(Violation(None, facts.customer, lot_id,
                             f"lot {lot_id}: {facts.kind} credits with consideration "
                             f"{consideration} and liability drawn {moved} (expected none: "
                             f"free credits)"))
    daily: dict[datetime.date, Decimal] = defaultdict(lambda: ZERO)
    for day, amount in facts.recognized:
        daily[day] += amount
    for day in sorted(daily):
        if daily[day]:
            out.append(Violation(day, facts.customer, lot_id,
                                 f"lot {lot_id}: {facts.kind} credits produced revenue "
                                 f"{daily[day]} on {day} (expected none: free credits)"))
            break
    return out


def check_priced(entries: dict[str, int], priced: dict[str, int]) -> list[Violation]:
    out = []
    for customer in sorted(set(entries) | set(priced)):
        have, done = entries.get(customer, 0), priced.get(customer, 0)
        if have != done:
            out.append(Violation(None, customer, "",
                                 f"customer {customer!r}: {have} usage entries in the book, "
                                 f"{done} priced (expected each priced exactly once)"))
    return out


@dataclass(frozen=True)
class Application:
    """A credit to an invoice's receivable: a payment's or a credit note's leg that names
    the invoice (``index``: where it is, for the caller's error)."""

    index: int
    date: datetime.date
    customer: str
    invoice: str
    currency: str
    amount: Decimal  # positive
    kind: str  # payment | credit note
    id: str  # payment_id or credit_note_id


@dataclass(frozen=True)
class InvoiceTotal:
    customer: str
    currency: str
    total: Decimal


def check_applications(invoices: dict[str, InvoiceTotal], items: list[Application]
                       ) -> list[tuple[int, str]]:
    """(index, message) of each application that names an unknown invoice, another
    customer's, another currency than the invoice's, or that brings what the invoice's
    payments and credit notes add up to (in date order) above its total: the excess of a
    payment goes to ``Liabilities:Customer-Credits:<C>``, never to the receivable.

        >>> inv = {"INV-1": InvoiceTotal("g", "USD", Decimal("100.00"))}
        >>> check_applications(inv, [Application(0, datetime.date(2026, 2, 1), "g",
        ...     "INV-1", "USD", Decimal("120.00"), "payment", "p-1")])[0][1][:48]
        "payment 'p-1' over-applies INV-1: payments 120.0"
    """
    out: list[tuple[int, str]] = []
    paid: dict[str, Decimal] = defaultdict(lambda: ZERO)
    credited: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for item in sorted(items, key=lambda a: (a.date, a.index)):
        what = f"{item.kind} {item.id!r}"
        found = invoices.get(item.invoice)
        if found is None:
            out.append((item.index, f"{what}: unknown invoice {item.invoice!r} (expected an "
                                    f"invoice of the book, INV-<period>-<CUSTOMER>, written "
                                    f"by tokenbooks close)"))
            continue
        if found.customer != item.customer:
            out.append((item.index, f"{what}: invoice {item.invoice} is {found.customer}'s, "
                                    f"not {item.customer}'s"))
            continue
        if item.currency != found.currency:
            out.append((item.index, f"{what}: {item.invoice} is in {found.currency}, got "
                                    f"{item.amount} {item.currency}"))
            continue
        (credited if item.kind == "credit note" else paid)[item.invoice] += item.amount
        applied = paid[item.invoice] + credited[item.invoice]
        if applied > found.total:
            out.append((item.index, (
                f"{what} over-applies {item.invoice}: payments {paid[item.invoice]} + "
                f"credit notes {credited[item.invoice]} = {applied} > its total "
                f"{found.total} (expected the excess in the customer's credits, "
                f"Liabilities:Customer-Credits)")))
    return out
