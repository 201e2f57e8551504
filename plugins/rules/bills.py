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
    """A bill set against the cost attributed to usage of the same provider and period."""

    bill: Bill
    attributed: Decimal

    @property
    def unattributed(self) -> Decimal:
        return self.bill.amount - self.attributed


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
    """Each bill with the cost attributed to its provider and period (0 if none)."""
    return [Settlement(bill, attributed.get((bill.provider, bill.period), Decimal("0.00")))
            for bill in bills]
