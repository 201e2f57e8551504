"""Forecasting an open month: run rate, day-of-week pattern, credit burn-down, run-out
date and expected breakage. Pure computation (no Beancount import), exact (``Fraction``).

The projection of a month's usage value from the days so far:

* **run rate**: the value to date over the days elapsed, times the days of the month;
* **day-of-week pattern**: each weekday's factor is its mean daily value in the trailing
  months over the mean daily value of every day of them (Mon..Sun, 1 each without
  history). The month's level is the value to date over the sum of the factors of the
  days elapsed; each day left is expected to bring level x its weekday's factor:

      value to date 700 over Mon..Sun (factors 1.2 1.2 1.2 1.2 1.2 0.5 0.5, sum 7)
      -> level 100; a Monday left adds 120, a Sunday 50.

``burn`` walks the days after the as-of date with that daily demand (value / credit
value = credits), drawing the contract's open lots in its draw order (``rules.lots``),
as the engine would: what the lots do not cover follows the overage policy (``invoice``:
overage at list x multiplier; ``hard_stop``: blocked; ``top_up``: a pack bought when the
balance falls below the threshold or a draw is short). A lot expires at the start of
its expiry date (docs/expiry.md): it is not drawn on that day, and what is left is
breakage of that day's month. Breakage of a lot at any moment is its recognition target less the face
value of the credits used (``rules.recognition``): for a remote lot nothing until expiry,
then the liability left; for a proportional lot the estimate's share as credits are used
(at the rate in force: the lot's ``expected``), then the true-up at expiry. The expected
breakage of a month is the change of that figure over the month, per lot, rounded to the
cent cumulatively.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from .lots import Lot, LotBook
from .model import Contract, add_months
from .periods import month_of
from .recognition import target_of
from .rounding import to_cent

ZERO = Fraction(0)
ONE = Fraction(1)
ONE_DAY = datetime.timedelta(days=1)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_HISTORY_DAYS = 14  # fewer trailing days than this: no pattern (the run rate)
MAX_TOP_UPS = 100  # automatic purchases for one day of the forecast, at most

Exact = Fraction | Decimal | int


def days_between(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    """Every day of [first, last]."""
    return [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]


def weekday_factors(daily: Mapping[datetime.date, Exact], days: Sequence[datetime.date]
                    ) -> tuple[Fraction, ...] | None:
    """The factor of each weekday (Mon..Sun) over ``days`` (the trailing months; a day
    without usage counts as 0), or None when there are fewer than ``MIN_HISTORY_DAYS``
    days or no usage in them."""
    if len(days) < MIN_HISTORY_DAYS:
        return None
    total = sum((Fraction(daily.get(d, 0)) for d in days), ZERO)
    if total <= 0:
        return None
    mean = total / len(days)
    sums = [ZERO] * 7
    counts = [0] * 7
    for d in days:
        sums[d.weekday()] += Fraction(daily.get(d, 0))
        counts[d.weekday()] += 1
    return tuple((sums[w] / counts[w]) / mean if counts[w] else ONE for w in range(7))


def run_rate(to_date: Exact, elapsed: int, days_in_month: int) -> Fraction:
    """The month's value at the run rate of the days elapsed."""
    if elapsed <= 0:
        return Fraction(to_date)
    return Fraction(to_date) / elapsed * days_in_month


@dataclass(frozen=True)
class Pattern:
    """The daily demand of a month: ``level`` x the weekday's factor."""

    level: Fraction  # value per day of factor 1
    factors: tuple[Fraction, ...]  # Mon..Sun
    method: str  # "day-of-week" | "run rate"

    def on(self, day: datetime.date) -> Fraction:
        return self.level * self.factors[day.weekday()]


def pattern(to_date: Exact, elapsed: Sequence[datetime.date],
            factors: tuple[Fraction, ...] | None) -> Pattern:
    """The level of the days elapsed under ``factors`` (the run rate without them, or
    when the elapsed days' factors add up to nothing)."""
    value = Fraction(to_date)
    if factors is not None:
        weight = sum((factors[d.weekday()] for d in elapsed), ZERO)
        if weight > 0:
            return Pattern(value / weight, factors, "day-of-week")
    level = value / len(elapsed) if elapsed else ZERO
    return Pattern(level, (ONE,) * 7, "run rate")


def project(to_date: Exact, remaining: Iterable[datetime.date], daily: Pattern) -> Fraction:
    """The value to date plus the pattern's value of each day left."""
    return Fraction(to_date) + sum((daily.on(d) for d in remaining), ZERO)


def breakage_of(lot: Lot) -> Fraction:
    """The lot's breakage to date, exact: its recognition target less the face value of
    the credits used; less the share owed as unclaimed property, never revenue."""
    return (target_of(lot) - lot.value_of(lot.used)) * (1 - lot.unclaimed_share)


@dataclass
class Burn:
    """What ``burn`` found for one contract."""

    balance: list[tuple[datetime.date, Fraction]] = field(default_factory=list)  # end of day
    run_out: datetime.date | None = None  # first day the lots did not cover the demand
    top_ups: list[tuple[datetime.date, str, Decimal]] = field(default_factory=list)
    overage: dict[str, Fraction] = field(default_factory=dict)  # month -> value invoiced
    blocked: dict[str, Fraction] = field(default_factory=dict)  # month -> credits blocked
    # (month, lot id) -> expected breakage revenue of the month, to the cent
    breakage: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    expiries: list[tuple[datetime.date, str, Fraction]] = field(default_factory=list)


