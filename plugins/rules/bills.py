"""Provider bills against attributed cost: what no usage explains.

Pure rules (no Beancount import). A provider's cost report arrives as lines (one per day
bucket and line item, in currency units, exact as reported); the lines of one provider
and posting period make one bill, rounded to the cent. The bill is set against the cost
the usage of that provider and period was attributed (``rules.cogs``): the accrual is
cleared and the difference, positive or negative, is unattributed cost.

    openai 2026-01: lines 41.204 + 12.9 + ...         -> bill 150.00 USD
    attributed (customers' gpt-4o, gpt-5-mini usage)  -> 100.00 USD
    unattributed (retries, embeddings, anything else) ->  50.00 USD

A line of a closed month booked in the open month (a late bill, or a correction of a
closed month's bill: ``prior_period``) stays in the open month's bill; ``Bill.prior``
keeps its amount per closed month, so it can be shown as a prior-period adjustment.

**A bill that arrives after its month closed.** The month closed with its cost accrued
from usage (``Liabilities:Payable:<P>``, the close's check says "accrued, bill
pending"). The first bill lines of that month, booked in the open month, clear that
accrual (``Settlement.cleared``) and only the difference is a COGS true-up of the open
month, linked to the closed one:

    openai 2026-01 closed: attributed 100.00, no bill (accrued, bill pending)
    2026-02: January's bill arrives, 103.00 -> accrual cleared 100.00, true-up 3.00
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .periods import posting_period
from .rounding import to_cent


@dataclass(frozen=True)
class BillLine:
    """One line of a provider's cost report, in currency units (dollars, not cents)."""

    provider: str
    day: datetime.date  # UTC day of the report's bucket
    amount: Decimal
    currency: str
    key: str  # the report's natural key, for dedupe
    label: str = ""
    ref: str = ""
    prior_period: str = ""  # a closed month's line, booked in the open month (late)


@dataclass(frozen=True)
class Bill:
    """A provider's bill for one posting period: the sum of its lines, to the cent."""

    provider: str
    period: str
    start: datetime.date
    end: datetime.date
    currency: str
    exact: Decimal
    lines: int
    first_day: datetime.date
    last_day: datetime.date
    prior: tuple[tuple[str, Decimal], ...] = ()  # (closed month, exact) of late lines

    @property
    def amount(self) -> Decimal:
        return to_cent(self.exact)


@dataclass(frozen=True)
class Settlement:
    """A bill set against the cost attributed to usage of the same provider and period;
    ``cleared``: (closed month, its accrual) that the bill's late lines for that month
    clear, the month having had no bill of its own."""

    bill: Bill
    attributed: Decimal
    cleared: tuple[tuple[str, Decimal], ...] = ()

    @property
    def unattributed(self) -> Decimal:
        """What the bill has beyond the accruals it clears (true-ups of closed months
        included)."""
        return self.bill.amount - self.attributed - sum((a for _, a in self.cleared),
                                                        Decimal("0.00"))

    def true_ups(self) -> list[tuple[str, Decimal, Decimal]]:
        """(closed month, its late lines to the cent, the true-up: those less the accrual
        this bill clears) per closed month the bill has lines of."""
        cleared = dict(self.cleared)
        return [(period, to_cent(exact), to_cent(exact) - cleared.get(period, Decimal("0.00")))
                for period, exact in self.bill.prior]


def collect(lines: Iterable[BillLine], grain: str = "month") -> tuple[list[Bill], list[str]]:
    """The bills per provider and period, and problems (a period billed in two currencies)."""
    groups: dict[tuple[str, str], list[BillLine]] = {}
    for line in lines:
        label, _, _ = posting_period(line.day, grain)
        groups.setdefault((line.provider, label), []).append(line)
    bills, problems = [], []
    for (provider, label), group in sorted(groups.items()):
        currencies = sorted({line.currency for line in group})
        if len(currencies) > 1:
            problems.append(f"bill of {provider!r} for {label} mixes currencies "
                            f"{', '.join(currencies)}; expected one currency per provider")
            continue
        _, start, end = posting_period(group[0].day, grain)
        prior: dict[str, Decimal] = {}
        for line in group:
            if line.prior_period:
                prior[line.prior_period] = prior.get(line.prior_period, Decimal(0)) + line.amount
        bills.append(Bill(
            provider=provider, period=label, start=start, end=end, currency=currencies[0],
            exact=sum((line.amount for line in group), Decimal(0)), lines=len(group),
            first_day=min(line.day for line in group), last_day=max(line.day for line in group),
            prior=tuple(sorted(prior.items())),
        ))
    return bills, problems


def settle(bills: Iterable[Bill], attributed: Mapping[tuple[str, str], Decimal]
           ) -> list[Settlement]:
    """Each bill with the cost attributed to its provider and period (0 if none), and
    the accruals of closed months its late lines clear: those of a month (its posting
    periods, at day grain) that has no bill of its own, cleared by the first bill (in
    period order) with lines of it."""
    bills = sorted(bills, key=lambda b: (b.provider, b.period))
    own = {(b.provider, b.period[:7]) for b in bills
           if b.exact != sum((e for _, e in b.prior), Decimal(0))}
    accrued: dict[tuple[str, str], Decimal] = {}
    for (provider, label), amount in attributed.items():
        key = (provider, label[:7])
        accrued[key] = accrued.get(key, Decimal("0.00")) + amount
    done: set[tuple[str, str]] = set()
    out = []
    for bill in bills:
        cleared = []
        for period, _ in bill.prior:
            key = (bill.provider, period)
            if key in own or key in done or not accrued.get(key):
                continue
            done.add(key)
            cleared.append((period, accrued[key]))
        out.append(Settlement(bill, attributed.get((bill.provider, bill.period),
                                                   Decimal("0.00")), tuple(cleared)))
    return out


def pending(attributed: Mapping[tuple[str, str], Decimal], bills: Iterable[Bill],
            period: str) -> dict[str, Decimal]:
    """provider -> cost accrued in the month ``period`` (its posting periods) that no bill
    of the month's own lines covers yet: "accrued, bill pending"."""
    billed = {b.provider for b in bills if b.period[:7] == period
              and b.exact != sum((e for _, e in b.prior), Decimal(0))}
    out: dict[str, Decimal] = {}
    for (provider, label), amount in attributed.items():
        if label[:7] == period and provider not in billed and amount:
            out[provider] = out.get(provider, Decimal("0.00")) + amount
    return out
