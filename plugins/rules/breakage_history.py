"""Breakage estimation from history: cohorts of expired packs, and a back-test.

Pure computation (no Beancount import). From the lots of the book that have expired by a
day, the breakage actually realized per lot is the consideration left on the credits
unused at expiry (exact, ``price - value of credits used``). Lots are grouped in cohorts
(pack, customer segment, quarter of purchase); per cohort: the count, the dollar-weighted
rate (unused $ / sold $) and the simple mean of the lots' rates. Over all cohorts: the
dollar-weighted rate and the simple mean of the cohorts' rates (reference §3.2, Example
B0: 214,500 / 1,000,000 = 21.45% weighted, 21.00% simple mean).

The back-test puts each proportional lot's applied estimate (the rate its ``expected``
credits were set with, after any revision) beside what actually expired. It recommends,
it does not decide: the rate in force is the one written in the contract, with
``approved_by`` (``breakage_rates.in_force``).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import overload

from .lots import Lot
from .rounding import to_cent

RATE = Decimal("0.0001")


@overload
def show(rate: Fraction) -> Decimal: ...
@overload
def show(rate: None) -> None: ...
@overload
def show(rate: Fraction | None) -> Decimal | None: ...
def show(rate: Fraction | None) -> Decimal | None:
    """A rate as a Decimal fraction to four places (0.2145 = 21.45%)."""
    if rate is None:
        return None
    return (Decimal(rate.numerator) / Decimal(rate.denominator)).quantize(RATE, ROUND_HALF_UP)


def quarter(day: datetime.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


@dataclass(frozen=True)
class Expired:
    customer: str
    lot: str
    cohort: tuple[str, str, str]  # pack, segment, quarter of purchase
    sold: Fraction  # consideration
    unused: Fraction  # consideration left on the credits unused at expiry
    applied: Fraction | None  # breakage rate the lot was recognized with (proportional)

    @property
    def rate(self) -> Fraction:
        return self.unused / self.sold if self.sold else Fraction(0)


def applied_rate(lot: Lot) -> Fraction | None:
    if lot.method != "proportional" or lot.expected is None:
        return None
    span = lot.credits - lot.base_credits
    return 1 - (lot.expected - lot.base_credits) / span if span else None


def expired(lots: Iterable[tuple[str, Lot]], segments: dict[str, str],
            day: datetime.date) -> list[Expired]:
    """The lots expired on or before ``day`` (refunded lots are not history)."""
    out = []
    for customer, lot in lots:
        if lot.expires is None or lot.expires > day or not lot.price or lot.pack == "allowance":
            continue
        unused = Fraction(lot.price) - lot.value_of(lot.used)
        out.append(Expired(customer, lot.id,
                           (lot.pack, segments.get(customer) or "-", quarter(lot.purchased)),
                           Fraction(lot.price), max(unused, Fraction(0)), applied_rate(lot)))
    return out


@dataclass(frozen=True)
class Cohort:
    key: tuple[str, str, str]
    count: int
    sold: Decimal
    unused: Decimal
    weighted: Decimal  # unused $ / sold $
    simple: Decimal  # mean of the members' rates
    weighted_exact: Fraction


def cohorts(items: Iterable[Expired]) -> list[Cohort]:
    groups: dict[tuple[str, str, str], list[Expired]] = defaultdict(list)
    for item in items:
        groups[item.cohort].append(item)
    out = []
    for key in sorted(groups):
        members = groups[key]
        sold = sum((m.sold for m in members), Fraction(0))
        unused = sum((m.unused for m in members), Fraction(0))
        weighted = unused / sold if sold else Fraction(0)
        simple = sum((m.rate for m in members), Fraction(0)) / len(members)
        out.append(Cohort(key, len(members), to_cent(sold), to_cent(unused), show(weighted),
                          show(simple), weighted))
    return out


def overall(rows: list[Cohort], items: Iterable[Expired]) -> tuple[Decimal | None,
                                                                    Decimal | None]:
    """(dollar-weighted rate over every expired lot, simple mean of the cohorts' rates)."""
    items = list(items)
    sold = sum((m.sold for m in items), Fraction(0))
    if not rows or not sold:
        return None, None
    unused = sum((m.unused for m in items), Fraction(0))
    return show(unused / sold), show(sum((r.weighted_exact for r in rows), Fraction(0))
                                     / len(rows))


@dataclass(frozen=True)
class BackTest:
    customer: str
    lot: str
    cohort: tuple[str, str, str]
    applied: Decimal
    actual: Decimal
    difference: Decimal  # actual - applied


def backtest(items: Iterable[Expired]) -> list[BackTest]:
    return [BackTest(m.customer, m.lot, m.cohort, show(m.applied), show(m.rate),
                     show(m.rate - m.applied))
            for m in sorted(items, key=lambda m: (m.cohort, m.lot)) if m.applied is not None]