def burn(contract: Contract, lots: Iterable[Lot], demand: Callable[[datetime.date], Fraction],
         after: datetime.date, last: datetime.date) -> Burn:
    """Walk the days (after, last] drawing ``demand(day)`` (value at contract rates) from
    copies of ``lots`` (the lots as they stood at the end of ``after``) as credits (see
    the module doc)."""
    out = Burn()
    credit_value = Fraction(contract.credit_value) if contract.credit_value else None
    book = LotBook(contract.draw_order)
    for lot in lots:
        if not lot.closed:
            book.add(dataclasses.replace(lot, notes=list(lot.notes)))
    every: list[Lot] = list(book.lots)
    overage = contract.overage
    top_up = overage.top_up
    pack = contract.packs.get(top_up.pack) if top_up is not None else None
    below = Fraction(top_up.below) if top_up is not None else ZERO
    start = {lot.id: breakage_of(lot) for lot in every}
    posted: dict[str, Decimal] = {lot.id: to_cent(start[lot.id]) for lot in every}

    def buy(day: datetime.date) -> None:
        assert pack is not None
        lot_id = book.new_id(contract.id, pack.name, day)
        lot = Lot(lot_id, contract.id, pack.name, pack.price, Fraction(pack.credits), day,
                  pack.expiry_for(day), pack.breakage.method, source="top-up (forecast)")
        if pack.breakage.method == "proportional" and pack.breakage.rate is not None:
            lot.expected = Fraction(pack.credits) * (1 - Fraction(pack.breakage.rate))
        book.add(lot)
        every.append(lot)
        start[lot.id] = ZERO
        posted[lot.id] = Decimal("0.00")
        out.top_ups.append((day, lot_id, pack.price))

    def month_close(month: str) -> None:
        for lot in every:
            cents = to_cent(breakage_of(lot))
            moved = cents - posted[lot.id]
            posted[lot.id] = cents
            if moved:
                out.breakage[(month, lot.id)] = moved

    can_top_up = (contract.billing == "prepaid" and overage.policy == "top_up"
                  and pack is not None)
    day = after + ONE_DAY
    while day <= last:
        for lot in book.expiring(day):  # (before the day's demand: docs/expiry.md)
            out.expiries.append((day, lot.id, lot.remaining))
            lot.closed = True
        book.retire()
        if credit_value is not None and (value := demand(day)) > 0:
            need = value / credit_value
            _, left = book.draw(day, need)
            guard = 0
            while left > 0 and can_top_up and guard < MAX_TOP_UPS:
                buy(day)
                _, left = book.draw(day, left)
                guard += 1
            if left > 0:
                month = month_of(day)
                if out.run_out is None:
                    out.run_out = day
                if overage.policy == "hard_stop":
                    out.blocked[month] = out.blocked.get(month, ZERO) + left
                else:
                    out.overage[month] = (out.overage.get(month, ZERO)
                                          + left * credit_value * Fraction(overage.multiplier))
            guard = 0
            while (can_top_up and guard < MAX_TOP_UPS and book.balance(day) < below):
                buy(day)
                guard += 1
        out.balance.append((day, book.balance(day)))
        if (day + ONE_DAY).day == 1 or day == last:
            month_close(month_of(day))
        day += ONE_DAY
    return out


def horizon(after: datetime.date, months: int = 12) -> datetime.date:
    """The last day of the ``months`` months that begin with ``after``'s (12: the open
    month and the eleven after it)."""
    first = after.replace(day=1)
    return add_months(first, months) - ONE_DAY


def by_month(values: Mapping[tuple[str, str], Decimal]) -> dict[str, Decimal]:
    """Per month, the sum over lots."""
    out: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for (month, _), amount in values.items():
        out[month] += amount
    return dict(out)


def run_out_consequence(contract: Contract, run_out: datetime.date | None,
                        top_ups: Sequence[tuple[datetime.date, str, Decimal]]) -> str:
    """What the contract's overage policy does when the credits run out, in words."""
    overage = contract.overage
    if overage.policy == "top_up" and overage.top_up is not None:
        pack = contract.packs.get(overage.top_up.pack)
        price = f" ({pack.price} {contract.currency}, {pack.credits:,} credits)" if pack else ""
        if top_ups:
            return (f"top_up: pack {overage.top_up.pack}{price} bought automatically below "
                    f"{overage.top_up.below:,} credits, first on {top_ups[0][0]} "
                    f"({len(top_ups)} in the horizon)")
        return (f"top_up: pack {overage.top_up.pack}{price} bought automatically below "
                f"{overage.top_up.below:,} credits (none expected in the horizon)")
    if run_out is None:
        return f"{overage.policy}: credits last the horizon at this rate"
    if overage.policy == "hard_stop":
        return f"hard_stop: usage blocked from {run_out} until a pack is bought"
    return (f"invoice: usage from {run_out} invoiced as overage at list x "
            f"{overage.multiplier}")
