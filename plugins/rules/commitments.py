"""Minimum commitments (hybrid contracts): a minimum spend per month or year.

The usage of the period (its arrears value, ``rules.arrears``) is compared with the
commitment ``amount``:

* ``remote``: usage is recognized as it occurs; at the period's end the shortfall
  ``amount - usage`` is Income:Revenue:Commitment (Dr Assets:Unbilled:<C>).
  $5,000 minimum, $4,200 of usage -> 5,000.00 of revenue, 800.00 of it commitment;
  $6,100 of usage -> 6,100.00, no shortfall (ASC 606 reference, Example D1).
* ``remote`` with ``carryover: true``: the shortfall is billed but carried into the
  next period as contract liability (Cr Liabilities:Deferred-Revenue:<C>); next period
  it is applied against usage beyond that period's minimum (Dr liability / Cr Unbilled)
  and what is not applied lapses at that period's end as Income:Revenue:Breakage
  (Example D1b: 4,200 then 6,100 -> invoices 5,000 and 5,300, revenue 4,200 and 6,100).
  A shortfall of the contract's last period cannot be carried and is revenue then.
* ``ratable``: the minimum is a stand-ready obligation, recognized evenly over the days
  of the period (Dr Unbilled / Cr Commitment); usage revenue is only what exceeds the
  minimum within the period.
* ``proportional``: revenue at ``amount / expected_usage`` per unit of usage (at least
  1), capped at the minimum, plus usage beyond the minimum: what runs ahead of usage is
  Dr Assets:Contract-Assets:<C> / Cr Commitment; at the period's end the shortfall is
  billed (Dr Unbilled), clearing the contract asset.

Periods are calendar months or years clipped to the contract's term. ``carryover``
only applies to the remote method.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from fractions import Fraction

from . import accounts
from .journal import Leg
from .model import Commitment, Contract
from .periods import clip, period_end, period_key, period_start
from .rounding import Cumulative, to_cent

ZERO = Fraction(0)
CENTS_ZERO = Decimal("0.00")


class CommitmentState:
    def __init__(self, contract: Contract, terms: Commitment) -> None:
        self.contract = contract
        self.terms = terms
        self.amount = Fraction(terms.amount)
        rate = Fraction(1)
        if terms.method == "proportional" and terms.expected_usage:
            rate = max(Fraction(1), self.amount / Fraction(terms.expected_usage))
        self.rate = rate
        # The period tracked now (``enter``): start and end are set whenever key is.
        self.key: str | None = None
        self.start: datetime.date | None = None
        self.end: datetime.date | None = None
        self.start_total = ZERO  # arrears exact total at the period's start
        self.start_posted = CENTS_ZERO  # arrears posted total at the period's start
        self.carry = CENTS_ZERO  # liability carried into the current period
        self.withheld_closed = ZERO  # ratable: usage inside the minimum, closed periods
        self.ratable = Cumulative()
        self.ratable_closed = ZERO
        self.extra = Cumulative()  # proportional: revenue ahead of usage, this period

    def period(self, day: datetime.date) -> tuple[datetime.date, datetime.date]:
        p = self.terms.period
        return clip(period_start(day, p), period_end(day, p), self.contract.start,
                    self.contract.end)

    def covers(self, day: datetime.date) -> bool:
        """Whether ``day`` is in the period tracked now (then ``enter`` is a no-op)."""
        return (self.key is not None
                and self.start <= day <= self.end)  # type: ignore[operator]

    def enter(self, day: datetime.date, arrears_total: Fraction, posted: Decimal) -> None:
        """Start tracking the period containing ``day`` if not already."""
        key = period_key(day, self.terms.period)
        if key == self.key:
            return
        self.key = key
        self.start, self.end = self.period(day)
        self.start_total = arrears_total
        self.start_posted = posted
        prior = self.terms.prior_usage
        if prior is not None and prior[0] == key:  # a cut-over: usage before it counts
            self.start_total = arrears_total - Fraction(prior[1])
            self.start_posted = posted - prior[1]

    def withheld(self, arrears_total: Fraction) -> Fraction:
        """Ratable: usage value covered by minimums (never recognized as usage)."""
        if self.terms.method != "ratable":
            return ZERO
        return self.withheld_closed + min(arrears_total - self.start_total, self.amount)

    def accrue(self, day: datetime.date, arrears_total: Fraction, customer: str) -> list[Leg]:
        """Legs to post at a flush on ``day`` (ratable accrual, proportional advance)."""
        legs: list[Leg] = []
        if self.terms.method == "ratable":  # (in a period: start and end are set)
            days = (self.end - self.start).days + 1  # type: ignore[operator]
            elapsed = (day - self.start).days + 1  # type: ignore[operator]
            delta = self.ratable.post_to(self.ratable_closed + self.amount * elapsed / days)
            if delta:
                legs += [Leg(accounts.unbilled(customer), delta, rule="commitment"),
                         Leg(accounts.REVENUE_COMMITMENT, -delta, rule="commitment")]
        elif self.terms.method == "proportional":
            usage = arrears_total - self.start_total
            ahead = (min(self.amount, usage * self.rate) + max(ZERO, usage - self.amount)
                     - usage)
            delta = self.extra.post_to(ahead)
            if delta:
                legs += [Leg(accounts.contract_assets(customer), delta, rule="commitment"),
                         Leg(accounts.REVENUE_COMMITMENT, -delta, rule="commitment")]
        return legs

    def close(self, arrears_total: Fraction, posted: Decimal, customer: str,
              last: bool) -> tuple[list[Leg], dict[str, object]]:
        """Period-end legs; ``last``: no next period within the contract."""
        method = self.terms.method
        usage_exact = arrears_total - self.start_total
        usage = posted - self.start_posted  # usage revenue posted in the period
        amount = self.terms.amount
        legs: list[Leg] = []
        info: dict[str, object] = {"period": self.key, "minimum": amount,
                                   "period_usage": to_cent(usage_exact)}
        unbilled = accounts.unbilled(customer)
        if method == "ratable":
            self.ratable_closed += self.amount
            self.withheld_closed += min(usage_exact, self.amount)
            return legs, info
        shortfall = max(CENTS_ZERO, amount - usage)
        info["shortfall"] = shortfall
        if method == "proportional":
            ahead = self.extra.posted
            self.extra = Cumulative()
            if shortfall:
                legs.append(Leg(unbilled, shortfall, rule="commitment"))
            if ahead:
                legs.append(Leg(accounts.contract_assets(customer), -ahead, rule="commitment"))
            if shortfall - ahead:
                legs.append(Leg(accounts.REVENUE_COMMITMENT, ahead - shortfall,
                                rule="commitment"))
            return legs, info
        liability = accounts.deferred_revenue(customer)
        if self.carry:
            applied = min(self.carry, max(CENTS_ZERO, usage - amount))
            lapsed = self.carry - applied
            info["carry_applied"] = applied
            info["carry_lapsed"] = lapsed
            if applied:
                legs += [Leg(liability, applied, rule="commitment-carryover"),
                         Leg(unbilled, -applied, rule="commitment-carryover")]
            if lapsed:
                legs += [Leg(liability, lapsed, rule="commitment-lapse"),
                         Leg(accounts.REVENUE_BREAKAGE, -lapsed, rule="commitment-lapse")]
            self.carry = CENTS_ZERO
        if shortfall:
            if self.terms.carryover and not last:
                self.carry = shortfall
                info["carried"] = shortfall
                legs += [Leg(unbilled, shortfall, rule="commitment"),
                         Leg(liability, -shortfall, rule="commitment-carryover")]
            else:
                legs += [Leg(unbilled, shortfall, rule="commitment"),
                         Leg(accounts.REVENUE_COMMITMENT, -shortfall, rule="commitment")]
        return legs, info
