"""Invariants of the books, checked from the journal at every load (no Beancount import).

Per lot (a purchase, a top-up, an allowance period), from the postings that carry its
``lot`` and the consideration booked for it:

* the contract liability of the lot is never negative at the end of any day;
* nothing is drawn from the lot after its expiry date;
* revenue recognized + liability left = consideration, to the cent (and the liability
  left is zero once the lot has expired);

and per customer: every usage entry is priced exactly once (the ``usage_entries`` of
the generated usage transactions add up to the usage entries of the book).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal("0.00")


@dataclass
class LotFacts:
    lot: str
    customer: str
    expires: datetime.date | None = None
    consideration: list[tuple[datetime.date, Decimal]] = field(default_factory=list)
    drawn: list[tuple[datetime.date, Decimal]] = field(default_factory=list)  # liability
    recognized: list[tuple[datetime.date, Decimal]] = field(default_factory=list)  # income
    used_on: list[datetime.date] = field(default_factory=list)  # usage postings' dates


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
        if facts.expires is not None:
            late = sorted(d for d in facts.used_on if d > facts.expires)
            if late:
                out.append(Violation(late[0], facts.customer, lot_id,
                                     f"lot {lot_id}: drawn on {late[0]}, after its expiry "
                                     f"{facts.expires}"))
        consideration = sum((a for _, a in facts.consideration), ZERO)
        recognized = sum((a for _, a in facts.recognized), ZERO)
        remaining = consideration - sum((a for _, a in facts.drawn), ZERO)
        if recognized + remaining != consideration:
            out.append(Violation(None, facts.customer, lot_id,
                                 f"lot {lot_id}: revenue recognized {recognized} + liability "
                                 f"left {remaining} != consideration {consideration}"))
        if facts.expires is not None and facts.expires <= as_of and remaining != 0:
            out.append(Violation(facts.expires, facts.customer, lot_id,
                                 f"lot {lot_id}: expired on {facts.expires} with liability "
                                 f"{remaining} left (expected it recognized)"))
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
